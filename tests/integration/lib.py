"""Running build/oxinit for real: as PID 1 of a new PID namespace (unshare),
or as a plain child (subreaper mode)."""
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import OXINIT, ROOT, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def helper(name):
    return os.path.join(HERE, "helpers", name)


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Init:
    """oxinit as PID 1 of a fresh PID namespace (pidns=True) or as a child.

    .pid is oxinit's PID as seen from here, for signals and /proc reads.
    """

    def __init__(self, args, pidns=True, env=None, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=None, oxinit=None):
        binary = oxinit or OXINIT
        # --kill-child and a parent-death signal on unshare: if this test
        # process dies, the whole namespace goes with it (nothing leaks).
        cmd = (["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", binary]
               if pidns else [binary])
        full_env = dict(os.environ)
        for k in list(full_env):
            if k.startswith(("TINI_", "OXINIT_")):
                del full_env[k]
        # Each oxinit its own control socket (unless the test names one), so
        # suites running side by side never meet on /run/oxinit/control.sock.
        full_env["OXINIT_CONTROL_SOCKET"] = os.path.join(tempfile.mkdtemp(prefix="oxinit-ctl-"), "ctl.sock")
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(cmd + list(args), stdin=stdin, stdout=stdout, stderr=stderr,
                                     env=full_env, cwd=cwd, preexec_fn=_die_with_parent)
        if pidns:
            # An oxinit that exits at once may be gone before it is seen.
            self.pid = wait_until(lambda: (children_of(self.proc.pid) or [None])[0]
                                  or (self.proc.poll() is not None and -1), 10,
                                  what="oxinit to start under unshare")
        else:
            self.pid = self.proc.pid
        self.out = self.err = None

    def kill(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=30):
        """Returns oxinit's exit code; stdout/stderr land in .out/.err."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.destroy()
            raise AssertionError(f"oxinit did not exit within {timeout}s")
        self.out = (out or b"").decode(errors="replace")
        self.err = (err or b"").decode(errors="replace")
        return self.proc.returncode

    def destroy(self):
        """SIGKILL to oxinit (as PID 1 that takes its whole namespace down)."""
        for pid in (self.pid, self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.destroy()


def run(args, timeout=30, **kw):
    """Runs oxinit to completion; returns (code, stdout, stderr)."""
    with Init(args, **kw) as i:
        code = i.wait(timeout)
        return code, i.out, i.err


def tmpdir():
    return tempfile.mkdtemp(prefix="oxinit-test-")


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def write_config(d, text, name="oxinit.toml"):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def now():
    return time.monotonic()


def ms(text):
    """A duration as oxinit prints it ("250ms", "2s", "1.5s") in milliseconds."""
    text = text.rstrip(".,;)")
    if text.endswith("ms"):
        return int(text[:-2])
    assert text.endswith("s"), text
    return round(float(text[:-1]) * 1000)
