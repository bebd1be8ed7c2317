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
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import test, main, OXINIT, wait_until  # noqa: E402
from engine import Engine, EngineError  # noqa: E402

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


if __name__ == "__main__":
    main("container")
