#include "supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "log.h"
#include "sys/format.h"
#include "reap.h"
#include "spawn.h"

namespace oxinit {

namespace {

constexpr uint64_t kTokenSignal = 1ULL << 56;
constexpr uint64_t kTokenLogs = 2ULL << 56;
constexpr uint64_t kTokenExec = 3ULL << 56;  // low bits: the service index
constexpr uint64_t kTokenPower = 4ULL << 56;  // low bits: the fd (vm::Power)
constexpr uint64_t kTokenKindMask = 0xffULL << 56;
constexpr Millis kKillPhaseBound = 5000;  // SIGKILLed processes die; D state may not
constexpr Millis kReapBatch = 1;          // on_child_exits: the batch window in a flood

// The life cycle as data: every transition the supervisor makes is listed
// here, and transition() refuses (and reports) anything else.
struct Transition {
  State from;
  Event event;
  State to;
};
constexpr Transition kTransitions[] = {
    {State::Waiting, Event::DepsReady, State::Running},   // spawned
    {State::Waiting, Event::DepsReady, State::Backoff},   // fork failed: retry later
    {State::Waiting, Event::DepsReady, State::Failed},    // a dependency failed for good
    {State::Waiting, Event::Stop, State::Stopped},
    {State::Running, Event::Exited, State::Backoff},      // policy says restart
    {State::Running, Event::Exited, State::Done},         // ended for good, ok
    {State::Running, Event::Exited, State::Failed},       // ended for good, failed / limit hit
    {State::Running, Event::Exited, State::Stopped},      // exited during shutdown
    {State::Running, Event::Stop, State::Stopping},       // stop signal sent
    {State::Stopping, Event::Timer, State::Stopping},     // SIGKILL to the group
    {State::Stopping, Event::Exited, State::Stopped},
    {State::Backoff, Event::Timer, State::Running},       // restarted
    {State::Backoff, Event::Timer, State::Backoff},       // fork failed again
    {State::Backoff, Event::Stop, State::Stopped},
};

bool transition(Service& s, Event e, State to) {
  for (const Transition& t : kTransitions) {
    if (t.from == s.state && t.event == e && t.to == to) {
      s.state = to;
      return true;
    }
  }
  OX_WARN("bug: service %s: no transition %s -> %s", s.spec->name.c_str(), state_name(s.state),
          state_name(to));
  s.state = to;
  return false;
}

bool is_stop_signal(int sig) {
  return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGPWR;
}

// "KEY=VALUE" into env, replacing an entry with the same KEY.
void set_env(std::vector<Str>& env, std::string_view kv) {
  size_t eq = kv.find('=');
  if (eq == std::string_view::npos) return;
  std::string_view key = kv.substr(0, eq + 1);
  for (Str& e : env) {
    if (e.view().substr(0, key.size()) == key) {
      e = kv;
      return;
    }
  }
  env.push_back(kv);
}

// env_file: KEY=VALUE lines; blank lines, '#' comments and "export " allowed,
// one level of matching quotes around the value stripped.
bool read_env_file(const char* path, std::vector<Str>& env) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Str text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) {
    text.append(std::string_view(buf, static_cast<size_t>(n)));
  }
  close(fd);
  std::string_view t = text.view();
  while (!t.empty()) {
    size_t nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, 7) == "export ") line.remove_prefix(7);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view v = line.substr(eq + 1);
    if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) v = v.substr(1, v.size() - 2);
    Str kv(line.substr(0, eq + 1));
    kv += v;
    set_env(env, kv);
  }
  return true;
}

}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::Waiting: return "waiting";
    case State::Running: return "running";
    case State::Stopping: return "stopping";
    case State::Backoff: return "backoff";
    case State::Done: return "done";
    case State::Failed: return "failed";
    case State::Stopped: return "stopped";
  }
  return "?";
}

Millis backoff_delay(const ServiceSpec& s, int failures) {
  Millis d = s.restart_delay > 0 ? s.restart_delay : 10;
  for (int i = 1; i < failures && d < s.restart_delay_max; i++) d *= 2;
  return std::min(d, std::max(s.restart_delay_max, s.restart_delay));
}

bool wants_restart(const ServiceSpec& s, int code) {
  switch (s.restart) {
    case RestartPolicy::Always: return true;
    case RestartPolicy::OnFailure: return code != 0;
    case RestartPolicy::Never: return false;
  }
  return false;
}

