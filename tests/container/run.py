#!/usr/bin/env python3
"""oxinit in a real container engine: podman + runc, images FROM scratch.

Run: python3 tests/container/run.py [-k NAME]   (as root; `make test` runs it)
The init under test is $OXINIT (default build/oxinit). Every image is built
here from build/oxinit and Debian's busybox-static; nothing is pulled. Images
and containers live in a private podman store that is removed at the end
(see engine.py). If the engine cannot run, every test fails and says why.
"""
import atexit
import errno
import os
import pty
import re
import select
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import test, main, OXINIT, wait_until  # noqa: E402
from engine import BUSYBOX, Engine, EngineError  # noqa: E402

_engine = None
_engine_error = None

# The engine's stop timeout in the stop tests: long, so that when oxinit is the
# one that kills, the difference is unmistakable even on a slow, noisy machine.
ENGINE_STOP = 30
ENGINE_KILLED = "resorting to SIGKILL"  # podman's warning when its timeout fired


def eng():
    """The suite's engine, made once; a failure to make it fails every test."""
    global _engine, _engine_error
    if _engine is None and _engine_error is None:
        try:
            _engine = Engine(OXINIT)
            atexit.register(_engine.close)
        except EngineError as e:
            _engine_error = str(e)
    if _engine_error:
        raise AssertionError("container engine unusable: " + _engine_error)
    return _engine


def sh(script):
    return ["sh", "-c", script]


def stop(e, name, timeout=ENGINE_STOP):
    """podman stop -t timeout; returns (seconds it took, podman's stderr)."""
    t0 = time.monotonic()
    r = e.podman("stop", "-t", timeout, name, timeout=timeout + 30)
    return time.monotonic() - t0, r.stderr


# --- exec mode: ENTRYPOINT ["/sbin/oxinit", "--"] -----------------------------

@test
def run_exit_codes_pass_through():
    e = eng()
    img = e.image("oxinit")
    for code in (0, 3, 255):
        r = e.run(img, *sh(f"exit {code}"))
        assert r.returncode == code, f"exit {code} gave {r.returncode}: {r.stderr}"


@test
def run_signal_death_is_128_plus_n():
    e = eng()
    img = e.image("oxinit")
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGKILL):
        r = e.run(img, *sh(f"kill -{sig.value} $$; sleep 5"))
        assert r.returncode == 128 + sig.value, \
            f"{sig.name}: rc {r.returncode}, want {128 + sig.value}: {r.stderr}"


@test
def run_oxinit_is_pid1():
    e = eng()
    r = e.run(e.image("oxinit"), *sh("cat /proc/1/cmdline; echo; echo self=$$ ppid=$PPID"))
    assert r.returncode == 0, r.stderr
    argv = r.stdout.split("\n")[0].split("\0")
    assert argv[:3] == ["/sbin/oxinit", "--", "sh"], argv
    # The command is oxinit's child, not PID 1 itself.
    assert "ppid=1" in r.stdout and "self=1 " not in r.stdout, r.stdout


@test
def stop_cooperative_command_exits_at_once():
    e = eng()
    n = e.start("stopcoop", e.image("oxinit"),
                *sh('trap "echo got-TERM; exit 7" TERM; echo ready; '
                    'while :; do sleep 0.1; done'))
    e.wait_log(n, "ready")
    took, err = stop(e, n)
    assert e.exit_code(n) == 7, e.logs(n)
    assert "got-TERM" in e.logs(n)
    assert ENGINE_KILLED not in err, err
    assert took < ENGINE_STOP / 2, f"stop took {took:.1f}s"
    print(f"   podman stop of a cooperative command: {took:.2f}s, exit 7")


@test
def stop_kill_timeout_beats_engine():
    """oxinit -t 2: the TERM-ignoring command is SIGKILLed by oxinit at ~2 s,
    long before podman's 30 s timeout; the container exits 128+9."""
    e = eng()
    n = e.start("stopkill", e.image("oxinit"),
                *sh('trap "" TERM; echo ready; while :; do sleep 0.1; done'),
                opts=["--entrypoint", '["/sbin/oxinit", "-t", "2", "--"]'])
    e.wait_log(n, "ready")
    took, err = stop(e, n)
    code = e.exit_code(n)
    assert code == 137, f"exit {code}, want 137 (oxinit's SIGKILL):\n{e.logs(n)}"
    assert ENGINE_KILLED not in err, f"podman had to kill it: {err}"
    # Killed after oxinit's timeout (not before), well before the engine's.
    assert 1.5 <= took < ENGINE_STOP / 2, f"stop took {took:.1f}s"
    print(f"   -t 2, engine -t {ENGINE_STOP}: container gone after {took:.2f}s, exit {code}")


