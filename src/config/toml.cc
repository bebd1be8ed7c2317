#include "config/toml.h"

#include <cstring>
#include <new>
#include <utility>

#include "sys/text.h"

namespace oxinit::toml {

namespace {

// Table flags. TOML forbids re-opening a table: a [header] may define a table
// once (Header), may go through tables made on the way by another header
// (Implicit) or by dotted keys (Dotted); dotted keys may only extend tables
// made by dotted keys; nothing extends an inline table.
constexpr uint8_t kHeader = 1, kImplicit = 2, kDotted = 4, kInline = 8;

constexpr char kAlreadyDefined[] = "'%s' is already defined as %s at %d:%d";
constexpr char kInvalidValue[] = "%s: invalid value %s";

bool is_bare(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}
bool is_ctrl(int c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; }

// Whether s holds one of the characters of set.
bool has_any(std::string_view s, const char* set) {
  for (char c : s) {
    if (c && std::strchr(set, c)) return true;
  }
  return false;
}

int hex_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put_utf8(Str& s, uint32_t cp) {
  char b[4];
  size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (size_t k = n - 1; k > 0; k--, cp >>= 6) b[k] = static_cast<char>(0x80 | (cp & 0x3f));
  // The lead byte: 0xc0, 0xe0 or 0xf0 for 2, 3 or 4 bytes (nothing for 1).
  b[0] = static_cast<char>((n > 1 ? 0xff00 >> n : 0) | cp);
  s.append(std::string_view(b, n));
}

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF).
size_t utf8_len(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  unsigned c = at(0);
  if (c < 0x80) return 1;
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (n == 0 || c > 0xf4) return 0;
  for (size_t k = 1; k < n; k++) {
    if ((at(k) & 0xc0) != 0x80) return 0;
  }
  unsigned c1 = at(1);
  if (c == 0xe0 && c1 < 0xa0) return 0;
  if (c == 0xed && c1 >= 0xa0) return 0;
  if (c == 0xf0 && c1 < 0x90) return 0;
  if (c == 0xf4 && c1 >= 0x90) return 0;
  return n;
}

// v = Value() without a move assignment of its own (which costs more code).
void reset(Value& v) {
  v.~Value();
  new (&v) Value();
}

struct KeyPart {
  Str name;
  SrcPos pos;
};

// The parts of a dotted key: a fixed array rather than one more
// std::vector instantiation (the depth is bounded anyway).
struct Key {
  KeyPart part[kMaxDepth + 1];
  size_t n = 0;
  size_t size() const { return n; }
  const KeyPart& operator[](size_t k) const { return part[k]; }
  const KeyPart& back() const { return part[n - 1]; }
};

class Parser {
 public:
  Parser(std::string_view s, std::string_view file, ConfigError& err)
      : s_(s), file_(file), err_(err) {}

  bool document(Value& root) {
    root.pos = {1, 1};
    if (!check_utf8()) return false;
    Value* cur = &root;
    for (;;) {
      skip_ws();
      int c = peek();
      if (c < 0) return true;
      if (c == '#' || c == '\n' || c == '\r') {
        if (!end_line()) return false;
        continue;
      }
      if (c == '[') {
        cur = header(root);
        if (!cur) return false;
      } else if (!keyval(*cur, 0)) {
        return false;
      }
      if (!end_line()) return false;
    }
  }

 private:
  std::string_view s_;
  std::string_view file_;
  ConfigError& err_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  const char* key_ = "";  // the key whose value is being read

  int peek(size_t k = 0) const {
    return i_ + k < s_.size() ? static_cast<unsigned char>(s_[i_ + k]) : -1;
  }
  SrcPos pos() const { return {line_, static_cast<int>(i_ - line_start_ + 1)}; }

  [[gnu::cold, gnu::noinline, gnu::format(printf, 3, 4)]] bool fail(SrcPos p, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_.message = vfmt(fmt, ap);
    va_end(ap);
    err_.file = file_;
    err_.line = p.line;
    err_.col = p.col;
    return false;
  }

