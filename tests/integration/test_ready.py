"""Readiness probes, health checks and sd_notify (issue 12), oxinit as PID 1.

Services are tests/integration/helpers/readysvc.py; each writes "<event>
<CLOCK_MONOTONIC seconds>" lines to an events file, so the tests can order
what happened (python's time.monotonic() is the same clock here and there).
"""
import os
import re
import shutil
import signal
import socket
import time

from harness import test, wait_until
from lib import PY, Init, helper, read, tmpdir, write_config

SVC = helper("readysvc.py")
READY_INTERVAL = 0.1  # oxinit's readiness probe interval (docs: ready)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def events(path):
    out = []
    for line in read(path).splitlines():
        what, _, t = line.rpartition(" ")
        out.append((what, float(t)))
    return out


def when(path, what):
    """Monotonic time of the first `what` event in path, or None."""
    for w, t in events(path):
        if w == what:
            return t
    return None


def count(path, what):
    return sum(1 for w, _ in events(path) if w == what)


def marker(d, name, what="started", then="time.sleep(60)"):
    """A python service that logs `what` to d/events when it starts."""
    return (f'[service.{name}]\ncommand = ["{PY}", "-c", "import time; '
            f"open('{d}/events', 'a').write('{name}-{what} %f\\\\n' % time.monotonic()); {then}\"]\n")


def svc(name, *args, extra="", script=SVC):
    argv = ", ".join(f'"{a}"' for a in [PY, script, *map(str, args)])
    return f"[service.{name}]\ncommand = [{argv}]\n{extra}\n"


def stop(i, timeout=20):
    i.kill(signal.SIGTERM)
    return i.wait(timeout)


def dep_waits_for(d, services, after, what, before=None):
    """`services` (TOML) and `dep`, a service after them: runs oxinit (-v)
    until dep has started (calling before(init) first, while dep must still
    wait), stops it; returns the Init, its output in .out and .err."""
    ev = f"{d}/events"
    cfg = write_config(d, services + marker(d, "dep") + f"after = {after!r}\n".replace("'", '"'))
    with Init(["-v", "-c", cfg]) as i:
        if before:
            before(i)
        wait_until(lambda: when(ev, "dep-started"), 20, what=f"dep after {what}")
        assert stop(i) == 0
    return i


@test
def tcp_port_opening_late_starts_dependents_only_after():
    d = tmpdir()
    ev = f"{d}/events"
    port = free_port()
    cfg = write_config(d, svc("srv", "listen", port, "--delay", "1", "--log", ev,
                              extra=f'ready = "tcp://127.0.0.1:{port}"') + marker(d, "dep") +
                       'after = ["srv"]\n')
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: when(ev, "dep-started"), 20, what="dep to start")
        listening, dep = when(ev, "listening"), when(ev, "dep-started")
        assert listening is not None and dep > listening, events(ev)
        # One readiness interval plus python's start-up (make bench measures
        # the gap itself); the bound only catches a probe that stopped retrying.
        assert dep - listening < READY_INTERVAL + 3, f"dep started {dep - listening:.3f}s after the port opened"
        assert stop(i) == 0
    assert re.search(r"service srv: ready \(connected\)", i.out), i.out
    print(f"   port open -> dependent running: {(dep - listening) * 1000:.0f} ms")


@test
def localhost_and_ipv6_tcp_probes():
    d = tmpdir()
    ev = f"{d}/events"
    port = free_port()
    i = dep_waits_for(d, svc("srv", "listen", port, "--log", ev, extra=f'ready = "tcp://localhost:{port}"'),
                      ["srv"], "a localhost probe")
    assert "service srv: ready (connected)" in i.out, i.out


@test
def http_503_then_200():
    d = tmpdir()
    ev = f"{d}/events"
    port = free_port()
    codes = f"{d}/code"
    with open(codes, "w") as f:
        f.write("503")
    cfg = write_config(d, svc("web", "http", port, "--codes-file", codes, "--log", ev,
                              extra=f'ready = "http://127.0.0.1:{port}/healthz"') +
                       marker(d, "dep") + 'after = ["web"]\n')
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: count(ev, "request-503") >= 3, 20, what="three 503 answers")
        assert when(ev, "dep-started") is None, "dep started while web answered 503"
        with open(codes, "w") as f:
            f.write("200")
        wait_until(lambda: when(ev, "dep-started"), 20, what="dep after the 200")
        assert when(ev, "dep-started") > when(ev, "request-200")
        assert stop(i) == 0
    assert "service web: ready (HTTP 200)" in i.out, i.out


