#include "supervisor.h"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "env.h"
#include "log.h"
#include "reap.h"
#include "spawn.h"
#include "sys/format.h"

namespace oxinit {

namespace {

constexpr uint64_t kTokenSignal = 1ULL << 56;
constexpr uint64_t kTokenLogs = 2ULL << 56;
constexpr uint64_t kTokenExec = 3ULL << 56;  // low bits: the service index
constexpr uint64_t kTokenProbe = 4ULL << 56;    // low bits: the service index
constexpr uint64_t kTokenReadyFd = 6ULL << 56;  // low bits: the service index
constexpr uint64_t kTokenPower = 7ULL << 56;     // low bits: the fd (vm::Power)
constexpr uint64_t kTokenSource = 8ULL << 56;    // the control socket (ctl/server.h)
constexpr uint64_t kTokenKindMask = 0xffULL << 56;
constexpr Millis kReapBatch = 1;          // on_child_exits: the batch window in a flood
constexpr Millis kLimitMargin = 5000;     // default_shutdown_limit's margin
// A readiness probe that failed is tried again this much later, until it
// passes or ready_timeout ends the run (documented with `ready`).
constexpr Millis kReadyInterval = 100;

// "exited with 3", "killed by SIGKILL".
const char* how_it_ended(const Service& s, char* buf, size_t cap) {
  if (s.last_signal) {
    char b[16];
    format(buf, cap, "killed by %s", signal_name(s.last_signal, b));
  } else {
    format(buf, cap, "exited with %d", s.last_code);
  }
  return buf;
}

// The entry of by_pid_ (pid << 32 | service index, sorted) for pid, or end().
std::vector<int64_t>::iterator pid_entry(std::vector<int64_t>& v, pid_t pid) {
  auto it = std::lower_bound(v.begin(), v.end(), int64_t{pid} << 32);
  return it != v.end() && (*it >> 32) == pid ? it : v.end();
}

}  // namespace

Millis default_shutdown_limit(const Plan& plan) {
  // Services stop after their dependents: the slowest ordered stop is the
  // heaviest path through `after`, computed in start order.
  std::vector<Millis> chain(plan.services.size(), 0);
  Millis longest = 0;
  for (int idx : plan.order) {
    size_t i = static_cast<size_t>(idx);
    Millis before = 0;
    if (i < plan.deps.size()) {
      for (int d : plan.deps[i]) before = std::max(before, chain[static_cast<size_t>(d)]);
    }
    chain[i] = before + plan.services[i].stop_timeout + kKillBound;
    longest = std::max(longest, chain[i]);
  }
  return longest + plan.init.shutdown_timeout + kKillBound + kLimitMargin;
}

Supervisor::Supervisor(Plan& plan, SignalSetup& signals, bool vm_mode)
    : SupervisorState(), signals_(signals) {
  plan_ = &plan;
  vm_ = vm_mode;
  size_t n = plan_->services.size();
  services_.resize(n);
  dependents_.resize(n);
  watch_.resize(n);
  am_pid1_ = getpid() == 1;
  outcome_.action = plan_->init.final_action;
  for (size_t i = 0; i < n; i++) {
    const ServiceSpec& sp = plan_->services[i];
    services_[i].spec = &sp;
    if (sp.is_main) main_ = static_cast<int>(i);
    if (i < plan_->deps.size()) {
      for (int d : plan_->deps[i]) dependents_[static_cast<size_t>(d)].push_back(static_cast<int>(i));
    }
    if (has_ready_probe(sp) || sp.health.kind != ProbeSpec::None) {
      watch_[i] = new Watch();
      any_watch_ = true;
    }
  }
}

Supervisor::~Supervisor() {
  for (Watch* w : watch_) delete w;
  delete notify_;
  if (own_plan_) delete plan_;
}

// The service whose current process is pid; an index entry left by an
// earlier run (a leader given up on after SIGKILL) is dropped.
Service* Supervisor::find(pid_t pid) {
  auto it = pid_entry(by_pid_, pid);
  if (it == by_pid_.end()) return nullptr;
  Service* s = &services_[static_cast<uint32_t>(*it)];
  if (s->pid == pid) return s;
  by_pid_.erase(it);
  return nullptr;
}

void Supervisor::index_pid(pid_t pid, int idx) {
  const int64_t e = int64_t{pid} << 32 | static_cast<uint32_t>(idx);
  by_pid_.insert(std::lower_bound(by_pid_.begin(), by_pid_.end(), e), e);
}

void Supervisor::unindex_pid(pid_t pid) {
  auto it = pid_entry(by_pid_, pid);
  if (it != by_pid_.end()) by_pid_.erase(it);
}

bool Supervisor::deps_ready(size_t i) const {
  if (i >= plan_->deps.size()) return true;
  for (int d : plan_->deps[i]) {
    const Service& s = services_[static_cast<size_t>(d)];
    bool ready = s.spec->type == ServiceType::Oneshot ? s.state == State::Done : s.ready_once;
    if (!ready) return false;
  }
  return true;
}

// The first `after` service that failed for good, or ended without ever
// having been ready: i will never start. nullptr when there is none.
const Service* Supervisor::dep_failed(size_t i) const {
  if (i >= plan_->deps.size()) return nullptr;
  for (int d : plan_->deps[i]) {
    const Service& s = services_[static_cast<size_t>(d)];
    if (s.state == State::Failed || s.state == State::Stopped || (s.state == State::Done && !s.ready_once)) {
      return &s;
    }
  }
  return nullptr;
}

// Reverse dependency order: a service stops once nothing that depends on it runs.
bool Supervisor::dependents_down(size_t i) const {
  for (int d : dependents_[i]) {
    if (is_running(services_[static_cast<size_t>(d)].state)) return false;
  }
  return true;
}

void Supervisor::post(Service& s, Event e, Millis now) { post(s, e, now, 0, false, true); }

// One event for one service: the table decides, this carries it out.
void Supervisor::post(Service& s, Event e, Millis now, int code, bool group_left, bool deps_ready) {
  Facts f;
  f.now = now;
  f.code = code;
  f.group_alive = group_left;
  f.deps_ready = deps_ready;
  f.shutting_down = phase_ != Phase::Running;
  State from = s.state;
  Step st = step(s, e, f);
  if (!st.valid) {
    OX_SVC_DEBUG(s.spec->name, "%s ignored while %s", event_name(e), state_name(from));
    return;
  }
  if (from != st.to) {
    OX_SVC_DEBUG(s.spec->name, "%s -> %s (%s)", state_name(from), state_name(st.to),
             event_name(e));
  }
  if (st.next >= Next::Ready) {
    log_probe_step(s, e, st);
  } else if (st.actions & (kActLogExit | kActGiveUp)) {
    log_step(s, st);
  } else if (e == Event::Exited && !s.spec->is_main) {
    char how[48];
    OX_SVC_INFO(s.spec->name, "%s", how_it_ended(s, how, sizeof how));
  }
  if (st.actions & kActClearDeadline) s.deadline = kNoDeadline;
  if (st.actions & kActSetDeadline) s.deadline = now + st.delay;
  if (any_watch_) watch_after_step(s, st, now);
  if (st.actions & kActKillGroup) {
    char d[24];
    OX_SVC_WARN(s.spec->name, "still running %s after its stop signal; sending SIGKILL",
            format_duration(d, s.spec->is_main ? plan_->run.kill_timeout : s.spec->stop_timeout));
    signal_group(s, SIGKILL);
  }
  if (st.actions & kActSignalStop) {
    signal_group(s, s.spec->stop_signal);
    // SIGCONT, so a stopped process sees the stop signal (s6-supervise).
    if (s.spec->stop_signal != SIGCONT) signal_group(s, SIGCONT);
    OX_SVC_INFO(s.spec->name, "stopping (pid %d)", s.pid > 0 ? s.pid : s.pgid);
  }
  if (st.actions & kActEndForGood) end_for_good(s, st.to == State::Done, run_code(s), now);
  if (st.actions & kActSpawn) spawn_service(s, now);
}

// Every unexpected end is one line at the default verbosity: the service,
// how it ended, and what happens next.
void Supervisor::log_step(const Service& s, const Step& st) {
  const ServiceSpec& spec = *s.spec;
  const Str& name = spec.name;
  char how[48], d[24];
  if (st.actions & kActGiveUp) {
    OX_SVC_WARN(name, "still there %s after SIGKILL (uninterruptible sleep?); giving up on it",
            format_duration(d, kKillBound));
    return;
  }
  how_it_ended(s, how, sizeof how);
  switch (st.next) {
    case Next::Restart:
      log_service(s.last_code == 0 ? Level::Info : Level::Warn, name, "%s; restarting in %s", how,
                  format_duration(d, st.delay));
      break;
    case Next::LimitHit:
      OX_SVC_WARN(name, "%s; failed for good: %d restarts within %s (max_restarts)", how,
              spec.max_restarts, format_duration(d, spec.restart_window));
      break;
    case Next::FailedForGood:
      OX_SVC_WARN(name, "%s; failed for good", how);
      break;
    case Next::DoneForGood:
      OX_SVC_INFO(name, "%s; done", how);
      break;
    case Next::StopLeftovers: {
      char b[16];
      OX_SVC_WARN(name, "%s; stopping what it left in its %s first (%s, then SIGKILL after %s)", how,
              own_cgroup(s) ? "cgroup" : "process group", signal_name(spec.stop_signal, b),
              format_duration(d, spec.stop_timeout));
      break;
    }
    default:  // Stopped, None; readiness: log_probe_step
      break;
  }
}

// Changes into and out of ready and unhealthy, with what the last check said.
void Supervisor::log_probe_step(const Service& s, Event e, const Step& st) {
  const ServiceSpec& spec = *s.spec;
  const Str& name = spec.name;
  const Watch* w = watch(s);
  const char* why = w ? w->last : "";
  char d[24];
  switch (st.next) {
    case Next::Ready:
      OX_SVC_INFO(name, "ready (%s)", why);
      break;
    case Next::Healthy:
      OX_SVC_INFO(name, "healthy again (%s)", why);
      break;
    case Next::NotReady:
      OX_SVC_WARN(name, "not ready after %s (%s); stopping", format_duration(d, spec.ready_timeout), why);
      break;
    case Next::Unhealthy: {
      const char* then = spec.on_unhealthy == OnUnhealthy::Restart ? "restarting"
                         : spec.on_unhealthy == OnUnhealthy::Stop  ? "stopping for good"
                                                                   : "ignored";
      if (e == Event::WatchdogLate) {
        OX_SVC_WARN(name, "unhealthy (%s); %s", why, then);
      } else {
        OX_SVC_WARN(name, "unhealthy (%s, %d check%s in a row); %s", why, s.health_fails,
                s.health_fails == 1 ? "" : "s", then);
      }
      break;
    }
    default:
      break;
  }
}

// What a step means for the service's checks: readiness probing from its
// start, health checks and the watchdog once ready, nothing once it is no
// longer up.
void Supervisor::watch_after_step(Service& s, const Step& st, Millis now) {
  Watch* w = watch(s);
  if (!w) return;
  const ServiceSpec& spec = *s.spec;
  bool up = st.to == State::Starting || st.to == State::Ready || st.to == State::Unhealthy;
  if (!up || (st.actions & (kActProbeReady | kActProbeHealth))) {
    w->probe.cancel();
    w->due = w->watchdog = kNoDeadline;
  }
  if (!up || (st.actions & kActProbeHealth)) {
    if (w->ready_fd.valid()) loop_.remove(w->ready_fd.get());
    w->ready_fd.reset();
  }
  if (!up) return;
  if (st.actions & kActProbeReady) {
    ProbeSpec::Kind k = spec.ready.kind;
    if (k >= ProbeSpec::Tcp) w->due = now;
    if (k == ProbeSpec::Notify) format(w->last, sizeof w->last, "no READY=1");
    else if (k == ProbeSpec::Fd) format(w->last, sizeof w->last, "no newline on fd %d", spec.ready.fd);
    else format(w->last, sizeof w->last, "no check has ended");
  }
  if (st.actions & kActProbeHealth) {
    if (spec.health.kind != ProbeSpec::None) w->due = now + spec.health_interval;
    if (spec.watchdog > 0) w->watchdog = now + spec.watchdog;
  }
}

// One check: `ready` while starting, `health` once ready. TCP and HTTP run
// in the loop; exec forks /bin/sh -c under the service's user, env, workdir.
void Supervisor::run_check(Service& s, Watch& w, Millis now) {
  const ServiceSpec& spec = *s.spec;
  const ProbeSpec& p = s.state == State::Starting ? spec.ready : spec.health;
  uint64_t idx = static_cast<uint64_t>(&s - services_.data());
  bool done = false;
  if (p.kind == ProbeSpec::Tcp || p.kind == ProbeSpec::Http) {
    done = w.probe.start_net(p, loop_, kTokenProbe | idx, now, spec.health_timeout);
  } else if (p.kind == ProbeSpec::File) {
    done = w.probe.check_file(p.path_or_cmd.c_str());
  } else if (p.kind == ProbeSpec::Exec) {
    std::vector<Str> env;
    int err;  // an unreadable env_file: the rest still applies
    std::vector<char*> envp = child_env(spec, env, 0, err);
    const char* argv[] = {"/bin/sh", "-c", p.path_or_cmd.c_str(), nullptr};
    SpawnRequest req;
    req.argv = const_cast<char* const*>(argv);
    req.envp = envp.data();
    req.mask = &signals_.original_mask;
    req.spec = &spec;
    req.stdin_fd = dev_null(false);
    req.stdout_fd = req.stderr_fd = dev_null(true);
    done = w.probe.start_exec(req, now, spec.health_timeout);
  }
  if (done) check_done(s, w, now);
}

void Supervisor::check_done(Service& s, Watch& w, Millis now) {
  const ProbeResult& r = w.probe.result();
  memcpy(w.last, r.reason, sizeof w.last);
  if (s.state == State::Starting) {
    if (r.ok) post(s, Event::Ready, now);
    else w.due = now + kReadyInterval;
    return;
  }
  if (s.state != State::Ready && s.state != State::Unhealthy) return;
  post(s, r.ok ? Event::HealthOk : Event::HealthFailed, now);
  if (s.state == State::Ready || s.state == State::Unhealthy) w.due = now + s.spec->health_interval;
}

// Checks whose deadline passed, checks that are due, watchdogs run out.
void Supervisor::probe_timers(Millis now) {
  for (size_t i = 0; i < watch_.size(); i++) {
    Watch* w = watch_[i];
    if (!w) continue;
    Service& s = services_[i];
    if (w->probe.busy() && w->probe.deadline() <= now && w->probe.on_deadline(now)) check_done(s, *w, now);
    if (!w->probe.busy() && w->due != kNoDeadline && w->due <= now) {
      w->due = kNoDeadline;
      run_check(s, *w, now);
    }
    if (w->watchdog != kNoDeadline && w->watchdog <= now) {
      char d[24];
      w->watchdog = kNoDeadline;
      format(w->last, sizeof w->last, "no WATCHDOG=1 within %s", format_duration(d, s.spec->watchdog));
      post(s, Event::WatchdogLate, now);
    }
  }
}

// The service a datagram came from: its main process, or any process in its
// session or process group (a helper that calls systemd-notify), or one of
// its descendants that left both.
Service* Supervisor::notify_sender(pid_t pid, uid_t uid) {
  for (int depth = 0; depth < 8 && pid > 1; depth++) {
    if (Service* s = find(pid)) return s;
    ProcIds ids;
    // Gone, or being reaped: then /proc/PID/stat still reads, but with
    // session and group 0 (proc(5); do_task_stat finds no signal struct).
    bool found = read_proc_ids(pid, ids);
    if (!found || (ids.session == 0 && ids.pgrp == 0)) return depth ? nullptr : gone_sender(uid);
    if (Service* s = find(ids.session)) return s;
    if (Service* s = find(ids.pgrp)) return s;
    pid = ids.ppid;
  }
  return nullptr;
}

// A sender already gone when its datagram is read: `systemd-notify --ready`
// in a script exits at once, and the shell reaps it before oxinit can look
// in /proc (systemd drops such a message: sd_notify(3), "NotifyAccess=").
// Only ready = "notify" services know the socket, so it came from one that
// is still starting, if exactly one of those runs as the sender's user.
Service* Supervisor::gone_sender(uid_t uid) {
  Service* only = nullptr;
  for (Service& s : services_) {
    const ServiceSpec& spec = *s.spec;
    if (spec.ready.kind != ProbeSpec::Notify || s.state != State::Starting) continue;
    if ((spec.has_user ? spec.uid : geteuid()) != uid) continue;
    if (only) return nullptr;  // two could have sent it: neither is told
    only = &s;
  }
  return only;
}

void Supervisor::on_notify(Millis now) {
  pid_t pid;
  NotifyMessage m;
  for (int k = 0; k < 64 && notify_->receive(pid, m); k++) {
    Service* s = notify_sender(pid, m.uid);
    Watch* w = s ? watch(*s) : nullptr;
    if (!w || s->spec->ready.kind != ProbeSpec::Notify) {
      OX_DEBUG("notify: a datagram from pid %d, which is no ready = \"notify\" service's", pid);
      continue;
    }
    const Str& name = s->spec->name;
    if (m.has_status) {
      w->status = m.status.substr(0, 200);
      OX_SVC_DEBUG(name, "STATUS=%s", w->status.c_str());
    }
    if ((m.flags & NotifyMessage::kReady) && s->state == State::Starting) {
      format(w->last, sizeof w->last, "READY=1");
      post(*s, Event::Ready, now);
    }
    bool up = s->state == State::Ready || s->state == State::Unhealthy;
    if ((m.flags & NotifyMessage::kWatchdog) && up && s->spec->watchdog > 0) {
      w->watchdog = now + s->spec->watchdog;
      if (s->state == State::Unhealthy && s->spec->health.kind == ProbeSpec::None) {
        format(w->last, sizeof w->last, "WATCHDOG=1");
        post(*s, Event::HealthOk, now);
      }
    }
    if ((m.flags & NotifyMessage::kWatchdogTrigger) && up) {
      format(w->last, sizeof w->last, "WATCHDOG=trigger");
      post(*s, Event::WatchdogLate, now);
    }
  }
}

void Supervisor::notify_upwards(const char* msg) const {
  if (plan_->run.notify_socket.empty()) return;
  if (auto r = notify_send(plan_->run.notify_socket.c_str(), msg); !r) {
    OX_WARN("unable to send %s to NOTIFY_SOCKET %s: %s", msg, plan_->run.notify_socket.c_str(),
            strerror(r.error().err));
  } else {
    OX_DEBUG("sent %s to NOTIFY_SOCKET", msg);
  }
}

// The environment of a service's process or of its exec probe, as envp
// (views of env, then nullptr), and `extra` more null slots after it.
// err: 0, or the errno value of an unreadable env_file.
std::vector<char*> Supervisor::child_env(const ServiceSpec& spec, std::vector<Str>& env, size_t extra, int& err) {
  err = build_env(spec, environ, env);
  if (spec.ready.kind == ProbeSpec::Notify && notify_) {
    char kv[48];  // the address is at most 23 bytes (notify.h)
    format(kv, sizeof kv, "NOTIFY_SOCKET=%s", notify_->address());
    set_env(env, kv);
  }
  // Sized at once (zeroed): no push_back, so no vector<char*> growth code.
  std::vector<char*> ptrs(env.size() + 1 + extra);
  for (size_t k = 0; k < env.size(); k++) ptrs[k] = const_cast<char*>(env[k].c_str());
  return ptrs;
}

void Supervisor::spawn_service(Service& s, Millis now) {
  const ServiceSpec& spec = *s.spec;
  int idx = static_cast<int>(&s - services_.data());
  // Everything the child needs is built here, before fork.
  std::vector<Str> env;
  // envp, argv, then the shell's {"/bin/sh", nullptr, argv[1..], nullptr}
  // (spawn.h), in one array: 2 * argc + 4 slots hold both, even for argc 0.
  size_t argc = spec.argv.size();
  int env_err;
  std::vector<char*> ptrs = child_env(spec, env, 2 * argc + 4, env_err);
  char** argv = ptrs.data() + env.size() + 1;
  char** sh_argv = argv + argc + 1;
  sh_argv[0] = const_cast<char*>("/bin/sh");
  for (size_t k = 0; k < argc; k++) {
    argv[k] = const_cast<char*>(spec.argv[k].c_str());
    if (k) sh_argv[k + 1] = argv[k];
  }

  SpawnRequest req;
  req.argv = argv;
  req.envp = ptrs.data();
  req.path = find_env(env, "PATH");
  req.sh_argv = const_cast<const char**>(sh_argv);
  req.mask = &signals_.original_mask;
  req.sigchld_was_ignored = signals_.sigchld_was_ignored;
  UniqueFd out_w, err_w;
  if (spec.is_main) {
    // A VM's console is nobody's controlling tty (tcgetsid fails) until the
    // main command takes it (vm/boot.cc, console_fds); TIOCSCTTY fails
    // harmlessly when stdin is not a tty. A terminal that is some session's
    // already (a forced --vm under sudo) is shared as outside a VM.
    if (vm_ && tcgetsid(STDIN_FILENO) < 0) req.new_session = req.controlling_tty = true;
    else req.take_terminal = true;
  } else {
    req.new_session = true;
    req.clean_signals = true;
    req.spec = &spec;
    req.stdin_fd = dev_null(false);
    if (spec.log == LogMode::Null) {
      req.stdout_fd = req.stderr_fd = dev_null(true);
    } else if (spec.log == LogMode::Prefix || spec.log == LogMode::File) {
      // Without a pipe (EMFILE, ENFILE) the service still runs, with oxinit's
      // own stdout and stderr.
      auto o = logs_.open_stream(spec.name, false, &s.log_refs[0], &spec);
      auto e = logs_.open_stream(spec.name, true, &s.log_refs[1], &spec);
      if (o && e) {
        out_w = std::move(o.value());
        err_w = std::move(e.value());
        req.stdout_fd = out_w.get();
        req.stderr_fd = err_w.get();
      } else {
        OX_SVC_WARN(spec.name, "unable to make log pipes: %s; output goes straight to oxinit's",
                    strerror(o ? e.error().err : o.error().err));
      }
    }
  }
  // ready = "fd:N": the write end becomes the child's fd N, ours closes
  // with `ready` below (s6's notification-fd).
  UniqueFd ready_rd, ready_wr;
  if (spec.ready.kind == ProbeSpec::Fd) {
    if (int err = ready_pipe(ready_rd, ready_wr)) {
      OX_SVC_WARN(spec.name, "unable to make its fd:%d pipe: %s", spec.ready.fd, strerror(err));
      ready_rd.reset();
    }
    req.ready_fd = ready_wr.get();
    req.ready_fd_target = spec.ready.fd;
  }
  // The start-up burst forks without waiting for each exec; a restart or the
  // main command alone is cheaper sharing memory until the exec.
  req.share_memory = spec.is_main || s.state != State::Waiting;
  Error before{env_err, "env_file"};
  UniqueFd cg;
  if (!env_err && !spec.is_main && !cgroups_.active() && Cgroups::needs(spec)) {
    // Added by a reload while cgroups are not in use: it must not run
    // unlimited (at start-up, start_cgroups refuses it the same way).
    before = Error{EOPNOTSUPP, "its limits need cgroup v2, which is not in use"};
  } else if (!env_err && own_cgroup(s)) {
    auto dir = cgroups_.prepare(spec);
    if (dir) cg = std::move(dir.value());
    else before = dir.error();
    req.cgroup_fd = cg.get();
  }
  Result<SpawnResult> r = before.err ? Result<SpawnResult>(before) : spawn(req);
  cg.reset();
  if (!r) {
    int err = r.error().err;  // before any other call can change errno
    if (spec.is_main) {
      // The main command could not start at all: nothing to supervise.
      OX_FATAL("unable to start %s: %s: %s", spec.argv[0].c_str(), r.error().what, strerror(err));
      post(s, Event::SpawnFailed, now);
      return;
    }
    post(s, Event::SpawnFailed, now);
    char d[24];
    format_duration(d, s.deadline - now);
    if (env_err) {
      OX_SVC_WARN(spec.name, "unable to read env_file %s: %s; retrying in %s",
              spec.env_file.c_str(), strerror(err), d);
    } else {
      OX_SVC_WARN(spec.name, "unable to start: %s: %s; retrying in %s", r.error().what,
              strerror(err), d);
    }
    return;
  }
  s.pid = s.pgid = r->pid;
  index_pid(s.pid, idx);
  if (ready_rd.valid() && watch(s)) {
    Watch& w = *watch(s);
    w.ready_fd = std::move(ready_rd);
    if (!loop_.add(w.ready_fd.get(), EPOLLIN, kTokenReadyFd | static_cast<uint64_t>(idx))) w.ready_fd.reset();
  }
  post(s, Event::Started, now);
  s.exec_report = std::move(r->report);
  if (!s.exec_report.valid()) {
    report_exec_failure(s, r->failure);
  } else if (!loop_.add(s.exec_report.get(), EPOLLIN, kTokenExec | static_cast<uint64_t>(idx))) {
    finish_exec(s);  // cannot watch it: read it now (blocks until the exec)
  }
  if (spec.is_main) {
    OX_INFO("Spawned child process '%s' with pid '%d'", spec.argv[0].c_str(), s.pid);
  } else {
    OX_SVC_INFO(spec.name, "started, pid %d", s.pid);
  }
}

// To every process in the service's cgroup, which none can leave (SIGKILL:
// cgroup.kill); without one, to its process group (its session, from
// setsid), or to the process alone if it has left that group, so nobody gets
// the signal twice.
void Supervisor::signal_group(const Service& s, int sig) {
  if (own_cgroup(s) && (sig == SIGKILL ? cgroups_.kill(s.spec->name) : cgroups_.signal(s.spec->name, sig))) return;
  if (s.pgid > 0 && kill(-s.pgid, sig) == 0) return;
  if (s.pid > 0) kill(s.pid, sig);
}

// Whether anything of the service is left once its leader exited: its
// cgroup is populated (cgroup.events), else its process group has members.
bool Supervisor::leftovers(const Service& s) {
  int p = own_cgroup(s) ? cgroups_.populated(s.spec->name) : -1;
  return p >= 0 ? p > 0 : group_alive(s.pgid);
}

// memory.events' oom_kill grew since the last exit: say so, and count it.
void Supervisor::check_oom(Service& s) {
  if (!own_cgroup(s) || !(cgroups_.enabled() & Cgroups::needs(*s.spec) & kCgMemory)) return;
  uint64_t n = cgroups_.oom_kills(s.spec->name);
  if (n <= s.oom_kills) return;
  char b[48] = "";
  if (s.spec->memory_max != kNoLimit) {
    char z[24];
    format(b, sizeof b, " (memory_max %s)", format_size(z, sizeof z, s.spec->memory_max));
  }
  OX_SVC_WARN(s.spec->name, "killed by the OOM killer%s", b);
  s.oom_kills = n;
}

// Service mode only: each service in a cgroup of its own when the machine
// has cgroup v2 ([init] cgroups). A service whose limits the machine cannot
// give never starts (it would run unlimited). False: oxinit must not run.
bool Supervisor::start_cgroups(Millis now) {
  bool any = false;
  for (const Service& s : services_) any |= !s.spec->is_main;
  if (!any) return true;  // exec mode: leave cgroups alone (and cgroup.cc unmapped)
  unsigned want = 0;
  for (const Service& s : services_) want |= Cgroups::needs(*s.spec);
  VmMode mode = plan_->init.cgroups;
  Error why{0, "[init] cgroups = \"off\""};
  if (mode != VmMode::Off) {
    Result<void> r = cgroups_.setup(want);
    if (!r) why = r.error();
  }
  if (!cgroups_.active()) {
    if (mode == VmMode::On) {
      OX_FATAL("[init] cgroups = \"on\", but cgroup v2 cannot be used: %s%s%s", why.what, why.err ? ": " : "",
               why.err ? strerror(why.err) : "");
      return false;
    }
    OX_DEBUG("cgroups not in use: %s", why.what);
  }
  for (Service& s : services_) {
    unsigned missing = s.spec->is_main ? 0 : Cgroups::needs(*s.spec) & ~cgroups_.enabled();
    if (!missing) continue;
    bool on = cgroups_.active();
    bool err = !on && why.err;
    OX_SVC_WARN(s.spec->name, "not started: its limits need the %s controller of cgroup v2, %s%s%s%s",
            Cgroups::controller_name(missing), on ? "which this cgroup does not offer" : "not in use: ",
            on ? "" : why.what, err ? ": " : "", err ? strerror(why.err) : "");
    post(s, Event::DepFailed, now);
  }
  return true;
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
    OX_SVC_WARN(s.spec->name, "unable to start %s: %s failed: %s", a0, f.step,
            strerror(f.err));
  }
}

