"""Boot a Debian kernel under QEMU with an initramfs of ours (stdlib only).

- kernel(): the vmlinuz of the package that `linux-image-amd64` depends on,
  fetched with `apt-get download` and unpacked (only ./boot) into
  .cache/vm/ (git-ignored); reused when present. Never installed: the package
  would pull in udev and systemd.
- Staging / build_initramfs(): a staging dir (init binary as /sbin/oxinit,
  static busybox with its applet links, files such as /etc/oxinit.toml) packed
  by mkinitramfs.py into a newc cpio.
- Vm: one qemu-system-x86_64 run (software emulation unless OXINIT_VM_ACCEL
  says otherwise) with the serial console in a file and an HMP monitor on a
  unix socket (for `sendkey ctrl-alt-delete`); every wait is bounded.
"""
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
CACHE = os.environ.get("OXINIT_VM_CACHE", os.path.join(ROOT, ".cache", "vm"))
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
BASE_CMDLINE = "console=ttyS0 panic=-1 quiet rdinit=/sbin/oxinit init=/sbin/oxinit"

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


def _cached_kernels():
    d = os.path.join(CACHE, "boot")
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("vmlinuz-"))


def kernel():
    """Path of a Debian amd64 vmlinuz, downloading it once into CACHE."""
    pkg = _kernel_package()
    if not pkg and not _cached_kernels() and os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])  # a fresh machine has no package lists
        pkg = _kernel_package()
    if pkg:
        want = os.path.join(CACHE, "boot", "vmlinuz-" + pkg[len("linux-image-"):])
        if os.path.exists(want):
            return want
    else:
        have = _cached_kernels()
        if have:  # apt lists unavailable: take what an earlier run fetched
            return have[-1]
        raise Missing("apt-cache depends linux-image-amd64 names no kernel package "
                      "(run apt-get update)")
    for tool in ("apt-get", "dpkg-deb", "tar"):
        if not shutil.which(tool):
            raise Missing(f"{tool} not found")
    os.makedirs(CACHE, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        r = _run(["apt-get", "download", pkg], cwd=tmp)
        debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
        if r.returncode != 0 or not debs:
            raise Missing(f"apt-get download {pkg} failed: {r.stderr.strip()}")
        deb = os.path.join(tmp, debs[0])
        # `dpkg-deb -x` would unpack ~400 MB of modules; the initramfs needs
        # none (serial console, devtmpfs, ACPI power-off are built in), so
        # take only ./boot from the data archive.
        p1 = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        p2 = subprocess.run(["tar", "-x", "-C", CACHE, "--wildcards", "./boot/*"],
                            stdin=p1.stdout, capture_output=True, text=True, timeout=300)
        p1.stdout.close()
        p1.wait(timeout=60)
        if p1.returncode != 0 or p2.returncode != 0:
            raise Missing(f"unpacking {deb} failed: {p2.stderr.strip()}")
    if not os.path.exists(want):
        raise Missing(f"{want} not found after unpacking {pkg}")
    return want


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

    def pack(self, out):
        # /dev/console in the archive too, as the kernel's built-in default
        # initramfs has it: the kernel opens it for init's fds 0/1/2.
        mkinitramfs.build(self.dir, out, [("dev/console", 0o600, "c", 5, 1)])
        return out


class Vm:
    """One QEMU run. Use start(), then wait_for()/sendkey(), then wait_exit()."""

    def __init__(self, workdir, kernel_path, initrd, append="", accel=None, mem=256):
        self.workdir = workdir
        self.console_path = os.path.join(workdir, "console.log")
        self.monitor_path = os.path.join(workdir, "monitor.sock")
        self.cmdline = BASE_CMDLINE + (" " + append if append else "")
        accel = accel or os.environ.get("OXINIT_VM_ACCEL", "tcg")
        self.argv = [
            QEMU, "-nodefaults", "-no-user-config", "-machine", "pc", "-accel", accel,
            "-cpu", "max" if accel == "tcg" else "host",
            "-m", str(mem), "-smp", "1", "-display", "none", "-no-reboot",
            "-kernel", kernel_path, "-initrd", initrd, "-append", self.cmdline,
            "-serial", "file:" + self.console_path,
            "-monitor", "unix:" + self.monitor_path + ",server,nowait",
        ]
        self.proc = None
        self.started = None
        self.exit_time = None

    def start(self):
        self.started = time.monotonic()
        self.stderr = open(os.path.join(self.workdir, "qemu.stderr"), "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=subprocess.STDOUT)
        return self

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
        if getattr(self, "stderr", None):
            self.stderr.close()


def oxinit_lines(console, name):
    """The lines a service `name` printed through oxinit's prefixing."""
    pre = name + " | "
    return [ln[len(pre):] for ln in console.splitlines() if ln.startswith(pre)]