@test
def stop_engine_timeout_when_no_kill_timeout():
    """Without -t (tini compatibility) oxinit never SIGKILLs: the engine does,
    at its own timeout. The control for the test above."""
    e = eng()
    n = e.start("stopeng", e.image("oxinit"),
                *sh('trap "" TERM; echo ready; while :; do sleep 0.1; done'))
    e.wait_log(n, "ready")
    took, err = stop(e, n, timeout=3)
    assert e.exit_code(n) == 137
    assert ENGINE_KILLED in err, err
    assert took >= 2.5, f"stop took {took:.1f}s"


@test
def kill_hup_and_usr1_reach_command():
    e = eng()
    n = e.start("sigs", e.image("oxinit"),
                *sh('trap "echo got-HUP" HUP; trap "echo got-USR1" USR1; '
                    'trap "exit 0" TERM; echo ready; while :; do sleep 0.1; done'))
    e.wait_log(n, "ready")
    for sig in ("HUP", "USR1", "HUP"):
        before = e.logs(n).count(f"got-{sig}")
        e.podman("kill", "-s", sig, n)
        wait_until(lambda: e.logs(n).count(f"got-{sig}") > before, timeout=15,
                   what=f"{sig} to reach the command")
        assert e.state(n)["Status"] == "running", f"container ended after {sig}"
    stop(e, n)
    assert e.exit_code(n) == 0


@test
def zombies_are_reaped():
    """Orphans made inside are re-parented to oxinit (PID 1) and reaped:
    no process in state Z is left in /proc."""
    e = eng()
    script = r'''
i=0; while [ $i -lt 30 ]; do (sleep 0.3 >/dev/null &); i=$((i+1)); done
orphan=$(sh -c 'sleep 1.5 >/dev/null & echo $!')
sleep 0.5
read -r p c s ppid rest < /proc/$orphan/stat; echo orphan-ppid=$ppid
sleep 2
z=0; for f in /proc/[0-9]*/stat; do
  read -r p c s rest < $f 2>/dev/null && [ "$s" = Z ] && z=$((z+1))
done
echo zombies=$z
'''
    r = e.run(e.image("oxinit"), *sh(script))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "orphan-ppid=1" in r.stdout, r.stdout
    assert "zombies=0" in r.stdout, r.stdout


# --- an interactive run through a pseudo terminal ----------------------------

