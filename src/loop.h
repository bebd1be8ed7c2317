// The one event loop: epoll over the signalfd and the log pipes. Its timeout
// is the earliest pending deadline; with none it blocks indefinitely, so an
// idle oxinit never wakes (no tick, unlike tini's 1 s sigtimedwait).
#pragma once
#include <signal.h>
#include <sys/epoll.h>

#include <cstdint>

#include "spec.h"
#include "sys/fd.h"
#include "sys/result.h"

namespace oxinit {

constexpr Millis kNoDeadline = -1;

// CLOCK_MONOTONIC in milliseconds.
Millis now_ms();

// Another source of events for the one loop (the control socket): it owns
// descriptors registered with tokens of its own kind, and one deadline.
class Source {
 public:
  // Once the loop exists: register descriptors (tokens: kind | low bits).
  virtual void start(class Loop& loop, uint64_t kind) = 0;
  virtual void on_event(uint64_t token, uint32_t events) = 0;
  virtual Millis deadline() const = 0;  // kNoDeadline when none
  virtual void on_deadline(Millis now) = 0;
  // The run is over: close everything.
  virtual void stop() = 0;

 protected:
  ~Source() = default;
};

class Loop {
 public:
  Result<void> init();
  Result<void> add(int fd, uint32_t events, uint64_t token);
  Result<void> modify(int fd, uint32_t events, uint64_t token);
  void remove(int fd);
  // Waits until an fd is ready or `deadline` (absolute, now_ms()) passes.
  // Returns the number of events (0 on timeout or EINTR).
  int wait(Millis deadline, epoll_event* events, int max_events);
  // The signalfd joins the epoll set only once another descriptor does.
  // Until then (exec mode, always) oxinit waits in sigtimedwait: one syscall
  // per wake instead of two (epoll_wait, then read), and no epoll callback
  // on the signalfd's wait queue for every signal sent to PID 1.
  void set_signal_fd(int fd, uint64_t token);
  bool signals_only() const { return !signal_fd_watched_; }
  // Waits for one of `set`; returns the signal, or 0 at the deadline.
  int wait_signal(Millis deadline, const sigset_t& set);

 private:
  UniqueFd ep_;
  int signal_fd_ = -1;
  uint64_t signal_token_ = 0;
  bool signal_fd_watched_ = false;
};

}  // namespace oxinit
