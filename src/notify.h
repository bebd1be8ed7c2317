// Readiness told by the service itself: the sd_notify datagram socket
// (sd_notify(3)) and the s6 notification fd (s6's "notification-fd"). Also
// oxinit's own READY=1 / STOPPING=1 to the $NOTIFY_SOCKET it was given.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "sys/fd.h"
#include "sys/result.h"

namespace oxinit {

// One datagram's newline-separated KEY=VALUE lines. Unknown keys and
// malformed lines are skipped, as systemd does; MAINPID= is ignored (a
// sender is matched by its session, group or ancestry instead).
struct NotifyMessage {
  enum : uint8_t { kReady = 1, kStopping = 2, kReloading = 4, kWatchdog = 8, kWatchdogTrigger = 16 };
  uint8_t flags = 0;         // READY=1, STOPPING=1, RELOADING=1, WATCHDOG=1, WATCHDOG=trigger
  bool has_status = false;
  std::string_view status;   // STATUS=..., views the datagram
  uid_t uid = 0;             // the sender's, from SCM_CREDENTIALS (receive)
};
void parse_notify(std::string_view d, NotifyMessage& m);

// From /proc/PID/stat: who a sender belongs to when it is not a service's
// main process (a helper in the service's session, a forked child).
struct ProcIds {
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
};
bool parse_proc_stat(std::string_view stat, ProcIds& out);
bool read_proc_ids(pid_t pid, ProcIds& out);

// oxinit's socket for services with ready = "notify". An autobound abstract
// address (unix(7), "Autobind feature"): no file to create or clean up,
// unique even among containers sharing a network namespace, and open to
// services under any uid. Senders are told apart by SCM_CREDENTIALS: the
// kernel fills in the pid, translated into oxinit's PID namespace (0 for a
// sender outside it).
class NotifySocket {
 public:
  Result<void> open();
  int fd() const { return fd_.get(); }
  // "@xxxxx", the NOTIFY_SOCKET value services get.
  const char* address() const { return addr_; }
  // The next pending datagram (false when none is left). msg.status views an
  // internal buffer, valid until the next call. Truncated datagrams and those
  // without credentials are dropped; passed descriptors are closed.
  bool receive(pid_t& sender, NotifyMessage& msg);

 private:
  UniqueFd fd_;
  char addr_[24] = "";
  char buf_[4096] = {};
};

// One datagram to a socket named like $NOTIFY_SOCKET: a path, or "@name" for
// the abstract namespace.
Result<void> notify_send(const char* address, std::string_view msg);

// The s6 notification fd: a pipe whose write end becomes fd N in the child
// (SpawnRequest::ready_fd); the read end is non-blocking, for the loop.
// 0, or the errno value.
int ready_pipe(UniqueFd& read_end, UniqueFd& write_end);
enum class FdReady : uint8_t { Pending, Ready, Closed };
// Reads what is there: Ready once a newline came, Closed at EOF without one.
FdReady read_ready_fd(int fd);

}  // namespace oxinit
