// The state x event table (src/service.h), without processes.
#include <doctest/doctest.h>

#include "service.h"
#include "supervisor.h"

using namespace oxinit;

namespace {

struct Fixture {
  ServiceSpec spec;
  Service s;
  Fixture() { s.spec = &spec; }
  Step post(Event e, Millis now = 1000, int code = 0, bool group = false, bool shutting = false) {
    Facts f;
    f.now = now;
    f.code = code;
    f.group_alive = group;
    f.shutting_down = shutting;
    return step(s, e, f);
  }
  void running() {
    s.state = State::Waiting;
    post(Event::DepsReady);
    post(Event::Started);
    REQUIRE(s.state == State::Ready);
  }
};

constexpr State kStates[] = {State::Waiting, State::Starting, State::Ready,  State::Unhealthy, State::Stopping,
                             State::Backoff, State::Done,     State::Failed, State::Stopped};
constexpr Event kEvents[] = {Event::DepsReady, Event::DepFailed, Event::Started, Event::SpawnFailed, Event::Exited,
                             Event::GroupEmpty, Event::Deadline, Event::Stop, Event::Start,
                             Event::Ready, Event::HealthOk, Event::HealthFailed, Event::WatchdogLate};

}  // namespace

TEST_CASE("every (state, event) pair: valid ones change what they say, invalid ones nothing") {
  int valid = 0, invalid = 0;
  for (State st : kStates) {
    for (Event e : kEvents) {
      for (bool main : {false, true}) {
        Fixture fx;
        fx.spec.is_main = main;
        fx.s.state = st;
        fx.s.exited = true;  // GroupEmpty needs a leader that exited
        Step r = fx.post(e);
        CAPTURE(state_name(st));
        CAPTURE(event_name(e));
        if (!r.valid) {
          invalid++;
          CHECK(fx.s.state == st);
          CHECK(r.actions == 0);
        } else {
          valid++;
          CHECK(fx.s.state == r.to);
          // A spawn is asked for only where no process runs.
          if (r.actions & kActSpawn) CHECK_FALSE(is_running(st));
          // A stop signal only to something running.
          if (r.actions & kActSignalStop) CHECK(is_running(st));
        }
      }
    }
  }
  CHECK(valid > 40);
  CHECK(invalid > 20);
}

TEST_CASE("start: deps ready spawns, Started makes it ready") {
  Fixture fx;
  Step r = fx.post(Event::DepsReady);
  CHECK(((r.actions & kActSpawn) != 0));
  CHECK(fx.s.state == State::Waiting);
  r = fx.post(Event::Started, 500);
  CHECK(fx.s.state == State::Ready);
  CHECK(fx.s.started_at == 500);
  CHECK(fx.s.ready_once);
}

TEST_CASE("a failed run backs off, doubling per failure; a clean exit does not grow it") {
  Fixture fx;
  fx.spec.restart_delay = 1000;
  fx.spec.restart_delay_max = 30000;
  fx.running();
  Step r = fx.post(Event::Exited, 1100, 3);
  CHECK(fx.s.state == State::Backoff);
  CHECK(r.delay == 1000);
  CHECK(r.next == Next::Restart);
  CHECK(((r.actions & kActLogExit) != 0));
  fx.post(Event::Deadline, 2100);
  fx.post(Event::Started, 2100);
  r = fx.post(Event::Exited, 2200, 3);
  CHECK(r.delay == 2000);
  fx.post(Event::Deadline, 4200);
  fx.post(Event::Started, 4200);
  r = fx.post(Event::Exited, 4300, 0);  // clean: back to restart_delay
  CHECK(r.delay == 1000);
  CHECK(fx.s.failures == 0);
  for (int k = 0; k < 5; k++) {
    fx.post(Event::Deadline);
    fx.post(Event::Started, 5000 + k * 10);
    r = fx.post(Event::Exited, 5005 + k * 10, 0);
    CHECK(r.delay == 1000);
  }
}

TEST_CASE("a long healthy run resets the failures") {
  Fixture fx;
  fx.spec.restart_delay = 100;
  fx.running();
  fx.s.failures = 5;
  fx.s.started_at = 0;
  Step r = fx.post(Event::Exited, kHealthyRun + 1, 1);
  CHECK(r.delay == 100);
  CHECK(fx.s.failures == 1);
}

