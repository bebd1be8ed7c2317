#!/usr/bin/env python3
"""oxinit as the init of a microVM: a Debian kernel under QEMU (software
emulation), an initramfs with build/oxinit as /sbin/oxinit, busybox and a
test config.

Each scenario is one VM boot. The boots run in a pool (OXINIT_VM_JOBS, default
2) started by the first test, so the suite takes about as long as its slowest
pair of boots; each test then waits (bounded) for its own boot and checks what
the serial console showed and how QEMU ended.
"""
import atexit
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import OXINIT, main, test, wait_until  # noqa: E402
import vmlib  # noqa: E402

BOOT_TIMEOUT = float(os.environ.get("OXINIT_VM_TIMEOUT", "150"))  # per wait, seconds
JOBS = int(os.environ.get("OXINIT_VM_JOBS", "2"))

# A service that says it started, and says so again when SIGTERM stops it.
POLITE = "trap 'echo stopping; exit 0' TERM; echo started; sleep 1000 & wait"

HEADER = """
[init]
shutdown_timeout = "2s"
"""

PROBE_SH = r"""
cut -d' ' -f5,9 /proc/self/mountinfo | sed 's/^/mount /'
echo "hostname $(hostname)"
echo "loflags $(cat /sys/class/net/lo/flags)"
ping -c 1 -W 5 127.0.0.1 >/dev/null 2>&1 && echo "ping ok"
echo "stdin $(readlink /proc/self/fd/0)"
echo "path $PATH"
[ -c /dev/ptmx ] && echo "ptmx ok"
echo "pid1 $(cat /proc/1/comm)"
"""


class Scenario:
    """One boot: a config, extra kernel args, and what to do while it runs."""

    def __init__(self, name, config, append="", act=None, files=None):
        self.name, self.config, self.append = name, config, append
        self.act = act or (lambda vm: None)
        self.files = files or {}


def act_cad(vm):
    vm.wait_for(r"^first \| started", BOOT_TIMEOUT)
    vm.wait_for(r"^second \| started", BOOT_TIMEOUT)
    t = time.monotonic()
    vm.sendkey("ctrl-alt-delete")
    return t


def act_cad_after(marker):
    def act(vm):
        vm.wait_for(marker, BOOT_TIMEOUT)
        t = time.monotonic()  # before the key: the guest cannot see it earlier
        vm.sendkey("ctrl-alt-delete")
        return t
    return act


SCENARIOS = {s.name: s for s in [
    Scenario("cad", HEADER + f"""
[service.first]
command = "{POLITE}"
[service.second]
command = "{POLITE}"
after = ["first"]
""", act=act_cad),
    Scenario("main", HEADER + f"""
[service.side]
command = "{POLITE}"
""", append='-- /bin/sh -c "sleep 1; echo main-running; exit 7"'),
    Scenario("poweroff", HEADER + f"""
[service.app]
command = "{POLITE}"
[service.trigger]
command = "sleep 1; echo calling poweroff; poweroff"
restart = "never"
after = ["app"]
"""),
    Scenario("stubborn", HEADER + f"""
[service.stubborn]
command = "trap '' TERM; echo started; while :; do sleep 1; done"
stop_timeout = "3s"
[service.polite]
command = "{POLITE}"
""", act=act_cad_after(r"^stubborn \| started")),
    Scenario("reboot", """
[init]
final_action = "reboot"
[service.app]
command = "{POLITE}"
""".replace("{POLITE}", POLITE), act=act_cad_after(r"^app \| started")),
    # Firecracker on x86 has no ACPI power-off: its guests end with a reboot
    # through the i8042 (reboot=k), and its docs suggest these i8042 flags.
    # acpi=off stands in for its missing ACPI here.
    Scenario("firecracker", """
[init]
final_action = "reboot"
[service.app]
command = "{POLITE}"
""".replace("{POLITE}", POLITE),
        append="acpi=off reboot=k pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd",
        act=act_cad_after(r"^app \| started")),
    Scenario("badconfig", HEADER + """
[service.app]
comand = "echo never"
"""),
    Scenario("mounts", """
[init]
hostname = "oxvm"
mount_cgroup = true
[service.probe]
command = ["/bin/sh", "/probe.sh"]
restart = "never"
critical = true
""", files={"/probe.sh": PROBE_SH}),
]}


class Result:
    def __init__(self):
        self.console = ""
        self.rc = None
        self.acted_at = None   # monotonic time just before the scenario's action
        self.exited_at = None
        self.error = None
        self.cmdline = ""


_lock = threading.Lock()
_pool = None
_futures = {}
_tmp = tempfile.mkdtemp(prefix="oxinit-vm-")
if os.environ.get("OXINIT_VM_KEEP"):  # keep consoles and initramfs for a look
    print(f"vm: keeping {_tmp}", flush=True)