class Tty:
    """A podman client on the slave side of a pty we drive from the master."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child: the pty is its stdio and controlling terminal
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.buf = b""
        self.status = None

    def send(self, data):
        os.write(self.fd, data.encode())

    def expect(self, pattern, timeout=20):
        """Read until regex `pattern` matches the output after the last match."""
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal; got {self.buf[-2000:]!r}")
            if not self._read(min(left, 0.5)):
                if self.poll() is not None:
                    raise AssertionError(f"podman ended ({self.status}) before {pattern!r}; "
                                         f"got {self.buf[-2000:]!r}")

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError as ex:  # EIO: the slave side has closed
            if ex.errno != errno.EIO:
                raise
            return False
        self.buf += data
        return bool(data)

    def poll(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def wait(self, timeout=20):
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        return self.status

    def close(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@test
def interactive_tty_shell_and_ctrl_c():
    e = eng()
    img = e.image("oxinit")
    n = e.name("tty")
    t = Tty(e.cmd("run", "-it", "--rm", "--network", "none", "--name", n, img, "sh"), e.env)
    try:
        t.expect(r"# $|# ", timeout=30)              # busybox sh's root prompt
        t.send("echo hi-$((6*7)) tty=$(tty)\r")
        t.expect(r"hi-42 tty=/dev/pts/")
        # A foreground program with a SIGINT trap: Ctrl-C must reach it (and its
        # process group), not oxinit, and the shell and container must go on.
        t.send("sh -c 'trap \"echo got-INT; exit 9\" INT; echo armed; "
               "while :; do sleep 0.1; done'\r")
        t.expect(r"armed")
        time.sleep(0.3)
        t.send("\x03")
        t.expect(r"got-INT")
        t.send("echo rc-$?\r")
        t.expect(r"rc-9")
        # Ctrl-C at the prompt: only the line is cancelled.
        t.send("\x03")
        t.send("echo still-$((1+1))\r")
        t.expect(r"still-2")
        t.send("exit 5\r")
        assert t.wait(30) == 5, f"podman run -it ended with {t.status}, want 5"
    finally:
        t.close()
        e.rm(n)


# --- the engine's own init slot: --init --init-path --------------------------

@test
def init_path_with_plain_image():
    """An ordinary image (busybox, no oxinit inside): podman bind-mounts
    --init-path at /run/podman-init and runs it as PID 1 with `--`."""
    e = eng()
    img = e.image("plain")
    opts = ["--init", "--init-path", e.oxinit]
    r = e.run(img, *sh("cat /proc/1/cmdline; echo; /run/podman-init --version; exit 3"),
              opts=opts)
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].split("\0")[:2] == ["/run/podman-init", "--"], lines[0]
    import subprocess
    want = subprocess.run([e.oxinit, "--version"], capture_output=True, text=True,
                          timeout=10).stdout.split("\n")[0]
    assert lines[1] == want, f"{lines[1]!r} != {want!r}"
    assert want.startswith("tini version "), want   # what Docker's probe parses
    # signal death and stop through the init slot
    r = e.run(img, *sh("kill -TERM $$; sleep 5"), opts=opts)
    assert r.returncode == 143, r.stderr
    n = e.start("initstop", img, *sh('trap "exit 4" TERM; echo ready; '
                                     'while :; do sleep 0.1; done'), opts=opts)
    e.wait_log(n, "ready")
    took, err = stop(e, n)
    assert e.exit_code(n) == 4 and ENGINE_KILLED not in err, (took, err)


@test
def shared_pid_namespace_not_pid1():
    """Like Kubernetes' shareProcessNamespace: oxinit joins a PID namespace
    whose PID 1 is another container's process. It is not PID 1, registers as
    a subreaper by itself (orphans re-parent to it, not to PID 1, and are
    reaped), and its stop leaves the other container's processes alone."""
    e = eng()
    pause = e.start("pause", e.image("plain"), *sh('trap "exit 0" TERM; echo ready; '
                                                  'while :; do sleep 0.1; done'))
    e.wait_log(pause, "ready")
    script = r"""
me=$PPID; echo oxinit-pid=$me
read -r p c s ppid rest < /proc/1/stat; echo pid1-comm=$c
i=0; while [ $i -lt 20 ]; do (sleep 0.2 >/dev/null &); i=$((i+1)); done
orphan=$(sh -c 'sleep 1.5 >/dev/null & echo $!')
sleep 0.5
read -r p c s ppid rest < /proc/$orphan/stat; echo orphan-ppid=$ppid
sleep 2
z=0; for f in /proc/[0-9]*/stat; do
  read -r p c s rest < $f 2>/dev/null && [ "$s" = Z ] && z=$((z+1))
done
echo zombies=$z
exit 5
"""
    r = e.run(e.image("oxinit"), *sh(script), opts=["--pid", f"container:{pause}"])
    out = r.stdout + r.stderr
    assert r.returncode == 5, out
    m = re.search(r"oxinit-pid=(\d+)", out)
    assert m and m.group(1) != "1", f"oxinit is PID 1?\n{out}"
    assert "pid1-comm=(sh)" in out, out          # the other container's process
    assert f"orphan-ppid={m.group(1)}" in out, f"orphan not re-parented to oxinit:\n{out}"
    assert "zombies=0" in out, out
    assert e.state(pause)["Status"] == "running", "oxinit's exit killed the other container"
    stop(e, pause)


# --- service mode and the multi-service example (docker/example) -------------

def order_of(out, *needles):
    """Positions of each needle in out; fails naming the first one missing."""
    pos = []
    for nd in needles:
        i = out.find(nd)
        assert i >= 0, f"{nd!r} not in the output:\n{out}"
        pos.append(i)
    return pos


