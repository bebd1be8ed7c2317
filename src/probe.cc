#include "probe.h"

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
    // line after its headers; the final answer follows it. The blank
    // line ("\r\n\r\n" or "\n\n", whichever comes first); a scan, not two
    // find()s (~170 bytes of string_view::find used nowhere else).
    size_t end = 0;
    for (size_t i = 1; i + 1 < a.size() && !end; i++) {
      if (a[i] != '\n') continue;
      if (a[i + 1] == '\n') end = i + 2;
      else if (a[i - 1] == '\r' && a[i + 1] == '\r' && i + 2 < a.size() && a[i + 2] == '\n') end = i + 3;
    }
    if (!end) return {HttpStatus::Incomplete, 0};
    a.remove_prefix(end);
  }
}

OX_NO_FLOAT_ARGS bool Probe::finish(bool ok, const char* fmt, ...) {
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

bool Probe::start_net(const ProbeSpec& p, Loop& loop, uint64_t token, Millis now, Millis timeout) {
  cancel();
  spec_ = &p;
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
  const ProbeSpec& p = *spec_;
  int count = p.host == "localhost" ? 2 : 1;
  while (next_addr_ < count) {
    union {
      sockaddr sa;
      sockaddr_in in;
      sockaddr_in6 in6;
    } a{};
    int family = next_addr_++ ? AF_INET6 : p.family;
    // sockaddr_in and sockaddr_in6 share the family and port fields.
    a.in6.sin6_family = static_cast<sa_family_t>(family);
    a.in6.sin6_port = htons(p.port);
    socklen_t alen = family == AF_INET ? sizeof a.in : sizeof a.in6;
    if (family == AF_INET) memcpy(&a.in.sin_addr, p.addr, 4);
    else if (next_addr_ == 2) a.in6.sin6_addr.s6_addr[15] = 1;  // localhost's second try: ::1
    else memcpy(&a.in6.sin6_addr, p.addr, 16);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      sock_.reset(fd);
      if (connect(fd, &a.sa, alen) == 0) return p.kind == ProbeSpec::Http ? send_request() : finish(true, "connected");
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
  const ProbeSpec& p = *spec_;
  bool v6 = p.family == AF_INET6;
  char req[1024];
  size_t n = format(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: oxinit\r\n"
                    "Connection: close\r\n\r\n", p.path_or_cmd.empty() ? "/" : p.path_or_cmd.c_str(),
                    v6 ? "[" : "", p.host.c_str(), v6 ? "]" : "", static_cast<unsigned>(p.port));
  if (n >= sizeof req - 1) return finish(false, "the HTTP path is too long");
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
    return spec_->kind == ProbeSpec::Http ? send_request() : finish(true, "connected");
  }
  if (phase_ == Phase::Reading) return read_answer();
  return false;
}

bool Probe::start_exec(SpawnRequest& req, Millis now, Millis timeout) {
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
  bool ms = t % 1000;
  return finish(false, "timed out after %lld%s", ms ? t : t / 1000, ms ? "ms" : "s");
}

void Probe::cancel() {
  // The whole group: sh -c may have started children of its own. The pid
  // stays known until reaped, so its exit is not taken for an orphan's.
  if (phase_ == Phase::Running && pid_ > 0) kill(-pid_, SIGKILL);
  close_socket();
  phase_ = Phase::Idle;
}

}  // namespace oxinit
