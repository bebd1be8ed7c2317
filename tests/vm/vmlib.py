"""Boot a Debian kernel under QEMU with an initramfs of ours (stdlib only).

- kernel_tree(): the package that `linux-image-amd64` depends on, fetched with
  `apt-get download` and unpacked whole with `dpkg-deb -x` into CACHE
  (/var/cache/oxinit-test, outside the repo; OXINIT_VM_CACHE overrides), then
  `depmod -b` (the package ships no modules.dep); reused by later runs. Never
  installed: the package would pull in udev and systemd.
- Staging / build_initramfs(): a staging dir (init binary as /sbin/oxinit,
  static busybox with its applet links, files such as /etc/oxinit.toml, the
  kernel modules a config lists with what they need) packed by mkinitramfs.py
  into a newc cpio, or by `mke2fs -d` into an ext4 disk image.
- Vm: one qemu-system-x86_64 run (software emulation unless OXINIT_VM_ACCEL
  says otherwise) with the serial console in a file (or a socket to type
  into), an HMP monitor (`sendkey ctrl-alt-delete`) and a QMP socket
  (`system_powerdown`, `quit`); every wait is bounded.
"""
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import mkinitramfs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("OXINIT_VM_CACHE", "/var/cache/oxinit-test")
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
# no_timer_check: on a starved host, software emulation can fail the
# kernel's IO-APIC timer check ("IO-APIC + timer doesn't work!", a panic at boot).
BASE_CMDLINE = "console=ttyS0 panic=-1 quiet no_timer_check rdinit=/sbin/oxinit init=/sbin/oxinit"

POWER_DOWN = "reboot: Power down"
RESTART = "reboot: Restarting system"
PANIC = "Kernel panic"


class Missing(Exception):
    """A tool or package the suite needs is missing: the test fails loudly."""


def _run(argv, **kw):
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=300, **kw)


def _kernel_package():
    r = _run(["apt-cache", "depends", "linux-image-amd64"])
    for line in r.stdout.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+-amd64)\s*$", line)
        if m:
            return m.group(1)
    return None


class KernelTree:
    """An unpacked kernel package: vmlinuz, /lib/modules/VERSION with depmod's files."""

    def __init__(self, root, version):
        self.root, self.version = root, version
        self.vmlinuz = os.path.join(root, "boot", "vmlinuz-" + version)
        self.moddir = os.path.join(root, "lib", "modules", version)


def _cached_trees():
    if not os.path.isdir(CACHE):
        return []
    return sorted(os.path.join(CACHE, d) for d in os.listdir(CACHE)
                  if os.path.exists(os.path.join(CACHE, d, ".ready")))


def _tree(path):
    version = os.path.basename(path)[len("linux-image-"):]
    return KernelTree(path, version)


def kernel_tree():
    """The unpacked kernel package, fetched and unpacked once into CACHE."""
    pkg = _kernel_package()
    if not pkg and not _cached_trees() and os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])  # a fresh machine has no package lists
        pkg = _kernel_package()
    if not pkg:
        have = _cached_trees()
        if have:  # apt lists unavailable: take what an earlier run unpacked
            return _tree(have[-1])
        raise Missing("apt-cache depends linux-image-amd64 names no kernel package "
                      "(run apt-get update)")
    want = os.path.join(CACHE, pkg)
    if os.path.exists(os.path.join(want, ".ready")):
        return _tree(want)
    for tool in ("apt-get", "dpkg-deb", "depmod"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            raise Missing(f"{tool} not found (apt-get install kmod dpkg apt)")
    os.makedirs(CACHE, exist_ok=True)
    # One unpacking at a time, also across test runs.
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(want, ".ready")):
            return _tree(want)
        shutil.rmtree(want, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            r = _run(["apt-get", "download", pkg], cwd=tmp)
            debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
            if r.returncode != 0 or not debs:
                raise Missing(f"apt-get download {pkg} failed: {r.stderr.strip()}")
            out = os.path.join(tmp, "tree")
            r = _run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]), out])
            if r.returncode != 0:
                raise Missing(f"dpkg-deb -x {debs[0]} failed: {r.stderr.strip()}")
            tree = _tree(os.path.join(tmp, pkg))
            r = _run([shutil.which("depmod") or "/usr/sbin/depmod", "-b", out, tree.version])
            if r.returncode != 0:
                raise Missing(f"depmod -b failed: {r.stderr.strip()}")
            os.rename(out, want)
        open(os.path.join(want, ".ready"), "w").close()
    if not os.path.exists(_tree(want).vmlinuz):
        raise Missing(f"no vmlinuz in {pkg}")
    return _tree(want)


def kernel():
    """Path of a Debian amd64 vmlinuz."""
    return kernel_tree().vmlinuz


def _norm(name):
    return name.replace("-", "_")


def _modname(path):
    return _norm(os.path.basename(path).split(".ko")[0])