@test
def exec_probe_runs_as_the_service_user_with_its_env_and_workdir():
    d = tmpdir()
    os.chmod(d, 0o755)
    ev = f"{d}/events"
    script = 'test \\"$(id -u)\\" = 65534 && test \\"$PROBE_VAR\\" = yes && test -e ./go'
    cfg = write_config(d, f"""
[service.srv]
command = ["sleep", "60"]
user = "nobody"
workdir = "{d}"
env = {{ PROBE_VAR = "yes" }}
ready = "exec:{script}"
""" + marker(d, "dep") + 'after = ["srv"]\n')
    with Init(["-v", "-c", cfg]) as i:
        time.sleep(0.8)
        assert when(ev, "dep-started") is None, "dep started before ./go existed"
        open(f"{d}/go", "w").close()
        wait_until(lambda: when(ev, "dep-started"), 20, what="dep after the exec probe passed")
        assert stop(i) == 0
    assert "service srv: ready (exit 0)" in i.out, i.out


@test
def file_probe():
    d = tmpdir()
    i = dep_waits_for(d, f"""
[service.srv]
command = ["sh", "-c", "sleep 0.5; touch {d}/flag; exec sleep 60"]
ready = "file:{d}/flag"
""", ["srv"], "the file appeared")
    assert f"service srv: ready ({d}/flag exists)" in i.out, i.out


@test
def notify_ready_from_the_service_its_child_and_another_user():
    d = tmpdir()
    os.chmod(d, 0o777)
    ev = f"{d}/events"
    # nobody may not be able to read the checkout (CI clones into a 0700
    # directory): b runs a copy of the helper from d.
    script = shutil.copy(SVC, d)
    os.chmod(script, 0o755)
    cfg = write_config(d,
                       svc("a", "notify", "--delay", "0.5", "--log", ev, "--status", "warming up",
                           extra='ready = "notify"') +
                       svc("b", "notify", "--delay", "0.3", "--child", extra='ready = "notify"\nuser = "nobody"',
                           script=script) +
                       marker(d, "dep") + 'after = ["a", "b"]\n' +
                       f'[service.env]\ncommand = ["sh", "-c", "echo \\"$NOTIFY_SOCKET\\" > {d}/env.ns; exec sleep 60"]\n'
                       'ready = "notify"\nready_timeout = "30s"\n')
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: when(ev, "dep-started"), 20, what="dep after both READY=1")
        assert when(ev, "dep-started") > when(ev, "ready-sent")
        ns = read(f"{d}/env.ns").strip()
        assert re.fullmatch(r"@[0-9a-f]{5}", ns), f"NOTIFY_SOCKET={ns!r}"
        assert stop(i) == 0
    assert "service a: ready (READY=1)" in i.out and "service b: ready (READY=1)" in i.out, i.out