  // "unexpected character 'x'" for what is at the cursor.
  [[gnu::cold, gnu::noinline]] bool unexpected(const char* what) {
    int c = peek();
    Str q = c < 0 ? "end of file" : c == '\n' || c == '\r' ? "end of line" : quote(s_.substr(i_, utf8_len(s_, i_)));
    return fail(pos(), "unexpected %s, %s", q.c_str(), what);
  }

  bool check_utf8() {
    for (size_t k = 0; k < s_.size();) {
      if (s_[k] == '\n') {
        line_++;
        line_start_ = k + 1;
      }
      size_t n = utf8_len(s_, k);
      if (n == 0) {
        i_ = k;
        return fail(pos(), "invalid UTF-8");
      }
      k += n;
    }
    line_ = 1;
    line_start_ = 0;
    i_ = 0;
    return true;
  }

  void skip_ws() {
    while (peek() == ' ' || peek() == '\t') i_++;
  }

  // At '\n' or "\r\n": consumes it and counts the line.
  bool newline() {
    if (peek() == '\r') {
      if (peek(1) != '\n') return fail(pos(), "carriage return without a line feed");
      i_++;
    }
    i_++;
    line_++;
    line_start_ = i_;
    return true;
  }

  bool comment() {
    i_++;  // '#'
    for (int c; (c = peek()) >= 0 && c != '\n';) {
      if (c == '\r' && peek(1) == '\n') break;
      if (is_ctrl(c)) return fail(pos(), "control character in a comment");
      i_++;
    }
    return true;
  }

  // Whitespace, then an optional comment, then a newline or the end.
  bool end_line() {
    skip_ws();
    if (peek() == '#' && !comment()) return false;
    int c = peek();
    if (c < 0) return true;
    if (c == '\n' || c == '\r') return newline();
    return unexpected("expected the end of the line");
  }

  // Whitespace, newlines and comments (inside arrays and inline tables).
  bool skip_all() {
    for (;;) {
      skip_ws();
      int c = peek();
      if (c == '#') {
        if (!comment()) return false;
      } else if (c == '\n' || c == '\r') {
        if (!newline()) return false;
      } else {
        return true;
      }
    }
  }

  bool key(Key& parts) {
    for (;;) {
      skip_ws();
      KeyPart& k = parts.part[parts.n];  // the spare slot past kMaxDepth takes a part too many
      k.pos = pos();
      int c = peek();
      if (c == '"' || c == '\'') {
        if (peek(1) == c && peek(2) == c) return fail(pos(), "a key cannot be a multi-line string");
        if (!string(k.name, false)) return false;
      } else if (is_bare(c)) {
        size_t b = i_;
        while (is_bare(peek())) i_++;
        k.name += s_.substr(b, i_ - b);  // appended to the empty name
      } else {
        return unexpected("expected a key");
      }
      if (parts.size() >= static_cast<size_t>(kMaxDepth)) return fail(k.pos, "key has too many parts");
      parts.n++;
      skip_ws();
      if (peek() != '.') return true;
      i_++;
    }
  }

  static Member* find(Value& t, std::string_view k) { return const_cast<Member*>(t.find_member(k)); }

  bool full(const Value& t, const KeyPart& k, size_t limit = kMaxKeys) {
    return t.members.size() >= limit && !fail(k.pos, "too many keys in one table (the limit is 1000)");
  }

  Value& push(Value& t, const KeyPart& k, uint8_t flags) {
    t.members.push_back(Member{k.name, k.pos, Value()});
    Value& v = t.members.back().value;
    v.pos = k.pos;
    v.flags = flags;
    return v;
  }

  Value* add(Value& t, const KeyPart& k, uint8_t flags) { return full(t, k) ? nullptr : &push(t, k, flags); }

  Str dotted(const Key& parts, size_t upto) {
    Str s;
    for (size_t k = 0; k <= upto && k < parts.size(); k++) {
      if (k) s += '.';
      bool bare = !parts[k].name.empty();
      for (char c : parts[k].name.view()) bare = bare && is_bare(static_cast<unsigned char>(c));
      if (bare) s += parts[k].name;
      else s += quote(parts[k].name);
    }
    return s;
  }