class ModuleIndex:
    """modules.dep, .softdep, .alias and .builtin of a tree, for picking the
    .ko files an initramfs needs (the same resolution oxinit makes)."""

    def __init__(self, tree):
        self.tree = tree
        self.dep, self.soft, self.alias, self.builtin = {}, {}, {}, set()
        with open(os.path.join(tree.moddir, "modules.dep")) as f:
            for line in f:
                path, _, deps = line.partition(":")
                self.dep[_modname(path)] = (path, deps.split())
        with open(os.path.join(tree.moddir, "modules.softdep")) as f:
            for line in f:
                w = line.split()
                if len(w) > 2 and w[0] == "softdep":
                    pre = w[3:w.index("post:")] if "post:" in w else w[3:]
                    self.soft[_norm(w[1])] = pre if w[2] == "pre:" else []
        with open(os.path.join(tree.moddir, "modules.alias")) as f:
            for line in f:
                w = line.split()
                if len(w) == 3:
                    self.alias.setdefault(_norm(w[1]), []).append(w[2])
        with open(os.path.join(tree.moddir, "modules.builtin")) as f:
            self.builtin = {_modname(line.strip()) for line in f}

    def files(self, names):
        """Relative paths of the .ko files that loading names may take."""
        out, seen = set(), set()

        def visit(name):
            n = _norm(name)
            if n in seen or n in self.builtin:
                return
            seen.add(n)
            if n in self.dep:
                path, deps = self.dep[n]
                out.add(path)
                for d in deps:
                    visit(_modname(d))
                for s in self.soft.get(n, []):
                    visit(s)
            else:
                for c in self.alias.get(n, []):
                    visit(c)
        for name in names:
            visit(name)
        return sorted(out)


