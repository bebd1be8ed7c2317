"""Podman plumbing for the container suite: a private store, FROM-scratch images.

Nothing can be pulled on the project's machines, so every image is built
`FROM scratch` from files on this machine: the init under test (OXINIT,
build/oxinit by default) and Debian's busybox-static for the commands.

Each Engine keeps its images and containers in its own --root/--runroot/--tmpdir
under one temporary directory and removes all of it in close(), so the suite
never touches (or depends on) the machine's own podman store. CONTAINERS_CONF
points at tests/container/containers.conf (runc, low rlimits, no network).

If podman or runc is missing or cannot run a container, Engine() raises
EngineError with what it saw: the suite then fails loudly, it never skips.
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONF = os.path.join(HERE, "containers.conf")
BUSYBOX = os.environ.get("OXINIT_BUSYBOX", "/bin/busybox")


STORE_PREFIX = "oxinit-ctr-"

# Real software (issue 12: PostgreSQL and Redis behind readiness probes): a
# Debian root made by mmdebstrap from the mirror apt already uses, kept as a
# tarball between runs (outside the repository) and `podman import`ed into
# the suite's store. Making it takes minutes; importing it about half a minute.
IMAGE_CACHE = os.environ.get("OXINIT_IMAGE_CACHE", "/var/cache/oxinit-test")
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("postgresql-15", "redis-server")
DEBIAN_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*")


class EngineError(RuntimeError):
    pass


def _podman_base(d):
    return ["podman", "--root", os.path.join(d, "root"),
            "--runroot", os.path.join(d, "runroot"),
            "--tmpdir", os.path.join(d, "tmp"), "--storage-driver", "vfs"]


def _remove_store(d, env):
    """Remove every container and image of the store in d, then d itself."""
    base = _podman_base(d)
    for args in (["rm", "-a", "-f", "-t", "0"], ["rmi", "-a", "-f"]):
        try:
            subprocess.run(base + args, env=env, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
    # Anything still mounted under the store (shm of a container podman lost
    # track of) must go before rmtree, or rmtree would recurse into it.
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split()[4] for ln in f]
    for m in sorted((m for m in mounts if m.startswith(d + "/")), reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=10)
    shutil.rmtree(d, ignore_errors=True)


def _sweep_stale_stores(env):
    """Stores left by a suite that was killed (its PID, in the name, is gone)."""
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        if not entry.startswith(STORE_PREFIX):
            continue
        pid = entry[len(STORE_PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove_store(os.path.join(tmp, entry), env)


def _apt_sources():
    """The host's own apt sources (deb822 or one-line), so mmdebstrap uses the
    mirror this machine is allowed to reach; None: mmdebstrap's default."""
    for p in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.isfile(p) and os.path.getsize(p) > 0:
            return p
    return None


