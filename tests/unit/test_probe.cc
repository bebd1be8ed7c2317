#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "loop.h"
#include "probe.h"

using namespace oxinit;

namespace {

HttpStatus st(std::string_view s) { return parse_http_status(s); }
bool incomplete(std::string_view s) { return st(s).kind == HttpStatus::Incomplete; }
bool malformed(std::string_view s) { return st(s).kind == HttpStatus::Malformed; }
int ok_code(std::string_view s) {
  HttpStatus h = st(s);
  return h.kind == HttpStatus::Ok ? h.code : -1;
}

}  // namespace

TEST_CASE("http status line: partial answers are incomplete, never malformed") {
  std::string full = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  for (size_t n = 0; n < 13; n++) CHECK_MESSAGE(incomplete(full.substr(0, n)), n);
  for (size_t n = 13; n <= full.size(); n++) CHECK(ok_code(full.substr(0, n)) == 200);
  CHECK(ok_code("HTTP/1.0 200\r\n") == 200);
  CHECK(ok_code("HTTP/1.1 204\n") == 204);
}

TEST_CASE("http status line: every class") {
  CHECK(ok_code("HTTP/1.1 200 OK\r\n") == 200);
  CHECK(ok_code("HTTP/1.1 302 Found\r\n") == 302);
  CHECK(ok_code("HTTP/1.1 404 Not Found\r\n") == 404);
  CHECK(ok_code("HTTP/1.1 503 Service Unavailable\r\n") == 503);
  CHECK(ok_code("HTTP/1.1 599 x") == 599);
  // 1xx answers are interim: the final one follows after their blank line.
  CHECK(incomplete("HTTP/1.1 100 Continue\r\n"));
  CHECK(incomplete("HTTP/1.1 100 Continue\r\n\r\n"));
  CHECK(incomplete("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20"));
  CHECK(ok_code("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n") == 204);
  CHECK(ok_code("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\n") == 200);
  CHECK(ok_code("HTTP/1.1 103 Early Hints\nLink: </s.css>\n\nHTTP/1.1 503 x\n") == 503);
  CHECK(ok_code("HTTP/1.1 100 a\r\n\r\nHTTP/1.1 101 b\r\n\r\nHTTP/1.1 301 c\r\n") == 301);
  CHECK(malformed("HTTP/1.1 100 Continue\r\n\r\nSSH-2.0"));
}

TEST_CASE("http status line: malformed answers") {
  for (const char* s : {"SSH-2.0-OpenSSH_9.2\r\n", "http/1.1 200 OK", "HTTP/1.1 20a OK", "HTTP/1.1 2000 OK",
                        "HTTP/1.1  200 OK", "HTTP/11 200 OK", "HTTP/2 200\r\n", "\r\nHTTP/1.1 200 OK",
                        "HTTP/1.1 099 x\r\n", "HTTP/1.1 600 x\r\n", "HTTP/1.1 000 x", "HTTP/1.1 200x",
                        "HTTP/1.1 200\t", "H\xff"}) {
    CHECK_MESSAGE(malformed(s), s);
  }
  CHECK(malformed(std::string_view("HTTP/1.1 2\0000 OK", 16)));
}

TEST_CASE("http status line: oversized answers") {
  // A huge reason or body after the code: the code is known at byte 13.
  CHECK(ok_code("HTTP/1.1 500 " + std::string(100000, 'x')) == 500);
  // An interim answer whose headers never end stays incomplete: the probe's
  // bounded buffer turns that into a failure once full.
  CHECK(incomplete("HTTP/1.1 103 Early\r\n" + std::string(100000, 'x')));
  CHECK(malformed(std::string(100000, 'H')));
}