def is_static_elf(path):
    """True for an ELF file without PT_INTERP (no dynamic loader needed)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
                return False
    return True


def check_tools():
    if not shutil.which(QEMU):
        raise Missing(f"{QEMU} not found (apt-get install qemu-system-x86)")
    if not os.path.exists(BUSYBOX) or not is_static_elf(BUSYBOX):
        raise Missing(f"{BUSYBOX} missing or not static (apt-get install busybox-static)")


class Staging:
    """A staging directory for one initramfs."""

    def __init__(self, init_binary, workdir):
        self.dir = os.path.join(workdir, "root")
        for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp", "root"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        os.chmod(os.path.join(self.dir, "tmp"), 0o1777)
        self.copy(init_binary, "/sbin/oxinit")
        self.copy(BUSYBOX, "/bin/busybox")
        r = _run([BUSYBOX, "--list"])
        for applet in r.stdout.split():
            if applet not in ("busybox", "init", "linuxrc"):
                os.symlink("busybox", os.path.join(self.dir, "bin", applet))
        self.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        self.write("/etc/group", "root:x:0:\nnogroup:x:65534:\n")

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def copy(self, src, dst, mode=0o755):
        os.makedirs(os.path.dirname(self.path(dst)), exist_ok=True)
        shutil.copyfile(src, self.path(dst))
        os.chmod(self.path(dst), mode)

    def write(self, dst, text, mode=0o644):
        os.makedirs(os.path.dirname(self.path(dst)), exist_ok=True)
        with open(self.path(dst), "w") as f:
            f.write(text)
        os.chmod(self.path(dst), mode)

    def add_modules(self, tree, names):
        """The .ko files for names (with dependencies, softdeps and alias
        candidates) and the whole index files, under /lib/modules/VERSION."""
        index = ModuleIndex(tree)
        dst = "/lib/modules/" + tree.version + "/"
        for rel in index.files(names):
            self.copy(os.path.join(tree.moddir, rel), dst + rel, 0o644)
        for f in ("modules.dep", "modules.softdep", "modules.alias", "modules.builtin"):
            self.copy(os.path.join(tree.moddir, f), dst + f, 0o644)

    def ext4_image(self, out, size_mb=64, label="", uuid=""):
        """An ext4 image of the staging tree (mke2fs -d)."""
        argv = ["mke2fs", "-q", "-F", "-t", "ext4", "-d", self.dir]
        if label:
            argv += ["-L", label]
        if uuid:
            argv += ["-U", uuid]
        r = _run(argv + [out, f"{size_mb}M"])
        if r.returncode != 0:
            raise Missing(f"mke2fs failed: {r.stderr.strip()}")
        return out

    def pack(self, out):
        # /dev/console in the archive too, as the kernel's built-in default
        # initramfs has it: the kernel opens it for init's fds 0/1/2.
        mkinitramfs.build(self.dir, out, [("dev/console", 0o600, "c", 5, 1)])
        return out


class Vm:
    """One QEMU run. Use start(), then wait_for()/sendkey()/qmp(), then wait_exit().

    disks: image paths, attached as virtio-blk (/dev/vda, /dev/vdb, ...).
    hostfwd: a host loopback port forwarded to the guest's port 80 over QEMU
    user networking (virtio-net). serial_input: the console on a unix socket
    (with its log file) so that type() can send keys to it.
    """

    def __init__(self, workdir, kernel_path, initrd, append="", accel=None, mem=256,
                 disks=(), hostfwd=None, serial_input=False):
        self.workdir = workdir
        self.console_path = os.path.join(workdir, "console.log")
        self.monitor_path = os.path.join(workdir, "monitor.sock")
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        self.serial_path = os.path.join(workdir, "serial.sock")
        self.cmdline = BASE_CMDLINE + (" " + append if append else "")
        accel = accel or os.environ.get("OXINIT_VM_ACCEL", "tcg")
        self.argv = [
            QEMU, "-nodefaults", "-no-user-config", "-machine", "pc", "-accel", accel,
            "-cpu", "max" if accel == "tcg" else "host",
            "-m", str(mem), "-smp", "1", "-display", "none", "-no-reboot",
            "-kernel", kernel_path, "-initrd", initrd, "-append", self.cmdline,
            "-monitor", "unix:" + self.monitor_path + ",server,nowait",
            "-qmp", "unix:" + self.qmp_path + ",server=on,wait=off",
        ]
        if serial_input:
            self.argv += ["-chardev", f"socket,id=ser0,path={self.serial_path},server=on,wait=off,"
                          f"logfile={self.console_path}", "-serial", "chardev:ser0"]
        else:
            self.argv += ["-serial", "file:" + self.console_path]
        for i, d in enumerate(disks):
            self.argv += ["-drive", f"file={d},format=raw,if=virtio,index={i}"]
        if hostfwd:
            self.argv += ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{hostfwd}-:80",
                          "-device", "virtio-net-pci,netdev=n0"]
        self.proc = None
        self.started = None
        self.exit_time = None
        self.serial = None

    def start(self):
        self.started = time.monotonic()
        self.stderr = open(os.path.join(self.workdir, "qemu.stderr"), "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=subprocess.STDOUT)
        return self

    def _connect(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(timeout)
                s.connect(path)
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def qmp(self, command, timeout=10.0):
        """One QMP command (after the capabilities handshake); its reply."""
        with self._connect(self.qmp_path, timeout) as s:
            f = s.makefile("rwb")
            json.loads(f.readline())  # the greeting
            replies = []
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                while True:  # skip asynchronous events
                    line = f.readline()
                    if not line:
                        return replies
                    msg = json.loads(line)
                    if "event" not in msg:
                        replies.append(msg)
                        break
            return replies[-1]

    def type(self, text):
        """Keys on the serial console (serial_input=True)."""
        if self.serial is None:
            self.serial = self._connect(self.serial_path, 10.0)
            self.serial.setblocking(False)
        self.serial.sendall(text.encode())
        try:  # the log file has the output; keep the socket from filling
            while self.serial.recv(65536):
                pass
        except BlockingIOError:
            pass

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode("utf-8", "replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=120.0):
        """Wait until the console matches the regex (or QEMU exits)."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.console())
            if m:
                return m
            if self.proc.poll() is not None:
                m = rx.search(self.console())
                if m:
                    return m
                raise AssertionError(f"QEMU exited ({self.proc.returncode}) before "
                                     f"{pattern!r} appeared; console:\n{self.console()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {pattern!r}; "
                             f"console:\n{self.console()}")

    def monitor(self, command, timeout=10.0):
        """Send one HMP command on the monitor socket."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(self.monitor_path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with s:
            buf = b""
            while b"(qemu)" not in buf and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            s.sendall(command.encode() + b"\n")
            buf = b""
            while buf.count(b"(qemu)") < 1 and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.decode("utf-8", "replace")

    def sendkey(self, keys):
        return self.monitor("sendkey " + keys)

    def wait_exit(self, timeout=120.0):
        """QEMU's exit status; kills it (and fails) when the bound passes."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"VM still running after {timeout}s; console:\n{self.console()}")
        self.exit_time = time.monotonic()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def close(self):
        self.kill()
        if self.serial is not None:
            self.serial.close()
        if getattr(self, "stderr", None):
            self.stderr.close()


def oxinit_lines(console, name):
    """The lines a service `name` printed through oxinit's prefixing."""
    pre = name + " | "
    return [ln[len(pre):] for ln in console.splitlines() if ln.startswith(pre)]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fsck(image):
    """(clean, report): `e2fsck -fn` finds nothing and the journal needs no
    recovery (no needs_recovery feature in the superblock)."""
    r = _run(["e2fsck", "-fn", image])
    h = _run(["dumpe2fs", "-h", image])
    feats = [ln for ln in h.stdout.splitlines() if ln.startswith("Filesystem features:")]
    recovery = bool(feats) and "needs_recovery" in feats[0]
    clean = r.returncode == 0 and not recovery and h.returncode == 0
    return clean, f"e2fsck -fn: rc {r.returncode}\n{r.stdout}{r.stderr}\n{feats}"


def cat_in_image(image, path, binary=False):
    """A file's text (or bytes) from an ext4 image (debugfs, no mount)."""
    r = subprocess.run(["debugfs", "-R", f"cat {path}", image], check=False,
                       capture_output=True, timeout=120)
    return r.stdout if binary else r.stdout.decode("utf-8", "replace")
