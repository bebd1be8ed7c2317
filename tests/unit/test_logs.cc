#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

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
  logs.own_line(true, "[WARN  oxinit (1)] second\n");
  REQUIRE(write(w->get(), "third\n", 6) == 6);
  w->reset();
  pump(loop, logs, 5);
  logs.drain(now_ms() + 500);
  CHECK(read_all(out[0]).view() == "svc | first\n[WARN  oxinit (1)] second\nsvc | third\n");
}
