#include "loop.h"

#include <time.h>

#include <cerrno>

namespace oxinit {

Millis now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Millis>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Result<void> Loop::init() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return errno_error("epoll_create1");
  ep_.reset(fd);
  return {};
}

void Loop::set_signal_fd(int fd, uint64_t token) {
  signal_fd_ = fd;
  signal_token_ = token;
}

Result<void> Loop::add(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
  if (!signal_fd_watched_ && signal_fd_ >= 0 && fd != signal_fd_) {
    ev.events = EPOLLIN;
    ev.data.u64 = signal_token_;
    if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, signal_fd_, &ev) < 0) return errno_error("epoll_ctl add");
    signal_fd_watched_ = true;
  }
  ev.events = events;
  ev.data.u64 = token;
  if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return errno_error("epoll_ctl add");
  return {};
}

Result<void> Loop::modify(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return errno_error("epoll_ctl mod");
  return {};
}

void Loop::remove(int fd) { epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr); }

namespace {
// Milliseconds until `deadline`, -1 for none. Rounded up by one: a timeout
// in whole ms may end a little early, and waking just before a deadline
// would cost a second wake-up.
Millis time_left(Millis deadline) {
  if (deadline == kNoDeadline) return -1;
  Millis left = deadline - now_ms();
  return left <= 0 ? 0 : (left > 86400000 ? 86400000 : left + 1);
}
}  // namespace

int Loop::wait(Millis deadline, epoll_event* events, int max_events) {
  int n = epoll_wait(ep_.get(), events, max_events, static_cast<int>(time_left(deadline)));
  return n < 0 ? 0 : n;  // EINTR (a stop/cont of PID 1 under ptrace) is harmless
}

int Loop::wait_signal(Millis deadline, const sigset_t& set) {
  Millis left = time_left(deadline);
  int sig;
  // No siginfo: the number is all oxinit uses, and the kernel then skips
  // copying 128 bytes out on every wake (sigtimedwait(2)).
  if (left < 0) {
    sig = sigwaitinfo(&set, nullptr);
  } else {
    struct timespec ts = {static_cast<time_t>(left / 1000), static_cast<long>(left % 1000) * 1000000};
    sig = sigtimedwait(&set, nullptr, &ts);
  }
  return sig > 0 ? sig : 0;  // EAGAIN at the deadline, EINTR: nothing to do
}

}  // namespace oxinit
