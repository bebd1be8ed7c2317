// The supervisor's entry points for the control socket (ctl/server.*) and
// SIGHUP: a start, stop or restart by hand, a shutdown asked for, a reload.
// Members of Supervisor, in a file of their own so their code lives in the
// features' mapping (build-aux/layout.ld): exec mode never runs it.
#include <signal.h>

#include <cstring>

#include "log.h"
#include "supervisor.h"
#include "sys/format.h"

namespace oxinit {

// After a reload: who depends on whom, the main command, the checks each
// service needs. Indices never change (removed services keep theirs).
void Supervisor::reindex() {
  // clear + resize: the resize's code is the constructor's (supervisor.cc).
  dependents_.clear();
  dependents_.resize(services_.size());
  for (size_t i = 0; i < services_.size(); i++) {
    Service& s = services_[i];
    const ServiceSpec& sp = *s.spec;
    if (s.removed) continue;
    if (i < plan_->deps.size()) {
      for (int d : plan_->deps[i]) dependents_[static_cast<size_t>(d)].push_back(static_cast<int>(i));
    }
    if (sp.is_main) main_ = static_cast<int>(i);
    bool want = has_ready_probe(sp) || sp.health.kind != ProbeSpec::None;
    if (want && !watch_[i]) watch_[i] = new Watch();
    any_watch_ |= want;
  }
}

// The sd_notify socket, once a service has ready = "notify" (at start, or
// added by a reload).
void Supervisor::open_notify() {
  if (notify_) return;
  for (const ServiceSpec& sp : plan_->services) {
    if (sp.ready.kind != ProbeSpec::Notify) continue;
    notify_ = new NotifySocket();
    auto r = notify_->open();
    if (r) r = loop_.add(notify_->fd(), EPOLLIN, kTokenNotify);
    if (!r) {
      OX_WARN("unable to open the notify socket: %s: %s; no ready = \"notify\" service can become ready",
              r.error().what, strerror(r.error().err));
      delete notify_;
      notify_ = nullptr;
    }
    return;
  }
}

void Supervisor::configure_logs() {
  const InitSpec& i = plan_->init;
  logs_.configure(i.log_timestamps, i.log_format == LogFormat::Json, static_cast<uint32_t>(i.log_buffer));
}

// SIGHUP in service mode: a reload, reported in oxinit's own lines.
void Supervisor::reload_on_sighup() {
  ReloadReport r;
  if (!reload(r)) {
    OX_WARN("received SIGHUP: the config was not reloaded: %s", r.error.format().c_str());
    return;
  }
  OX_INFO("received SIGHUP: config reloaded: %s", r.summary.c_str());
}

Supervisor::ByHand Supervisor::start_by_hand(Service& s) {
  if (is_running(s.state)) {
    if (s.state != State::Stopping) return ByHand::Running;
    s.start_after_stop = true;
    return ByHand::AfterStop;
  }
  size_t i = static_cast<size_t>(&s - services_.data());
  if (dep_failed(i)) return ByHand::DepDown;
  bool ready = deps_ready(i);
  post(s, Event::Start, now_ms(), 0, false, ready);
  return ready ? ByHand::Started : ByHand::Waiting;
}

void Supervisor::stop_by_hand(Service& s) {
  s.start_after_stop = false;
  post(s, Event::Stop, now_ms());
}

void Supervisor::restart_by_hand(Service& s) {
  if (is_running(s.state)) {
    stop_by_hand(s);
    s.start_after_stop = true;
  } else {
    start_by_hand(s);
  }
}

void Supervisor::shutdown_by_hand(int action) {
  if (action >= 0 && vm_) outcome_.action = static_cast<FinalAction>(action);
  OX_INFO("shutdown asked for on the control socket: stopping every service");
  begin_shutdown("ctl shutdown", now_ms());
}

// " name" at the end of a list of the summary. Out of line: four lists.
[[gnu::noinline]] static void note(Str& list, const Str& name) {
  list += ' ';
  list += name;
}

// Swaps two std::vectors of one type: their three pointers, as swap()
// does, in one copy out of line instead of one inlined per call.
[[gnu::noinline]] static void swap_vectors(void* a, void* b) {
  char t[sizeof(std::vector<int>)];
  memcpy(t, a, sizeof t);
  memcpy(a, b, sizeof t);
  memcpy(b, t, sizeof t);
}
template <class T>
static void swap_vectors(std::vector<T>& a, std::vector<T>& b) {
  static_assert(sizeof a == sizeof(std::vector<int>));
  swap_vectors(static_cast<void*>(&a), static_cast<void*>(&b));
}

// A reload. A service of the new plan takes the record (and index) of the
// old one with its name, so pids, counters, log streams, checks and every
// loop token stay as they are; a changed one is stopped with its old
// stop_signal and started again with its new spec; a removed one stops and
// keeps its record, marked removed, until an added service takes its slot.
bool Supervisor::reload(ReloadReport& r) {
  if (phase_ != Phase::Running) {
    r.error.message += "oxinit is shutting down";  // (r comes empty)
    return false;
  }
  Plan* nextp = new Plan();
  Plan& next = *nextp;
  bool ok = true;
  // What changed, as "added: a b; removed: c; ...": the names per list,
  // their labels added at the end.
  static const char* const kLists[] = {"added:", "removed:", "restarted:", "reload_signal sent to:",
                                       "[init] keys that apply when oxinit starts again:"};
  Str lists[5];
  size_t unchanged = 0;
  if (loader_) {
    auto loaded = loader_(loader_ctx_, next);
    if (!loaded) {
      r.error = std::move(const_cast<ConfigError&>(loaded.error()));  // (loaded is ours)
      ok = false;
    }
  }
  if (loader_ && ok) {
    PlanDiff d = diff_plans(*plan_, next);
    int* slot = d.from.data();  // per new service: its record, once known
    size_t old_n = services_.size(), new_n = d.from.size(), total = old_n, scan = 0;
    Service* sv = services_.data();  // (until the resize below)
    // Per record: the new service it holds, -1 for none (a removed one).
    int* who = static_cast<int*>(operator new((old_n + new_n) * sizeof(int)));
    memset(who, 0xff, (old_n + new_n) * sizeof(int));
    for (size_t j = 0; j < new_n; j++) {
      int& from = slot[j];
      if (from >= 0 && sv[from].removed) from = -1;  // back again: a new one
      if (from >= 0) who[from] = static_cast<int>(j);
    }
    // Stops first, while every record still has its old spec.
    for (size_t i = 0; i < old_n; i++) {
      Service& s = sv[i];
      if (who[i] >= 0 || s.removed) continue;
      note(lists[1], s.spec->name);
      stop_by_hand(s);
      s.removed = true;
    }
    for (size_t j = 0; j < new_n; j++) {
      const Str& name = next.services[j].name;
      if (slot[j] >= 0) {
        Service& s = sv[slot[j]];
        if (!d.changed[j]) {
          unchanged++;
          continue;
        }
        note(lists[2], name);
        // Running: stopped now, started once stopped; failed: started again;
        // waiting, in backoff, done or stopped by hand: the new spec applies
        // at its next start.
        bool up = is_running(s.state);
        if (up) stop_by_hand(s);
        s.start_after_stop = up || s.state == State::Failed;
        continue;
      }
      note(lists[0], name);
      // The slot of a removed service that has stopped, or a new one.
      while (scan < old_n && (who[scan] >= 0 || !sv[scan].removed || is_running(sv[scan].state))) scan++;
      if (scan < old_n) {
        sv[scan].~Service();
        new (&sv[scan]) Service();
        delete watch_[scan];
        watch_[scan] = nullptr;
        slot[j] = static_cast<int>(scan);
      } else {
        slot[j] = static_cast<int>(total++);
      }
      who[slot[j]] = static_cast<int>(j);
    }
    // The new plan in record order, made in the old plan's vectors: a new
    // spec where a record has one, else the old spec of a removed service
    // (it may still be stopping).
    std::vector<ServiceSpec>& specs = plan_->services;
    std::vector<std::vector<int>>& deps = plan_->deps;
    deps.resize(total);
    for (size_t i = 0; i < total; i++) {
      int j = who[i];
      if (j < 0) continue;
      ServiceSpec& spec = next.services[static_cast<size_t>(j)];
      if (i < old_n) {
        specs[i].~ServiceSpec();
        new (&specs[i]) ServiceSpec(std::move(spec));
      } else {
        specs.push_back(std::move(spec));
      }
      // (The old deps go with next's vectors.)
      swap_vectors(deps[i], next.deps[static_cast<size_t>(j)]);
      for (int& dep : deps[i]) dep = slot[dep];
    }
    operator delete(who);
    for (int& o : next.order) o = slot[o];
    swap_vectors(next.services, specs);
    swap_vectors(next.deps, deps);
    // [init]: what the engine reads as it goes applies now; these were used
    // at start only.
    const InitSpec &a = plan_->init, &b = next.init;
    bool later[] = {a.vm != b.vm, a.hostname != b.hostname.view(), a.mount_cgroup != b.mount_cgroup,
                    a.cgroups != b.cgroups, a.control_socket != b.control_socket.view()};
    static const char* const kLater[] = {" vm", " hostname", " mount_cgroup", " cgroups", " control_socket"};
    for (size_t k = 0; k < 5; k++) {
      if (later[k]) lists[4] += kLater[k];
    }
    if (a.final_action != b.final_action) outcome_.action = b.final_action;
    // The old plan goes below, when it is ours.
    std::swap(plan_, nextp);
    if (!own_plan_) nextp = nullptr;
    own_plan_ = true;
    // Records only grow (told, so resize leaves out its shrinking code).
    if (total < services_.size() || total < watch_.size()) __builtin_unreachable();
    services_.resize(total);
    watch_.resize(total);
    Millis now = now_ms();
    for (size_t i = 0; i < total; i++) {
      Service& s = services_[i];
      s.spec = &plan_->services[i];
      // A health check the old spec had not: due one interval from now.
      Watch* w = watch_[i];
      if (w && s.state == State::Ready && w->due == kNoDeadline && !w->probe.busy() &&
          s.spec->health.kind != ProbeSpec::None)
        w->due = now + s.spec->health_interval;
    }
    reindex();
    configure_logs();
    open_notify();
  }
  delete nextp;
  if (!ok) return false;
  for (Service& s : services_) {
    if (!s.removed && s.pid > 0 && s.state != State::Stopping && s.spec->reload_signal > 0) {
      kill(s.pid, s.spec->reload_signal);
      note(lists[3], s.spec->name);
    }
  }
  char b[40];
  r.summary += std::string_view(b, format(b, sizeof b, "unchanged: %zu", unchanged));
  for (size_t k = 0; k < 5; k++) {
    if (lists[k].empty()) continue;
    r.summary += "; ";
    r.summary += kLists[k];
    r.summary += lists[k];
  }
  return true;
}

}  // namespace oxinit
