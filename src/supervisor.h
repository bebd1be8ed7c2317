// The supervisor: one state machine per service, driven by the event loop.
// Exec mode is a plan with one service, the main command; service mode adds
// entries; microVM mode changes only what signals mean and how the run ends.
#pragma once
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <vector>

#include "cli.h"
#include "logs.h"
#include "loop.h"
#include "plan.h"
#include "signals.h"
#include "spawn.h"
#include "sys/fd.h"
#include "vm/power.h"

namespace oxinit {

// Service states. Transitions are listed in kTransitions (supervisor.cc), a
// table of state x event, so the whole life cycle reads in one place.
enum class State : uint8_t {
  Waiting,   // not started yet: its `after` services are not ready
  Running,   // a process is up
  Stopping,  // stop signal sent; SIGKILL to its group at the deadline
  Backoff,   // exited, restart due at the deadline
  Done,      // ended for good, successfully (a oneshot that exited 0, ...)
  Failed,    // ended for good, unsuccessfully (or could never start)
  Stopped,   // stopped because oxinit is shutting down
};
const char* state_name(State s);

enum class Event : uint8_t { DepsReady, Exited, Timer, Stop };

// Backoff: restart_delay doubled per consecutive failure, capped at
// restart_delay_max. `failures` counts the failure just seen (>= 1).
Millis backoff_delay(const ServiceSpec& s, int failures);

// Whether policy asks for another run after an exit with `code`.
bool wants_restart(const ServiceSpec& s, int code);

// A run at least this long counts as healthy and resets the backoff.
constexpr Millis kHealthyRun = 10000;

struct Service {
  ServiceSpec* spec = nullptr;
  State state = State::Waiting;
  pid_t pid = -1;
  Millis deadline = kNoDeadline;  // Backoff: restart; Stopping: SIGKILL; main: -t
  Millis started_at = 0;
  int failures = 0;               // consecutive, for the backoff
  std::vector<Millis> restarts;   // restart times inside restart_window
  int last_code = 0;
  bool started_once = false;
  bool kill_sent = false;
  int log_slots[2] = {-1, -1};    // its stdout/stderr pipes in Logs
  UniqueFd exec_report;           // open until the child has exec'd (spawn.h)
};

struct RunOutcome {
  int exit_code = 0;
  FinalAction action = FinalAction::Poweroff;  // microVM mode only
};

class Supervisor {
 public:
  Supervisor(Plan& plan, const Options& opts, SignalSetup& signals, bool vm_mode);
  // Runs until everything has stopped. Never exits the process itself.
  RunOutcome run();

 private:
  enum class Phase { Running, StoppingServices, Sweeping, Killing, Done };

  void handle_signals();
  void handle_signal(int sig);
  int reap();
  void on_child_exits(Millis now, bool batch_over);
  void set_reap_batching(bool on);
  void on_exit(Service& s, int status);
  void on_timers(Millis now);
  void advance(Millis now);
  void start(Service& s, Millis now);
  void finish_exec(Service& s);
  void report_exec_failure(const Service& s, const ExecFailure& f);
  void stop(Service& s, Millis now);
  void end_for_good(const Service& s, bool ok, int code);
  void begin_shutdown(const char* why);
  void sweep(int sig) const;
  void signal_group(const Service& s, int sig);
  int dev_null(bool for_writing);
  Millis next_deadline() const;
  bool deps_ready(size_t i) const;
  bool dep_failed(size_t i) const;
  bool dependents_down(size_t i) const;
  void forward(int sig, bool to_main_only);
  Service* find(pid_t pid);
  void index_pid(pid_t pid, int idx);
  void unindex_pid(pid_t pid);

  Plan& plan_;
  const Options& opts_;
  SignalSetup& signals_;
  bool vm_;
  Loop loop_;
  Logs logs_;
  vm::Power power_;  // microVM mode: the power button
  std::vector<Service> services_;
  std::vector<std::vector<int>> dependents_;
  std::vector<std::pair<pid_t, int>> by_pid_;  // sorted: pid -> service index
  int main_ = -1;                   // index of the main command, -1 without one
  UniqueFd null_in_, null_out_;   // opened at first use (services only)
  Phase phase_ = Phase::Running;
  Millis phase_deadline_ = kNoDeadline;
  bool code_set_ = false;
  RunOutcome outcome_;
  bool am_pid1_ = false;
  // Exit floods (see on_child_exits): while reap_batch_until_ is set, SIGCHLD
  // is left out of what oxinit waits for and reaping runs at that deadline.
  Millis last_reaped_at_ = kNoDeadline;
  Millis reap_batch_until_ = kNoDeadline;
  sigset_t wait_set_;  // signals_.blocked, without SIGCHLD while batching
};

}  // namespace oxinit