def config_file(e, name, text):
    path = os.path.join(e.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@test
def service_stop_timeout_beats_engine():
    """A service that ignores SIGTERM (and its grandchild) is SIGKILLed as a
    group by oxinit at its stop_timeout (2 s), before the engine's 30 s."""
    e = eng()
    conf = config_file(e, "stubborn.toml", """
[service.stubborn]
command = ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo ready; while :; do sleep 0.1; done"]
stop_timeout = "2s"
""")
    n = e.start("svcstop", e.image("oxinit"),
                opts=["-v", f"{conf}:/etc/oxinit.toml:ro", "--entrypoint", '["/sbin/oxinit"]'])
    e.wait_log(n, "stubborn | ready")
    took, err = stop(e, n)
    code = e.exit_code(n)
    out = e.logs(n)
    assert ENGINE_KILLED not in err, f"podman had to kill it: {err}\n{out}"
    assert 1.5 <= took < ENGINE_STOP / 2, f"stop took {took:.1f}s\n{out}"
    assert "SIGKILL" in out, f"oxinit did not say it sent SIGKILL:\n{out}"
    # The rule (issue 3): no main command, no critical service -> 0 once
    # everything was stopped as asked.
    assert code == 0, f"exit {code}:\n{out}"
    print(f"   stop_timeout 2s, engine -t {ENGINE_STOP}: gone after {took:.2f}s, exit {code}")


@test
def example_check_prints_start_order():
    e = eng()
    r = e.run(e.image("example"), opts=["--entrypoint", '["/sbin/oxinit", "--check"]'])
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    pos = [m.start() for m in (re.search(rf"\b{s}\b", out) for s in
                                ("setup", "web", "worker", "app")) if m]
    assert len(pos) == 4 and pos == sorted(pos), f"start order not setup, web, worker, app:\n{out}"


@test
def example_starts_in_order_with_prefixes():
    e = eng()
    n = e.start("exstart", e.image("example"))
    try:
        out = e.wait_log(n, "app | web says: hello from oxinit", timeout=30)
        out = e.wait_log(n, "worker | job 1: working")
        setup, web, worker, app = order_of(out, "setup | wrote /srv/www/index.html",
                                           "web | listening on 127.0.0.1:8080",
                                           "worker | job 1: working", "app | web says:")
        # The oneshot finished before anything that comes after it started.
        assert setup < min(web, worker, app), out
        # httpd's request log (its stderr) is prefixed too.
        assert re.search(r"^web \| 127\.0\.0\.1:\d+: response:200", out, re.M), out
        # Every line of service output carries a prefix: nothing bare but oxinit's own.
        for ln in out.splitlines():
            assert re.match(r"^(setup|web|worker|app) \| |^\[\w+\s+oxinit", ln), f"bare line {ln!r}"
    finally:
        e.rm(n)


@test
def example_stop_in_reverse_order():
    e = eng()
    n = e.start("exstop", e.image("example"))
    e.wait_log(n, "app | web says: hello", timeout=30)
    e.wait_log(n, "worker | job 1: working")
    took, err = stop(e, n)
    out = e.logs(n)
    assert ENGINE_KILLED not in err, err + out
    assert e.exit_code(n) == 0, out
    # app stops first, the worker finishes its job, and only then the web server.
    pos = order_of(out, "app | stopping", "worker | TERM received",
                   "worker | job ", "web | stopping")
    bye = out.find("done, bye")
    assert bye > 0, out
    assert pos[0] < pos[1] < bye < pos[3], f"not stopped in reverse order:\n{out}"
    # Within the stop_timeouts (2 + 5 + 3 s), without oxinit having to SIGKILL.
    assert took < 10, f"stop took {took:.1f}s:\n{out}"
    assert "SIGKILL" not in out, out
    print(f"   example stopped in reverse order in {took:.2f}s")


@test
def example_critical_exit_ends_container():
    e = eng()
    n = e.start("excrit", e.image("example"))
    e.wait_log(n, "app | web says: hello", timeout=30)
    e.podman("exec", n, "sh", "-c", "echo 3 > /tmp/app.fail")
    code = e.wait_exit(n, timeout=30)
    out = e.logs(n)
    assert code == 3, f"exit {code}, want the critical app's 3:\n{out}"
    fatal, bye, web = order_of(out, "app | fatal error, exiting with 3", "done, bye",
                               "web | stopping")
    assert fatal < bye < web, f"the others were not stopped in order:\n{out}"


@test
def example_build_script_builds_image():
    """docker/example/build.sh (what a user runs) builds a working image; the
    engine is a wrapper that points podman at the suite's private store."""
    import shlex
    import subprocess
    e = eng()
    wrapper = os.path.join(e.dir, "podman-private")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(map(shlex.quote, e.base)) + ' "$@"\n')
    os.chmod(wrapper, 0o755)
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "docker", "example", "build.sh")
    r = subprocess.run([script, wrapper, "example-script-test"], env=dict(e.env, OXINIT=e.oxinit),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    r = e.run("example-script-test", opts=["--entrypoint", '["/sbin/oxinit", "--check"]'])
    assert r.returncode == 0 and "worker" in r.stdout + r.stderr, r.stdout + r.stderr


@test
def dockerfile_final_stage_builds_and_runs():
    """docker/Dockerfile's build stage needs a Debian image (no pulls here), so
    build its final stage with a local stand-in for the build stage that holds
    build/oxinit where `make` would have put it."""
    e = eng()
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "docker", "Dockerfile")) as f:
        text = f.read()
    stages = re.split(r"(?m)^(?=FROM )", text)
    # (tests/dist/test_docker.py builds the whole file, toolchain stage and all.)
    build = [st for st in stages if re.match(r"FROM (--platform=\S+ )?\S+ AS build\b", st)]
    assert build and "make" in build[0] and "/out/sbin/oxinit" in build[0], stages
    final = stages[-1]
    assert 'ENTRYPOINT ["/sbin/oxinit", "--"]' in final, final
    cf = ("FROM scratch AS build\nCOPY oxinit /out/sbin/oxinit\n" + final
          + "\nCOPY busybox /bin/busybox\n")
    img = e.build_image("dockerfile-test", [("oxinit", e.oxinit), ("busybox", BUSYBOX)], cf)
    r = e.run(img, "/sbin/oxinit", "--version")
    assert r.returncode == 0 and r.stdout.startswith("tini version "), r.stdout + r.stderr
    r = e.run(img, "/bin/busybox", "sh", "-c", "exit 6")
    assert r.returncode == 6, r.stdout + r.stderr


