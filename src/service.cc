#include "service.h"

#include <algorithm>

#include "log.h"

namespace oxinit {

namespace {
constexpr char kStateNames[] = "waiting\0starting\0ready\0unhealthy\0stopping\0backoff\0done\0failed\0stopped\0";
constexpr char kEventNames[] =
    "deps-ready\0dep-failed\0started\0spawn-failed\0exited\0group-empty\0deadline\0stop\0start\0ready\0"
    "health-ok\0health-failed\0watchdog-late\0";
static_assert(count_names(kStateNames) == static_cast<unsigned>(State::Stopped) + 1);
static_assert(count_names(kEventNames) == static_cast<unsigned>(Event::WatchdogLate) + 1);
}  // namespace

const char* state_name(State s) { return nth_name(kStateNames, static_cast<unsigned>(s)); }

const char* event_name(Event e) { return nth_name(kEventNames, static_cast<unsigned>(e)); }

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

namespace {

Step to(State st, uint16_t actions = 0, Millis delay = 0, Next next = Next::None) {
  Step r;
  r.to = st;
  r.actions = actions;
  r.delay = delay;
  r.next = next;
  return r;
}

Step invalid(const Service& s) {
  Step r = to(s.state);
  r.valid = false;
  return r;
}

// The run is over (leader gone, group empty): what the restart policy says.
// Only failures grow the backoff; a clean exit waits restart_delay.
Step after_exit(Service& s, const Facts& f) {
  const ServiceSpec& spec = *s.spec;
  int code = run_code(s);
  s.kill_sent = false;
  s.stop_reason = StopReason::None;
  if (f.shutting_down && !spec.is_main) return to(State::Stopped, kActClearDeadline, 0, Next::Stopped);
  if (spec.is_main || !wants_restart(spec, code)) {
    bool ok = code == 0;
    uint16_t log_exit = spec.is_main ? 0 : kActLogExit;
    return to(ok ? State::Done : State::Failed, kActClearDeadline | kActEndForGood | log_exit, 0,
              ok ? Next::DoneForGood : Next::FailedForGood);
  }
  if (code == 0) {
    s.failures = 0;
  } else {
    // A long run resets the backoff, unless it never became ready.
    if (f.now - s.started_at >= kHealthyRun && s.ready_now) s.failures = 0;
    s.failures++;
  }
  // max_restarts within restart_window: the next exit past it is final.
  auto& r = s.restarts;
  r.erase(std::remove_if(r.begin(), r.end(), [&](Millis t) { return f.now - t > spec.restart_window; }),
          r.end());
  if (spec.max_restarts >= 0 && static_cast<int>(r.size()) >= spec.max_restarts) {
    return to(State::Failed, kActClearDeadline | kActEndForGood | kActLogExit, 0, Next::LimitHit);
  }
  r.push_back(f.now);
  Millis delay = code == 0 ? backoff_delay(spec, 1) : backoff_delay(spec, s.failures);
  return to(State::Backoff, kActSetDeadline | kActLogExit, delay, Next::Restart);
}

// The group of a stopping service is empty (or given up on).
Step finish_stop(Service& s, const Facts& f) {
  s.kill_sent = false;
  StopReason why = s.stop_reason;
  if ((why == StopReason::Leftovers || why == StopReason::Probe) && !f.shutting_down) return after_exit(s, f);
  s.stop_reason = StopReason::None;
  if (why == StopReason::ProbeStop && !f.shutting_down) {
    return to(State::Failed, kActClearDeadline | kActEndForGood, 0, Next::FailedForGood);
  }
  return to(State::Stopped, kActClearDeadline, 0, Next::Stopped);
}

Step stop_now(Service& s, const ServiceSpec& spec, StopReason why) {
  s.stop_reason = why;
  s.kill_sent = false;
  return to(State::Stopping, kActSignalStop | kActSetDeadline, spec.stop_timeout);
}

// health_retries failed checks in a row, or the watchdog ran out.
Step unhealthy(Service& s, const ServiceSpec& spec) {
  if (spec.on_unhealthy == OnUnhealthy::Ignore) return to(State::Unhealthy, 0, 0, Next::Unhealthy);
  s.probe_failed = true;
  Step st = stop_now(s, spec, spec.on_unhealthy == OnUnhealthy::Stop ? StopReason::ProbeStop : StopReason::Probe);
  st.next = Next::Unhealthy;
  return st;
}

}  // namespace

static Step decide(Service& s, Event e, const Facts& f) {
  const ServiceSpec& spec = *s.spec;
  switch (e) {
    case Event::DepsReady:
      if (s.state != State::Waiting) return invalid(s);
      return to(State::Waiting, kActSpawn);

    case Event::Start:
      // By hand: at once, whatever the backoff said.
      switch (s.state) {
        case State::Waiting: case State::Backoff: case State::Done: case State::Failed: case State::Stopped:
          s.failures = 0;
          if (!f.deps_ready) return to(State::Waiting, kActClearDeadline);
          return to(s.state, kActClearDeadline | kActSpawn);
        default:
          return invalid(s);
      }

    case Event::DepFailed:
      if (s.state != State::Waiting) return invalid(s);
      s.last_code = 1;
      s.last_signal = 0;
      return to(State::Failed, kActEndForGood, 0, Next::FailedForGood);

    case Event::Started:
      switch (s.state) {
        case State::Waiting: case State::Backoff: case State::Done: case State::Failed: case State::Stopped:
          s.started_at = f.now;
          s.starts++;
          s.exited = false;
          s.kill_sent = false;
          s.stop_reason = StopReason::None;
          s.health_fails = 0;
          s.probe_failed = false;
          s.ready_now = !has_ready_probe(spec);
          // Not ready until it says so (or its probe passes), within ready_timeout.
          if (has_ready_probe(spec)) return to(State::Starting, kActSetDeadline | kActProbeReady, spec.ready_timeout);
          s.ready_once = true;
          return to(State::Ready, kActClearDeadline | kActProbeHealth);
        default:
          return invalid(s);
      }

    case Event::SpawnFailed:
      switch (s.state) {
        case State::Waiting: case State::Backoff: case State::Done: case State::Failed: case State::Stopped:
          s.failures++;
          s.last_code = 1;
          s.last_signal = 0;
          if (spec.is_main) return to(State::Failed, kActEndForGood, 0, Next::FailedForGood);
          return to(State::Backoff, kActSetDeadline, backoff_delay(spec, s.failures), Next::Restart);
        default:
          return invalid(s);
      }

    case Event::Exited:
      if (!is_running(s.state)) return invalid(s);
      s.last_code = f.code;
      s.exited = true;
      if (s.state == State::Stopping) {
        return f.group_alive ? to(State::Stopping) : finish_stop(s, f);
      }
      if (f.group_alive && !spec.is_main) {
        // What the leader left in its group goes before any restart
        // (systemd's KillMode=control-group does the same).
        Step st = stop_now(s, spec, f.shutting_down ? StopReason::Requested : StopReason::Leftovers);
        st.actions |= kActLogExit;
        st.next = Next::StopLeftovers;
        return st;
      }
      return after_exit(s, f);

    case Event::GroupEmpty:
      if (s.state != State::Stopping || !s.exited) return invalid(s);
      return finish_stop(s, f);

    case Event::Deadline:
      switch (s.state) {
        case State::Backoff:
          return to(State::Backoff, kActClearDeadline | kActSpawn);
        case State::Stopping:
          if (!s.kill_sent) {
            s.kill_sent = true;
            return to(State::Stopping, kActKillGroup | kActSetDeadline, kKillBound);
          }
          // It survived SIGKILL (uninterruptible sleep): stop waiting.
          {
            Step st = finish_stop(s, f);
            st.actions |= kActGiveUp;
            return st;
          }
        case State::Starting:
          if (!spec.is_main) {
            // ready_timeout: stopped, and the run counts as a failure.
            s.probe_failed = true;
            Step st = stop_now(s, spec, StopReason::Probe);
            st.next = Next::NotReady;
            return st;
          }
          [[fallthrough]];
        case State::Ready: case State::Unhealthy:
          // The main command's -t: SIGKILL this long after a stop signal.
          if (!spec.is_main) return invalid(s);
          return to(s.state, kActKillGroup | kActClearDeadline);
        default:
          return invalid(s);
      }

    case Event::Stop:
      switch (s.state) {
        case State::Waiting: case State::Backoff:
          return to(State::Stopped, kActClearDeadline, 0, Next::Stopped);
        case State::Starting: case State::Ready: case State::Unhealthy:
          return stop_now(s, spec, StopReason::Requested);
        case State::Stopping:
          s.stop_reason = StopReason::Requested;  // no restart once its group is gone
          return to(State::Stopping);
        case State::Done: case State::Failed: case State::Stopped:
          return to(s.state);
      }
      return invalid(s);

    case Event::Ready:
      if (s.state != State::Starting) return invalid(s);
      s.ready_once = s.ready_now = true;
      return to(State::Ready, kActClearDeadline | kActProbeHealth, 0, Next::Ready);

    case Event::HealthOk:
      if (s.state != State::Ready && s.state != State::Unhealthy) return invalid(s);
      s.health_fails = 0;
      return s.state == State::Unhealthy ? to(State::Ready, 0, 0, Next::Healthy) : to(State::Ready);

    case Event::HealthFailed:
      if (s.state != State::Ready && s.state != State::Unhealthy) return invalid(s);
      // Docker's --start-period: failures this early do not count.
      if (f.now - s.started_at < spec.health_start_period || s.state == State::Unhealthy) return to(s.state);
      if (++s.health_fails < spec.health_retries) return to(State::Ready);
      return unhealthy(s, spec);

    case Event::WatchdogLate:
      if (s.state == State::Unhealthy) return to(State::Unhealthy);
      if (s.state != State::Ready) return invalid(s);
      return unhealthy(s, spec);
  }
  return invalid(s);
}

Step step(Service& s, Event e, const Facts& f) {
  Step r = decide(s, e, f);
  if (r.valid) s.state = r.to;
  return r;
}

}  // namespace oxinit
