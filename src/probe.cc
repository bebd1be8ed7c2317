#include "probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "signals.h"
#include "sys/format.h"

namespace oxinit {

HttpStatus parse_http_status(std::string_view a) {
  // HTTP/1.1's status-line (RFC 9112 4): "HTTP/" DIGIT "." DIGIT SP 3DIGIT,
  // then SP and a reason; CR or LF alone are accepted after the code.
  static constexpr char kShape[] = "HTTP/#.# ###";
  for (;;) {
    for (size_t i = 0; i < 12 && i < a.size(); i++) {
      bool digit = a[i] >= '0' && a[i] <= '9';
      if (kShape[i] == '#' ? !digit : a[i] != kShape[i]) return {HttpStatus::Malformed, 0};
    }
    if (a.size() < 13) return {HttpStatus::Incomplete, 0};
    if (a[12] != ' ' && a[12] != '\r' && a[12] != '\n') return {HttpStatus::Malformed, 0};
    int code = (a[9] - '0') * 100 + (a[10] - '0') * 10 + (a[11] - '0');
    if (code < 100 || code > 599) return {HttpStatus::Malformed, 0};
    if (code >= 200) return {HttpStatus::Ok, code};
    // An interim answer (100 Continue, 103 Early Hints) ends at the blank
    // line after its headers; the final answer follows it.
    size_t crlf = a.find("\r\n\r\n"), lf = a.find("\n\n");
    if (crlf == std::string_view::npos && lf == std::string_view::npos) return {HttpStatus::Incomplete, 0};
    a.remove_prefix(crlf < lf ? crlf + 4 : lf + 2);
  }
}

const char* parse_target(std::string_view url, ProbeTarget& t) {
  t = ProbeTarget{};
  std::string_view rest;
  if (url.substr(0, 6) == "tcp://") {
    rest = url.substr(6);
  } else if (url.substr(0, 7) == "http://") {
    t.http = true;
    rest = url.substr(7);
  } else {
    return "a probe address is tcp://HOST:PORT or http://HOST[:PORT]/PATH";
  }
  size_t slash = t.http ? rest.find('/') : std::string_view::npos;
  t.host = rest.substr(0, slash);
  t.path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  for (char c : t.path) {
    if (c <= ' ' || c == 0x7f) return "the HTTP path has a space or a control character";
  }
  if (t.path.size() > 200 || t.host.size() > 64) return "the probe address is too long";
  std::string_view host = t.host, port;
  bool v6 = !host.empty() && host[0] == '[';
  size_t colon = v6 ? host.find(']') : host.find(':');
  if (v6 && colon == std::string_view::npos) return "an IPv6 address ends with ]";
  if (colon != std::string_view::npos) {
    port = host.substr(colon + (v6 ? 1 : 0));
    host = host.substr(v6 ? 1 : 0, colon - (v6 ? 1 : 0));
  }
  int64_t p = 80;
  if (port.empty() ? !t.http
                   : port.size() < 2 || port[0] != ':' || port[1] < '0' || port[1] > '9' ||
                         !parse_int(port.substr(1), p) || p < 1 || p > 65535) {
    return "the probe address needs a port from 1 to 65535";
  }
  t.port = static_cast<uint16_t>(p);
  if (host == "localhost" && !v6) {
    t.naddr = 2;
    t.family[0] = AF_INET;
    t.family[1] = AF_INET6;
    const uint8_t v4[4] = {127, 0, 0, 1};
    memcpy(t.addr[0], v4, 4);
    t.addr[1][15] = 1;
    return nullptr;
  }
  char h[72];
  memcpy(h, host.data(), host.size());
  h[host.size()] = 0;
  t.naddr = 1;
  t.family[0] = v6 ? AF_INET6 : AF_INET;
  if (inet_pton(t.family[0], h, t.addr[0]) != 1) return "the probe host is an IP address or localhost (no DNS)";
  return nullptr;
}

bool Probe::finish(bool ok, const char* fmt, ...) {
  close_socket();
  phase_ = Phase::Idle;
  result_.ok = ok;
  va_list ap;
  va_start(ap, fmt);
  vformat(result_.reason, sizeof result_.reason, fmt, ap);
  va_end(ap);
  return true;
}

// "Connection refused" -> "connection refused": reasons read as part of a line.
bool Probe::fail_errno(int err) {
  finish(false, "%s", strerror(err));
  char& c = result_.reason[0];
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return true;
}

void Probe::close_socket() {
  if (!sock_.valid()) return;
  // Out of the epoll set first: a forked child that has not exec'd yet
  // still holds the socket, and epoll would go on reporting it (epoll(7),
  // Q6).
  loop_->remove(sock_.get());
  sock_.reset();
}

bool Probe::start_net(const ProbeTarget& t, Loop& loop, uint64_t token, Millis now, Millis timeout) {
  cancel();
  target_ = t;
  loop_ = &loop;
  token_ = token;
  timeout_ = timeout;
  deadline_ = now + timeout;
  next_addr_ = 0;
  len_ = 0;
  return connect_next(0);
}

// The next address of the target (localhost: 127.0.0.1, then ::1). `err`:
// the first address's error, the one reported when none is left (an IPv6
// "address not available" would hide the refused IPv4 connection).
bool Probe::connect_next(int err) {
  while (next_addr_ < target_.naddr) {
    int i = next_addr_++;
    union {
      sockaddr sa;
      sockaddr_in in;
      sockaddr_in6 in6;
    } a{};
    socklen_t alen;
    if (target_.family[i] == AF_INET) {
      a.in.sin_family = AF_INET;
      a.in.sin_port = htons(target_.port);
      memcpy(&a.in.sin_addr, target_.addr[i], 4);
      alen = sizeof a.in;
    } else {
      a.in6.sin6_family = AF_INET6;
      a.in6.sin6_port = htons(target_.port);
      memcpy(&a.in6.sin6_addr, target_.addr[i], 16);
      alen = sizeof a.in6;
    }
    int fd = socket(target_.family[i], SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      sock_.reset(fd);
      if (connect(fd, &a.sa, alen) == 0) return target_.http ? send_request() : finish(true, "connected");
      if (errno == EINPROGRESS) {
        if (!loop_->add(fd, EPOLLOUT, token_)) return fail_errno(errno);
        phase_ = Phase::Connecting;
        return false;
      }
      sock_.reset();
    }
    if (!err) err = errno;
  }
  return fail_errno(err);
}

// The request fits a fresh socket's empty send buffer (at least
// net.ipv4.tcp_wmem's default, 16 KB, tcp(7)), so one send() takes it all.
bool Probe::send_request() {
  char req[400];
  size_t n = format(req, sizeof req,
                    "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: oxinit\r\nConnection: close\r\n\r\n",
                    static_cast<int>(target_.path.size()), target_.path.data(),
                    static_cast<int>(target_.host.size()), target_.host.data());
  if (send(sock_.get(), req, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return fail_errno(errno);
  if (!loop_->modify(sock_.get(), EPOLLIN, token_)) return fail_errno(errno);
  phase_ = Phase::Reading;
  return false;
}

bool Probe::read_answer() {
  for (;;) {
    ssize_t n = recv(sock_.get(), buf_ + len_, sizeof buf_ - len_, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? false : fail_errno(errno);
    len_ = static_cast<uint16_t>(len_ + n);
    HttpStatus st = parse_http_status(std::string_view(buf_, len_));
    if (st.kind == HttpStatus::Ok) return finish(st.code < 400, "HTTP %d", st.code);
    if (st.kind == HttpStatus::Malformed || len_ == sizeof buf_) return finish(false, "malformed HTTP answer");
    if (n == 0) return finish(false, "connection closed before an HTTP status");
  }
}

bool Probe::on_io(uint32_t) {
  if (phase_ == Phase::Connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) return false;  // not yet (a spurious wake)
    if (err) {
      close_socket();
      return connect_next(err);
    }
    return target_.http ? send_request() : finish(true, "connected");
  }
  if (phase_ == Phase::Reading) return read_answer();
  return false;
}

bool Probe::start_exec(SpawnRequest req, Millis now, Millis timeout) {
  cancel();
  timeout_ = timeout;
  deadline_ = now + timeout;
  req.new_session = true;
  req.share_memory = true;  // a frequent check: no page tables to copy
  req.clean_signals = true;
  auto r = spawn(req);
  if (!r) return finish(false, "unable to start: %s: %s", r.error().what, strerror(r.error().err));
  pid_ = r->pid;
  phase_ = Phase::Running;
  return false;
}

bool Probe::check_file(const char* path) {
  cancel();
  struct stat st;
  return stat(path, &st) == 0 ? finish(true, "%s exists", path) : fail_errno(errno);
}

bool Probe::on_exit(int status) {
  pid_ = -1;
  if (phase_ != Phase::Running) return false;  // it had timed out already
  if (WIFSIGNALED(status)) {
    char b[16];
    return finish(false, "killed by %s", signal_name(WTERMSIG(status), b));
  }
  int code = WEXITSTATUS(status);
  return finish(code == 0, "exit %d", code);
}

bool Probe::on_deadline(Millis now) {
  if (!busy() || now < deadline_) return false;
  cancel();
  long long t = timeout_;
  return t % 1000 ? finish(false, "timed out after %lldms", t) : finish(false, "timed out after %llds", t / 1000);
}

void Probe::cancel() {
  // The whole group: sh -c may have started children of its own. The pid
  // stays known until reaped, so its exit is not taken for an orphan's.
  if (phase_ == Phase::Running && pid_ > 0) kill(-pid_, SIGKILL);
  close_socket();
  phase_ = Phase::Idle;
}

}  // namespace oxinit