@test
def notify_from_a_sender_already_reaped_goes_to_the_one_starting_service_of_its_user():
    """`systemd-notify --ready` in a script exits at once and the shell reaps
    it: by the time oxinit reads the datagram, /proc has no trace of the
    sender. Made certain here by stopping oxinit (SIGSTOP from outside its
    namespace) while the helper sends, exits and is reaped. The datagram
    goes to the one ready = "notify" service still starting under the
    sender's uid; `other` (nobody) is starting too, but is not root."""
    d = tmpdir()
    os.chmod(d, 0o777)
    ev = f"{d}/events"
    sender = os.path.join(d, "sender.py")
    with open(sender, "w") as f:
        f.write(f"""import os, socket, time
open('{d}/waiting', 'w').close()
for _ in range(600):
    if os.path.exists('{d}/go'):
        break
    time.sleep(0.05)
pid = os.fork()
if pid == 0:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b'READY=1', '\\0' + os.environ['NOTIFY_SOCKET'][1:])
    os._exit(0)
os.waitpid(pid, 0)
open('{d}/sent', 'w').close()
time.sleep(60)
""")
    cfg = write_config(d, f'[service.one]\ncommand = ["{PY}", "{sender}"]\nready = "notify"\n'
                       f'[service.other]\ncommand = ["sleep", "60"]\nready = "notify"\nuser = "nobody"\n' +
                       marker(d, "dep") + 'after = ["one"]\n')
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/waiting"), 20, what="the sender to wait")
        i.kill(signal.SIGSTOP)
        try:
            wait_until(lambda: read(f"/proc/{i.pid}/stat").rsplit(")", 1)[1].split()[0] == "T", 10,
                       what="oxinit to be stopped")
            open(f"{d}/go", "w").close()
            wait_until(lambda: os.path.exists(f"{d}/sent"), 20, what="the helper to send, exit and be reaped")
        finally:
            i.kill(signal.SIGCONT)
        wait_until(lambda: when(ev, "dep-started"), 20, what="dep after one's READY=1")
        assert stop(i) == 0
    assert "service one: ready (READY=1)" in i.out, i.out
    assert "service other: ready" not in i.out, i.out


@test
def fd_notification():
    d = tmpdir()
    ev = f"{d}/events"
    i = dep_waits_for(d, svc("srv", "fdready", 3, "--delay", "0.5", "--log", ev, extra='ready = "fd:3"'),
                      ["srv"], "the newline on fd 3")
    assert when(ev, "dep-started") > when(ev, "ready-sent")
    assert "service srv: ready (fd 3)" in i.out, i.out


@test
def ready_timeout_stops_and_restarts_with_backoff():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.slow]
command = ["sh", "-c", "date +%s%N >> {d}/runs; exec sleep 60"]
ready = "file:{d}/never"
ready_timeout = "300ms"
restart_delay = "100ms"
restart_delay_max = "10s"
max_restarts = 3
critical = true
""")
    with Init(["-c", cfg]) as i:
        code = i.wait(30)
    runs = [int(x) / 1e9 for x in read(f"{d}/runs").split()]
    assert len(runs) == 4, (runs, i.err)
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    # 300 ms not ready + 100, 200, 400 ms of backoff (each run's `date`
    # comes a little after its spawn, by a varying few tens of ms).
    for k, g in enumerate(gaps):
        assert g >= 0.3 + 0.1 * 2 ** k - 0.15, gaps
    assert gaps[2] > gaps[0] + 0.15, gaps
    assert "service slow: not ready after 300ms" in i.err, i.err
    assert code == 1, (code, i.err)


@test
def health_failing_restarts_the_service():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.api]
command = ["sh", "-c", "echo run >> {d}/runs; touch {d}/healthy; exec sleep 60"]
health = "exec:test -e {d}/healthy"
health_interval = "200ms"
health_timeout = "1s"
health_retries = 2
restart_delay = "100ms"
""")
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/healthy"), 20, what="first run")
        time.sleep(0.7)  # a few passing checks: no restart
        assert read(f"{d}/runs").count("run") == 1
        os.unlink(f"{d}/healthy")
        wait_until(lambda: read(f"{d}/runs").count("run") >= 2, 20, what="restart after 2 failed checks")
        assert stop(i) == 0
    assert re.search(r"WARN .*service api: unhealthy \(exit 1, 2 checks in a row\); restarting", i.err), i.err


