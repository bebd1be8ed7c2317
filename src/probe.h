// Readiness and health probes. tcp:// and http:// run inside the event loop:
// a non-blocking socket watched by epoll, the timeout a deadline the loop's
// wait honours; no process per check, and nothing armed between checks.
// exec: goes through spawn(); file: is one stat().
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "loop.h"
#include "spawn.h"
#include "spec.h"
#include "sys/fd.h"
#include "sys/text.h"

namespace oxinit {

// The answer's status line, read from however much has arrived.
struct HttpStatus {
  enum Kind : uint8_t { Incomplete, Ok, Malformed } kind;
  int code;  // Ok only: 200..599 (interim 1xx answers are skipped)
};
HttpStatus parse_http_status(std::string_view answer);

struct ProbeResult {
  bool ok = false;
  char reason[64] = "";  // "connection refused", "HTTP 503", "exit 2", "timed out after 2s"
};

// One check at a time. Each start returns true when the check ended at once
// (result() is then set); otherwise on_io/on_deadline/on_exit end it later.
class Probe {
 public:
  Probe() = default;
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  ~Probe() { cancel(); }

  bool busy() const { return phase_ != Phase::Idle; }
  Millis deadline() const { return busy() ? deadline_ : kNoDeadline; }
  // An exec check's process, from its start until it is reaped (also after
  // the check timed out): the supervisor's reaper hands its status to on_exit.
  pid_t pid() const { return pid_; }
  const ProbeResult& result() const { return result_; }

  // tcp:// or http:// (spec.h ProbeSpec, parsed by the schema). localhost
  // is tried at 127.0.0.1, then at ::1. `p` must outlive the check.
  bool start_net(const ProbeSpec& p, Loop& loop, uint64_t token, Millis now, Millis timeout);
  // req: argv /bin/sh -c CMD, envp and spec prepared by the caller; the probe
  // runs in a session (so a process group) of its own.
  bool start_exec(SpawnRequest& req, Millis now, Millis timeout);
  bool check_file(const char* path);

  bool on_io(uint32_t events);  // the socket of start_net became ready
  bool on_deadline(Millis now);  // true when the check timed out now
  bool on_exit(int status);      // true when this ended the check
  void cancel();                 // drop a check in flight (kills an exec probe)

 private:
  enum class Phase : uint8_t { Idle, Connecting, Reading, Running };
  bool connect_next(int err);
  bool send_request();
  bool read_answer();
  OX_NO_FLOAT_ARGS bool finish(bool ok, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  bool fail_errno(int err);
  void close_socket();

  Phase phase_ = Phase::Idle;
  uint8_t next_addr_ = 0;
  Millis deadline_ = kNoDeadline;
  Millis timeout_ = 0;
  pid_t pid_ = -1;
  Loop* loop_ = nullptr;
  uint64_t token_ = 0;
  UniqueFd sock_;
  const ProbeSpec* spec_ = nullptr;
  uint16_t len_ = 0;
  char buf_[256] = {};  // the answer's start: enough for the status line
  ProbeResult result_;
};

}  // namespace oxinit