# --- readiness with real software (issue 12) ---------------------------------
# PostgreSQL listens before it can serve, so a oneshot migration started when
# the server was merely spawned failed ("the database system is starting up",
# or no socket yet); with ready = "notify" it starts once PostgreSQL said
# READY=1 (Debian's build links libsystemd). Redis too (--supervised systemd).
READY_TOML = """
[service.rundir]
type = "oneshot"
command = ["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "2775", "/run/postgresql"]

[service.db]
command = ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main",
           "-c", "config_file=/etc/postgresql/15/main/postgresql.conf"]
user = "postgres"
after = ["rundir"]
ready = "notify"
ready_timeout = "60s"
health = "exec:pg_isready -q"
critical = true

[service.cache]
command = ["redis-server", "/etc/redis/redis.conf", "--daemonize", "no",
           "--supervised", "systemd", "--logfile", ""]
user = "redis"
ready = "notify"
health = "tcp://localhost:6379"

[service.migrate]
type = "oneshot"
after = ["db"]
user = "postgres"
command = ["psql", "-v", "ON_ERROR_STOP=1", "-c",
           "CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1);"]
"""
# The main command comes after every service: both servers answer at once.
READY_CHECK = ('runuser -u postgres -- psql -tAc "select count(*) from t" && '
               'redis-cli ping && echo ALL-OK')


@test(timeout=3600)
def ready_postgres_redis_migration_ten_starts():
    e = eng()
    img = e.debian_image()
    cfg = config_file(e, "ready-pg.toml", READY_TOML)
    opts = ["-v", f"{e.oxinit}:/sbin/oxinit:ro", "-v", f"{cfg}:/etc/oxinit.toml:ro",
            "--entrypoint", '["/sbin/oxinit", "-v", "-c", "/etc/oxinit.toml", "--"]']
    failures, took = [], []
    for i in range(10):
        t0 = time.monotonic()
        r = e.run(img, "sh", "-c", READY_CHECK, opts=opts, timeout=240)
        took.append(time.monotonic() - t0)
        out = r.stdout + r.stderr
        if r.returncode != 0 or "ALL-OK" not in r.stdout or "PONG" not in r.stdout:
            failures.append(f"start {i + 1}: exit {r.returncode}\n{out[-3000:]}")
        elif i == 0:
            # Ready before the migration ran, and logged as such.
            db_ready, migrate = order_of(out, "service db: ready", "service migrate: started")
            assert db_ready < migrate, out
    assert not failures, f"{len(failures)} of 10 starts failed:\n" + "\n".join(failures)
    print(f"   10 of 10 starts ran the migration and the check; podman run took "
          f"{min(took):.1f}..{max(took):.1f}s (a fresh vfs copy of the image each)")