TEST_CASE("max_restarts within the window is final") {
  Fixture fx;
  fx.spec.max_restarts = 1;
  fx.spec.restart_window = 60000;
  fx.running();
  fx.post(Event::Exited, 1000, 1);
  CHECK(fx.s.state == State::Backoff);
  fx.post(Event::Deadline, 2000);
  fx.post(Event::Started, 2000);
  Step r = fx.post(Event::Exited, 2100, 1);
  CHECK(fx.s.state == State::Failed);
  CHECK(r.next == Next::LimitHit);
  CHECK(((r.actions & kActEndForGood) != 0));
}

TEST_CASE("policies: never and on-failure end for good") {
  Fixture fx;
  fx.spec.restart = RestartPolicy::OnFailure;
  fx.running();
  Step r = fx.post(Event::Exited, 1000, 0);
  CHECK(fx.s.state == State::Done);
  CHECK(r.next == Next::DoneForGood);
  fx.spec.restart = RestartPolicy::Never;
  fx.running();
  r = fx.post(Event::Exited, 1000, 2);
  CHECK(fx.s.state == State::Failed);
  CHECK(((r.actions & kActEndForGood) != 0));
}

TEST_CASE("leftovers in the group are stopped before the restart") {
  Fixture fx;
  fx.spec.stop_timeout = 7000;
  fx.running();
  Step r = fx.post(Event::Exited, 1000, 1, /*group=*/true);
  CHECK(fx.s.state == State::Stopping);
  CHECK(fx.s.stop_reason == StopReason::Leftovers);
  CHECK(((r.actions & kActSignalStop) != 0));
  CHECK(((r.actions & kActSetDeadline) != 0));
  CHECK(r.delay == 7000);
  CHECK(r.next == Next::StopLeftovers);
  // The group empties: now the restart policy speaks, with the leader's code.
  r = fx.post(Event::GroupEmpty, 1500);
  CHECK(fx.s.state == State::Backoff);
  CHECK(r.next == Next::Restart);
  CHECK(fx.s.last_code == 1);
}

TEST_CASE("leftovers that ignore the stop signal get SIGKILL, then are given up on") {
  Fixture fx;
  fx.running();
  fx.post(Event::Exited, 1000, 1, true);
  Step r = fx.post(Event::Deadline, 11000);
  CHECK(((r.actions & kActKillGroup) != 0));
  CHECK(r.delay == kKillBound);
  CHECK(fx.s.state == State::Stopping);
  r = fx.post(Event::Deadline, 16000);  // survived SIGKILL (D state)
  CHECK(((r.actions & kActGiveUp) != 0));
  CHECK(fx.s.state == State::Backoff);  // its exit still counts
}

TEST_CASE("a stop: signal, deadline, SIGKILL, then a bounded wait") {
  Fixture fx;
  fx.running();
  Step r = fx.post(Event::Stop, 1000, 0, false, true);
  CHECK(fx.s.state == State::Stopping);
  CHECK(((r.actions & kActSignalStop) != 0));
  r = fx.post(Event::Deadline, 11000, 0, false, true);
  CHECK(((r.actions & kActKillGroup) != 0));
  r = fx.post(Event::Deadline, 16000, 0, false, true);
  CHECK(((r.actions & kActGiveUp) != 0));
  CHECK(fx.s.state == State::Stopped);
}

TEST_CASE("a stopping leader that exits with its group still alive waits for the group") {
  Fixture fx;
  fx.running();
  fx.post(Event::Stop, 1000, 0, false, true);
  fx.post(Event::Exited, 1100, 143, /*group=*/true, true);
  CHECK(fx.s.state == State::Stopping);
  fx.post(Event::GroupEmpty, 1200, 0, false, true);
  CHECK(fx.s.state == State::Stopped);
}

TEST_CASE("waiting and backoff services stop at once; a stop by hand stays stopped until started") {
  Fixture fx;
  CHECK(fx.post(Event::Stop).to == State::Stopped);
  Fixture b;
  b.running();
  b.post(Event::Exited, 1000, 1);
  REQUIRE(b.s.state == State::Backoff);
  Step r = b.post(Event::Stop);
  CHECK(b.s.state == State::Stopped);
  CHECK(((r.actions & kActClearDeadline) != 0));
  CHECK_FALSE(b.post(Event::DepsReady).valid);
  r = b.post(Event::Start);
  CHECK(((r.actions & kActSpawn) != 0));
}

