// The supervisor: carries out what each service's state table (service.h)
// decides, for all services at once: dependencies, the shutdown phases, the
// exit code. Exec mode is a plan with one service, the main command; service
// mode adds entries; microVM mode changes only what signals mean and how the
// run ends.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <vector>

#include "cgroup.h"
#include "logs.h"
#include "loop.h"
#include "notify.h"
#include "plan.h"
#include "probe.h"
#include "service.h"
#include "signals.h"
#include "spawn.h"
#include "sys/fd.h"
#include "vm/power.h"

namespace oxinit {

struct RunOutcome {
  int exit_code = 0;
  FinalAction action = FinalAction::Poweroff;  // microVM mode only
};

// The default bound on a whole shutdown: the longest chain of stop_timeouts
// along `after` (each stop may also wait kKillBound after its SIGKILL), plus
// shutdown_timeout and the final SIGKILL's bound, plus a margin. It never
// cuts an ordered stop short.
Millis default_shutdown_limit(const Plan& plan);

// InitSpec().log_buffer (spec.h; a unit test compares them): run() need
// not make a whole InitSpec to see whether the config changed it.
constexpr uint64_t kDefaultLogBuffer = 16384;

// What a reload did (`oxinit ctl reload`, SIGHUP in service mode).
struct ReloadReport {
  ConfigError error;  // the new config is invalid: nothing changed
  // "unchanged: 5; added: a b; removed: c; restarted: d; reload_signal sent
  // to: e; [init] keys that apply when oxinit starts again: vm"
  Str summary;
};

// Reads the config files again into a plan, as at start (main.cc).
using PlanLoader = Result<void, ConfigError> (*)(void* ctx, Plan& out);

enum class SupervisorPhase { Running, StoppingServices, Sweeping, Killing, Done };

// Readiness and health checks of one service: made only for a service
// with a ready probe or a health check.
struct SupervisorWatch {
  Probe probe;
  Millis due = kNoDeadline;       // the next check starts then
  Millis watchdog = kNoDeadline;  // WATCHDOG=1 is due by then
  UniqueFd ready_fd;              // ready = "fd:N": the pipe's read end
  char last[64] = "";             // the last check's result, for messages
  Str status;                     // the last STATUS= (sd_notify)
};

// The supervisor's state, without a user-provided constructor: Supervisor's
// value-initializes it, which is one memset, then a store for each member
// that does not start as zero.
struct SupervisorState {
  using Phase = SupervisorPhase;
  using Watch = SupervisorWatch;
  // Largest members first (clang-analyzer's padding check), the flags last.
  Plan* plan_;            // main's, until a reload makes one of its own
  Source* source_ = nullptr;
  PlanLoader loader_ = nullptr;
  void* loader_ctx_ = nullptr;
  Loop loop_;
  Logs logs_;
  Cgroups cgroups_;  // service mode, where cgroup v2 is usable
  vm::Power power_;  // microVM mode: the power button
  std::vector<Service> services_;
  std::vector<std::vector<int>> dependents_;
  // pid << 32 | service index, sorted; int64_t: the vector type of Service::restarts.
  std::vector<int64_t> by_pid_;
  std::vector<Watch*> watch_;     // per service, owned; null without checks
  // (<memory> would pull in iostream, which the musl build cannot link.)
  NotifySocket* notify_ = nullptr;  // owned; made when a service has ready = "notify"
  RunOutcome outcome_;
  Millis phase_deadline_ = kNoDeadline;
  Millis limit_deadline_ = kNoDeadline;  // shutdown_limit, armed when the shutdown begins
  // Exit floods (see on_child_exits): while reap_batch_until_ is set, SIGCHLD
  // is left out of what oxinit waits for and reaping runs at that deadline.
  Millis last_reaped_at_ = kNoDeadline;
  Millis reap_batch_until_ = kNoDeadline;
  sigset_t wait_set_;  // signals_.blocked, without SIGCHLD while batching
  UniqueFd null_in_, null_out_;   // opened at first use (services only)
  int main_ = -1;                   // index of the main command, -1 without one
  Phase phase_ = Phase::Running;
  bool own_plan_ = false;
  bool vm_;
  bool code_set_ = false;
  bool am_pid1_ = false;
  bool any_watch_ = false;
  bool sent_ready_ = false;       // READY=1 sent to oxinit's own $NOTIFY_SOCKET
};

class Supervisor : SupervisorState {
 public:
  Supervisor(Plan& plan, SignalSetup& signals, bool vm_mode);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  // Runs until everything has stopped. Never exits the process itself.
  RunOutcome run();

