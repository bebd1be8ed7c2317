// ONE service's life as data: the state x event table. step() is a pure
// function of a service's record and one event: it returns the next state
// and the actions to take, and the supervisor carries them out. No syscalls
// and no clock here, so every (state, event) pair is unit-tested without
// processes (s6-supervise.c keeps its actions in a table the same way).
#pragma once
#include <cstdint>
#include <vector>

#include "spec.h"
#include "sys/fd.h"

namespace oxinit {

enum class State : uint8_t {
  Waiting,    // not started yet: its `after` services are not ready
  Starting,   // spawned, not ready yet (readiness probe pending)
  Ready,      // running and ready: its dependents may start
  Unhealthy,  // running, its health check failing
  Stopping,   // stop signal sent to its group; SIGKILL at the deadline
  Backoff,    // exited; the next run is due at the deadline
  Done,       // ended for good, successfully (a oneshot that exited 0, ...)
  Failed,     // ended for good, unsuccessfully (or could never start)
  Stopped,    // stopped on request (shutdown, or by hand)
};
const char* state_name(State s);

enum class Event : uint8_t {
  DepsReady,    // every `after` service is ready: start
  DepFailed,    // never start: an `after` service failed for good, or the
                // machine cannot give what it asks for (a cgroup limit)
  Started,      // the spawn action made a process (pid known)
  SpawnFailed,  // the spawn action could not make one (fork, pipes, env_file)
  Exited,       // the service's main process exited (Facts::code)
  GroupEmpty,   // nothing is left in the group of a process that exited
  Deadline,     // the service's own deadline passed
  Stop,         // stop it: shutdown (Facts::shutting_down) or by hand
  Start,        // start it by hand: at once, or once its `after` services are ready
  // Readiness and health (probe.h, notify.h; the supervisor runs the checks).
  Ready,        // the readiness probe passed, READY=1 came, or a newline on fd:N
  HealthOk,     // a health check passed (or WATCHDOG=1 while unhealthy)
  HealthFailed, // a health check failed
  WatchdogLate, // no WATCHDOG=1 within `watchdog` (or WATCHDOG=trigger)
};
const char* event_name(Event e);

// Why a service is stopping: decides what happens once its group is empty.
enum class StopReason : uint8_t {
  None,
  Requested,  // shutdown or by hand: ends Stopped
  Leftovers,  // the leader exited, its group did not: then the exit policy
  Probe,      // not ready in time, or unhealthy: then the exit policy, as a failure
  ProbeStop,  // unhealthy with on_unhealthy = "stop": then failed for good
};

// What the supervisor does for a step, in this order.
enum Action : uint16_t {
  kActSpawn = 1 << 0,        // start a process (then post Started or SpawnFailed)
  kActSignalStop = 1 << 1,   // stop_signal, then SIGCONT, to the service's group
  kActKillGroup = 1 << 2,    // SIGKILL to the service's group
  kActSetDeadline = 1 << 3,  // deadline = now + Step::delay
  kActClearDeadline = 1 << 4,
  kActEndForGood = 1 << 5,   // ended for good: main/critical/oneshot rules apply
  kActLogExit = 1 << 6,      // a WARN/INFO line: how it ended and what is next
  kActGiveUp = 1 << 7,       // it survived SIGKILL: log, stop waiting for it
  kActProbeReady = 1 << 8,   // begin readiness checks (the deadline is ready_timeout)
  kActProbeHealth = 1 << 9,  // begin health checks and the watchdog
  // Any step into a state other than starting, ready or unhealthy ends
  // every check of the service (the supervisor sees to it).
};

// What a step decided, for the message the supervisor prints.
enum class Next : uint8_t {
  None, Restart, FailedForGood, DoneForGood, LimitHit, StopLeftovers, Stopped,
  Ready,      // starting -> ready (INFO, with what said so)
  Healthy,    // unhealthy -> ready
  NotReady,   // ready_timeout passed: stopping (WARN, with the last probe's error)
  Unhealthy,  // health_retries failed checks in a row, or the watchdog: what on_unhealthy says
};

// 16 bytes, so it comes back in two registers.
struct Step {
  State to;
  Next next = Next::None;
  bool valid = true;      // false: the event means nothing in this state
  uint16_t actions = 0;
  Millis delay = 0;       // for kActSetDeadline
};

// Facts the supervisor knows when it posts an event.
struct Facts {
  Millis now = 0;
  int code = 0;               // Exited: 0..255, or 128+N for a death by signal N
  bool group_alive = false;   // Exited: other processes remain in its group
  bool shutting_down = false; // the whole run is stopping
  bool deps_ready = true;     // Start: every `after` service is ready (else it waits)
};

// A service's record: its spec and what the table keeps between events.
struct Service {
  const ServiceSpec* spec = nullptr;
  State state = State::Waiting;
  StopReason stop_reason = StopReason::None;
  pid_t pid = -1;               // the running leader, -1 when none
  pid_t pgid = -1;              // its process group (kept after the leader exits)
  Millis deadline = -1;         // kNoDeadline when none
  Millis started_at = 0;
  int failures = 0;             // consecutive failed runs, for the backoff
  std::vector<Millis> restarts; // restart times inside restart_window
  int last_code = 0;             // 0..255, or 128+N
  int last_signal = 0;           // N when a signal ended the last run, else 0
  bool exited = false;          // the leader of the current run has exited
  bool kill_sent = false;
  bool ready_once = false;      // has been ready at least once
  bool ready_now = false;       // the current run has been ready
  int health_fails = 0;         // failed health checks in a row (after health_start_period)
  bool probe_failed = false;    // this run is being ended for a probe: a failure, whatever the exit
  bool start_after_stop = false;  // a restart (by hand, or a reload's change): start once stopped
  bool removed = false;         // a reload took it out of the plan: it stops, and is never started
  uint32_t starts = 0;          // processes started, for `ctl status` (restarts = starts - 1)
  uint64_t log_refs[2] = {0, 0};  // its stdout/stderr streams in Logs (0: none)
  uint64_t oom_kills = 0;        // processes of its cgroup the OOM killer ended
  UniqueFd exec_report;          // open until the child has exec'd (spawn.h)
};

// The table. Mutates only `s` (its state, counters, pending exit; the
// caller sets pid, and last_code/last_signal before Exited) and returns what
// the caller must carry out. An event that means nothing in the current
// state returns valid = false and changes nothing.
Step step(Service& s, Event e, const Facts& f);

// Backoff: restart_delay doubled per consecutive failure, capped at
// restart_delay_max. `failures` counts the failure just seen (>= 1).
Millis backoff_delay(const ServiceSpec& s, int failures);

// Whether a service waits for a readiness signal after its start.
inline bool has_ready_probe(const ServiceSpec& s) {
  return s.ready.kind != ProbeSpec::Started && s.ready.kind != ProbeSpec::None;
}

// The code a run ended with, as far as policy and the exit code go: a run
// oxinit ended for a probe (not ready in time, unhealthy) is a failure with
// code 1, whatever its process did with the stop signal.
inline int run_code(const Service& s) { return s.probe_failed ? 1 : s.last_code; }

// Whether policy asks for another run after an exit with `code`.
bool wants_restart(const ServiceSpec& s, int code);

// A run at least this long counts as healthy and resets the backoff.
constexpr Millis kHealthyRun = 10000;
// How long processes that got SIGKILL may take to go (D state may not).
constexpr Millis kKillBound = 5000;

// Running in the sense of "a process of this run may still be alive".
inline bool is_running(State st) {
  return st == State::Starting || st == State::Ready || st == State::Unhealthy || st == State::Stopping;
}

}  // namespace oxinit