namespace {

constexpr uint64_t kToken = 7ULL << 56;

// A listening TCP socket on an ephemeral port of `ip`.
struct Server {
  int fd = -1;
  uint16_t port = 0;
  explicit Server(const char* ip = "127.0.0.1", int backlog = 16, bool listening = true) {
    bool v6 = strchr(ip, ':') != nullptr;
    fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    union {
      sockaddr sa;
      sockaddr_in in;
      sockaddr_in6 in6;
    } a{};
    socklen_t len;
    if (v6) {
      a.in6.sin6_family = AF_INET6;
      inet_pton(AF_INET6, ip, &a.in6.sin6_addr);
      len = sizeof a.in6;
    } else {
      a.in.sin_family = AF_INET;
      inet_pton(AF_INET, ip, &a.in.sin_addr);
      len = sizeof a.in;
    }
    if (bind(fd, &a.sa, len) < 0) {
      close(fd);
      fd = -1;
      return;
    }
    getsockname(fd, &a.sa, &len);
    port = ntohs(v6 ? a.in6.sin6_port : a.in.sin_port);
    if (listening) listen(fd, backlog);
  }
  ~Server() {
    if (fd >= 0) close(fd);
  }
  std::string url(const char* scheme, const char* host, const char* path = "") const {
    bool v6 = strchr(host, ':') != nullptr;
    return std::string(scheme) + "://" + (v6 ? "[" : "") + host + (v6 ? "]" : "") + ":" + std::to_string(port) + path;
  }
};

// Runs the loop for the probe until it ends; returns the milliseconds taken.
Millis drive(Probe& p, Loop& loop, Millis limit = 5000) {
  Millis t0 = now_ms();
  while (p.busy() && now_ms() - t0 < limit) {
    epoll_event ev[4];
    int n = loop.wait(p.deadline(), ev, 4);
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u64 == kToken) p.on_io(ev[i].events);
    }
    p.on_deadline(now_ms());
  }
  return now_ms() - t0;
}

// "tcp://127.0.0.1:PORT/PATH" and the like, as the schema would parse it.
bool start(Probe& p, Loop& loop, const std::string& url, Millis timeout) {
  static ProbeSpec spec;  // the probe keeps a pointer: keep it alive
  spec = ProbeSpec();
  bool http = url.rfind("http://", 0) == 0;
  spec.kind = http ? ProbeSpec::Http : ProbeSpec::Tcp;
  std::string rest = url.substr(http ? 7 : 6);
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    spec.path_or_cmd = rest.substr(slash).c_str();
    rest = rest.substr(0, slash);
  }
  bool v6 = rest[0] == '[';
  size_t colon = v6 ? rest.find("]:") + 1 : rest.find(':');
  std::string host = rest.substr(v6, colon - v6 - (v6 ? 1 : 0));
  spec.port = static_cast<uint16_t>(std::stoi(rest.substr(colon + 1)));
  spec.host = host.c_str();
  spec.family = v6 ? AF_INET6 : AF_INET;
  REQUIRE(inet_pton(spec.family, host == "localhost" ? "127.0.0.1" : host.c_str(), spec.addr) == 1);
  return p.start_net(spec, loop, kToken, now_ms(), timeout);
}

std::string reason(const Probe& p) { return p.result().reason; }

}  // namespace

TEST_CASE("tcp probe: connected, refused, localhost's two addresses") {
  Loop loop;
  REQUIRE(loop.init());
  Probe p;
  Server up;
  REQUIRE(up.fd >= 0);
  start(p, loop, up.url("tcp", "127.0.0.1"), 1000);
  drive(p, loop);
  CHECK(p.result().ok);
  CHECK(reason(p) == "connected");

  Server bound("127.0.0.1", 0, false);  // bound, not listening: RST
  start(p, loop, bound.url("tcp", "127.0.0.1"), 1000);
  drive(p, loop);
  CHECK_FALSE(p.result().ok);
  CHECK(reason(p) == "connection refused");
  start(p, loop, bound.url("tcp", "localhost"), 1000);
  drive(p, loop);
  CHECK_FALSE(p.result().ok);
  CHECK(reason(p) == "connection refused");  // the first address's error

  Server v6("::1");
  if (v6.fd >= 0) {  // IPv6 may be off in this namespace; v4 is covered above
    start(p, loop, v6.url("tcp", "localhost"), 1000);
    drive(p, loop);
    CHECK(p.result().ok);
    start(p, loop, v6.url("tcp", "::1"), 1000);
    drive(p, loop);
    CHECK(p.result().ok);
  } else {
    MESSAGE("no IPv6 loopback here: the [::1] probes were not run");
  }
}

