// The TOML-subset reader: every syntax feature, every error with its line:col,
// and garbage that must fail cleanly.
#include <doctest/doctest.h>

#include "into.h"

#include <cstring>
#include <string>

#include "config/toml.h"
#include "sys/text.h"

using namespace oxinit;
using toml::Type;
using toml::Value;

namespace {

Value ok(std::string_view text) {
  Value root;
  ConfigError err;
  bool good = into(toml::parse(text, "t.toml", root), err);
  std::string msg = err.format().c_str();
  INFO(msg);
  CHECK(good);
  return root;
}

std::string bad(std::string_view text) {
  Value root;
  ConfigError err;
  if (into(toml::parse(text, "t.toml", root), err)) return "parsed";
  return err.format().c_str();
}

const Value& at(const Value& v, std::string_view path) {
  const Value* cur = &v;
  while (!path.empty()) {
    size_t dot = path.find('.');
    const Value* next = cur->find(path.substr(0, dot));
    REQUIRE(next);
    cur = next;
    path.remove_prefix(dot == path.npos ? path.size() : dot + 1);
  }
  return *cur;
}

std::string s(const Value& v) {
  CHECK(v.type == Type::String);
  return std::string(v.str.view());
}

}  // namespace

TEST_CASE("toml: empty documents") {
  CHECK(ok("").members.empty());
  CHECK(ok("\n\n  \t\n").members.empty());
  CHECK(ok("# only a comment").members.empty());
  CHECK(ok("# c\r\n\r\n").members.empty());
}

TEST_CASE("toml: keys") {
  Value r = ok("bare_key-1 = 1\n\"quoted key\" = 2\n'literal key' = 3\n1234 = 4\n\"\" = 5\n");
  CHECK(at(r, "bare_key-1").integer == 1);
  CHECK(r.find("quoted key")->integer == 2);
  CHECK(r.find("literal key")->integer == 3);
  CHECK(r.find("1234")->integer == 4);
  CHECK(r.find("")->integer == 5);
  Value d = ok("a.b.c = 1\na . \"b\" . d = 2\nsite.\"google.com\" = true\n");
  CHECK(at(d, "a.b.c").integer == 1);
  CHECK(at(d, "a.b.d").integer == 2);
  CHECK(at(d, "site").find("google.com")->boolean);
}

TEST_CASE("toml: positions of keys and values") {
  Value r = ok("\n  key = \"v\"\n[t]\nx.y = 1\n");
  const toml::Member* m = r.find_member("key");
  REQUIRE(m);
  CHECK(m->pos.line == 2);
  CHECK(m->pos.col == 3);
  CHECK(m->value.pos.line == 2);
  CHECK(m->value.pos.col == 9);
  CHECK(at(r, "t").pos.line == 3);
  CHECK(at(r, "t").pos.col == 1);
  const toml::Member* y = at(r, "t.x").find_member("y");
  CHECK(y->pos.line == 4);
  CHECK(y->pos.col == 3);
  CHECK(y->value.pos.col == 7);
  // Columns count bytes; a multi-byte character before a value shifts it.
  Value u = ok("\"é\" = 1\n");
  CHECK(u.members[0].value.pos.col == 8);
}