def debian_tarball():
    """Path of the cached Debian root tarball, made first if missing. Its name
    carries a hash of what goes into it, so a new package list makes a new one.
    A lock file keeps two suites from making it at once."""
    key = hashlib.sha256(repr((DEBIAN_SUITE, DEBIAN_PACKAGES, DEBIAN_EXCLUDES)).encode()).hexdigest()[:12]
    path = os.path.join(IMAGE_CACHE, f"ready-{DEBIAN_SUITE}-{key}.tar")
    if os.path.isfile(path):
        return path
    if not shutil.which("mmdebstrap"):
        raise EngineError("mmdebstrap not found: apt-get install mmdebstrap (scripts/deps.sh --install)")
    os.makedirs(IMAGE_CACHE, exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(path):
            return path
        tmp = f"{path}.tmp{os.getpid()}"
        cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(DEBIAN_PACKAGES)]
        cmd += [f"--dpkgopt=path-exclude={x}" for x in DEBIAN_EXCLUDES]
        cmd += [DEBIAN_SUITE, tmp]
        src = _apt_sources()
        if src:
            cmd.append(src)
        print(f"   making the Debian image tarball (once): {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            r = None
        if r is None or r.returncode != 0:
            if os.path.exists(tmp):
                os.unlink(tmp)
            out = "timed out after 1800s" if r is None else r.stdout[-3000:] + r.stderr[-3000:]
            raise EngineError(f"mmdebstrap failed:\n{out}")
        os.rename(tmp, path)
        print(f"   made {path} ({os.path.getsize(path) >> 20} MiB) in {time.monotonic() - t0:.0f}s",
              flush=True)
    return path


def _is_static(path):
    """True when the ELF file has no PT_INTERP (no dynamic loader needed)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    return data[:4] == b"\x7fELF" and b"/ld-linux" not in data and b"/ld-musl" not in data


class Engine:
    def __init__(self, oxinit):
        for tool in ("podman", "runc"):
            if not shutil.which(tool):
                raise EngineError(f"{tool} not found: apt-get install podman runc "
                                  "(scripts/deps.sh --install)")
        if not os.path.isfile(BUSYBOX) or not _is_static(BUSYBOX):
            raise EngineError(f"{BUSYBOX} missing or not static: apt-get install busybox-static")
        if not os.access(oxinit, os.X_OK):
            raise EngineError(f"{oxinit} not executable: run make first")
        if not _is_static(oxinit):
            raise EngineError(f"{oxinit} is not static: it cannot run in a FROM scratch image")
        self.oxinit = os.path.abspath(oxinit)
        self.env = dict(os.environ, CONTAINERS_CONF=CONF)
        _sweep_stale_stores(self.env)
        self.dir = tempfile.mkdtemp(prefix=f"{STORE_PREFIX}{os.getpid()}-")
        self.base = _podman_base(self.dir)
        self._images = {}
        self._names = []
        self._seq = 0
        # Prove the engine can run a container at all before any test relies on it.
        try:
            self.build_image("probe", [("busybox", BUSYBOX)], "FROM scratch\n"
                             "COPY busybox /bin/busybox\n")
            r = self.podman("run", "--rm", "--network", "none", "probe", "/bin/busybox",
                            "echo", "engine-ok", check=False, timeout=60)
            if r.returncode != 0 or "engine-ok" not in r.stdout:
                raise EngineError(f"podman cannot run a container (rc {r.returncode}):\n"
                                  f"{r.stdout}{r.stderr}")
        except BaseException:
            _remove_store(self.dir, self.env)
            raise

    # -- running podman -------------------------------------------------------
    def cmd(self, *args):
        return self.base + [str(a) for a in args]

    def podman(self, *args, check=True, timeout=60, input=None):
        """Run one podman command, bounded in time; raise on failure if check."""
        try:
            r = subprocess.run(self.cmd(*args), env=self.env, capture_output=True,
                               text=True, timeout=timeout, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"podman {' '.join(map(str, args))}: no answer in "
                                 f"{timeout}s\n{e.stdout}{e.stderr}") from None
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(map(str, args))} failed "
                                 f"(rc {r.returncode}):\n{r.stdout}{r.stderr}")
        return r

    def popen(self, *args, **kw):
        return subprocess.Popen(self.cmd(*args), env=self.env, **kw)

    # -- images ---------------------------------------------------------------
    def build_image(self, tag, files, containerfile, context=None):
        """Build `tag` from a context holding `files` [(name in context, host path)]
        (copied, symlinks resolved) plus an optional existing context dir."""
        ctx = os.path.join(self.dir, "ctx-" + tag)
        if context:
            shutil.copytree(context, ctx, symlinks=True)
        else:
            os.makedirs(ctx)
        for name, src in files:
            dst = os.path.join(ctx, name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
        cf = os.path.join(ctx, "Containerfile.test")
        with open(cf, "w") as f:
            f.write(containerfile)
        r = self.podman("build", "--pull=never", "--network", "none", "--layers=false",
                        "-f", cf, "-t", tag, ctx, check=False, timeout=300)
        if r.returncode != 0:
            raise EngineError(f"building image {tag} failed (rc {r.returncode}):\n"
                              f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
        return tag

    def image(self, kind):
        """Build once and return one of the suite's images:
        oxinit   busybox + oxinit at /sbin/oxinit, ENTRYPOINT ["/sbin/oxinit","--"]
        plain    busybox only (an ordinary image, for --init --init-path)
        example  docker/example/ (several services from /etc/oxinit.toml)"""
        if kind in self._images:
            return self._images[kind]
        bb = "COPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
        if kind == "oxinit":
            tag = self.build_image("oxinit-test", [("busybox", BUSYBOX), ("oxinit", self.oxinit)],
                                   "FROM scratch\n" + bb + "COPY oxinit /sbin/oxinit\n"
                                   "ENTRYPOINT [\"/sbin/oxinit\", \"--\"]\n")
        elif kind == "plain":
            tag = self.build_image("plain-test", [("busybox", BUSYBOX)],
                                   "FROM scratch\n" + bb + "CMD [\"/bin/sh\"]\n")
        elif kind == "example":
            ex = os.path.join(ROOT, "docker", "example")
            with open(os.path.join(ex, "Dockerfile")) as f:
                cf = f.read()
            tag = self.build_image("example-test", [("busybox", BUSYBOX), ("oxinit", self.oxinit)],
                                   cf, context=ex)
        else:
            raise ValueError(kind)
        self._images[kind] = tag
        return tag

    def debian_image(self):
        """Debian 12 with DEBIAN_PACKAGES (debian_tarball), imported once per
        suite as `ready-debian`. oxinit and configs are bind-mounted into the
        containers rather than built into layers: with the vfs driver every
        layer is a full copy of a 400 MB root."""
        if "debian" not in self._images:
            tar = debian_tarball()
            self.podman("import", tar, "ready-debian", timeout=600)
            self._images["debian"] = "ready-debian"
        return self._images["debian"]

    # -- containers -----------------------------------------------------------
    def name(self, what):
        self._seq += 1
        n = f"oxt-{what}-{os.getpid()}-{self._seq}"
        self._names.append(n)
        return n

    def run(self, image, *argv, opts=(), timeout=60):
        """podman run --rm in the foreground; returns the CompletedProcess."""
        return self.podman("run", "--rm", "--network", "none", *opts, image, *argv,
                           check=False, timeout=timeout)

    def start(self, what, image, *argv, opts=()):
        """podman run -d; returns the container's name once it is running."""
        n = self.name(what)
        self.podman("run", "-d", "--name", n, "--network", "none", *opts, image, *argv)
        return n

    def inspect(self, name):
        r = self.podman("inspect", "--type", "container", name)
        return json.loads(r.stdout)[0]

    def state(self, name):
        return self.inspect(name)["State"]

    def exit_code(self, name):
        st = self.state(name)
        assert st["Status"] in ("exited", "stopped"), f"{name} still {st['Status']}"
        return st["ExitCode"]

    def wait_exit(self, name, timeout=30):
        """Wait (bounded) until the container has exited; return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state(name)
            if st["Status"] in ("exited", "stopped"):
                return st["ExitCode"]
            time.sleep(0.1)
        raise AssertionError(f"{name} did not exit within {timeout}s:\n{self.logs(name)}")

    def logs(self, name):
        """The container's stdout and stderr, interleaved in the order written."""
        try:
            r = subprocess.run(self.cmd("logs", name), env=self.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"podman logs {name}: no answer in 60s") from None
        return r.stdout

    def wait_log(self, name, text, timeout=20):
        """Wait (bounded) until `text` appears in the container's output."""
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            out = self.logs(name)
            if text in out:
                return out
            if self.state(name)["Status"] in ("exited", "stopped"):
                out = self.logs(name)
                if text in out:
                    return out
                raise AssertionError(f"{name} exited ({self.state(name)['ExitCode']}) "
                                     f"without printing {text!r}:\n{out}")
            time.sleep(0.1)
        raise AssertionError(f"{name}: {text!r} not in its output after {timeout}s:\n{out}")

    def rm(self, name):
        self.podman("rm", "-f", "-t", "0", name, check=False)

    def close(self):
        """Remove every container and image this engine made, then its store."""
        _remove_store(self.dir, self.env)