@test
def health_start_period_forgives_early_failures():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.api]
command = ["sh", "-c", "echo run >> {d}/runs; sleep 1; touch {d}/healthy; exec sleep 60"]
health = "file:{d}/healthy"
health_interval = "100ms"
health_retries = 1
health_start_period = "20s"
""")
    # Without the start period the first check (at 100 ms) would have made
    # it unhealthy and restarted it.
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/healthy"), 20, what="the service to become healthy")
        time.sleep(0.5)
        assert read(f"{d}/runs").count("run") == 1, i
        assert stop(i) == 0
    assert "unhealthy" not in i.err + i.out, i.err


@test
def on_unhealthy_stop_and_ignore():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.stopme]
command = ["sh", "-c", "echo run >> {d}/stopme; exec sleep 60"]
health = "file:{d}/stopme.ok"
health_interval = "100ms"
health_retries = 2
on_unhealthy = "stop"

[service.ignoreme]
command = ["sh", "-c", "echo run >> {d}/ignoreme; exec sleep 60"]
health = "file:{d}/ignoreme.ok"
health_interval = "100ms"
health_retries = 2
on_unhealthy = "ignore"

[service.keeper]
command = ["sleep", "60"]
""")
    with Init(["-v", "-c", cfg]) as i:
        time.sleep(1.5)
        assert read(f"{d}/stopme").count("run") == 1
        assert read(f"{d}/ignoreme").count("run") == 1
        open(f"{d}/ignoreme.ok", "w").close()
        time.sleep(0.5)
        assert stop(i) == 0
    assert re.search(r"service stopme: unhealthy \(no such file or directory, 2 checks in a row\); "
                     r"stopping for good", i.err), i.err
    assert re.search(r"service ignoreme: unhealthy \(.*\); ignored", i.err), i.err
    assert "service ignoreme: healthy again" in i.out, i.out


@test
def on_unhealthy_stop_of_a_critical_service_ends_the_run_with_1():
    d = tmpdir()
    cfg = write_config(d, """
[service.crit]
command = ["sleep", "60"]
health = "file:/nonexistent/oxinit-health"
health_interval = "100ms"
health_retries = 1
on_unhealthy = "stop"
critical = true

[service.other]
command = ["sleep", "60"]
""")
    with Init(["-c", cfg]) as i:
        code = i.wait(20)
    assert code == 1, (code, i.err)
    assert "service crit: unhealthy" in i.err, i.err


@test
def watchdog_silence_is_unhealthy():
    d = tmpdir()
    ev = f"{d}/events"
    cfg = write_config(d, svc("dog", "notify", "--watchdog", "5", "--log", ev,
                              extra='ready = "notify"\nwatchdog = "1s"\nrestart_delay = "100ms"'))
    with Init(["-v", "-c", cfg]) as i:
        wait_until(lambda: count(ev, "ready-sent") >= 2, 20, what="a restart after the pings stopped")
        stopped = when(ev, "watchdog-stopped")
        restarted = [t for w, t in events(ev) if w == "ready-sent"][1]
        # Not before the watchdog ran out (the last ping + 1 s).
        assert restarted - stopped >= 1 - 0.15, (stopped, restarted)
        assert stop(i) == 0
    assert "service dog: unhealthy (no WATCHDOG=1 within 1s); restarting" in i.err, i.err