TEST_CASE("toml: basic strings and escapes") {
  Value r = ok(R"(a = "x\ty\nz\"q\\w"
b = "\u00e9\U0001F600"
c = "\b\f\r\e"
d = "tab	inside"
e = ""
)");
  CHECK(s(at(r, "a")) == "x\ty\nz\"q\\w");
  CHECK(s(at(r, "b")) == "\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(s(at(r, "c")) == "\b\f\r\x1b");
  CHECK(s(at(r, "d")) == "tab\tinside");
  CHECK(s(at(r, "e")).empty());
}

TEST_CASE("toml: literal strings") {
  Value r = ok("p = 'C:\\Users\\x'\nq = '<\\i\\c*\\s*>'\nr = ''\n");
  CHECK(s(at(r, "p")) == "C:\\Users\\x");
  CHECK(s(at(r, "q")) == "<\\i\\c*\\s*>");
  CHECK(s(at(r, "r")).empty());
}

TEST_CASE("toml: multi-line strings") {
  Value r = ok("a = \"\"\"\nline1\nline2\"\"\"\n"
               "b = \"\"\"one \\\n    two\"\"\"\n"
               "c = '''\n raw \\n '''\n"
               "d = \"\"\"x\"\"\"\"\"\n"
               "e = \"\"\"\"\"\"\n"
               "f = \"\"\"a\r\nb\"\"\"\n");
  CHECK(s(at(r, "a")) == "line1\nline2");
  CHECK(s(at(r, "b")) == "one two");
  CHECK(s(at(r, "c")) == " raw \\n ");
  CHECK(s(at(r, "d")) == "x\"\"");
  CHECK(s(at(r, "e")).empty());
  CHECK(s(at(r, "f")) == "a\nb");
  CHECK(at(r, "f").pos.line == 10);
}

TEST_CASE("toml: integers") {
  Value r = ok("a = 42\nb = -17\nc = +5\nd = 1_000_000\ne = 0\ng = 0xDEAD_beef\n"
               "h = 0o755\ni = 0b1010\nj = 9223372036854775807\nk = -9223372036854775808\nl = -0\n");
  CHECK(at(r, "a").integer == 42);
  CHECK(at(r, "b").integer == -17);
  CHECK(at(r, "c").integer == 5);
  CHECK(at(r, "d").integer == 1000000);
  CHECK(at(r, "e").integer == 0);
  CHECK(at(r, "g").integer == 0xdeadbeef);
  CHECK(at(r, "h").integer == 0755);
  CHECK(at(r, "i").integer == 10);
  CHECK(at(r, "j").integer == INT64_MAX);
  CHECK(at(r, "k").integer == INT64_MIN);
  CHECK(at(r, "l").integer == 0);
  CHECK(at(r, "h").str == "0o755");  // the literal is kept (umask reads it)
  CHECK(bad("f = 0x_ff\n") == "t.toml:1:5: f: invalid value \"0x_ff\"");
}

TEST_CASE("toml: integer errors") {
  CHECK(bad("a = 9223372036854775808") == "t.toml:1:5: a: integer out of range: \"9223372036854775808\"");
  CHECK(bad("a = -9223372036854775809") == "t.toml:1:5: a: integer out of range: \"-9223372036854775809\"");
  CHECK(bad("a = 0x1_0000_0000_0000_0000") == "t.toml:1:5: a: integer out of range: \"0x1_0000_0000_0000_0000\"");
  CHECK(bad("a = 012") == "t.toml:1:5: a: leading zeros are not allowed in \"012\"");
  CHECK(bad("a = 1__0") == "t.toml:1:5: a: invalid value \"1__0\"");
  CHECK(bad("a = 10_") == "t.toml:1:5: a: invalid value \"10_\"");
  CHECK(bad("a = _10") == "t.toml:1:5: unexpected \"_\", expected a value");
  CHECK(bad("a = -0x10") == "t.toml:1:5: a: a sign is not allowed on a 0x, 0o or 0b number");
  CHECK(bad("a = 0o8") == "t.toml:1:5: a: invalid value \"0o8\"");
  CHECK(bad("a = 0b102") == "t.toml:1:5: a: invalid value \"0b102\"");
  CHECK(bad("a = 0x") == "t.toml:1:5: a: invalid value \"0x\"");
  CHECK(bad("a = +") == "t.toml:1:5: a: invalid value \"+\"");
  CHECK(bad("a = 1.5") == "t.toml:1:5: a: floating-point numbers are not supported");
  CHECK(bad("a = 1e3") == "t.toml:1:5: a: floating-point numbers are not supported");
  CHECK(bad("a = inf") == "t.toml:1:5: a: floating-point numbers are not supported");
  CHECK(bad("a = -nan") == "t.toml:1:5: a: floating-point numbers are not supported");
  CHECK(bad("a = 1979-05-27") == "t.toml:1:5: a: dates and times are not supported");
  CHECK(bad("a = 07:32:00") == "t.toml:1:5: a: dates and times are not supported");
  CHECK(bad("a = truex") == "t.toml:1:5: a: invalid value \"truex\"");
  CHECK(bad("a = True") == "t.toml:1:5: unexpected \"T\", expected a value");
}

TEST_CASE("toml: booleans") {
  Value r = ok("t = true\nf = false # no\n");
  CHECK(at(r, "t").type == Type::Boolean);
  CHECK(at(r, "t").boolean);
  CHECK_FALSE(at(r, "f").boolean);
}

TEST_CASE("toml: arrays") {
  Value r = ok("a = []\nb = [1, 2, 3]\nc = [ \"x\", 'y', ]\n"
               "d = [\n  1, # one\n  # nothing\n  [2, [3]],\n\n]\n"
               "e = [1, \"mixed\", true, {k = 1}]\n");
  CHECK(at(r, "a").type == Type::Array);
  CHECK(at(r, "a").items.empty());
  REQUIRE(at(r, "b").items.size() == 3);
  CHECK(at(r, "b").items[2].integer == 3);
  REQUIRE(at(r, "c").items.size() == 2);
  CHECK(at(r, "c").items[1].str == "y");
  const Value& d = at(r, "d");
  REQUIRE(d.items.size() == 2);
  CHECK(d.items[1].items[1].items[0].integer == 3);
  CHECK(d.items[1].pos.line == 7);
  CHECK(d.items[1].pos.col == 3);
  CHECK(at(r, "e").items[3].find("k")->integer == 1);
}

TEST_CASE("toml: array errors") {
  CHECK(bad("a = [1 2]") == "t.toml:1:8: unexpected \"2\", expected ',' or ']' in the array");
  CHECK(bad("a = [1,,2]") == "t.toml:1:8: unexpected \",\", expected a value");
  CHECK(bad("a = [,]") == "t.toml:1:6: unexpected \",\", expected a value");
  CHECK(bad("a = [1,\n2") == "t.toml:2:2: unexpected end of file, expected ',' or ']' in the array");
  CHECK(bad("a = [") == "t.toml:1:6: unexpected end of file, expected a value");
}

TEST_CASE("toml: inline tables") {
  Value r = ok("e = { A = \"1\", b.c = 2, 'q k' = true }\nf = {}\ng = {\n  x = 1, # c\n  y = 2,\n}\n");
  const Value& e = at(r, "e");
  CHECK(e.type == Type::Table);
  CHECK(e.find("A")->str == "1");
  CHECK(at(e, "b.c").integer == 2);
  CHECK(e.find("q k")->boolean);
  CHECK(at(r, "f").members.empty());
  CHECK(at(r, "g.y").integer == 2);
  CHECK(bad("e = { a = 1 b = 2 }") == "t.toml:1:13: unexpected \"b\", expected ',' or '}' in the inline table");
  CHECK(bad("e = { a = 1, a = 2 }") == "t.toml:1:14: duplicate key 'a' (first at 1:7)");
  CHECK(bad("e = { a = {x = 1}, a.y = 2 }") ==
        "t.toml:1:20: cannot add keys to table 'a' (defined at 1:11) here");
  CHECK(bad("e = { a = 1 }\ne.b = 2") == "t.toml:2:1: cannot add keys to table 'e' (defined at 1:5) here");
  CHECK(bad("e = { a = 1 }\n[e]") == "t.toml:2:2: cannot extend inline table 'e' (defined at 1:1)");
  CHECK(bad("e = { a = 1 }\n[e.x]") == "t.toml:2:2: cannot extend inline table 'e' (defined at 1:1)");
}

TEST_CASE("toml: tables") {
  Value r = ok("top = 1\n[a]\nx = 1\n[ b . c ]  # comment\ny = 2\n[b]\nz = 3\n[\"q.t\"]\nw = 4\n"
               "[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n");
  CHECK(at(r, "top").integer == 1);
  CHECK(at(r, "a.x").integer == 1);
  CHECK(at(r, "b.c.y").integer == 2);
  CHECK(at(r, "b.z").integer == 3);
  CHECK(r.find("q.t")->find("w")->integer == 4);
  CHECK(at(r, "fruit.apple.texture.smooth").boolean);
  CHECK(at(r, "b").pos.line == 6);  // an implicit table takes the header that defines it
}

TEST_CASE("toml: duplicate keys and redefined tables") {
  CHECK(bad("a = 1\na = 2") == "t.toml:2:1: duplicate key 'a' (first at 1:1)");
  CHECK(bad("a = 1\n\"a\" = 2") == "t.toml:2:1: duplicate key 'a' (first at 1:1)");
  CHECK(bad("a.b = 1\na.b = 2") == "t.toml:2:3: duplicate key 'a.b' (first at 1:3)");
  CHECK(bad("a = 1\na.b = 2") == "t.toml:2:1: 'a' is already defined as an integer at 1:1");
  CHECK(bad("[a]\n[a]") == "t.toml:2:1: table [a] is defined twice (first at 1:1)");
  CHECK(bad("[a.b]\n[a]\n[a.b]") == "t.toml:3:1: table [a.b] is defined twice (first at 1:1)");
  CHECK(bad("a = 1\n[a]") == "t.toml:2:2: 'a' is already defined as an integer at 1:1");
  CHECK(bad("a = [1]\n[a.b]") == "t.toml:2:2: 'a' is already defined as an array at 1:1");
  CHECK(bad("[a]\nb.c = 1\n[a.b]") == "t.toml:3:1: table [a.b] was already defined by dotted keys at 2:1");
  CHECK(bad("[a.b]\nx = 1\n[a]\nb.y = 2") == "t.toml:4:1: cannot add keys to table 'b' (defined at 1:1) here");
  CHECK(bad("[s]\nk = 1\n[\"s\"]") == "t.toml:3:1: table [s] is defined twice (first at 1:1)");
  CHECK(bad("[\"a b\".c]\n[\"a b\".c]") == "t.toml:2:1: table [\"a b\".c] is defined twice (first at 1:1)");
}

TEST_CASE("toml: syntax errors with positions") {
  CHECK(bad("a") == "t.toml:1:2: unexpected end of file, expected '=' after the key");
  CHECK(bad("a\n= 1") == "t.toml:1:2: unexpected end of line, expected '=' after the key");
  CHECK(bad("a =") == "t.toml:1:4: unexpected end of file, expected a value");
  CHECK(bad("a = \n1") == "t.toml:1:5: unexpected end of line, expected a value");
  CHECK(bad("a = 1 b = 2") == "t.toml:1:7: unexpected \"b\", expected the end of the line");
  CHECK(bad("= 1") == "t.toml:1:1: unexpected \"=\", expected a key");
  CHECK(bad("a. = 1") == "t.toml:1:4: unexpected \"=\", expected a key");
  CHECK(bad("a b = 1") == "t.toml:1:3: unexpected \"b\", expected '=' after the key");
  CHECK(bad("\"\"\"k\"\"\" = 1") == "t.toml:1:1: a key cannot be a multi-line string");
  CHECK(bad("[a") == "t.toml:1:3: unexpected end of file, expected ']' to close the table header");
  CHECK(bad("[]") == "t.toml:1:2: unexpected \"]\", expected a key");
  CHECK(bad("[a] x = 1") == "t.toml:1:5: unexpected \"x\", expected the end of the line");
  CHECK(bad("[[a]]") == "t.toml:1:1: arrays of tables ([[...]]) are not supported");
  CHECK(bad("a = 1\r") == "t.toml:1:6: carriage return without a line feed");
  CHECK(bad("\n\n   é = 1") == "t.toml:3:4: unexpected \"\xc3\xa9\", expected a key");
  CHECK(bad("a = @") == "t.toml:1:5: unexpected \"@\", expected a value");
}

TEST_CASE("toml: string errors with positions") {
  CHECK(bad("a = \"abc") == "t.toml:1:5: unterminated string");
  CHECK(bad("a = \"abc\nb = 1") == "t.toml:1:5: unterminated string");
  CHECK(bad("a = 'abc") == "t.toml:1:5: unterminated string");
  CHECK(bad("a = \"\"\"abc\n\n") == "t.toml:1:5: unterminated string");
  CHECK(bad("a = \"x\\qy\"") == "t.toml:1:7: invalid escape sequence \"\\\\q\"");
  CHECK(bad("a = \"\\u12\"") == "t.toml:1:6: \\u needs 4 hex digits");
  CHECK(bad("a = \"\\U0000001\"") == "t.toml:1:6: \\U needs 8 hex digits");
  CHECK(bad("a = \"\\uD800\"") == "t.toml:1:6: escape is not a Unicode scalar value");
  CHECK(bad("a = \"\\U00110000\"") == "t.toml:1:6: escape is not a Unicode scalar value");
  CHECK(bad("a = \"\\u0000\"") == "t.toml:1:6: NUL characters are not allowed in strings");
  CHECK(bad("a = \"x\x01\"") == "t.toml:1:7: control character in a string (use an escape)");
  CHECK(bad(std::string_view("a = 'x\0'", 8)) == "t.toml:1:7: control character in a string (use an escape)");
  CHECK(bad("a = \"\"\"x\"\"\"\"\"\"") == "t.toml:1:15: too many quotes at the end of a multi-line string");
  CHECK(bad("a = \"\\") == "t.toml:1:6: unterminated string");
}

TEST_CASE("toml: comments and control characters") {
  CHECK(bad("# ok\n# bad \x07 bell") == "t.toml:2:7: control character in a comment");
  CHECK(bad("a = 1 # \x7f") == "t.toml:1:9: control character in a comment");
  CHECK(bad(std::string_view("a = 1\n\0", 7)) == "t.toml:2:1: unexpected \"\\x00\", expected a key");
  ok("# tab\tin a comment, and UTF-8: \xe2\x9c\x93\n");
}

TEST_CASE("toml: invalid UTF-8 is an error at its position") {
  CHECK(bad("a = 1\nb = \"\xff\"") == "t.toml:2:6: invalid UTF-8");
  CHECK(bad("# \xc0\xaf overlong") == "t.toml:1:3: invalid UTF-8");
  CHECK(bad("a = \"\xed\xa0\x80\"") == "t.toml:1:6: invalid UTF-8");  // a surrogate
  CHECK(bad("a = \"\xe2\x9c\"") == "t.toml:1:6: invalid UTF-8");      // truncated
}

TEST_CASE("toml: nesting and size limits") {
  std::string deep(toml::kMaxDepth, '[');
  deep = "a = " + deep + std::string(toml::kMaxDepth, ']');
  ok(deep);
  std::string deeper = "a = " + std::string(toml::kMaxDepth + 1, '[') + std::string(toml::kMaxDepth + 1, ']');
  CHECK(bad(deeper) == "t.toml:1:37: nesting too deep (the limit is 32)");
  std::string tables = "a = ";
  for (int i = 0; i < 40; i++) tables += "{b = ";
  CHECK(bad(tables) == "t.toml:1:" + std::to_string(5 + 32 * 5) + ": nesting too deep (the limit is 32)");
  std::string keys = "a";
  for (int i = 0; i < 40; i++) keys += ".a";
  CHECK(bad(keys + " = 1") == "t.toml:1:65: key has too many parts");
  CHECK(bad("[" + keys + "]") == "t.toml:1:66: key has too many parts");
  std::string many;
  for (int i = 0; i <= 1000; i++) many += "k" + std::to_string(i) + " = 1\n";
  CHECK(bad(many) == "t.toml:1001:1: too many keys in one table (the limit is 1000)");
  std::string big(toml::kMaxFileSize + 1, '#');
  CHECK(bad(big) == "t.toml: file too large (the limit is 1 MiB)");
}

namespace {

// Line k (1-based) of text, without its newline.
std::string_view line_of(std::string_view text, int k) {
  for (; k > 1; k--) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return {};
    text.remove_prefix(nl + 1);
  }
  return text.substr(0, text.find('\n'));
}

int count_lines(std::string_view text) {
  int n = 1;
  for (char c : text) n += c == '\n';
  return n;
}

// Every position in the tree points into text, at the first byte of what
// it names (a key's first character, or a value's).
void positions_inside(const Value& v, std::string_view text, int& checked) {
  auto inside = [&](SrcPos p) {
    REQUIRE(p.line >= 1);
    REQUIRE(p.line <= count_lines(text));
    REQUIRE(p.col >= 1);
    REQUIRE(static_cast<size_t>(p.col) <= line_of(text, p.line).size());
    checked++;
  };
  for (const toml::Member& m : v.members) {
    inside(m.pos);
    if (m.value.type != Type::Table || m.value.pos.line) inside(m.value.pos);
    positions_inside(m.value, text, checked);
  }
  for (const Value& i : v.items) {
    inside(i.pos);
    positions_inside(i, text, checked);
  }
}

}  // namespace