TEST_CASE("a spawn failure backs off; the main command's ends the run") {
  Fixture fx;
  fx.spec.restart_delay = 100;
  fx.post(Event::DepsReady);
  Step r = fx.post(Event::SpawnFailed);
  CHECK(fx.s.state == State::Backoff);
  CHECK(r.delay == 100);
  r = fx.post(Event::Deadline);
  CHECK(((r.actions & kActSpawn) != 0));
  r = fx.post(Event::SpawnFailed);
  CHECK(r.delay == 200);
  Fixture m;
  m.spec.is_main = true;
  m.post(Event::DepsReady);
  r = m.post(Event::SpawnFailed);
  CHECK(m.s.state == State::Failed);
  CHECK(((r.actions & kActEndForGood) != 0));
}

TEST_CASE("the main command: never restarted, -t deadline kills its group") {
  Fixture fx;
  fx.spec.is_main = true;
  fx.running();
  Step r = fx.post(Event::Deadline);
  CHECK(((r.actions & kActKillGroup) != 0));
  CHECK(fx.s.state == State::Ready);
  r = fx.post(Event::Exited, 1000, 0, /*group=*/true);  // its group is the sweep's business
  CHECK(fx.s.state == State::Done);
  CHECK(((r.actions & kActEndForGood) != 0));
}

TEST_CASE("an exit during the shutdown is a stop, not a failure") {
  Fixture fx;
  fx.running();
  Step r = fx.post(Event::Exited, 1000, 1, false, /*shutting=*/true);
  CHECK(fx.s.state == State::Stopped);
  CHECK(((r.actions & kActEndForGood) == 0));
}

TEST_CASE("a dependency that failed: failed too, for good") {
  Fixture fx;
  Step r = fx.post(Event::DepFailed);
  CHECK(fx.s.state == State::Failed);
  CHECK(((r.actions & kActEndForGood) != 0));
}

TEST_CASE("default shutdown_limit covers the longest chain of stop timeouts") {
  Plan p;
  p.services.resize(3);
  p.services[0].stop_timeout = 10000;
  p.services[1].stop_timeout = 20000;
  p.services[2].stop_timeout = 1000;
  p.deps = {{}, {0}, {}};  // 1 after 0: stopping 1 then 0 may take 30 s
  p.order = {0, 1, 2};
  p.init.shutdown_timeout = 2000;
  Millis limit = default_shutdown_limit(p);
  CHECK(limit >= 30000 + 2 * kKillBound + 2000 + kKillBound);
  CHECK(limit < 60000);
}

TEST_CASE("a start by hand waits for its after services when they are not ready (issue 13)") {
  Fixture fx;
  fx.running();
  fx.post(Event::Stop);
  fx.post(Event::Exited);
  REQUIRE(fx.s.state == State::Stopped);
  Facts f;
  f.deps_ready = false;
  Step r = step(fx.s, Event::Start, f);
  CHECK(r.valid);
  CHECK(fx.s.state == State::Waiting);
  CHECK_FALSE((r.actions & kActSpawn));
  r = fx.post(Event::DepsReady);
  CHECK((r.actions & kActSpawn));
  fx.post(Event::Started);
  CHECK(fx.s.starts == 2);
}

// --- readiness and health (issue 12) ------------------------------------------

namespace {

// A service with a readiness probe, spawned: starting.
struct ProbeFixture : Fixture {
  ProbeFixture() {
    spec.ready.kind = ProbeSpec::Tcp;
    spec.ready_timeout = 300;
    spec.restart_delay = 100;
    spec.restart_delay_max = 10000;
  }
  Step start(Millis now = 1000) {
    s.state = State::Waiting;
    post(Event::DepsReady, now);
    return post(Event::Started, now);
  }
  // The leader exits (its stop signal) with its group: the run is over.
  Step exit(Millis now, int code = 143) {
    s.last_code = code;
    return post(Event::Exited, now, code);
  }
};

}  // namespace