  // A key that clashes with what the tree holds. Every format takes the
  // dotted key, the type of what is there (skipped with "%.0s" where the
  // message does not name it) and the line:col it refers to.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  [[gnu::cold, gnu::noinline]] bool clash(SrcPos at, const char* fmt, const Key& parts, size_t k,
                                          Type t, SrcPos ref) {
    return fail(at, fmt, dotted(parts, k).c_str(), type_name(t), ref.line, ref.col);
  }
#pragma GCC diagnostic pop

  // [a.b.c]: returns the table that the following key/values go to.
  Value* header(Value& root) {
    SrcPos at = pos();
    i_++;
    if (peek() == '[') {
      fail(at, "arrays of tables ([[...]]) are not supported");
      return nullptr;
    }
    Key parts;
    if (!key(parts)) return nullptr;
    skip_ws();
    if (peek() != ']') {
      unexpected("expected ']' to close the table header");
      return nullptr;
    }
    i_++;
    Value* t = &root;
    for (size_t k = 0; k < parts.size(); k++) {
      bool last = k + 1 == parts.size();
      Member* m = find(*t, parts[k].name);
      if (!m) {
        t = add(*t, parts[k], last ? kHeader : kImplicit);
        if (!t) return nullptr;
        if (last) t->pos = at;
        continue;
      }
      Value& v = m->value;
      const char* why = nullptr;
      SrcPos where = parts[k].pos, ref = m->pos;
      if (v.type != Type::Table) {
        why = kAlreadyDefined;
      } else if (v.flags & kInline) {
        why = "cannot extend inline table '%s'%.0s (defined at %d:%d)";
      } else if (last) {
        where = at;
        if (v.flags & kHeader) {
          why = "table [%s]%.0s is defined twice (first at %d:%d)";
          ref = v.pos;
        } else if (v.flags & kDotted) {
          why = "table [%s]%.0s was already defined by dotted keys at %d:%d";
        }
      }
      if (why) {
        clash(where, why, parts, k, v.type, ref);
        return nullptr;
      }
      if (last) {
        v.flags = kHeader;
        v.pos = at;
      }
      t = &v;
    }
    return t;
  }

  // key = value, into table t.
  bool keyval(Value& t, int depth) {
    Key parts;
    if (!key(parts)) return false;
    if (peek() != '=') return unexpected("expected '=' after the key");
    i_++;
    skip_ws();
    Value* cur = &t;
    for (size_t k = 0; k + 1 < parts.size(); k++) {
      Member* m = find(*cur, parts[k].name);
      if (!m) {
        cur = add(*cur, parts[k], static_cast<uint8_t>(kDotted | (t.flags & kInline)));
        if (!cur) return false;
        continue;
      }
      Value& v = m->value;
      if (v.type != Type::Table) return clash(parts[k].pos, kAlreadyDefined, parts, k, v.type, m->pos);
      if (!(v.flags & kDotted) || (v.flags & kInline && !(t.flags & kInline)))
        return clash(parts[k].pos, "cannot add keys to table '%s'%.0s (defined at %d:%d) here", parts, k, v.type, v.pos);
      cur = &v;
    }
    const KeyPart& last = parts.back();
    if (Member* m = find(*cur, last.name))
      return clash(last.pos, "duplicate key '%s'%.0s (first at %d:%d)", parts, parts.size() - 1, m->value.type, m->pos);
    // The value is read in place; the key limit is checked after it, so
    // that an error in the value is the one reported.
    const char* outer = key_;
    key_ = last.name.c_str();
    if (!value(push(*cur, last, 0), depth)) return false;
    key_ = outer;
    return !full(*cur, last, kMaxKeys + 1);
  }

  bool value(Value& v, int depth) {
    v.pos = pos();
    int c = peek();
    if (c == '"' || c == '\'') {
      v.type = Type::String;
      return string(v.str, true);
    }
    if (c == '[' || c == '{') {
      if (depth >= kMaxDepth) return fail(v.pos, "nesting too deep (the limit is 32)");
      return list(v, depth + 1);
    }
    if (c == 't' || c == 'f' || c == 'i' || c == 'n' || c == '+' || c == '-' ||
        (c >= '0' && c <= '9')) {
      return scalar(v);
    }
    return unexpected("expected a value");
  }