TEST_CASE("toml: garbage never crashes, and every answer points into the text") {
  // A deterministic pseudo-random byte soup, plus mutations of a valid file:
  // each must parse with positions inside the text, or fail with a message
  // at a line:col that exists (the end of the file at the latest).
  const char* seed_doc =
      "[init]\nshutdown_timeout = \"5s\"\n[service.web]\ncommand = [\"a\", 'b']\nenv = { A = \"\\u00e9\" }\n"
      "x = \"\"\"m\nl\"\"\"\ny = 0x1F\n";
  uint32_t st = 12345;
  auto rnd = [&] {
    st = st * 1103515245 + 12345;
    return st >> 16;
  };
  int parsed = 0, failed = 0, positions = 0;
  for (int round = 0; round < 3000; round++) {
    std::string text;
    if (round % 2) {
      size_t n = rnd() % 200;
      for (size_t k = 0; k < n; k++) text += static_cast<char>(rnd() & 0xff);
    } else {
      text = seed_doc;
      for (int m = 0; m < 3; m++) {
        size_t p = rnd() % text.size();
        const char pool[] = "[]{}\"'=.,#\n\\ \x00\xff" "a1";
        text[p] = pool[rnd() % (sizeof pool - 1)];
      }
    }
    CAPTURE(text);
    Value root;
    ConfigError err;
    if (into(toml::parse(text, "f", root), err)) {
      parsed++;
      positions_inside(root, text, positions);
      Value again;  // the same text, the same tree
      REQUIRE(into(toml::parse(text, "f", again), err));
      CHECK(again.members.size() == root.members.size());
    } else {
      failed++;
      CHECK(std::string(err.file.c_str()) == "f");
      REQUIRE(err.line >= 1);
      REQUIRE(err.line <= count_lines(text));
      CHECK(err.col >= 1);
      CHECK(static_cast<size_t>(err.col) <= line_of(text, err.line).size() + 1);
      CHECK(!err.message.empty());
      CHECK(root.members.empty());  // a failed parse leaves nothing half-built
    }
  }
  // Both outcomes happen (the mutations keep some files valid), so both
  // branches above ran.
  CHECK(parsed > 10);
  CHECK(failed > 1000);
  CHECK(positions > 200);
}