Supervisor::Supervisor(Plan& plan, const Options& opts, SignalSetup& signals, bool vm_mode)
    : plan_(plan), opts_(opts), signals_(signals), vm_(vm_mode) {
  services_.resize(plan_.services.size());
  dependents_.resize(plan_.services.size());
  for (size_t i = 0; i < services_.size(); i++) {
    services_[i].spec = &plan_.services[i];
    if (plan_.services[i].is_main) main_ = static_cast<int>(i);
    if (i < plan_.deps.size()) {
      for (int d : plan_.deps[i]) dependents_[static_cast<size_t>(d)].push_back(static_cast<int>(i));
    }
  }
  am_pid1_ = getpid() == 1;
  outcome_.action = plan_.init.final_action;
}

Service* Supervisor::find(pid_t pid) {
  auto it = std::lower_bound(by_pid_.begin(), by_pid_.end(), std::make_pair(pid, -1));
  if (it == by_pid_.end() || it->first != pid) return nullptr;
  return &services_[static_cast<size_t>(it->second)];
}

void Supervisor::index_pid(pid_t pid, int idx) {
  auto p = std::make_pair(pid, idx);
  by_pid_.insert(std::lower_bound(by_pid_.begin(), by_pid_.end(), p), p);
}

void Supervisor::unindex_pid(pid_t pid) {
  auto it = std::lower_bound(by_pid_.begin(), by_pid_.end(), std::make_pair(pid, -1));
  if (it != by_pid_.end() && it->first == pid) by_pid_.erase(it);
}

bool Supervisor::deps_ready(size_t i) const {
  if (i >= plan_.deps.size()) return true;
  for (int d : plan_.deps[i]) {
    const Service& s = services_[static_cast<size_t>(d)];
    bool ready = s.spec->type == ServiceType::Oneshot
                     ? s.state == State::Done && s.last_code == 0
                     : s.started_once;
    if (!ready) return false;
  }
  return true;
}

bool Supervisor::dep_failed(size_t i) const {
  if (i >= plan_.deps.size()) return false;
  for (int d : plan_.deps[i]) {
    const Service& s = services_[static_cast<size_t>(d)];
    if (s.state == State::Failed || s.state == State::Stopped) return true;
    if (s.spec->type == ServiceType::Oneshot && s.state == State::Done && s.last_code != 0) return true;
  }
  return false;
}

// Reverse dependency order: a service stops once nothing that depends on it runs.
bool Supervisor::dependents_down(size_t i) const {
  for (int d : dependents_[i]) {
    State st = services_[static_cast<size_t>(d)].state;
    if (st == State::Running || st == State::Stopping) return false;
  }
  return true;
}