void Supervisor::end_for_good(const Service& s, bool ok, int code, Millis now) {
  const ServiceSpec& spec = *s.spec;
  if (spec.is_main || spec.critical) {
    if (!code_set_ || spec.is_main) {
      outcome_.exit_code = code;
      code_set_ = true;
    }
    begin_shutdown(spec.is_main ? "the main command exited" : "a critical service ended", now);
  } else if (!ok && spec.type == ServiceType::Oneshot && phase_ == Phase::Running) {
    OX_SVC_WARN(spec.name, "oneshot failed with %d; aborting start-up", code);
    if (!code_set_) {
      outcome_.exit_code = code ? code : 1;
      code_set_ = true;
    }
    begin_shutdown("a oneshot failed", now);
  }
}

void Supervisor::on_exit(Service& s, int status, Millis now) {
  const ServiceSpec& spec = *s.spec;
  finish_exec(s);
  for (uint64_t& ref : s.log_refs) {
    logs_.drain_stream(ref);
    ref = 0;
  }
  unindex_pid(s.pid);
  s.pid = -1;
  int code = status_to_code(status);
  s.last_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (spec.is_main) {
    if (WIFSIGNALED(status)) {
      char b[16];
      OX_INFO("Main child exited with signal (with signal '%s')", signal_name(WTERMSIG(status), b));
    } else {
      OX_INFO("Main child exited normally (with status '%d')", code);
    }
  }
  check_oom(s);
  bool left = !spec.is_main && leftovers(s);
  post(s, Event::Exited, now, code, left, true);
  if (spec.is_main && !code_set_) {
    outcome_.exit_code = code;
    code_set_ = true;
  }
}