TEST_CASE("toml: a large valid file parses, every table and value in place") {
  // Tables g0.s0 ... under groups of 900 (the per-table key limit is 1000).
  std::string text;
  int n = 0;
  for (; text.size() < 900000; n++) {
    text += "[g" + std::to_string(n / 900) + ".s" + std::to_string(n) + "]\nk = \"" + std::to_string(n) +
            std::string(40, 'x') + "\"\nv = [1, 2, " + std::to_string(n) + "]\n";
  }
  Value r = ok(text);
  REQUIRE(r.members.size() == static_cast<size_t>((n + 899) / 900));
  int seen = 0;
  for (const toml::Member& g : r.members) {
    for (const toml::Member& t : g.value.members) {
      REQUIRE(std::string(t.key.view()) == "s" + std::to_string(seen));
      CHECK(s(at(t.value, "k")) == std::to_string(seen) + std::string(40, 'x'));
      const Value& v = at(t.value, "v");
      REQUIRE(v.items.size() == 3);
      CHECK(v.items[2].integer == seen);
      CHECK(t.pos.line == 1 + 3 * seen);
      seen++;
    }
  }
  CHECK(seen == n);
}

TEST_CASE("toml: quote() escapes and truncates") {
  CHECK(std::string(quote("a\"b\\c\n\x01").c_str()) == "\"a\\\"b\\\\c\\x0a\\x01\"");
  std::string longer(100, 'x');
  CHECK(std::string(quote(longer).c_str()) == "\"" + std::string(64, 'x') + "...\"");
}