  // An array or an inline table: the same loop, items or key/values.
  bool list(Value& v, int depth) {
    bool table = peek() == '{';
    char close = table ? '}' : ']';
    v.type = table ? Type::Table : Type::Array;
    v.flags = table ? kInline | kDotted : 0;
    i_++;
    for (;;) {
      if (!skip_all()) return false;
      if (peek() == close) break;
      if (table) {
        if (!keyval(v, depth)) return false;
      } else {
        v.items.emplace_back();
        if (!value(v.items.back(), depth)) return false;
      }
      if (!skip_all()) return false;
      if (peek() == ',') {
        i_++;
      } else if (peek() != close) {
        return unexpected(table ? "expected ',' or '}' in the inline table" : "expected ',' or ']' in the array");
      }
    }
    i_++;
    if (table) v.flags = kInline;
    return true;
  }

  // A bad scalar's message names the key it was written for, as the
  // schema's messages do ("stop_signal: integer out of range: ..."): each
  // format takes the key, then the value (skipped with "%.0s" where the
  // message does not show it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  bool scalar(Value& v) {
    const char* why = literal(v);
    return !why || fail(v.pos, why, key_, quote(v.str).c_str());
  }
#pragma GCC diagnostic pop

  // true, false and integers; floats, dates, inf and nan are named as such.
  // Returns nullptr, or the format of the error for scalar().
  const char* literal(Value& v) {
    size_t b = i_;
    for (int c; is_bare(c = peek()) || c == '+' || c == '.' || c == ':';) i_++;
    std::string_view t = s_.substr(b, i_ - b);
    v.str += t;  // a fresh value: appended to the empty string
    bool yes = t == "true";
    if (yes || t == "false") {
      v.type = Type::Boolean;
      v.boolean = yes;
      return nullptr;
    }
    v.type = Type::Integer;
    std::string_view d = t;
    bool neg = false;
    if (!d.empty() && (d[0] == '+' || d[0] == '-')) {
      neg = d[0] == '-';
      d.remove_prefix(1);
    }
    int base = 10;
    if (d.size() > 1 && d[0] == '0' && (d[1] == 'x' || d[1] == 'o' || d[1] == 'b')) {
      if (d.size() != t.size()) return "%s: a sign is not allowed on a 0x, 0o or 0b number%.0s";
      base = d[1] == 'x' ? 16 : d[1] == 'o' ? 8 : 2;
      d.remove_prefix(2);
    } else {
      bool num = !d.empty() && d[0] >= '0' && d[0] <= '9';
      if (d == "inf" || d == "nan" || (num && has_any(d, ".eE")))
        return "%s: floating-point numbers are not supported%.0s";
      if (num && (has_any(d, ":T") || (d.size() > 4 && d[4] == '-')))
        return "%s: dates and times are not supported%.0s";
      if (d.size() > 1 && d[0] == '0') return "%s: leading zeros are not allowed in %s";
    }
    uint64_t n = 0;
    bool digit = false;
    const uint64_t limit = neg ? (1ULL << 63) : (1ULL << 63) - 1;
    for (size_t k = 0; k < d.size(); k++) {
      int x = hex_digit(static_cast<unsigned char>(d[k]));
      if (d[k] == '_' && digit && k + 1 < d.size() && hex_digit(static_cast<unsigned char>(d[k + 1])) >= 0 &&
          hex_digit(static_cast<unsigned char>(d[k + 1])) < base) {
        continue;
      }
      if (x < 0 || x >= base) return kInvalidValue;
      digit = true;
      if (n > (limit - static_cast<uint64_t>(x)) / static_cast<uint64_t>(base))
        return "%s: integer out of range: %s";
      n = n * static_cast<uint64_t>(base) + static_cast<uint64_t>(x);
    }
    if (!digit) return kInvalidValue;
    v.integer = neg ? static_cast<int64_t>(0 - n) : static_cast<int64_t>(n);
    return nullptr;
  }

  // Basic ("...", """...""") or literal ('...', '''...''') string at the cursor.
  bool string(Str& out, bool allow_multi) {
    SrcPos start = pos();
    char q = static_cast<char>(peek());
    bool multi = allow_multi && peek(1) == q && peek(2) == q;
    i_ += multi ? 3 : 1;
    if (multi && (peek() == '\n' || peek() == '\r')) {
      if (!newline()) return false;  // a newline right after the opening quotes is trimmed
    }
    for (;;) {
      int c = peek();
      if (c < 0 || (!multi && (c == '\n' || c == '\r')))
        return fail(start, "unterminated string");
      if (c == q && !multi) {
        i_++;
        return true;
      }
      if (c == q) {
        size_t run = 0;
        while (peek() == q && run < 6) {
          i_++;
          run++;
        }
        if (run < 3) {
          out.append(std::string_view(&s_[i_ - run], run));
          continue;
        }
        if (run > 5) return fail(pos(), "too many quotes at the end of a multi-line string");
        out.append(std::string_view(&s_[i_ - run], run - 3));
        return true;
      }
      if (c == '\n' || c == '\r') {
        if (!newline()) return false;
        out += '\n';
        continue;
      }
      if (c == '\\' && q == '"') {
        if (!escape(out, multi)) return false;
        continue;
      }
      if (is_ctrl(c)) return fail(pos(), "control character in a string (use an escape)");
      size_t b = i_;
      while (peek() >= 0x20 && peek() != q && peek() != '\\' && peek() != 0x7f) i_++;
      if (i_ == b) i_++;  // a lone backslash in a literal string
      out.append(s_.substr(b, i_ - b));
    }
  }

  bool escape(Str& out, bool multi) {
    SrcPos at = pos();
    size_t b = i_;
    i_++;
    int c = peek();
    if (multi) {
      // A backslash at the end of a line trims the newline and the
      // whitespace that follows.
      size_t save = i_;
      skip_ws();
      if (peek() == '\n' || peek() == '\r') {
        while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') {
          if (peek() == ' ' || peek() == '\t') {
            i_++;
          } else if (!newline()) {
            return false;
          }
        }
        return true;
      }
      i_ = save;
    }
    const char* simple = "b\bt\tn\nf\fr\re\x1b\"\"\\\\";
    for (const char* p = simple; *p; p += 2) {
      if (c == *p) {
        out += p[1];
        i_++;
        return true;
      }
    }
    if (c != 'u' && c != 'U') {
      if (c < 0) return fail(at, "unterminated string");
      return fail(at, "invalid escape sequence %s", quote(s_.substr(b, 1 + utf8_len(s_, b + 1))).c_str());
    }
    int n = c == 'u' ? 4 : 8;
    i_++;
    uint32_t cp = 0;
    for (int k = 0; k < n; k++) {
      int x = hex_digit(peek());
      if (x < 0) return fail(at, "\\%c needs %c hex digits", c, c == 'u' ? '4' : '8');
      cp = cp << 4 | static_cast<uint32_t>(x);
      i_++;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return fail(at, "escape is not a Unicode scalar value");
    if (cp == 0) return fail(at, "NUL characters are not allowed in strings");
    put_utf8(out, cp);
    return true;
  }
};

}  // namespace

const Member* Value::find_member(std::string_view key) const {
  for (const auto& m : members) {
    if (m.key.view() == key) return &m;
  }
  return nullptr;
}

const Value* Value::find(std::string_view key) const {
  const Member* m = find_member(key);
  return m ? &m->value : nullptr;
}

Result<void, ConfigError> parse(std::string_view text, std::string_view file, Value& root) {
  ConfigError err;
  if (text.size() > kMaxFileSize) {
    err.file = file;
    err.message = "file too large (the limit is 1 MiB)";
    return err;
  }
  Parser p(text, file, err);
  reset(root);
  if (p.document(root)) return {};
  reset(root);  // nothing of a broken file
  return err;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::String: return "a string";
    case Type::Integer: return "an integer";
    case Type::Boolean: return "a boolean";
    case Type::Array: return "an array";
    case Type::Table: return "a table";
  }
  return "?";
}

}  // namespace oxinit::toml