else:
    atexit.register(shutil.rmtree, _tmp, True)


def _boot(sc, kernel):
    res = Result()
    work = os.path.join(_tmp, sc.name)
    os.makedirs(work)
    st = vmlib.Staging(OXINIT, work)
    st.write("/etc/oxinit.toml", sc.config)
    for path, text in sc.files.items():
        st.write(path, text, 0o755)
    initrd = st.pack(os.path.join(work, "initrd.cpio"))
    vm = vmlib.Vm(work, kernel, initrd, append=sc.append)
    res.cmdline = vm.cmdline
    try:
        vm.start()
        res.acted_at = sc.act(vm)
        res.rc = vm.wait_exit(BOOT_TIMEOUT)
        res.exited_at = vm.exit_time
        print(f"vm: {sc.name}: QEMU ran {res.exited_at - vm.started:.1f}s from start to exit",
              flush=True)
    except Exception as e:  # noqa: BLE001 - reported by the test that reads it
        res.error = f"{type(e).__name__}: {e}"
    finally:
        vm.close()
        res.console = vm.console()
    return res


def _start_all():
    """Starts every selected scenario's boot once, in a bounded pool."""
    global _pool
    with _lock:
        if _pool is not None:
            return
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=JOBS)
        try:
            vmlib.check_tools()
            if not os.path.exists(OXINIT):
                raise vmlib.Missing(f"{OXINIT} not built (run make)")
            if not vmlib.is_static_elf(OXINIT):
                raise vmlib.Missing(f"{OXINIT} is not a static binary")
            kernel = vmlib.kernel()
        except vmlib.Missing as e:
            err = str(e)
            for name in SCENARIOS:
                f = concurrent.futures.Future()
                r = Result()
                r.error = "missing: " + err
                f.set_result(r)
                _futures[name] = f
            return
        only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
        for name, sc in SCENARIOS.items():
            if only and only not in name and not any(only in t for t in _TESTS.get(name, ())):
                continue
            _futures[name] = _pool.submit(_boot, sc, kernel)


def result(name):
    _start_all()
    r = _futures[name].result(timeout=3 * BOOT_TIMEOUT + 60)
    if r.error:
        raise AssertionError(f"{name}: {r.error}\ncmdline: {r.cmdline}\nconsole:\n{r.console}")
    return r


def lines(r, name):
    return vmlib.oxinit_lines(r.console, name)


def ended_clean(r, expect=vmlib.POWER_DOWN):
    c = r.console
    assert vmlib.PANIC not in c, f"kernel panic:\n{c}"
    assert expect in c, f"no {expect!r} on the console:\n{c}"
    assert r.rc == 0, f"QEMU exited with {r.rc}"
    assert "vm: unable" not in c, f"a boot or final step failed:\n{c}"


def index_of(c, s):
    i = c.find(s)
    assert i >= 0, f"{s!r} not on the console:\n{c}"
    return i


# Which tests read which scenario, so `-k TEST` boots only what it needs.
_TESTS = {
    "cad": ("services_start_and_ctrl_alt_del_stops_them_in_order",),
    "main": ("main_command_exit_prints_status_and_powers_off",),
    "poweroff": ("busybox_poweroff_inside_the_guest",),
    "stubborn": ("service_ignoring_sigterm_is_killed_at_stop_timeout",),
    "reboot": ("final_action_reboot_resets_the_vm",),
    "firecracker": ("firecracker_style_reboot_k_ends_the_vm",),
    "badconfig": ("config_error_powers_off_instead_of_panicking",),
    "mounts": ("service_sees_mounts_hostname_and_lo_up", "services_get_stdin_from_dev_null"),
}


@test(timeout=600)
def services_start_and_ctrl_alt_del_stops_them_in_order():
    r = result("cad")
    c = r.console
    assert lines(r, "first")[:1] == ["started"] and lines(r, "second")[:1] == ["started"], c
    # Reverse dependency order: second (after first) stops first.
    assert index_of(c, "second | stopping") < index_of(c, "first | stopping"), c
    assert index_of(c, "first | stopping") < index_of(c, vmlib.POWER_DOWN), c
    ended_clean(r)


@test(timeout=600)
def main_command_exit_prints_status_and_powers_off():
    r = result("main")
    c = r.console
    assert "main-running" in c, c
    assert index_of(c, "main command exited with status 7") < index_of(c, vmlib.POWER_DOWN), c
    assert "side | stopping" in c, c
    ended_clean(r)


@test(timeout=600)
def busybox_poweroff_inside_the_guest():
    r = result("poweroff")
    c = r.console
    assert index_of(c, "trigger | calling poweroff") < index_of(c, "app | stopping"), c
    ended_clean(r)


