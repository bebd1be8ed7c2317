"""Shared by the dist suite: the binaries of `make dist`, qemu-user, PID 1 runs,
the cached Debian root and a podman store (tests/container/engine.py)."""
import fcntl
import functools
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "container"))
from dist import DIST, MACHINE, elf_facts, version  # noqa: E402,F401
from engine import BUSYBOX as BUSYBOX_PATH, Engine, EngineError  # noqa: E402,F401

# Debian arch -> the qemu-user binary that runs it (amd64 runs natively).
QEMU = {"arm64": "qemu-aarch64-static", "armhf": "qemu-arm-static", "i386": "qemu-i386-static",
        "ppc64el": "qemu-ppc64le-static", "s390x": "qemu-s390x-static"}
CACHE = os.environ.get("OXINIT_CACHE", "/var/cache/oxinit-test")


@functools.lru_cache(maxsize=None)
def arches():
    """Every arch build-aux/musl-machine.py knows: make dist builds them all."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "build-aux", "musl-machine.py"), "--list"],
                       capture_output=True, text=True, check=True)
    return tuple(r.stdout.split())


@functools.lru_cache(maxsize=None)
def dist_version():
    return version()


def binary(arch):
    path = os.path.join(DIST, f"oxinit-{dist_version()}-linux-{arch}")
    assert os.path.isfile(path), f"{path} missing: run make dist"
    return path


def runner(arch):
    """The argv prefix that runs an arch's binary on this machine."""
    if arch not in QEMU:
        return []
    q = shutil.which(QEMU[arch])
    assert q, f"{QEMU[arch]} missing: apt-get install qemu-user-static (scripts/deps.sh)"
    return [q]


def pid1(arch, args, extra=()):
    """argv: the arch's binary (under qemu) as PID 1 of a new PID namespace."""
    return ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
            *runner(arch), *extra, binary(arch), *args]


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


class Pid1:
    """A running `pid1(...)`: read its output line by line, signal PID 1."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        self.out = b""

    def expect(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not seen in {timeout}s:\n{self.out.decode(errors='replace')}"
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                assert chunk, f"output ended before {text!r}:\n{self.out.decode(errors='replace')}"
                self.out += chunk

    def init_pid(self):
        """PID 1 of the namespace, as the host sees it: unshare's child."""
        path = f"/proc/{self.p.pid}/task/{self.p.pid}/children"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(path) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
            time.sleep(0.05)
        raise AssertionError("unshare has no child")

    def kill(self, sig):
        os.kill(self.init_pid(), sig)

    def wait(self, timeout=30):
        try:
            rest, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"PID 1 did not exit in {timeout}s:\n{self.out.decode(errors='replace')}")
        self.out += rest or b""
        return self.p.returncode

    def text(self):
        return self.out.decode(errors="replace")

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _apt_sources():
    """The host's Debian sources, so mmdebstrap uses the mirror this machine
    reaches (None: mmdebstrap's default)."""
    for p in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.isfile(p) and os.path.getsize(p) > 0:
            return p
    return None


def debian_slim_tarball():
    """A local stand-in for the registry's debian:bookworm-slim: mmdebstrap
    --variant=minbase, made once and kept in CACHE (outside the repository;
    about a minute and a half to make). A lock keeps two runs from making it at once."""
    path = os.path.join(CACHE, "dist-debian-bookworm-minbase.tar")
    if os.path.isfile(path):
        return path
    assert shutil.which("mmdebstrap"), "mmdebstrap missing: apt-get install mmdebstrap (scripts/deps.sh)"
    os.makedirs(CACHE, exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(path):
            return path
        tmp = f"{path}.tmp{os.getpid()}.tar"
        cmd = ["mmdebstrap", "--variant=minbase", "--format=tar", "bookworm", tmp]
        if _apt_sources():
            cmd.append(_apt_sources())
        t0 = time.monotonic()
        print(f"   making {path} (once): {' '.join(cmd)}", flush=True)
        try:
            r = run(cmd, timeout=1200)
        except subprocess.TimeoutExpired:
            r = None
        if r is None or r.returncode != 0:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise AssertionError("mmdebstrap failed: " + ("timeout" if r is None else r.stderr[-3000:]))
        os.rename(tmp, path)
        print(f"   made it in {time.monotonic() - t0:.0f}s ({os.path.getsize(path) >> 20} MiB)", flush=True)
    return path


_engine = {}


def engine(debian=False):
    """One private podman store for the suite (tests/container/engine.py);
    debian: with the cached Debian root imported as debian:bookworm-slim."""
    if "e" not in _engine:
        e = Engine(os.path.join(ROOT, "build", "oxinit"))
        import atexit
        atexit.register(e.close)
        _engine["e"] = e
    e = _engine["e"]
    if debian and "debian" not in _engine:
        e.podman("import", "--change", 'CMD ["bash"]', debian_slim_tarball(),
                 "docker.io/library/debian:bookworm-slim", timeout=600)
        _engine["debian"] = True
    return e


def machine_of(path):
    facts = elf_facts(path)
    assert facts, f"{path} is not an ELF file"
    return {v: k for k, v in MACHINE.items()}.get(facts[0], f"e_machine {facts[0]}")


def first_line(text):
    return text.strip().splitlines()[0] if text.strip() else ""


def version_line():
    v = re.escape(dist_version())
    return re.compile(rf"^tini version {v} - oxinit {v}$")
