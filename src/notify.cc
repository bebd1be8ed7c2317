#include "notify.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/format.h"
#include "sys/str.h"
#include "sys/text.h"

namespace oxinit {

void parse_notify(std::string_view d, NotifyMessage& m) {
  static constexpr char kFlags[] = "READY=1\0STOPPING=1\0RELOADING=1\0WATCHDOG=1\0WATCHDOG=trigger";
  m = NotifyMessage{};
  while (!d.empty()) {
    size_t nl = d.find('\n');
    std::string_view line = d.substr(0, nl);
    d = nl == std::string_view::npos ? std::string_view() : d.substr(nl + 1);
    const char* f = kFlags;
    for (unsigned i = 0; i < 5; i++, f += strlen(f) + 1)
      if (line == f) m.flags = static_cast<uint8_t>(m.flags | 1u << i);
    if (has_prefix(line, "STATUS=")) {
      m.status = line.substr(7);
      m.has_status = true;
    }
  }
}

// "PID (COMM) STATE PPID PGRP SESSION ...": COMM may hold spaces and
// parentheses, so the fields start after the last ')' (proc(5)).
bool parse_proc_stat(std::string_view s, ProcIds& out) {
  size_t close = s.rfind(')');
  if (close == std::string_view::npos) return false;
  s.remove_prefix(close + 1);
  int64_t f[4];
  for (int i = 0; i < 4; i++) {
    while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
    size_t sp = s.find(' ');
    if (sp == std::string_view::npos) return false;
    if (i > 0 && (!parse_int(s.substr(0, sp), f[i]) || f[i] < 0 || f[i] > (1 << 30))) return false;
    s.remove_prefix(sp);
  }
  out.ppid = static_cast<pid_t>(f[1]);
  out.pgrp = static_cast<pid_t>(f[2]);
  out.session = static_cast<pid_t>(f[3]);
  return true;
}

bool read_proc_ids(pid_t pid, ProcIds& out) {
  char path[32], buf[512];
  format(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n > 0 && parse_proc_stat(std::string_view(buf, static_cast<size_t>(n)), out);
}

Result<void> NotifySocket::open() {
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock < 0) return errno_error("socket");
  fd_.reset(sock);
  int on = 1;
  if (setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) return errno_error("SO_PASSCRED");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // An address of sizeof(sa_family_t) asks for autobind: five hex digits.
  if (bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof(sa_family_t)) < 0) return errno_error("bind");
  socklen_t len = sizeof a;
  if (getsockname(sock, reinterpret_cast<sockaddr*>(&a), &len) < 0) return errno_error("getsockname");
  size_t name = len - offsetof(sockaddr_un, sun_path);
  if (name < 2 || name > sizeof addr_ - 1) return Error{EINVAL, "getsockname"};
  addr_[0] = '@';
  memcpy(addr_ + 1, a.sun_path + 1, name - 1);
  addr_[name] = 0;
  return {};
}

bool NotifySocket::receive(pid_t& sender, NotifyMessage& msg) {
  for (int skipped = 0; skipped < 64; skipped++) {
    iovec iov{buf_, sizeof buf_};
    union {
      cmsghdr align;
      char buf[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(16 * sizeof(int))];
    } ctl;
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
#if defined(__x86_64__) || defined(__aarch64__)
    // The system call itself: musl's recvmsg() (~180 bytes, used nowhere
    // else) only zeroes msghdr padding that mh{} zeroed already and converts
    // 32-bit timestamps, which these 64-bit ABIs do not have.
    ssize_t n = ::syscall(SYS_recvmsg, fd_.get(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
#else
    ssize_t n = recvmsg(fd_.get(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
#endif
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sender = 0;
    uid_t uid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cr;
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
        sender = cr.pid;
        uid = cr.uid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        // FDSTORE=1 and the like: oxinit keeps no descriptors for services.
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int f;
          memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
          close(f);
        }
      }
    }
    if ((mh.msg_flags & MSG_TRUNC) || sender <= 0) continue;
    parse_notify(std::string_view(buf_, static_cast<size_t>(n)), msg);
    msg.uid = uid;
    return true;
  }
  return false;  // a flood: the loop wakes again for the rest
}

Result<void> notify_send(const char* address, std::string_view msg) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  size_t len = strlen(address);
  if (len < 2 || len >= sizeof a.sun_path || (address[0] != '/' && address[0] != '@')) {
    return Error{EINVAL, "NOTIFY_SOCKET"};
  }
  memcpy(a.sun_path, address, len);
  if (address[0] == '@') a.sun_path[0] = 0;
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error("socket");
  // Non-blocking: PID 1 does not wait for a receiver that stopped reading.
  if (sendto(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&a),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) < 0) {
    return errno_error("sendto");
  }
  return {};
}

int ready_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return errno;
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  // Only oxinit's end: the service writes to an ordinary blocking pipe.
  return fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 ? errno : 0;
}

FdReady read_ready_fd(int fd) {
  char buf[256];
  for (int i = 0; i < 16; i++) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return FdReady::Closed;
    if (n < 0) return errno == EINTR ? FdReady::Pending : errno == EAGAIN ? FdReady::Pending : FdReady::Closed;
    if (memchr(buf, '\n', static_cast<size_t>(n))) return FdReady::Ready;
  }
  return FdReady::Pending;
}

}  // namespace oxinit