// A stopping service whose leader is gone waits for the rest of its group:
// after each reaping pass, see whether that group is empty now.
void Supervisor::check_groups(Millis now) {
  for (Service& s : services_) {
    if (s.state == State::Stopping && s.exited && !leftovers(s)) post(s, Event::GroupEmpty, now);
  }
}

int Supervisor::reap() {
  Millis now = now_ms();
  int n = reap_all([&](ChildExit e) {
    OX_DEBUG("Reaped child with pid: '%d'", e.pid);
    if (Service* s = find(e.pid)) {
      on_exit(*s, e.status, now);
      return;
    }
    for (size_t k = 0; any_watch_ && k < watch_.size(); k++) {
      Watch* w = watch_[k];
      if (w && w->probe.pid() == e.pid) {
        if (w->probe.on_exit(e.status)) check_done(services_[k], *w, now);
        return;
      }
    }
    if (plan_->run.warn_reap) OX_WARN("Reaped zombie process with pid=%d", e.pid);
  });
  if (n > 0) check_groups(now);
  return n;
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

void Supervisor::forward_to_main(int sig) {
  char b[16];
  Service& m = services_[static_cast<size_t>(main_)];
  OX_DEBUG("Passing signal: '%s'", signal_name(sig, b));
  if (kill(plan_->run.kill_group ? -m.pid : m.pid, sig) < 0) {
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
      kill(plan_->run.kill_group ? -m.pid : m.pid, SIGCONT);
    }
    if (plan_->run.kill_timeout >= 0 && m.deadline == kNoDeadline) m.deadline = now_ms() + plan_->run.kill_timeout;
  }
}