# --- operating a running oxinit: oxinit ctl (issue 13) -------------------------

def ctl_image(e):
    """busybox + oxinit + a service list, ENTRYPOINT oxinit in service mode and
    `oxinit ctl health` as the image's HEALTHCHECK (docker format: OCI images
    carry no health check)."""
    tag = "ctl-health-test"
    if tag in e._images:
        return tag
    ctx = os.path.join(e.dir, "ctx-" + tag)
    os.makedirs(os.path.join(ctx, "etc"))
    shutil.copy2(BUSYBOX, os.path.join(ctx, "busybox"))
    shutil.copy2(e.oxinit, os.path.join(ctx, "oxinit"))
    with open(os.path.join(ctx, "etc", "oxinit.toml"), "w") as f:
        f.write("""
[service.web]
command = ["/bin/sh", "-c", "echo up; while :; do sleep 1; done"]

[service.flaky]
command = ["/bin/sh", "-c", "test -e /fail && exit 3; echo flaky-up; exec sleep 1000"]
restart_delay = "200ms"
restart_delay_max = "1s"
""")
    with open(os.path.join(ctx, "Containerfile"), "w") as f:
        f.write("FROM scratch\nCOPY busybox /bin/busybox\n"
                "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                "COPY oxinit /sbin/oxinit\nCOPY etc/oxinit.toml /etc/oxinit.toml\n"
                "HEALTHCHECK --interval=1h CMD [\"/sbin/oxinit\", \"ctl\", \"health\"]\n"
                "ENTRYPOINT [\"/sbin/oxinit\"]\n")
    r = e.podman("build", "--pull=never", "--network", "none", "--layers=false", "--format", "docker",
                 "-f", os.path.join(ctx, "Containerfile"), "-t", tag, ctx, check=False, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    e._images[tag] = tag
    return tag


@test
def ctl_health_is_the_image_healthcheck():
    e = eng()
    img = ctl_image(e)
    cmd = e.podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", img).stdout
    assert '"/sbin/oxinit","ctl","health"' in cmd.replace(" ", ""), cmd
    n = e.start("ctlhealth", img)
    try:
        e.wait_log(n, "flaky | flaky-up")
        e.wait_log(n, "web | up")

        def check():
            return e.podman("healthcheck", "run", n, check=False, timeout=60)
        r = check()
        assert r.returncode == 0, f"healthcheck run: rc {r.returncode}\n{r.stdout}{r.stderr}\n{e.logs(n)}"
        # A crash-looping service: unhealthy, then healthy once it stays up.
        e.podman("exec", n, "sh", "-c", "touch /fail; oxinit ctl signal flaky KILL")
        wait_until(lambda: check().returncode == 1, 30, what="podman healthcheck run to say unhealthy")
        assert e.state(n)["Health"]["Status"] == "unhealthy", e.state(n).get("Health")
        why = e.podman("exec", n, "oxinit", "ctl", "health", check=False)
        assert why.returncode == 1 and why.stderr.startswith("unhealthy: flaky is "), why.stderr
        e.podman("exec", n, "rm", "/fail")
        wait_until(lambda: check().returncode == 0, 30, what="healthy again")
        assert e.state(n)["Health"]["Status"] == "healthy", e.state(n).get("Health")
    finally:
        e.rm(n)


@test
def ctl_status_through_podman_exec():
    e = eng()
    n = e.start("ctlstatus", ctl_image(e))
    try:
        e.wait_log(n, "web | up")
        r = e.podman("exec", n, "oxinit", "ctl", "status", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        rows = {ln.split()[0]: ln.split() for ln in r.stdout.splitlines()[1:]}
        assert rows["web"][1] == "ready" and rows["web"][2].isdigit(), r.stdout
        r = e.podman("exec", n, "oxinit", "ctl", "restart", "web", check=False)
        assert r.returncode == 0 and r.stdout.startswith("web: "), r.stdout + r.stderr
        e.wait_log(n, "web | up")
        r = e.podman("exec", n, "oxinit", "ctl", "status", "web", "--json", check=False)
        import json
        s = json.loads(r.stdout)["services"][0]
        assert s["name"] == "web" and s["restarts"] == 1, s
        # podman stop still gives the ordered stop, and the socket goes with it.
        took, err = stop(e, n)
        assert e.exit_code(n) == 0 and took < ENGINE_STOP / 2, (took, err)
    finally:
        e.rm(n)


if __name__ == "__main__":
    main("container")
