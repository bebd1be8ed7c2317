#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "logs.h"

using namespace oxinit;

namespace {
Str read_all(int fd) {
  Str s;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(std::string_view(buf, static_cast<size_t>(n)));
  return s;
}

void pump(Loop& loop, Logs& logs, int rounds) {
  epoll_event ev[8];
  for (int i = 0; i < rounds; i++) {
    int n = loop.wait(now_ms() + 20, ev, 8);
    for (int k = 0; k < n; k++) logs.on_event(ev[k].data.u64, ev[k].events);
  }
}
}  // namespace

TEST_CASE("lines are prefixed, split, and partial lines flushed at the end") {
  int out[2], err[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  REQUIRE(pipe2(err, O_NONBLOCK) == 0);
  Loop loop;
  REQUIRE(loop.init().ok());
  Logs logs;
  logs.init(&loop, 2ULL << 56, false, out[1], err[1]);
  auto w = logs.open_stream("web", false);
  auto e = logs.open_stream("web", true);
  REQUIRE(w.ok());
  REQUIRE(e.ok());
  const char text[] = "one\ntwo\nthr";
  REQUIRE(write(w->get(), text, strlen(text)) == static_cast<ssize_t>(strlen(text)));
  REQUIRE(write(w->get(), "ee\nfour", 7) == 7);
  REQUIRE(write(e->get(), "bad\n", 4) == 4);
  w->reset();
  e->reset();
  pump(loop, logs, 10);
  logs.drain(now_ms() + 500);
  CHECK(read_all(out[0]).view() == "web | one\nweb | two\nweb | three\nweb | four\n");
  CHECK(read_all(err[0]).view() == "web | bad\n");
}

TEST_CASE("a long line is cut at kMaxLine") {
  int out[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
  Loop loop;
  REQUIRE(loop.init().ok());
  Logs logs;
  logs.init(&loop, 2ULL << 56, false, out[1], out[1]);
  auto w = logs.open_stream("x", false);
  REQUIRE(w.ok());
  Str big;
  for (size_t i = 0; i < kMaxLine + 10; i++) big += 'a';
  REQUIRE(write(w->get(), big.c_str(), big.size()) == static_cast<ssize_t>(big.size()));
  w->reset();
  pump(loop, logs, 10);
  logs.drain(now_ms() + 500);
  Str got = read_all(out[0]);
  size_t nl = got.view().find('\n');
  CHECK(nl == kMaxLine + 4);  // "x | " + kMaxLine bytes
  CHECK(got.view().substr(nl + 1) == "x | aaaaaaaaaa\n");
}

TEST_CASE("a full output drops lines with a count instead of growing") {
  int out[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  OutputSink sink;
  sink.open(out[1]);
  Str line;
  for (int i = 0; i < 1000; i++) line += 'z';
  for (int i = 0; i < 2000; i++) {
    sink.push(line, "", "\n");
    sink.flush();
  }
  CHECK(sink.dropped() > 0);
  // Drain the reader; the sink then reports how many were dropped.
  Str all;
  for (int i = 0; i < 200 && (sink.pending() || i < 2); i++) {
    all += read_all(out[0]);
    sink.flush();
  }
  all += read_all(out[0]);
  CHECK(all.view().find("oxinit | dropped ") != std::string_view::npos);
}

TEST_CASE("a stale stream reference cannot drain a stream that reuses its slot") {
  int out[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  Loop loop;
  REQUIRE(loop.init().ok());
  Logs logs;
  logs.init(&loop, 2ULL << 56, false, out[1], out[1]);
  uint64_t first = 0, second = 0;
  auto a = logs.open_stream("a", false, &first);
  REQUIRE(a.ok());
  a->reset();
  pump(loop, logs, 5);  // EOF: a's stream closes, its slot is free
  auto b = logs.open_stream("b", false, &second);
  REQUIRE(b.ok());
  CHECK((first & 0xffffffffu) == (second & 0xffffffffu));  // the same slot ...
  CHECK(first != second);                                   // ... another generation
  REQUIRE(write(b->get(), "partial", 7) == 7);
  logs.drain_stream(first);  // stale: must not read b's stream
  CHECK(read_all(out[0]).view().empty());
  logs.drain_stream(second);
  b->reset();
  pump(loop, logs, 5);
  logs.drain(now_ms() + 500);
  CHECK(read_all(out[0]).view() == "b | partial\n");
}

TEST_CASE("oxinit's own lines share the queue, in order with service lines") {
  int out[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  Loop loop;
  REQUIRE(loop.init().ok());
  Logs logs;
  logs.init(&loop, 2ULL << 56, false, out[1], out[1]);
  auto w = logs.open_stream("svc", false);
  REQUIRE(w.ok());
  REQUIRE(write(w->get(), "first\n", 6) == 6);
  pump(loop, logs, 3);
  logs.own_line(1, "[WARN  oxinit (1)] second\n", 19);
  REQUIRE(write(w->get(), "third\n", 6) == 6);
  w->reset();
  pump(loop, logs, 5);
  logs.drain(now_ms() + 500);
  CHECK(read_all(out[0]).view() == "svc | first\n[WARN  oxinit (1)] second\nsvc | third\n");
}

namespace {
// Logs writing to two pipes (oxinit's stdout and stderr) with a 1 MiB buffer.
struct Outputs {
  int out[2], err[2];
  Loop loop;
  Logs logs;
  Outputs() {
    REQUIRE(pipe2(out, O_NONBLOCK) == 0);
    REQUIRE(pipe2(err, O_NONBLOCK) == 0);
    fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
    REQUIRE(loop.init().ok());
    logs.init(&loop, 2ULL << 56, false, out[1], err[1]);
  }
};
}  // namespace

TEST_CASE("each service's last lines stay in a bounded ring for `ctl logs` (issue 13)") {
  Outputs o;
  Loop& loop = o.loop;
  Logs& logs = o.logs;
  logs.configure(false, false, 100);
  CHECK(logs.channel("web") == -1);
  auto w = logs.open_stream("web", false);
  REQUIRE(w.ok());
  int ch = logs.channel("web");
  CHECK(ch >= 0);
  std::string text;
  for (int k = 0; k < 50; k++) text += "line " + std::to_string(k) + "\n";
  REQUIRE(write(w->get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  pump(loop, logs, 3);
  CHECK(logs.tail(ch, 2) == "line 48\nline 49\n");
  CHECK(logs.tail(ch, 0).empty());
  // Bounded: never more than twice the buffer, whole lines only.
  std::string_view all = logs.tail(ch, 1000);
  CHECK(all.size() <= 200);
  CHECK(all.size() >= 100);
  CHECK(all.substr(0, 5) == "line ");
  CHECK(logs.tail(-1, 5).empty());
  // The ring outlives the stream: a restarted service keeps its history.
  w->reset();
  pump(loop, logs, 3);
  auto again = logs.open_stream("web", true);
  REQUIRE(again.ok());
  CHECK(logs.channel("web") == ch);
  REQUIRE(write(again->get(), "after\n", 6) == 6);
  pump(loop, logs, 3);
  CHECK(logs.tail(ch, 1) == "after\n");
  logs.configure(false, false, 0);
  CHECK(logs.tail(ch, 5).empty());
  logs.drain(now_ms() + 500);
}

TEST_CASE("streams and channels keep their lines while their arrays grow (Slots moves them by realloc)") {
  Outputs o;
  Logs& logs = o.logs;
  logs.configure(false, false, 1000);
  auto first = logs.open_stream("s0", false);
  REQUIRE(first.ok());
  REQUIRE(write(first->get(), "one\npart", 8) == 8);
  pump(o.loop, logs, 3);  // "one" in s0's ring, "part" its partial line
  // 200 more streams of 100 more services: both arrays move many times.
  std::vector<UniqueFd> more;
  for (int k = 1; k <= 200; k++) {
    auto w = logs.open_stream("s" + std::to_string(k / 2), k % 2 == 0);
    REQUIRE(w.ok());
    more.push_back(std::move(w.value()));
  }
  REQUIRE(write(first->get(), "ial\n", 4) == 4);
  REQUIRE(write(more.back().get(), "last\n", 5) == 5);
  pump(o.loop, logs, 5);
  CHECK(logs.tail(logs.channel("s0"), 5) == "one\npartial\n");
  CHECK(logs.tail(logs.channel("s100"), 5) == "last\n");
  CHECK(logs.channel("s100") == 100);
  logs.drain(now_ms() + 500);
  std::string out = read_all(o.out[0]).c_str();
  CHECK(out == "s0 | one\ns0 | partial\n");
  CHECK(std::string(read_all(o.err[0]).c_str()) == "s100 | last\n");
}

namespace {
void tap_into(void* ctx, uint32_t channel, std::string_view line) {
  *static_cast<std::string*>(ctx) += std::to_string(channel) + ":" + std::string(line) + ";";
}
}  // namespace

TEST_CASE("a tap sees every line (ctl logs -f)") {
  Outputs o;
  Loop& loop = o.loop;
  Logs& logs = o.logs;
  std::string seen;
  logs.set_tap(tap_into, &seen);
  auto w = logs.open_stream("a", false);
  REQUIRE(w.ok());
  REQUIRE(write(w->get(), "x\ny\n", 4) == 4);
  pump(loop, logs, 3);
  CHECK(seen == "0:x;0:y;");
  logs.set_tap(nullptr, nullptr);
  logs.drain(now_ms() + 500);
}

TEST_CASE("log_format = json: one JSON object per line, oxinit's own lines too (issue 13)") {
  Outputs io;
  Loop& loop = io.loop;
  Logs& logs = io.logs;
  int* out = io.out;
  int* err = io.err;
  logs.configure(false, true, 0);
  auto w = logs.open_stream("web", false);
  auto e = logs.open_stream("web", true);
  REQUIRE((w.ok() && e.ok()));
  REQUIRE(write(w->get(), "say \"hi\"\t\x01\n", 11) == 11);
  REQUIRE(write(e->get(), "oops\n", 5) == 5);
  pump(loop, logs, 5);
  logs.own_line(1, "[WARN  oxinit (1)] it broke\n", 19);
  logs.own_line(2, "[INFO  oxinit (1)] fine\n", 19);
  w->reset();
  e->reset();
  logs.drain(now_ms() + 500);
  std::string o = read_all(out[0]).c_str(), r = read_all(err[0]).c_str();
  // {"time":"2026-11-30T16:50:00.123Z",...}: the time, then the rest exactly.
  auto rest = [](const std::string& line) {
    REQUIRE(line.substr(0, 9) == "{\"time\":\"");
    CHECK(line.size() > 34);
    CHECK(line.substr(32, 3) == "Z\",");
    return line.substr(35);
  };
  size_t nl = o.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(rest(o.substr(0, nl)) == "\"service\":\"web\",\"stream\":\"stdout\",\"line\":\"say \\\"hi\\\"\\t\\u0001\"}");
  CHECK(rest(o.substr(nl + 1)) == "\"service\":\"oxinit\",\"level\":\"info\",\"line\":\"fine\"}\n");
  nl = r.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(rest(r.substr(0, nl)) == "\"service\":\"web\",\"stream\":\"stderr\",\"line\":\"oops\"}");
  CHECK(rest(r.substr(nl + 1)) == "\"service\":\"oxinit\",\"level\":\"warn\",\"line\":\"it broke\"}\n");
}

TEST_CASE("log = file:PATH: lines go to the file, rotated past log_max_size (issue 13)") {
  char dir[] = "/tmp/oxinit-logs-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/web.log";
  Outputs io;
  Loop& loop = io.loop;
  Logs& logs = io.logs;
  int* out = io.out;
  ServiceSpec spec;
  spec.name = "web";
  spec.log = LogMode::File;
  spec.log_file = path.c_str();
  spec.log_max_size = 20;
  spec.log_keep = 2;
  auto w = logs.open_stream("web", false, nullptr, &spec);
  REQUIRE(w.ok());
  // 8 bytes a line: two fit in 20 bytes, the third rotates.
  for (int k = 0; k < 7; k++) {
    std::string line = "line " + std::to_string(k) + "\n";
    REQUIRE(write(w->get(), line.data(), 7) == 7);
    pump(loop, logs, 1);
  }
  w->reset();
  logs.drain(now_ms() + 500);
  auto file = [](const std::string& p) {
    int fd = open(p.c_str(), O_RDONLY);
    if (fd < 0) return std::string("(none)");
    std::string s = read_all(fd).c_str();
    close(fd);
    return s;
  };
  CHECK(file(path) == "line 6\n");
  CHECK(file(path + ".1") == "line 4\nline 5\n");
  CHECK(file(path + ".2") == "line 2\nline 3\n");
  CHECK(file(path + ".3") == "(none)");  // log_keep = 2
  CHECK(read_all(out[0]).empty());        // nothing on oxinit's outputs
  // A file that cannot be opened: the lines go to oxinit's output instead.
  spec.log_file = "/nonexistent-dir/x.log";
  auto b = logs.open_stream("web", false, nullptr, &spec);
  REQUIRE(b.ok());
  REQUIRE(write(b->get(), "kept\n", 5) == 5);
  b->reset();
  pump(loop, logs, 2);
  logs.drain(now_ms() + 500);
  std::string o = read_all(out[0]).c_str();
  CHECK(o.find("web | kept\n") != std::string::npos);
  std::filesystem::remove_all(dir);
}
