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

Result<void> Loop::add(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
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

int Loop::wait(Millis deadline, epoll_event* events, int max_events) {
  int timeout = -1;
  if (deadline != kNoDeadline) {
    Millis left = deadline - now_ms();
    // Round up by one: epoll's timeout is in whole ms and may wake a little
    // early; waking just before a deadline would cost a second wake-up.
    timeout = left <= 0 ? 0 : static_cast<int>(left > 86400000 ? 86400000 : left + 1);
  }
  int n = epoll_wait(ep_.get(), events, max_events, timeout);
  return n < 0 ? 0 : n;  // EINTR (a stop/cont of PID 1 under ptrace) is harmless
}

}  // namespace oxinit