  // Before run(): another event source (the control socket), and how to
  // read the config again (reload; without one SIGHUP only sends reload_signals).
  void set_source(Source* s) { source_ = s; }
  void set_loader(PlanLoader f, void* ctx) {
    loader_ = f;
    loader_ctx_ = ctx;
  }

  // For the control socket, which reads state and posts events only.
  // Services a reload removed keep their records, marked `removed`.
  const std::vector<Service>& services() const { return services_; }
  const Plan& plan() const { return *plan_; }
  Service& at(size_t i) { return services_[i]; }
  // The last readiness or health check's result and the last STATUS= text
  // (sd_notify) of a service, "" when it has none.
  std::string_view last_check(const Service& s) const {
    const Watch* w = watch(s);
    return w ? std::string_view(w->last) : std::string_view();
  }
  std::string_view status_text(const Service& s) const {
    const Watch* w = watch(s);
    return w ? w->status.view() : std::string_view();
  }
  bool running() const { return phase_ == Phase::Running; }
  Logs& logs() { return logs_; }
  // The cgroups of the services (ctl status reads their usage); null when
  // cgroups are not in use, or (cgroup_of) when s has no group of its own.
  const Cgroups* cgroups() const { return cgroups_.active() ? &cgroups_ : nullptr; }
  const Cgroups* cgroup_of(const Service& s) const { return own_cgroup(s) ? &cgroups_ : nullptr; }
  enum class ByHand : uint8_t { Started, Waiting, AfterStop, Running, DepDown };
  // Start at once, or once its `after` services are ready; a stopping
  // service starts again once stopped. DepDown: an `after` service is
  // failed or stopped, nothing done.
  ByHand start_by_hand(Service& s);
  void stop_by_hand(Service& s);
  void restart_by_hand(Service& s);
  // The ordered stop a SIGTERM gives; action: a FinalAction (microVM), or -1.
  void shutdown_by_hand(int action);
  // Reads the config again and applies the difference, then sends each
  // running service its reload_signal (SIGHUP in service mode does the
  // same); false (and nothing changed) when the config is invalid.
  bool reload(ReloadReport& r);

 private:
  void handle_signals();
  void handle_signal(int sig);
  int reap();
  void on_child_exits(Millis now, bool batch_over);
  void set_reap_batching(bool on);
  void on_exit(Service& s, int status, Millis now);
  void check_groups(Millis now);
  void on_timers(Millis now);
  void advance(Millis now);
  // The common case takes three arguments, not seven: no exit code, no
  // group left, `after` services ready.
  void post(Service& s, Event e, Millis now);
  void post(Service& s, Event e, Millis now, int code, bool group_left, bool deps_ready);
  void log_step(const Service& s, const Step& st);
  std::vector<char*> child_env(const ServiceSpec& spec, std::vector<Str>& env, size_t extra, int& err);
  void spawn_service(Service& s, Millis now);
  void finish_exec(Service& s);
  void report_exec_failure(const Service& s, const ExecFailure& f);
  void end_for_good(const Service& s, bool ok, int code, Millis now);
  void begin_shutdown(const char* why, Millis now);
  Millis shutdown_limit() const;  // [init] shutdown_limit, or its default
  void shutdown_limit_reached();
  void signal_group(const Service& s, int sig);
  bool start_cgroups(Millis now);
  bool own_cgroup(const Service& s) const { return cgroups_.active() && !s.spec->is_main; }
  bool leftovers(const Service& s);
  void check_oom(Service& s);
  int dev_null(bool for_writing);
  Millis next_deadline() const;
  bool deps_ready(size_t i) const;
  const Service* dep_failed(size_t i) const;
  bool dependents_down(size_t i) const;
  void forward_to_main(int sig);
  Watch* watch(const Service& s) const { return watch_[static_cast<size_t>(&s - services_.data())]; }
  void watch_after_step(Service& s, const Step& st, Millis now);
  void run_check(Service& s, Watch& w, Millis now);
  void check_done(Service& s, Watch& w, Millis now);
  void probe_timers(Millis now);
  void on_notify(Millis now);
  Service* notify_sender(pid_t pid, uid_t uid);
  Service* gone_sender(uid_t uid);
  void log_probe_step(const Service& s, Event e, const Step& st);
  void notify_upwards(const char* msg) const;
  Service* find(pid_t pid);
  void index_pid(pid_t pid, int idx);
  void unindex_pid(pid_t pid);
  void reindex();
  static constexpr uint64_t kTokenNotify = 5ULL << 56;  // the loop token of the notify socket
  void configure_logs();
  void reload_on_sighup();
  void open_notify();

  SignalSetup& signals_;
};

}  // namespace oxinit