@test(timeout=600)
def service_ignoring_sigterm_is_killed_at_stop_timeout():
    r = result("stubborn")
    c = r.console
    assert "polite | stopping" in c, c
    assert "service stubborn: still running" in c and "sending SIGKILL" in c, c
    assert "stubborn | stopping" not in c, c
    # A lower bound only (a noisy host can be slow, never fast): the VM
    # cannot power off before stop_timeout (3 s) has passed.
    assert r.exited_at - r.acted_at >= 3.0, (r.exited_at - r.acted_at, c)
    ended_clean(r)


@test(timeout=600)
def final_action_reboot_resets_the_vm():
    r = result("reboot")
    c = r.console
    assert "app | stopping" in c, c
    assert vmlib.POWER_DOWN not in c, c
    ended_clean(r, expect=vmlib.RESTART)


@test(timeout=600)
def firecracker_style_reboot_k_ends_the_vm():
    r = result("firecracker")
    c = r.console
    assert "app | stopping" in c, c
    ended_clean(r, expect=vmlib.RESTART)


@test(timeout=600)
def config_error_powers_off_instead_of_panicking():
    r = result("badconfig")
    c = r.console
    assert "oxinit.toml:" in c and "comand" in c, c
    assert "app |" not in c, c
    ended_clean(r)


@test(timeout=60)
def not_a_vm_as_pid_1_of_a_pid_namespace():
    """detect(): PID 1 of a child PID namespace is a container, not a VM, so
    oxinit mounts nothing: its children see the same mount table as a shell
    started the same way without oxinit."""
    if not shutil.which("unshare"):
        raise AssertionError("unshare not found (apt-get install util-linux)")
    show = "cut -d' ' -f5,9 /proc/self/mountinfo | sort"
    ns = ["unshare", "--pid", "--fork", "--mount", "--mount-proc"]
    base = subprocess.run(ns + ["/bin/sh", "-c", show], capture_output=True, text=True, timeout=30)
    r = subprocess.run(ns + [OXINIT, "--", "/bin/sh", "-c", show],
                       capture_output=True, text=True, timeout=30)
    assert base.returncode == 0, (base.returncode, base.stderr)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == base.stdout, (base.stdout, r.stdout)
    assert "vm:" not in r.stderr, r.stderr


@test(timeout=60)
def failed_reboot_keeps_pid_1_alive():
    """finish(): when reboot() fails (here: no CAP_SYS_BOOT), oxinit says so
    and stays alive instead of exiting (a VM's PID 1 exiting is a panic).
    Forced VM mode in private PID, mount, network and UTS namespaces."""
    for tool in ("unshare", "setpriv"):
        if not shutil.which(tool):
            raise AssertionError(f"{tool} not found (apt-get install util-linux)")
    out = os.path.join(_tmp, "noreboot.log")
    with open(out, "w") as f:
        p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--net",
                              "--uts", "setpriv", "--bounding-set", "-sys_boot",
                              OXINIT, "--vm", "--", "/bin/true"],
                             stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    ox = None
    try:
        def read():
            with open(out) as f:
                return f.read()
        wait_until(lambda: "staying alive" in read(), timeout=20, what="'staying alive'")
        kids = f"/proc/{p.pid}/task/{p.pid}/children"
        ox = int(open(kids).read().split()[0])  # setpriv exec'd oxinit
        time.sleep(1.0)
        assert p.poll() is None, (p.returncode, read())
        with open(f"/proc/{ox}/status") as f:
            state = [ln for ln in f if ln.startswith("State:")][0]
        assert "Z" not in state.split()[1], state
        text = read()
        assert "main command exited with status 0" in text, text
        assert "unable to power off" in text, text
    finally:
        if ox:
            try:
                os.kill(ox, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if p.poll() is None:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@test(timeout=600)
def service_sees_mounts_hostname_and_lo_up():
    r = result("mounts")
    out = lines(r, "probe")
    mounts = {ln.split()[1]: ln.split()[2] for ln in out if ln.startswith("mount ") and len(ln.split()) == 3}
    want = {"/proc": "proc", "/sys": "sysfs", "/dev": "devtmpfs", "/dev/pts": "devpts",
            "/dev/shm": "tmpfs", "/run": "tmpfs", "/sys/fs/cgroup": "cgroup2"}
    for m, fs in want.items():
        assert mounts.get(m) == fs, (m, mounts, r.console)
    assert "hostname oxvm" in out, r.console
    flags = [ln.split()[1] for ln in out if ln.startswith("loflags ")]
    assert flags and int(flags[0], 16) & 0x1, (flags, r.console)  # IFF_UP
    assert "ping ok" in out, r.console
    assert "path /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in out, r.console
    assert "ptmx ok" in out, r.console
    assert "pid1 oxinit" in out, r.console
    ended_clean(r)


@test(timeout=600)
def services_get_stdin_from_dev_null():
    r = result("mounts")
    assert "stdin /dev/null" in lines(r, "probe"), r.console


if __name__ == "__main__":
    main("vm")