TEST_CASE("readiness: a probe makes the start `starting`, with ready_timeout as its deadline") {
  ProbeFixture fx;
  Step r = fx.start();
  CHECK(fx.s.state == State::Starting);
  CHECK(((r.actions & kActProbeReady) != 0));
  CHECK(((r.actions & kActSetDeadline) != 0));
  CHECK(r.delay == 300);
  CHECK_FALSE(fx.s.ready_once);
  r = fx.post(Event::Ready, 1100);
  CHECK(fx.s.state == State::Ready);
  CHECK(r.next == Next::Ready);
  CHECK(((r.actions & kActProbeHealth) != 0));
  CHECK(((r.actions & kActClearDeadline) != 0));
  CHECK(fx.s.ready_once);
  // Said twice: nothing more happens.
  CHECK_FALSE(fx.post(Event::Ready, 1200).valid);
  // Without a probe (ready = "started"): ready at once, health checks begin.
  Fixture plain;
  plain.s.state = State::Waiting;
  plain.post(Event::DepsReady);
  r = plain.post(Event::Started);
  CHECK(plain.s.state == State::Ready);
  CHECK(((r.actions & kActProbeHealth) != 0));
  CHECK(r.next == Next::None);  // no "ready" line for every plain start
}

TEST_CASE("readiness: ready_timeout stops the run, and it counts as a failure with backoff") {
  ProbeFixture fx;
  fx.spec.max_restarts = 1;
  fx.start(0);
  Step r = fx.post(Event::Deadline, 300);
  CHECK(fx.s.state == State::Stopping);
  CHECK(r.next == Next::NotReady);
  CHECK(((r.actions & kActSignalStop) != 0));
  CHECK(r.delay == fx.spec.stop_timeout);
  CHECK(fx.s.probe_failed);
  // It exits 0 on its stop signal: still a failure (code 1), backoff 100 ms.
  r = fx.exit(310, 0);
  CHECK(fx.s.state == State::Backoff);
  CHECK(r.next == Next::Restart);
  CHECK(r.delay == 100);
  CHECK(fx.s.failures == 1);
  CHECK(run_code(fx.s) == 1);
  // Second run, same again: max_restarts (1) is used up, failed for good.
  fx.post(Event::Deadline, 410);
  r = fx.post(Event::Started, 410);
  CHECK(fx.s.state == State::Starting);
  CHECK_FALSE(fx.s.probe_failed);  // a new run starts clean
  fx.post(Event::Deadline, 710);
  r = fx.exit(720);
  CHECK(fx.s.state == State::Failed);
  CHECK(r.next == Next::LimitHit);
  CHECK(((r.actions & kActEndForGood) != 0));
  CHECK(run_code(fx.s) == 1);  // the exit code a critical one ends the run with
}

TEST_CASE("readiness: a long run that never became ready does not reset the backoff") {
  ProbeFixture fx;
  fx.spec.ready_timeout = 60000;
  fx.start(0);
  fx.post(Event::Deadline, 60000);
  fx.exit(60010);
  CHECK(fx.s.failures == 1);
  fx.post(Event::Deadline, 60110);
  fx.post(Event::Started, 60110);
  fx.post(Event::Deadline, 120110);
  Step r = fx.exit(120120);
  CHECK(fx.s.failures == 2);
  CHECK(r.delay == 200);
}

TEST_CASE("readiness: restart = never, a stop while starting, an exit before ready") {
  ProbeFixture fx;
  fx.spec.restart = RestartPolicy::Never;
  fx.start(0);
  fx.post(Event::Deadline, 300);
  Step r = fx.exit(310);
  CHECK(fx.s.state == State::Failed);
  CHECK(r.next == Next::FailedForGood);

  ProbeFixture stop;
  stop.start(0);
  r = stop.post(Event::Stop, 100, 0, false, true);
  CHECK(stop.s.state == State::Stopping);
  CHECK_FALSE(stop.s.probe_failed);
  stop.exit(150, 0);
  CHECK(stop.s.state == State::Stopped);

  ProbeFixture crash;
  crash.start(0);
  r = crash.exit(50, 3);
  CHECK(crash.s.state == State::Backoff);
  CHECK(crash.s.last_code == 3);
  CHECK(run_code(crash.s) == 3);

  // The main command's deadline while starting is still its -t.
  Fixture m;
  m.spec.is_main = true;
  m.s.state = State::Starting;
  r = m.post(Event::Deadline);
  CHECK(((r.actions & kActKillGroup) != 0));
  CHECK(m.s.state == State::Starting);
}