void Supervisor::handle_signal(int sig) {
  char b[16];
  SignalContext c;
  c.vm = vm_;
  c.has_main = main_ >= 0;
  c.main_running = main_ >= 0 && services_[static_cast<size_t>(main_)].pid > 0;
  SignalMeaning meaning = signal_meaning(sig, c);
  if (meaning == SignalMeaning::Reap) {
    OX_DEBUG("Received SIGCHLD");
    return;
  }
  int to = plan_->run.rewrite.apply(sig);
  if (to == 0) return;  // -r SIG:0 drops it
  switch (meaning) {
    case SignalMeaning::Shutdown:
      if (vm_ && sig == SIGUSR1) outcome_.action = FinalAction::Halt;
      if (vm_ && sig == SIGUSR2) outcome_.action = FinalAction::Poweroff;
      if (phase_ != Phase::Running) return;
      OX_INFO("received %s: stopping every service", signal_name(sig, b));
      begin_shutdown("signal", now_ms());
      return;
    case SignalMeaning::ForwardMain:
      forward_to_main(to);
      return;
    case SignalMeaning::Reload:
      reload_on_sighup();
      return;
    case SignalMeaning::ForwardAll: {
      int n = 0;
      for (Service& s : services_) {
        if (s.pid > 0) {
          kill(s.pid, to);
          n++;
        }
      }
      if (!n) OX_WARN("received %s: no service is running to pass it to", signal_name(sig, b));
      return;
    }
    case SignalMeaning::Unrouted:
      OX_WARN("received %s before the main command started: nothing to pass it to", signal_name(sig, b));
      return;
    case SignalMeaning::Reap:
      return;
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

void Supervisor::begin_shutdown(const char* why, Millis now) {
  if (phase_ != Phase::Running) return;
  OX_DEBUG("shutting down: %s", why);
  phase_ = Phase::StoppingServices;
  notify_upwards("STOPPING=1");
  limit_deadline_ = now + shutdown_limit();
  // What has not started never will; what waits for a restart gets none.
  for (Service& s : services_) {
    if (s.state == State::Waiting || s.state == State::Backoff || s.state == State::Stopping) {
      post(s, Event::Stop, now);
    }
  }
}

Millis Supervisor::shutdown_limit() const {
  return plan_->init.shutdown_limit >= 0 ? plan_->init.shutdown_limit : default_shutdown_limit(*plan_);
}

// [init] shutdown_limit: the whole shutdown is over, whatever is still there
// (a process in uninterruptible sleep on a hung NFS or FUSE mount).
void Supervisor::shutdown_limit_reached() {
  char d[24];
  OX_WARN("shutdown_limit (%s) reached: finishing with what is still there", format_duration(d, shutdown_limit()));
  for (const Service& s : services_) {
    if (is_running(s.state)) {
      OX_SVC_WARN(s.spec->name, "still %s (pid %d)", state_name(s.state),
              s.pid > 0 ? s.pid : s.pgid);
    }
  }
  if (!no_children_left()) OX_WARN("leaving processes behind that did not end");
  phase_ = Phase::Done;
}

void Supervisor::on_timers(Millis now) {
  if (reap_batch_until_ != kNoDeadline && reap_batch_until_ <= now) on_child_exits(now, true);
  if (source_) {
    Millis d = source_->deadline();
    if (d != kNoDeadline && d <= now) source_->on_deadline(now);
  }
  for (Service& s : services_) {
    if (s.deadline == kNoDeadline || s.deadline > now) continue;
    s.deadline = kNoDeadline;
    post(s, Event::Deadline, now);
  }
  if (any_watch_) probe_timers(now);
  if (limit_deadline_ != kNoDeadline && limit_deadline_ <= now && phase_ != Phase::Done) {
    limit_deadline_ = kNoDeadline;
    shutdown_limit_reached();
    return;
  }
  if (phase_deadline_ != kNoDeadline && phase_deadline_ <= now) {
    phase_deadline_ = kNoDeadline;
    if (phase_ == Phase::Sweeping) {
      OX_DEBUG("grace period over: SIGKILL to what is left");
      sweep_leftovers(SIGKILL, am_pid1_);
      phase_ = Phase::Killing;
      phase_deadline_ = now + kKillBound;
    } else if (phase_ == Phase::Killing) {
      char d[24];
      OX_WARN("processes survived SIGKILL for %s; giving up on them", format_duration(d, kKillBound));
      phase_ = Phase::Done;
    }
  }
}

// Moves every state machine as far as it can go without waiting.
void Supervisor::advance(Millis now) {
  if (phase_ == Phase::Running) {
    bool live = false;
    for (size_t i = 0; i < plan_->services.size(); i++) {
      Service& s = services_[i];
      if (s.start_after_stop && !is_running(s.state)) {
        s.start_after_stop = false;
        start_by_hand(s);
      }
    }
    // In start order: one pass starts everything whose `after` became ready
    // during the pass (a dependency is always visited first).
    for (int idx : plan_->order) {
      size_t i = static_cast<size_t>(idx);
      Service& s = services_[i];
      if (s.state == State::Waiting) {
        if (const Service* dep = dep_failed(i)) {
          OX_WARN("%s%s: not started: dependency %s failed", s.spec->is_main ? "" : "service ",
                  s.spec->is_main ? "main command" : s.spec->name.c_str(), dep->spec->name.c_str());
          post(s, Event::DepFailed, now);
          if (phase_ != Phase::Running) break;
          continue;
        }
        if (deps_ready(i)) post(s, Event::DepsReady, now);
        if (phase_ != Phase::Running) break;
      }
      // A service stopped by hand waits to be started again (ctl start).
      if (is_running(s.state) || s.state == State::Backoff || s.state == State::Waiting || s.state == State::Stopped)
        live = true;
    }
    if (phase_ == Phase::Running && !sent_ready_ && !plan_->run.notify_socket.empty()) {
      // READY=1 upwards once every service is ready (or has ended for good)
      // and the main command, if any, has started.
      bool settled = true;
      for (const Service& s : services_) {
        bool ended = s.state == State::Done || s.state == State::Failed || s.state == State::Stopped;
        settled &= ended || (s.ready_once && s.spec->type != ServiceType::Oneshot);
      }
      if (settled) {
        sent_ready_ = true;
        notify_upwards("READY=1");
      }
    }
    if (phase_ == Phase::Running && !live) {
      // Everything ended on its own: nothing left to supervise.
      bool all_ok = true;
      for (const Service& s : services_) all_ok &= s.state == State::Done;
      if (!code_set_) outcome_.exit_code = all_ok ? 0 : 1;
      code_set_ = true;
      begin_shutdown("nothing left to run", now);
    }
  }
  if (phase_ == Phase::StoppingServices) {
    bool busy = false;
    for (size_t i = 0; i < services_.size(); i++) {
      Service& s = services_[i];
      bool up = s.state == State::Starting || s.state == State::Ready || s.state == State::Unhealthy;
      if (up && dependents_down(i)) post(s, Event::Stop, now);
      if (is_running(s.state)) busy = true;
    }
    if (!busy) {
      if (no_children_left()) {
        phase_ = Phase::Done;
      } else {
        char d[24];
        OX_DEBUG("sending SIGTERM to leftover processes (grace %s)",
                 format_duration(d, plan_->init.shutdown_timeout));
        sweep_leftovers(SIGTERM, am_pid1_);
        phase_ = Phase::Sweeping;
        phase_deadline_ = now + plan_->init.shutdown_timeout;
      }
    }
  }
  if ((phase_ == Phase::Sweeping || phase_ == Phase::Killing) && no_children_left()) {
    phase_ = Phase::Done;
  }
}


Millis Supervisor::next_deadline() const {
  Millis d = phase_deadline_;
  auto earlier = [&](Millis t) {
    if (t != kNoDeadline && (d == kNoDeadline || t < d)) d = t;
  };
  earlier(reap_batch_until_);
  earlier(limit_deadline_);
  if (source_) earlier(source_->deadline());
  for (const Service& s : services_) earlier(s.deadline);
  for (size_t i = 0; any_watch_ && i < watch_.size(); i++) {
    if (const Watch* w = watch_[i]) {
      earlier(w->due);
      earlier(w->probe.deadline());
      earlier(w->watchdog);
    }
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
  logs_.init(&loop_, kTokenLogs, plan_->init.log_timestamps);
  // Only what a service list can ask for reaches the features' code.
  const InitSpec& is = plan_->init;
  if (is.log_format != LogFormat::Text || is.log_buffer != kDefaultLogBuffer) configure_logs();
  if (!start_cgroups(now_ms())) {
    outcome_.exit_code = 1;
    return outcome_;
  }
  // From here on oxinit's own lines share the services' non-blocking queues.
  logs_.take_own_messages();
  if (source_) source_->start(loop_, kTokenSource);
  for (const ServiceSpec& sp : plan_->services) {
    if (sp.ready.kind == ProbeSpec::Notify) {
      open_notify();
      break;
    }
  }
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
      } else if (kind == kTokenNotify) {
        if (notify_) on_notify(now_ms());
      } else if (kind == kTokenSource) {
        if (source_) source_->on_event(events[k].data.u64, events[k].events);
      } else if (kind == kTokenPower) {
        if (power_.on_readable(static_cast<int>(events[k].data.u64 & 0xffffffffu))) {
          OX_INFO("power button pressed: shutting down");
          begin_shutdown("power button", now_ms());
        }
      } else {
        size_t idx = static_cast<size_t>(events[k].data.u64 & 0xffffffffu);
        if (idx >= services_.size()) continue;
        Service& s = services_[idx];
        Watch* w = watch_[idx];
        if (kind == kTokenExec) {
          finish_exec(s);
        } else if (kind == kTokenProbe && w) {
          if (w->probe.on_io(events[k].events)) check_done(s, *w, now_ms());
        } else if (kind == kTokenReadyFd && w && w->ready_fd.valid()) {
          FdReady r = read_ready_fd(w->ready_fd.get());
          if (r == FdReady::Pending) continue;
          loop_.remove(w->ready_fd.get());
          w->ready_fd.reset();
          if (r == FdReady::Ready && s.state == State::Starting) {
            format(w->last, sizeof w->last, "fd %d", s.spec->ready.fd);
            post(s, Event::Ready, now_ms());
          } else {
            format(w->last, sizeof w->last, "fd %d closed without a newline", s.spec->ready.fd);
          }
        }
      }
    }
    // Signals after the pipes: a service's last lines are read before its
    // exit is handled.
    if (signalled) handle_signals();
    now = now_ms();
    on_timers(now);
    advance(now);
  }
  if (source_) source_->stop();
  if (logs_.dropped()) {
    OX_WARN("dropped %llu lines of output: stdout/stderr were not being read",
            static_cast<unsigned long long>(logs_.dropped()));
  }
  logs_.drain(now_ms() + 1000);
  logs_.release_own_messages();
  return outcome_;
}

}  // namespace oxinit