// A SYN that is never answered: a listener whose accept queue is full drops
// new SYNs (tcp_conn_request: "sk_acceptq_is_full ... goto drop"), so the
// connect stays in progress, as behind a firewall that drops packets. With
// backlog 0 the queue holds one connection, which `filler` takes.
TEST_CASE("tcp probe: a port that never answers ends at its timeout") {
  Loop loop;
  REQUIRE(loop.init());
  Server full("127.0.0.1", 0);
  REQUIRE(full.fd >= 0);
  int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(full.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  for (const char* scheme : {"tcp", "http"}) {
    Probe p;
    CHECK_FALSE(start(p, loop, full.url(scheme, "127.0.0.1", *scheme == 'h' ? "/" : ""), 300));
    Millis took = drive(p, loop);
    CHECK_FALSE(p.result().ok);
    CHECK(reason(p) == "timed out after 300ms");
    CHECK(took >= 300);
    CHECK(took < 600);
    MESSAGE(std::string(scheme), " probe to a full backlog ended after ", took, " ms (timeout 300)");
  }
  Probe p;
  start(p, loop, full.url("tcp", "127.0.0.1"), 1000);
  drive(p, loop);
  CHECK(reason(p) == "timed out after 1s");
  close(filler);
}

namespace {

// One HTTP exchange: the server accepts, sends `answer` (all of it at once,
// before reading the request), then closes; returns what the probe sent.
std::string http_exchange(Probe& p, Loop& loop, const std::string& answer, Millis timeout = 1000,
                          bool close_after = true) {
  Server srv;
  REQUIRE(srv.fd >= 0);
  start(p, loop, srv.url("http", "127.0.0.1", "/healthz"), timeout);
  int c = accept4(srv.fd, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(c >= 0);
  if (!answer.empty()) REQUIRE(send(c, answer.data(), answer.size(), MSG_NOSIGNAL) == ssize_t(answer.size()));
  if (close_after) shutdown(c, SHUT_WR);
  drive(p, loop);
  char buf[1024];
  ssize_t n = recv(c, buf, sizeof buf, MSG_DONTWAIT);
  close(c);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

}  // namespace

TEST_CASE("http probe: status classes, malformed and oversized answers") {
  Loop loop;
  REQUIRE(loop.init());
  Probe p;
  std::string req = http_exchange(p, loop, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  CHECK(p.result().ok);
  CHECK(reason(p) == "HTTP 200");
  CHECK(req.rfind("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:", 0) == 0);
  CHECK(req.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(req.size() >= 4);
  CHECK(req.substr(req.size() - 4) == "\r\n\r\n");

  http_exchange(p, loop, "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n");
  CHECK(p.result().ok);
  http_exchange(p, loop, "HTTP/1.1 503 Service Unavailable\r\n\r\n");
  CHECK_FALSE(p.result().ok);
  CHECK(reason(p) == "HTTP 503");
  http_exchange(p, loop, "HTTP/1.1 404 Not Found\r\n\r\n");
  CHECK(reason(p) == "HTTP 404");
  http_exchange(p, loop, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  CHECK(p.result().ok);
  http_exchange(p, loop, "SSH-2.0-OpenSSH_9.2p1\r\n");
  CHECK(reason(p) == "malformed HTTP answer");
  http_exchange(p, loop, "HTTP/1.1 103 Early Hints\r\n" + std::string(5000, 'L'));
  CHECK(reason(p) == "malformed HTTP answer");  // the bounded buffer filled up
  http_exchange(p, loop, "HTTP/1.1 200 OK\r\n" + std::string(100000, 'b'));
  CHECK(p.result().ok);
  http_exchange(p, loop, "");
  CHECK(reason(p) == "connection closed before an HTTP status");
  http_exchange(p, loop, "HTTP/1.1 20");
  CHECK(reason(p) == "connection closed before an HTTP status");
  Millis t0 = now_ms();
  http_exchange(p, loop, "HTTP/1.1 2", 250, false);  // then silence
  CHECK(reason(p) == "timed out after 250ms");
  CHECK(now_ms() - t0 >= 250);
}

TEST_CASE("http probe: a status line in pieces") {
  Loop loop;
  REQUIRE(loop.init());
  Probe p;
  Server srv;
  start(p, loop, srv.url("http", "127.0.0.1", "/"), 2000);
  int c = accept4(srv.fd, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(c >= 0);
  const char* pieces[] = {"HTT", "P/1.1 ", "50", "3 Unavailable\r\n"};
  for (const char* piece : pieces) {
    CHECK(p.busy());
    send(c, piece, strlen(piece), MSG_NOSIGNAL);
    // One turn of the loop: the piece is read, the check goes on.
    epoll_event ev[4];
    Millis until = now_ms() + 200;
    while (p.busy() && now_ms() < until) {
      int n = loop.wait(until, ev, 4);
      if (n > 0) {
        p.on_io(ev[0].events);
        break;
      }
    }
  }
  CHECK_FALSE(p.busy());
  CHECK(reason(p) == "HTTP 503");
  close(c);
}

namespace {

SpawnRequest sh_request(const char* script, const char** argv_store, sigset_t& mask) {
  sigemptyset(&mask);
  argv_store[0] = "/bin/sh";
  argv_store[1] = "-c";
  argv_store[2] = script;
  argv_store[3] = nullptr;
  static const char* envp[] = {"PATH=/usr/bin:/bin", nullptr};
  SpawnRequest r;
  r.argv = const_cast<char* const*>(argv_store);
  r.envp = const_cast<char* const*>(envp);
  r.mask = &mask;
  return r;
}

// Whether a process of group `pgrp` is alive (not a zombie), from /proc.
bool group_alive(pid_t pgrp) {
  DIR* d = opendir("/proc");
  bool alive = false;
  while (dirent* e = readdir(d)) {
    std::string path = std::string("/proc/") + e->d_name + "/stat";
    FILE* f = fopen(path.c_str(), "r");
    if (!f) continue;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char* close_paren = strrchr(buf, ')');
    char state = 0;
    int ppid = 0, pg = 0;
    if (close_paren && sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pg) == 3 && pg == pgrp &&
        state != 'Z') {
      alive = true;
    }
  }
  closedir(d);
  return alive;
}

}  // namespace

TEST_CASE("exec probe: exit status, timeout kills the group") {
  sigset_t mask;
  const char* argv[4];
  Probe p;
  struct Case {
    const char* script;
    bool ok;
    const char* why;
  };
  for (auto [script, ok, why] : {Case{"exit 0", true, "exit 0"}, Case{"exit 2", false, "exit 2"},
                                 Case{"kill -TERM $$", false, "killed by SIGTERM"}}) {
    SpawnRequest req = sh_request(script, argv, mask);
    CHECK_FALSE(p.start_exec(req, now_ms(), 5000));
    pid_t pid = p.pid();
    REQUIRE(pid > 0);
    // A group of its own (a forked child calls setsid itself: sanitized
    // builds fork, so wait for it, bounded).
    for (int k = 0; k < 200 && getpgid(pid) != pid; k++) usleep(10000);
    CHECK(getpgid(pid) == pid);
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(p.on_exit(status));
    CHECK(p.result().ok == ok);
    CHECK(reason(p) == why);
    CHECK(p.pid() == -1);
  }

  Loop loop;
  REQUIRE(loop.init());
  Millis t0 = now_ms();
  SpawnRequest req = sh_request("sleep 30 & sleep 30", argv, mask);
  p.start_exec(req, t0, 200);
  pid_t pid = p.pid();
  drive(p, loop);
  Millis took = now_ms() - t0;
  CHECK(reason(p) == "timed out after 200ms");
  CHECK(took >= 200);
  CHECK(took < 500);
  CHECK(p.pid() == pid);  // still to be reaped
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK_FALSE(p.on_exit(status));  // the check had ended already
  CHECK(reason(p) == "timed out after 200ms");
  // The background sleep went with its group (a zombie at most, since
  // whoever reaps orphans here may take its time).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) {
    gone = !group_alive(pid);
    if (!gone) usleep(10000);
  }
  CHECK(gone);
}

TEST_CASE("file probe") {
  Probe p;
  CHECK(p.check_file("/"));
  CHECK(p.result().ok);
  CHECK(p.check_file("/nonexistent/oxinit-ready"));
  CHECK_FALSE(p.result().ok);
  CHECK(reason(p) == "no such file or directory");
}