TEST_CASE("health: retries in a row, the start period, on_unhealthy restart") {
  Fixture fx;
  fx.spec.health.kind = ProbeSpec::Http;
  fx.spec.health_retries = 3;
  fx.spec.health_start_period = 5000;
  fx.spec.restart_delay = 100;
  fx.s.state = State::Waiting;
  fx.post(Event::DepsReady, 0);
  fx.post(Event::Started, 0);
  for (int k = 0; k < 10; k++) {
    Step r = fx.post(Event::HealthFailed, 100 + k * 100);  // inside the start period
    CHECK(r.valid);
    CHECK(fx.s.state == State::Ready);
  }
  CHECK(fx.s.health_fails == 0);
  fx.post(Event::HealthFailed, 6000);
  fx.post(Event::HealthFailed, 7000);
  fx.post(Event::HealthOk, 8000);  // in a row, or not at all
  CHECK(fx.s.health_fails == 0);
  fx.post(Event::HealthFailed, 9000);
  fx.post(Event::HealthFailed, 10000);
  CHECK(fx.s.state == State::Ready);
  Step r = fx.post(Event::HealthFailed, 11000);
  CHECK(fx.s.state == State::Stopping);
  CHECK(r.next == Next::Unhealthy);
  CHECK(fx.s.health_fails == 3);
  CHECK(((r.actions & kActSignalStop) != 0));
  fx.s.last_code = 0;
  r = fx.post(Event::Exited, 11100, 0);
  CHECK(fx.s.state == State::Backoff);
  CHECK(fx.s.failures == 1);
  // The next run starts with a clean count.
  fx.post(Event::Deadline, 11200);
  fx.post(Event::Started, 11200);
  CHECK(fx.s.health_fails == 0);
}

TEST_CASE("health: on_unhealthy stop ends it for good; ignore only reports, and recovers") {
  Fixture stop;
  stop.spec.health.kind = ProbeSpec::File;
  stop.spec.health_retries = 1;
  stop.spec.on_unhealthy = OnUnhealthy::Stop;
  stop.running();
  Step r = stop.post(Event::HealthFailed, 2000);
  CHECK(stop.s.state == State::Stopping);
  CHECK(r.next == Next::Unhealthy);
  stop.s.last_code = 0;
  r = stop.post(Event::Exited, 2100, 0);
  CHECK(stop.s.state == State::Failed);
  CHECK(r.next == Next::FailedForGood);
  CHECK(((r.actions & kActEndForGood) != 0));
  CHECK(run_code(stop.s) == 1);

  Fixture ign;
  ign.spec.health.kind = ProbeSpec::File;
  ign.spec.health_retries = 2;
  ign.spec.on_unhealthy = OnUnhealthy::Ignore;
  ign.running();
  ign.post(Event::HealthFailed, 2000);
  r = ign.post(Event::HealthFailed, 3000);
  CHECK(ign.s.state == State::Unhealthy);
  CHECK(r.next == Next::Unhealthy);
  CHECK(r.actions == 0);
  r = ign.post(Event::HealthFailed, 4000);  // reported once, not per check
  CHECK(r.next == Next::None);
  CHECK(ign.s.state == State::Unhealthy);
  r = ign.post(Event::HealthOk, 5000);
  CHECK(ign.s.state == State::Ready);
  CHECK(r.next == Next::Healthy);
  CHECK(ign.s.health_fails == 0);
  // Unhealthy is still up: a stop stops it, its exit is not a failure then.
  ign.post(Event::HealthFailed, 6000);
  ign.post(Event::HealthFailed, 7000);
  r = ign.post(Event::Stop, 8000, 0, false, true);
  CHECK(ign.s.state == State::Stopping);
}

TEST_CASE("watchdog: late is unhealthy at once; only while ready") {
  Fixture fx;
  fx.spec.watchdog = 500;
  fx.running();
  Step r = fx.post(Event::WatchdogLate, 2000);
  CHECK(fx.s.state == State::Stopping);
  CHECK(r.next == Next::Unhealthy);
  CHECK(fx.s.probe_failed);

  Fixture ign;
  ign.spec.watchdog = 500;
  ign.spec.on_unhealthy = OnUnhealthy::Ignore;
  ign.running();
  ign.post(Event::WatchdogLate, 2000);
  CHECK(ign.s.state == State::Unhealthy);
  r = ign.post(Event::WatchdogLate, 3000);
  CHECK(r.next == Next::None);
  CHECK(ign.s.state == State::Unhealthy);

  ProbeFixture starting;
  starting.start();
  CHECK_FALSE(starting.post(Event::WatchdogLate).valid);
  CHECK_FALSE(starting.post(Event::HealthOk).valid);
  CHECK_FALSE(starting.post(Event::HealthFailed).valid);
}