def upstream_socket(d, abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"@oxinit-test-{os.getpid()}-{time.monotonic_ns()}"
        s.bind("\0" + name[1:])
    else:
        name = f"{d}/notify.sock"
        s.bind(name)
    s.settimeout(0)
    return s, name


def received(s):
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except BlockingIOError:
            return out


@test
def own_ready_upwards_and_services_never_see_oxinits_notify_socket():
    for abstract in (False, True):
        d = tmpdir()
        ev = f"{d}/events"
        up, name = upstream_socket(d, abstract)
        cfg = write_config(d, svc("a", "notify", "--delay", "0.5", "--log", ev, extra='ready = "notify"') +
                           f'[service.plain]\ncommand = ["sh", "-c", "echo \\"${{NOTIFY_SOCKET-unset}}\\" > '
                           f'{d}/plain.ns; exec sleep 60"]\n')
        main = f"echo \"${{NOTIFY_SOCKET-unset}}\" > {d}/main.ns; sleep 60"
        with Init(["-c", cfg, "--", "sh", "-c", main], env={"NOTIFY_SOCKET": name}) as i:
            got = wait_until(lambda: received(up), 20, what="READY=1 upwards")
            assert got == ["READY=1"], got
            assert when(ev, "ready-sent") is not None, "READY=1 before service a was ready"
            assert read(f"{d}/plain.ns").strip() == "unset", read(f"{d}/plain.ns")
            wait_until(lambda: read(f"{d}/main.ns").strip(), 10, what="main command env")
            assert read(f"{d}/main.ns").strip() == "unset", read(f"{d}/main.ns")
            i.kill(signal.SIGTERM)
            i.wait(20)
        assert received(up) == ["STOPPING=1"], (abstract, i.err)
        up.close()


@test
def exec_mode_passes_notify_socket_through_and_sends_nothing():
    d = tmpdir()
    up, name = upstream_socket(d, False)
    with Init(["--", "sh", "-c", f'echo "$NOTIFY_SOCKET" > {d}/ns'], env={"NOTIFY_SOCKET": name}) as i:
        assert i.wait(20) == 0
    assert read(f"{d}/ns").strip() == name
    assert received(up) == []
    up.close()


def full_backlog_listener():
    """A port whose SYNs are dropped: a listener with backlog 0 whose one
    queue slot is taken (the kernel drops SYNs to a full accept queue)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    filler = socket.create_connection(srv.getsockname(), timeout=5)
    return srv, filler, srv.getsockname()[1]


@test
def probes_to_a_port_that_never_answers_end_at_their_timeout():
    d = tmpdir()
    srv, filler, port = full_backlog_listener()
    cfg = write_config(d, f"""
[service.never]
command = ["sleep", "60"]
ready = "tcp://127.0.0.1:{port}"
health_timeout = "400ms"
ready_timeout = "1s"
restart = "never"

[service.health]
command = ["sleep", "60"]
health = "http://127.0.0.1:{port}/"
health_interval = "200ms"
health_timeout = "300ms"
health_retries = 1
on_unhealthy = "ignore"
""")
    t0 = time.monotonic()
    with Init(["-c", cfg]) as i:
        time.sleep(1.8)
        took = time.monotonic() - t0
        assert stop(i) == 0
    assert "service never: not ready after 1s (timed out after 400ms)" in i.err, i.err
    assert "service health: unhealthy (timed out after 300ms, 1 check in a row); ignored" in i.err, i.err
    assert took < 5
    srv.close()
    filler.close()


@test
def a_dependency_that_never_became_ready_fails_its_dependents():
    """Not ready in time and not restarted (restart = "never"): what comes
    after it is failed, never started. A critical dependent ends the run
    with 1; a oneshot dependent aborts the start-up (as a failed oneshot
    does), with 1 too."""
    d = tmpdir()
    db = f"""
[service.db]
command = ["sleep", "60"]
ready = "file:{d}/never"
ready_timeout = "300ms"
restart = "never"
"""
    for dependent in (f"""
[service.app]
command = ["touch", "{d}/started"]
after = ["db"]
critical = true
""", f"""
[service.migrate]
type = "oneshot"
command = ["touch", "{d}/started"]
after = ["db"]
"""):
        name = "app" if "app" in dependent else "migrate"
        cfg = write_config(d, db + dependent + '[service.other]\ncommand = ["sleep", "60"]\n')
        with Init(["-c", cfg]) as i:
            code = i.wait(20)
        assert code == 1, (code, i.err)
        assert "service db: not ready after 300ms (no such file or directory); stopping" in i.err, i.err
        assert f"service {name}: not started: dependency db failed" in i.err, i.err
        assert not os.path.exists(f"{d}/started")


@test
def the_main_command_waits_for_ready_and_fails_with_its_dependency():
    d = tmpdir()
    ev = f"{d}/events"
    cfg = write_config(d, svc("a", "notify", "--delay", "0.5", "--log", ev, extra='ready = "notify"'))
    main = f"{PY} -c \"import time; open('{d}/events', 'a').write('main-started %f\\n' % time.monotonic())\""
    with Init(["-c", cfg, "--", "sh", "-c", main]) as i:
        assert i.wait(20) == 0, i.err
    assert when(ev, "main-started") > when(ev, "ready-sent"), events(ev)

    cfg = write_config(d, """
[service.db]
command = ["sleep", "60"]
ready = "file:/nonexistent/oxinit-ready"
ready_timeout = "300ms"
restart = "never"
""", name="fail.toml")
    with Init(["-c", cfg, "--", "touch", f"{d}/main-ran"]) as i:
        code = i.wait(20)
    assert code == 1, (code, i.err)
    assert "main command: not started: dependency db failed" in i.err, i.err
    assert not os.path.exists(f"{d}/main-ran")