void Supervisor::start(Service& s, Millis now) {
  const ServiceSpec& spec = *s.spec;
  int idx = static_cast<int>(&s - services_.data());
  // Everything the child needs is built here, before fork.
  std::vector<Str> env;
  for (char** e = environ; e && *e; e++) env.push_back(*e);
  for (const Str& kv : spec.env) set_env(env, kv);
  bool env_ok = spec.env_file.empty() || read_env_file(spec.env_file.c_str(), env);
  std::vector<char*> envp, argv;
  for (Str& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  for (const Str& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  SpawnRequest req;
  req.argv = argv.data();
  req.envp = envp.data();
  req.mask = &signals_.original_mask;
  req.sigchld_was_ignored = signals_.sigchld_was_ignored;
  UniqueFd out_w, err_w;
  if (spec.is_main) {
    // A VM's console is nobody's controlling tty until the main command
    // takes it (vm/boot.cc, console_fds).
    if (vm_ && isatty(STDIN_FILENO)) req.new_session = req.controlling_tty = true;
    else req.take_terminal = true;
  } else {
    req.new_session = true;
    req.clean_signals = true;
    req.spec = &spec;
    req.stdin_fd = dev_null(false);
    if (spec.log == LogMode::Null) {
      req.stdout_fd = req.stderr_fd = dev_null(true);
    } else if (spec.log == LogMode::Prefix) {
      // Without a pipe (EMFILE, ENFILE) the service still runs, with oxinit's
      // own stdout and stderr.
      auto o = logs_.open_stream(spec.name, false, &s.log_slots[0]);
      auto e = logs_.open_stream(spec.name, true, &s.log_slots[1]);
      if (o && e) {
        out_w = std::move(o.value());
        err_w = std::move(e.value());
        req.stdout_fd = out_w.get();
        req.stderr_fd = err_w.get();
      } else {
        OX_WARN("service %s: unable to make log pipes: %s; output goes straight to oxinit's",
                spec.name.c_str(), strerror(o ? e.error().err : o.error().err));
      }
    }
  }

  State before = s.state;
  Event ev = before == State::Waiting ? Event::DepsReady : Event::Timer;
  // The start-up burst forks without waiting for each exec; a restart or the
  // main command alone is cheaper sharing memory until the exec.
  req.share_memory = spec.is_main || before != State::Waiting;
  if (!env_ok) {
    OX_WARN("service %s: unable to read env_file %s: %s", spec.name.c_str(), spec.env_file.c_str(),
            strerror(errno));
  }
  auto r = env_ok ? spawn(req) : Result<SpawnResult>(Error{errno, "env_file"});
  if (!r) {
    s.failures++;
    if (spec.is_main) {
      // The main command could not start at all: nothing to supervise.
      OX_FATAL("unable to start %s: %s: %s", spec.argv[0].c_str(), r.error().what,
               strerror(r.error().err));
      transition(s, ev, State::Failed);
      end_for_good(s, false, 1);
      return;
    }
    Millis delay = backoff_delay(spec, s.failures);
    OX_WARN("service %s: unable to start: %s: %s; retrying in %lld ms", spec.name.c_str(),
            r.error().what, strerror(r.error().err), static_cast<long long>(delay));
    transition(s, ev, State::Backoff);
    s.deadline = now + delay;
    return;
  }
  s.pid = r->pid;
  s.started_at = now;
  s.started_once = true;
  s.kill_sent = false;
  s.deadline = kNoDeadline;
  index_pid(s.pid, idx);
  transition(s, ev, State::Running);
  s.exec_report = std::move(r->report);
  if (!s.exec_report.valid()) {
    report_exec_failure(s, r->failure);
  } else if (!loop_.add(s.exec_report.get(), EPOLLIN, kTokenExec | static_cast<uint64_t>(idx))) {
    finish_exec(s);  // cannot watch it: read it now (blocks until the exec)
  }
  if (spec.is_main) {
    OX_INFO("Spawned child process '%s' with pid '%d'", spec.argv[0].c_str(), s.pid);
  } else {
    OX_INFO("service %s: started, pid %d", spec.name.c_str(), s.pid);
  }
}

// To the service's process group (its session, from setsid); to the process
// alone if it has left that group, so nobody gets the signal twice.
void Supervisor::signal_group(const Service& s, int sig) {
  if (s.pid <= 0) return;
  if (kill(-s.pid, sig) < 0 && errno == ESRCH) kill(s.pid, sig);
}

int Supervisor::dev_null(bool for_writing) {
  UniqueFd& fd = for_writing ? null_out_ : null_in_;
  if (!fd.valid()) fd.reset(open("/dev/null", (for_writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC));
  return fd.get();  // -1 without /dev/null: the child inherits oxinit's
}

// The child's exec report (spawn.h): log a failure; the exit itself comes
// through SIGCHLD like any other.
void Supervisor::finish_exec(Service& s) {
  if (!s.exec_report.valid()) return;
  ExecFailure f = read_exec_report(s.exec_report.get());
  loop_.remove(s.exec_report.get());
  s.exec_report.reset();
  report_exec_failure(s, f);
}

void Supervisor::report_exec_failure(const Service& s, const ExecFailure& f) {
  if (!f.err) return;
  // tini's FATAL line for the main command; a service's failure is a
  // warning (it is retried by its restart policy).
  const char* a0 = s.spec->argv[0].c_str();
  bool exec = strcmp(f.step, "exec") == 0;
  if (s.spec->is_main) {
    if (exec) OX_FATAL("exec %s failed: %s", a0, strerror(f.err));
    else OX_FATAL("unable to start %s: %s failed: %s", a0, f.step, strerror(f.err));
  } else {
    OX_WARN("service %s: unable to start %s: %s failed: %s", s.spec->name.c_str(), a0, f.step,
            strerror(f.err));
  }
}

void Supervisor::stop(Service& s, Millis now) {
  // Stop signal to the whole group, then SIGCONT so a stopped process sees
  // it (s6-supervise), then SIGKILL to the group at stop_timeout.
  const ServiceSpec& spec = *s.spec;
  signal_group(s, spec.stop_signal);
  if (spec.stop_signal != SIGCONT) signal_group(s, SIGCONT);
  s.deadline = now + spec.stop_timeout;
  transition(s, Event::Stop, State::Stopping);
  OX_INFO("service %s: stopping (pid %d)", spec.name.c_str(), s.pid);
}

void Supervisor::end_for_good(const Service& s, bool ok, int code) {
  const ServiceSpec& spec = *s.spec;
  if (spec.is_main || spec.critical) {
    if (!code_set_ || spec.is_main) {
      outcome_.exit_code = code;
      code_set_ = true;
    }
    begin_shutdown(spec.is_main ? "the main command exited" : "a critical service ended");
  } else if (!ok && spec.type == ServiceType::Oneshot && phase_ == Phase::Running) {
    OX_WARN("service %s: oneshot failed with %d; aborting start-up", spec.name.c_str(), code);
    if (!code_set_) {
      outcome_.exit_code = code ? code : 1;
      code_set_ = true;
    }
    begin_shutdown("a oneshot failed");
  }
}

void Supervisor::on_exit(Service& s, int status) {
  const ServiceSpec& spec = *s.spec;
  Millis now = now_ms();
  finish_exec(s);
  for (int& slot : s.log_slots) {
    logs_.drain_stream(slot);
    slot = -1;
  }
  unindex_pid(s.pid);
  s.pid = -1;
  int code = status_to_code(status);
  s.last_code = code;
  if (spec.is_main) {
    if (WIFSIGNALED(status)) {
      char b[16];
      OX_INFO("Main child exited with signal (with signal '%s')", signal_name(WTERMSIG(status), b));
    } else {
      OX_INFO("Main child exited normally (with status '%d')", code);
    }
  } else {
    OX_INFO("service %s: exited with %d", spec.name.c_str(), code);
  }
  s.deadline = kNoDeadline;
  if (s.state == State::Stopping || phase_ != Phase::Running) {
    transition(s, Event::Exited, State::Stopped);
    if (spec.is_main && !code_set_) {
      outcome_.exit_code = code;
      code_set_ = true;
    }
    return;
  }
  if (!spec.is_main && wants_restart(spec, code)) {
    if (now - s.started_at >= kHealthyRun) s.failures = 0;
    s.failures++;
    // max_restarts within restart_window; the next failure is final.
    auto& r = s.restarts;
    r.erase(std::remove_if(r.begin(), r.end(), [&](Millis t) { return now - t > spec.restart_window; }),
            r.end());
    if (spec.max_restarts >= 0 && static_cast<int>(r.size()) >= spec.max_restarts) {
      OX_WARN("service %s: failed: exited %d times within %lld ms (max_restarts = %d)",
              spec.name.c_str(), spec.max_restarts + 1, static_cast<long long>(spec.restart_window),
              spec.max_restarts);
      transition(s, Event::Exited, State::Failed);
      end_for_good(s, false, code);
      return;
    }
    r.push_back(now);
    Millis delay = backoff_delay(spec, s.failures);
    OX_INFO("service %s: restarting in %lld ms", spec.name.c_str(), static_cast<long long>(delay));
    transition(s, Event::Exited, State::Backoff);
    s.deadline = now + delay;
    return;
  }
  bool ok = code == 0;
  transition(s, Event::Exited, ok ? State::Done : State::Failed);
  if (!ok && !spec.is_main) OX_WARN("service %s: failed with %d", spec.name.c_str(), code);
  end_for_good(s, ok, code);
}

int Supervisor::reap() {
  return reap_all([&](ChildExit e) {
    Service* s = find(e.pid);
    if (s) {
      if (!s->spec->is_main) OX_DEBUG("Reaped child with pid: '%d'", e.pid);
      on_exit(*s, e.status);
      return;
    }
    OX_DEBUG("Reaped child with pid: '%d'", e.pid);
    if (opts_.warn_reap) OX_WARN("Reaped zombie process with pid=%d", e.pid);
  });
}

// One wake-up per exit is what a flood of exits (a fork-heavy script whose
// children are orphaned, 50,000 in bench/) costs when every SIGCHLD is
// answered at once: the wait, a waitpid that reaps, one that finds nothing.
// So when an exit comes within kReapBatch of the last one reaped, oxinit
// stops waiting for SIGCHLD and reaps everything that exited in the next
// kReapBatch in one pass, as long as each pass finds something. A lone exit
// is still reaped at once, and an idle oxinit has no timer armed.
// Measured with `make bench`: 50,000 orphans cost a quarter of the CPU of
// reaping them one wake-up at a time, with ~20 zombies waiting at most.
void Supervisor::on_child_exits(Millis now, bool batch_over) {
  int n = reap();
  bool flood = n > 0 && (batch_over || (last_reaped_at_ != kNoDeadline &&
                                        now - last_reaped_at_ <= kReapBatch));
  if (n > 0) last_reaped_at_ = now;
  flood = flood && phase_ == Phase::Running;  // stopping: every exit counts at once
  reap_batch_until_ = flood ? now + kReapBatch : kNoDeadline;
  set_reap_batching(flood);
}

void Supervisor::set_reap_batching(bool on) {
  if (on == !sigismember(&wait_set_, SIGCHLD)) return;
  if (on) sigdelset(&wait_set_, SIGCHLD);
  else sigaddset(&wait_set_, SIGCHLD);
  // A signalfd's mask can be replaced in place (signalfd(2)); SIGCHLD stays
  // blocked either way, so an exit meanwhile just stays pending. Replacing
  // the mask wakes the signalfd's waiters (fs/signalfd.c), so epoll sees a
  // SIGCHLD left pending by the batch as soon as it is wanted again (test:
  // exit_flood_in_service_mode_then_idle, the late exit).
  signalfd(signals_.fd.get(), &wait_set_, 0);
}

void Supervisor::forward(int sig, bool to_main_only) {
  if (main_ >= 0) {
    char b[16];
    Service& m = services_[static_cast<size_t>(main_)];
    if (m.pid <= 0) return;
    OX_DEBUG("Passing signal: '%s'", signal_name(sig, b));
    if (kill(opts_.kill_group ? -m.pid : m.pid, sig) < 0) {
      if (errno == ESRCH) OX_WARN("Child was dead when forwarding signal");
      else OX_WARN("unable to forward %s: %s", signal_name(sig, b), strerror(errno));
    }
    if (is_stop_signal(sig)) {
      // A stopped main command would keep the stop signal pending forever:
      // continue it (as the service stop sequence does). Only when it is
      // stopped, so a running one sees exactly the signals it was sent.
      siginfo_t info;
      info.si_pid = 0;
      if (waitid(P_PID, static_cast<id_t>(m.pid), &info, WSTOPPED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == m.pid) {
        kill(opts_.kill_group ? -m.pid : m.pid, SIGCONT);
      }
      if (opts_.kill_timeout >= 0 && m.deadline == kNoDeadline) m.deadline = now_ms() + opts_.kill_timeout;
    }
    return;
  }
  if (to_main_only) return;
  for (Service& s : services_) {
    if (s.pid > 0 && (s.state == State::Running || s.state == State::Stopping)) kill(s.pid, sig);
  }
}

void Supervisor::handle_signal(int sig) {
  if (sig == SIGCHLD) {
    OX_DEBUG("Received SIGCHLD");
    return;
  }
  int to = opts_.rewrite.apply(sig);
  if (to == 0) return;  // -r SIG:0 drops it
  char b[16];
  if (vm_ && (sig == SIGINT || sig == SIGTERM || sig == SIGPWR || sig == SIGUSR1 || sig == SIGUSR2 ||
              sig == SIGQUIT)) {
    // busybox halt and poweroff send USR1 and USR2; Ctrl-Alt-Del is SIGINT
    // after reboot(RB_DISABLE_CAD) (reboot(2)).
    if (sig == SIGUSR1) outcome_.action = FinalAction::Halt;
    if (sig == SIGUSR2) outcome_.action = FinalAction::Poweroff;
    OX_INFO("received %s: shutting down", signal_name(sig, b));
    begin_shutdown("signal");
    return;
  }
  if (main_ >= 0) {
    forward(to, true);
    return;
  }
  if (is_stop_signal(sig)) {
    OX_INFO("received %s: stopping every service", signal_name(sig, b));
    begin_shutdown("signal");
  } else if (to == SIGHUP) {
    for (Service& s : services_) {
      if (s.pid > 0 && s.state == State::Running && s.spec->reload_signal > 0) kill(s.pid, s.spec->reload_signal);
    }
  } else {
    forward(to, false);
  }
}

void Supervisor::handle_signals() {
  struct signalfd_siginfo si[16];
  bool child_exited = false;
  for (int round = 0; round < 64; round++) {
    ssize_t n = read(signals_.fd.get(), si, sizeof si);
    if (n <= 0) break;
    size_t count = static_cast<size_t>(n) / sizeof si[0];
    for (size_t k = 0; k < count; k++) {
      if (si[k].ssi_signo == SIGCHLD) child_exited = true;
      handle_signal(static_cast<int>(si[k].ssi_signo));
    }
    if (count < 16) break;  // a short read: nothing more is pending
  }
  // SIGCHLD stays pending until read, so reaping only after one is safe.
  if (child_exited) on_child_exits(now_ms(), false);
}

void Supervisor::begin_shutdown(const char* why) {
  if (phase_ != Phase::Running) return;
  OX_DEBUG("shutting down: %s", why);
  phase_ = Phase::StoppingServices;
  for (Service& s : services_) {
    if (s.state == State::Waiting || s.state == State::Backoff) {
      transition(s, Event::Stop, State::Stopped);
      s.deadline = kNoDeadline;
    }
  }
}

// The sweep of leftovers once the services are down: as PID 1 everyone in the
// namespace (kill(-1) spares the caller: kill(2)); as a subreaper, the groups
// of our remaining children.
void Supervisor::sweep(int sig) const {
  if (am_pid1_) {
    kill(-1, sig);
    if (sig != SIGKILL) kill(-1, SIGCONT);
    return;
  }
  char path[64];
  format(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(getpid()));  // main thread
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  pid_t self_pgrp = getpgrp();
  std::string_view rest(buf, static_cast<size_t>(n));
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    int64_t pid = 0;
    bool ok = parse_int(rest.substr(0, sp), pid);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (!ok || pid <= 0) continue;
    pid_t pg = getpgid(static_cast<pid_t>(pid));
    pid_t target = pg > 0 && pg != self_pgrp ? -pg : static_cast<pid_t>(pid);
    kill(target, sig);
    if (sig != SIGKILL) kill(target, SIGCONT);
  }
}

void Supervisor::on_timers(Millis now) {
  if (reap_batch_until_ != kNoDeadline && reap_batch_until_ <= now) on_child_exits(now, true);
  for (Service& s : services_) {
    if (s.deadline == kNoDeadline || s.deadline > now) continue;
    s.deadline = kNoDeadline;
    if (s.state == State::Backoff) {
      start(s, now);
    } else if (s.state == State::Stopping && !s.kill_sent) {
      OX_WARN("service %s: still running %lld ms after its stop signal; sending SIGKILL",
              s.spec->name.c_str(), static_cast<long long>(s.spec->stop_timeout));
      signal_group(s, SIGKILL);
      s.kill_sent = true;
      transition(s, Event::Timer, State::Stopping);
    } else if (s.state == State::Running && s.spec->is_main && s.pid > 0) {
      // -t: the main command outlived its kill timeout after a stop signal.
      OX_WARN("main command still running %lld ms after a stop signal; sending SIGKILL",
              static_cast<long long>(opts_.kill_timeout));
      signal_group(s, SIGKILL);
    }
  }
  if (phase_deadline_ != kNoDeadline && phase_deadline_ <= now) {
    phase_deadline_ = kNoDeadline;
    if (phase_ == Phase::Sweeping) {
      OX_DEBUG("grace period over: SIGKILL to what is left");
      sweep(SIGKILL);
      phase_ = Phase::Killing;
      phase_deadline_ = now + kKillPhaseBound;
    } else if (phase_ == Phase::Killing) {
      OX_WARN("processes survived SIGKILL for %lld ms; giving up on them",
              static_cast<long long>(kKillPhaseBound));
      phase_ = Phase::Done;
    }
  }
}

// Moves every state machine as far as it can go without waiting.
void Supervisor::advance(Millis now) {
  if (phase_ == Phase::Running) {
    bool live = false;
    // In start order: one pass starts everything whose `after` became ready
    // during the pass (a dependency is always visited first).
    for (int idx : plan_.order) {
      size_t i = static_cast<size_t>(idx);
      Service& s = services_[i];
      if (s.state == State::Waiting) {
        if (dep_failed(i)) {
          OX_WARN("service %s: not started: a service it comes after failed", s.spec->name.c_str());
          transition(s, Event::DepsReady, State::Failed);
          end_for_good(s, false, 1);
          if (phase_ != Phase::Running) break;
          continue;
        }
        if (deps_ready(i)) start(s, now);
        if (phase_ != Phase::Running) break;
      }
      if (s.state == State::Running || s.state == State::Backoff || s.state == State::Waiting) live = true;
    }
    if (phase_ == Phase::Running && !live) {
      // Everything ended on its own: nothing left to supervise.
      bool all_ok = true;
      for (const Service& s : services_) all_ok &= s.state == State::Done;
      if (!code_set_) outcome_.exit_code = all_ok ? 0 : 1;
      code_set_ = true;
      begin_shutdown("nothing left to run");
    }
  }
  if (phase_ == Phase::StoppingServices) {
    bool busy = false;
    for (size_t i = 0; i < services_.size(); i++) {
      Service& s = services_[i];
      if (s.state == State::Running && dependents_down(i)) stop(s, now);
      if (s.state == State::Running || s.state == State::Stopping) busy = true;
    }
    if (!busy) {
      if (no_children_left()) {
        phase_ = Phase::Done;
      } else {
        OX_DEBUG("sending SIGTERM to leftover processes (grace %lld ms)",
                 static_cast<long long>(plan_.init.shutdown_timeout));
        sweep(SIGTERM);
        phase_ = Phase::Sweeping;
        phase_deadline_ = now + plan_.init.shutdown_timeout;
      }
    }
  }
  if ((phase_ == Phase::Sweeping || phase_ == Phase::Killing) && no_children_left()) {
    phase_ = Phase::Done;
  }
}

Millis Supervisor::next_deadline() const {
  Millis d = phase_deadline_;
  if (reap_batch_until_ != kNoDeadline && (d == kNoDeadline || reap_batch_until_ < d)) d = reap_batch_until_;
  for (const Service& s : services_) {
    if (s.deadline != kNoDeadline && (d == kNoDeadline || s.deadline < d)) d = s.deadline;
  }
  return d;
}

RunOutcome Supervisor::run() {
  if (auto r = loop_.init(); !r) {
    OX_FATAL("unable to create the event loop: %s", strerror(r.error().err));
    outcome_.exit_code = 1;
    return outcome_;
  }
  loop_.set_signal_fd(signals_.fd.get(), kTokenSignal);
  wait_set_ = signals_.blocked;
  logs_.init(&loop_, kTokenLogs, plan_.init.log_timestamps);
  if (vm_) power_.attach(loop_, kTokenPower);

  epoll_event events[64];
  Millis now = now_ms();
  advance(now);
  while (phase_ != Phase::Done) {
    if (loop_.signals_only()) {
      // Nothing but signals to wait for (exec mode): wait for the signal itself.
      int sig = loop_.wait_signal(next_deadline(), wait_set_);
      if (sig) {
        Phase before = phase_;
        handle_signal(sig);
        // Forwarded, and nothing else moved: straight back to waiting, so
        // the child it was sent to gets the CPU as early as possible.
        if (sig != SIGCHLD && phase_ == before && next_deadline() == kNoDeadline) continue;
      }
      now = now_ms();
      if (sig == SIGCHLD) on_child_exits(now, false);
      on_timers(now);
      advance(now);
      continue;
    }
    int n = loop_.wait(next_deadline(), events, 64);
    bool signalled = false;
    for (int k = 0; k < n; k++) {
      uint64_t kind = events[k].data.u64 & kTokenKindMask;
      if (kind == kTokenSignal) {
        signalled = true;
      } else if (kind == kTokenLogs) {
        logs_.on_event(events[k].data.u64, events[k].events);
      } else if (kind == kTokenExec) {
        size_t idx = static_cast<size_t>(events[k].data.u64 & 0xffffffffu);
        if (idx < services_.size()) finish_exec(services_[idx]);
      } else if (kind == kTokenPower && power_.on_readable(static_cast<int>(events[k].data.u64 & 0xffffffffu))) {
        OX_INFO("power button pressed: shutting down");
        begin_shutdown("power button");
      }
    }
    // Signals after the pipes: a service's last lines are read before its
    // exit is handled.
    if (signalled) handle_signals();
    now = now_ms();
    on_timers(now);
    advance(now);
  }
  logs_.drain(now_ms() + 1000);
  if (logs_.dropped()) {
    OX_WARN("dropped %llu lines of service output: stdout/stderr were not being read",
            static_cast<unsigned long long>(logs_.dropped()));
  }
  return outcome_;
}

}  // namespace oxinit
