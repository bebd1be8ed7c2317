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
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

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

NET_PROBE = r"""
ip -4 addr show eth0 | sed -n 's/.*inet \([0-9./]*\).*/addr \1/p'
ip route | sed 's/^/route /'
sed 's/^/resolv /' /etc/resolv.conf
echo "seed $(md5sum < /seed | cut -c1-32)"
"""
SEED_TEXT = "not random at all\n" * 32


class Scenario:
    """One boot: a config, extra kernel args, and what to do while it runs.

    modules: kernel modules put into the initramfs (with what they need).
    disk: a function(work, tree) -> list of disk images, built before the boot.
    vm: extra Vm arguments (hostfwd=True picks a free port; serial_input).
    """

    def __init__(self, name, config, append="", act=None, files=None, modules=(), disk=None, vm=None,
                 copies=None):
        self.name, self.config, self.append = name, config, append
        self.act = act or (lambda vm, res: None)
        self.files = files or {}
        self.copies = copies or {}  # path in the image: a function giving the file to copy there
        self.modules, self.disk, self.vm = modules, disk, vm or {}


def act_cad(vm, res):
    vm.wait_for(r"^first \| started", BOOT_TIMEOUT)
    vm.wait_for(r"^second \| started", BOOT_TIMEOUT)
    res.acted_at = time.monotonic()
    vm.sendkey("ctrl-alt-delete")


def act_cad_after(*markers):
    """Ctrl-Alt-Del once every marker has shown on the console (each
    service's "started" line: its TERM trap is set by then)."""
    def act(vm, res):
        for marker in markers:
            vm.wait_for(marker, BOOT_TIMEOUT)
        res.acted_at = time.monotonic()  # before the key: the guest cannot see it earlier
        vm.sendkey("ctrl-alt-delete")
    return act


# --- a disk root (issue 14) -------------------------------------------------
# The initramfs loads what the root needs and switches to it; the disk's own
# config loads the rest. ext4's softdep pulls in crc32c (crc32c_intel does
# not load under TCG, crc32c_generic does).
ROOT_UUID = "3b8a0a9e-6a3c-4b7e-9a55-0c8d2f6f1a01"
DATA_UUID = "7d2c1e44-1f0b-4c3a-8e6d-5a9b0c1d2e3f"
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
INITRAMFS_CONFIG = """
[init]
modules = ["virtio_pci", "virtio_blk", "ext4"]
"""
SEED = bytes(range(256)) * 2

# Writes a numbered line to the root disk (and to /data when mounted) every
# 0.2 s, then says so on the console: the last line the console shows must
# be on the disk after the power-off.
WRITER = ("i=0; while :; do i=$((i+1)); echo line-$i >> /var/log/w.log; "
          "[ -d /data/lost+found ] && echo line-$i >> /data/w.log; echo wrote line-$i; sleep 0.2; done")

DISK_PROBE = r"""
awk '{for (i = 7; i < NF; i++) if ($i == "-") { print "mount", $5, $(i + 1); break }}' /proc/self/mountinfo
echo "forward $(cat /proc/sys/net/ipv4/ip_forward)"
echo "hostname $(hostname)"
sed 's/^/resolv /' /etc/resolv.conf
ip -4 addr show eth0 2>/dev/null | sed -n 's/.*inet \([0-9./]*\).*/addr \1/p'
ip route 2>/dev/null | sed 's/^/route /'
"""

FULL_DISK_CONFIG = f"""
[init]
shutdown_timeout = "2s"
modules = ["ext4", "virtio_net", "button"]
tmp = "tmpfs"
sysctl = {{ "net.ipv4.ip_forward" = 1 }}
random_seed = "/var/lib/random-seed"

[mount.data]
source = "UUID={DATA_UUID}"
target = "/data"
type = "ext4"
options = "noatime"

[service.writer]
command = "{WRITER}"

[service.swap]
type = "oneshot"
command = "dd if=/dev/zero of=/swapfile bs=1M count=8 2>/dev/null && chmod 600 /swapfile && mkswap /swapfile >/dev/null && swapon /swapfile && echo swap-on"

# The power button's evdev node appears only now, after oxinit's loop runs:
# it must be picked up from the kernel's uevent.
[service.evdev]
type = "oneshot"
command = "sleep 1; insmod /lib/modules/$(uname -r)/kernel/drivers/input/evdev.ko && echo evdev-loaded"

[service.web]
command = ["httpd", "-f", "-p", "80", "-h", "/srv"]

[service.probe]
type = "oneshot"
command = ["/bin/sh", "/probe.sh"]
"""

SMALL_DISK_CONFIG = f"""
[init]
shutdown_timeout = "2s"

[service.writer]
command = "{WRITER}"
"""


def disk_root(config, data_disk=False, disk_modules=()):
    """A function building the root disk (and a data disk) for a Scenario."""
    def build(work, tree):
        st = vmlib.Staging(OXINIT, os.path.join(work, "disk"))
        st.write("/etc/oxinit.toml", config)
        st.write("/probe.sh", DISK_PROBE, 0o755)
        st.write("/srv/index.html", "hello from the guest\n")
        os.makedirs(st.path("/var/log"), exist_ok=True)
        os.makedirs(st.path("/var/lib"), exist_ok=True)
        with open(st.path("/var/lib/random-seed"), "wb") as f:
            f.write(SEED)
        if disk_modules:
            st.add_modules(tree, disk_modules)
            st.copy(os.path.join(tree.moddir, "kernel/drivers/input/evdev.ko"),
                    f"/lib/modules/{tree.version}/kernel/drivers/input/evdev.ko", 0o644)
        images = [st.ext4_image(os.path.join(work, "root.img"), 96, "oxroot", ROOT_UUID)]
        if data_disk:
            data = vmlib.Staging(OXINIT, os.path.join(work, "data"))
            images.append(data.ext4_image(os.path.join(work, "data.img"), 32, "oxdata", DATA_UUID))
        return images
    return build


def act_full_disk(vm, res):
    vm.wait_for(r"^swap \| swap-on", BOOT_TIMEOUT)
    vm.wait_for(r"^evdev \| evdev-loaded", BOOT_TIMEOUT)
    port = vm.hostfwd

    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None
    res.data["http"] = wait_until(get, timeout=BOOT_TIMEOUT, step=0.5, what="the guest's httpd")
    vm.wait_for(r"^writer \| wrote line-20$", BOOT_TIMEOUT)
    res.acted_at = time.monotonic()
    res.data["powerdown"] = vm.qmp("system_powerdown")


def act_disk_then(how):
    def act(vm, res):
        vm.wait_for(r"^writer \| wrote line-20$", BOOT_TIMEOUT)
        res.acted_at = time.monotonic()
        if how == "cad":
            vm.sendkey("ctrl-alt-delete")
        else:
            vm.qmp("quit")
    return act


def act_console(vm, res):
    """An interactive shell as the main command on the serial console."""
    vm.wait_for(r"/ # ", BOOT_TIMEOUT)
    vm.type("echo ready-$((20+22))\n")
    vm.wait_for(r"^ready-42", BOOT_TIMEOUT)
    vm.type("echo go; sleep 300\n")
    vm.wait_for(r"^go$", BOOT_TIMEOUT)
    time.sleep(2)  # sleep has started (software emulation is slow)
    vm.type("\x03")
    vm.type("echo rc=$?\n")
    vm.wait_for(r"^rc=\d+", BOOT_TIMEOUT)
    vm.type("exit\n")


# --- cgroup v2 per service (issue 15) ----------------------------------------
# One boot: a memory hog OOM-killed at memory_max and restarted by policy, a
# fork bomb stopped at pids_max while the rest goes on, a setsid'd grandchild
# gone with its service, the limits as written, and oxinit in init.scope.

_contain_lock = threading.Lock()


def contain_helper():
    """tests/vm/helpers/contain.c, built static once per run."""
    exe = os.path.join(_tmp, "contain-helper.bin")
    with _contain_lock:
        if not os.path.exists(exe):
            cc = shutil.which("cc") or shutil.which("gcc")
            if not cc:
                raise vmlib.Missing("a C compiler (apt-get install gcc) for tests/vm/helpers/contain.c")
            src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "contain.c")
            subprocess.run([cc, "-O2", "-static", "-o", exe + ".tmp", src], check=True, timeout=300)
            os.rename(exe + ".tmp", exe)
    return exe


CONTAIN_CONFIG = """
[init]
mount_cgroup = true
shutdown_timeout = "2s"

[service.hog]
command = ["/bin/contain", "hog", "96"]
memory_max = "32M"
memory_swap_max = 0
restart = "on-failure"
restart_delay = "500ms"
max_restarts = 1

[service.bomb]
command = ["/bin/contain", "bomb", "100"]
pids_max = 20
cpu_max = "50%"
cpu_weight = 50

[service.leaver]
command = "setsid sh -c 'echo $$ > /run/gc.pid; exec sleep 1000' & i=0; while [ ! -e /run/seen ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo leader-exits"
restart = "never"
stop_timeout = "1s"

[service.tuned]
command = ["sleep", "1000"]
memory_high = "100M"
io_weight = 200

[service.check]
type = "oneshot"
after = ["bomb", "leaver", "tuned"]
command = ["/bin/sh", "/check.sh"]
"""

# Waits (bounded) for the bomb to hit pids.max and for the leaver's
# grandchild to come (then lets its leader exit) and go, then prints what
# the tests read.
CONTAIN_CHECK = r"""
cg=/sys/fs/cgroup
i=0; while [ $i -lt 150 ] && ! grep -q 'max [1-9]' $cg/bomb/pids.events; do sleep 0.2; i=$((i+1)); done
i=0; while [ $i -lt 150 ] && [ ! -s /run/gc.pid ]; do sleep 0.2; i=$((i+1)); done
gc=$(cat /run/gc.pid)
echo "grandchild $gc sid $(cut -d' ' -f6 /proc/$gc/stat 2>/dev/null) cgroup $(grep 0:: /proc/$gc/cgroup 2>/dev/null)"
touch /run/seen  # now the leaver's leader exits
i=0; while [ $i -lt 150 ] && kill -0 $gc 2>/dev/null; do sleep 0.2; i=$((i+1)); done
kill -0 $gc 2>/dev/null && echo "grandchild alive" || echo "grandchild gone"
echo "pid1 $(grep 0:: /proc/1/cgroup)"
echo "self $(grep 0:: /proc/self/cgroup)"
for f in hog/memory.max hog/memory.swap.max bomb/pids.max bomb/cpu.max bomb/cpu.weight tuned/memory.high tuned/io.weight; do
  echo "file $f $(head -n 1 $cg/$f 2>&1)"
done
echo "bomb pids.current $(cat $cg/bomb/pids.current)"
echo "bomb events $(cat $cg/bomb/pids.events)"
echo "subtree $(cat $cg/cgroup.subtree_control)"
echo "pid1 alive $(cut -d' ' -f3 /proc/1/stat)"
i=0; while [ $i -lt 150 ] && ! /sbin/oxinit ctl status hog | grep -q ' failed '; do sleep 0.2; i=$((i+1)); done
/sbin/oxinit ctl status | sed 's/^/status /'
echo "json $(/sbin/oxinit ctl status --json)"
echo done
"""


def act_after_all(*patterns):
    def act(vm, res):
        for p in patterns:
            vm.wait_for(p, BOOT_TIMEOUT)
        res.acted_at = time.monotonic()
        vm.sendkey("ctrl-alt-delete")
    return act


# Under TCG a start costs ~50x what it does natively: 200 services keep the
# boot within its bound; OXINIT_VM_BENCH_N=1000 with OXINIT_VM_ACCEL=kvm.
BENCH_N = int(os.environ.get("OXINIT_VM_BENCH_N", "200"))


def bench_config(cgroups):
    body = 'command = ["sleep", "1000"]\n'
    if cgroups:
        body += 'pids_max = 64\nmemory_max = "64M"\n'
    head = '[init]\ncgroups = "on"\n' if cgroups else '[init]\ncgroups = "off"\n'
    return head + "".join(f"[service.s{i}]\n{body}" for i in range(BENCH_N))


# A nested oxinit (not PID 1: a subreaper, not a VM) starts BENCH_N sleep
# services, each in a cgroup with limits or (cgroups = "off") none; the time
# from its start until BENCH_N children run, alternately, two rounds. This
# shell and each nested oxinit get a group of their own below the bench
# service's, so the nested oxinit can enable controllers below it (the "no
# internal processes" rule; delegation).
CONTAIN_BENCH = r"""
ulimit -n 8192
cg=/sys/fs/cgroup/bench
mkdir $cg/sh && echo 0 > $cg/sh/cgroup.procs && echo "+pids +memory" > $cg/cgroup.subtree_control || echo "bench setup failed"
one() {
  mkdir $cg/$3$4
  t0=$(cut -d' ' -f1 /proc/uptime)
  (echo 0 > $cg/$3$4/cgroup.procs && exec /sbin/oxinit -c $1) &
  pid=$!
  i=0; n=0
  while [ $i -lt 6000 ]; do
    n=$(cat /proc/$pid/task/$pid/children 2>/dev/null | wc -w)
    [ "$n" -ge $2 ] && break
    sleep 0.02; i=$((i+1))
  done
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "bench $3 $n children in $(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}') s"
  kill -TERM $pid; wait $pid
}
for r in 1 2; do
  one /bench-plain.toml $N plain $r
  one /bench-cg.toml $N cgroups $r
done
echo "bench done"
""".replace("$N", str(BENCH_N))


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
""", act=act_cad_after(r"^stubborn \| started", r"^polite \| started")),
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
    Scenario("disk-powerdown", INITRAMFS_CONFIG, modules=INITRAMFS_MODULES,
             append="TINI_VERBOSITY=2 root=LABEL=oxroot rw ip=10.0.2.15::10.0.2.2:255.255.255.0:oxnet:eth0:off:10.0.2.3",
             disk=disk_root(FULL_DISK_CONFIG, data_disk=True, disk_modules=["virtio_net", "button"]),
             vm={"hostfwd": True}, act=act_full_disk),
    Scenario("disk-cad", INITRAMFS_CONFIG, modules=INITRAMFS_MODULES,
             append=f"TINI_VERBOSITY=2 root=UUID={ROOT_UUID} rootfstype=ext4 rw rootwait",
             disk=disk_root(SMALL_DISK_CONFIG), act=act_disk_then("cad")),
    Scenario("disk-quit", INITRAMFS_CONFIG, modules=INITRAMFS_MODULES,
             append="root=/dev/vda rw", disk=disk_root(SMALL_DISK_CONFIG), act=act_disk_then("quit")),
    Scenario("console", HEADER, append="-- /bin/sh -i", vm={"serial_input": True}, act=act_console),
    Scenario("badmodule", """
[init]
modules = ["no_such_module"]
""", modules=["no_such_module"], append="root=/dev/vda"),
    # Also [init] network (no ip=) and a credited random seed.
    Scenario("mounts", """
[init]
hostname = "oxvm"
mount_cgroup = true
modules = ["virtio_pci", "virtio_net"]
random_seed = "/seed"
random_seed_credit = true
[init.network]
address = "10.0.2.15/24"
gateway = "10.0.2.2"
dns = ["10.0.2.3"]
[service.probe]
command = ["/bin/sh", "/probe.sh"]
restart = "never"
critical = true
""", files={"/probe.sh": PROBE_SH + NET_PROBE, "/seed": SEED_TEXT}, modules=["virtio_pci", "virtio_net"],
        vm={"hostfwd": True}),
    Scenario("contain", CONTAIN_CONFIG, files={"/check.sh": CONTAIN_CHECK}, copies={"/bin/contain": contain_helper},
             act=act_after_all(r"^check \| done", r"service hog: .*failed for good")),
    Scenario("contain-bench", """
[init]
mount_cgroup = true
[service.bench]
type = "oneshot"
command = ["/bin/sh", "/bench.sh"]
critical = true
pids_max = 10000
memory_max = "600M"
""", files={"/bench.sh": CONTAIN_BENCH, "/bench-cg.toml": bench_config(True),
            "/bench-plain.toml": bench_config(False)}, vm={"mem": 768}),
]}


class Result:
    def __init__(self):
        self.console = ""
        self.rc = None
        self.acted_at = None   # monotonic time just before the scenario's action
        self.exited_at = None
        self.error = None
        self.cmdline = ""
        self.images = []       # the disk images, kept for checks after the run
        self.data = {}         # what the action gathered


_lock = threading.Lock()
_pool = None
_futures = {}
_tmp = tempfile.mkdtemp(prefix="oxinit-vm-")
if os.environ.get("OXINIT_VM_KEEP"):  # keep consoles and initramfs for a look
    print(f"vm: keeping {_tmp}", flush=True)
else:
    atexit.register(shutil.rmtree, _tmp, True)


def _boot(sc, tree):
    res = Result()
    work = os.path.join(_tmp, sc.name)
    os.makedirs(work)
    vm = None
    try:
        st = vmlib.Staging(OXINIT, work)
        st.write("/etc/oxinit.toml", sc.config)
        for path, text in sc.files.items():
            st.write(path, text, 0o755)
        for path, src in sc.copies.items():
            st.copy(src(), path)
        if sc.modules:
            st.add_modules(tree, sc.modules)
        initrd = st.pack(os.path.join(work, "initrd.cpio"))
        res.images = sc.disk(work, tree) if sc.disk else []
        kw = dict(sc.vm)
        if kw.get("hostfwd"):
            kw["hostfwd"] = vmlib.free_port()
        vm = vmlib.Vm(work, tree.vmlinuz, initrd, append=sc.append, disks=res.images, **kw)
        vm.hostfwd = kw.get("hostfwd")
        res.cmdline = vm.cmdline
        vm.start()
        sc.act(vm, res)
        res.rc = vm.wait_exit(BOOT_TIMEOUT)
        res.exited_at = vm.exit_time
        print(f"vm: {sc.name}: QEMU ran {res.exited_at - vm.started:.1f}s from start to exit",
              flush=True)
    except Exception as e:  # noqa: BLE001 - reported by the test that reads it
        res.error = f"{type(e).__name__}: {e}"
    finally:
        if vm:
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
            kernel = vmlib.kernel_tree()
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
    # The kernel's printk shares the console and can land inside a service's
    # line ("check | file hog/memory.swap.max 0[    6.83] Memory cgroup out
    # of memory: ..."): cut such a tail off.
    return [re.sub(r"\[\s*\d+\.\d+\] .*$", "", ln) for ln in vmlib.oxinit_lines(r.console, name)]


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
    "mounts": ("service_sees_mounts_hostname_and_lo_up", "services_get_stdin_from_dev_null",
               "network_and_credited_seed_from_config_keys"),
    "disk-powerdown": ("disk_root_power_button_ends_clean", "disk_root_network_mounts_sysctl_seed"),
    "disk-cad": ("disk_root_ctrl_alt_del_ends_clean",),
    "disk-quit": ("disk_root_hard_quit_shows_the_check_can_fail",),
    "console": ("console_shell_has_job_control_and_ctrl_c",),
    "badmodule": ("missing_module_is_an_error_then_power_off",),
    "contain": ("cgroup_memory_hog_is_oom_killed_reported_and_restarted", "cgroup_usage_and_oom_kills_in_ctl_status",
                "cgroup_fork_bomb_stops_at_pids_max_while_the_rest_goes_on",
                "cgroup_setsid_grandchild_is_gone_after_its_leader_exits",
                "cgroup_limits_as_written_and_oxinit_in_init_scope"),
    "contain-bench": ("cgroup_services_start_time_with_and_without_cgroups",),
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


@test(timeout=600)
def network_and_credited_seed_from_config_keys():
    """[init] network without ip=; random_seed_credit (RNDADDENTROPY): no
    WARN, and the seed file was replaced before the probe read it."""
    import hashlib
    r = result("mounts")
    out = lines(r, "probe")
    assert "addr 10.0.2.15/24" in out, r.console
    assert any(ln.startswith("route default via 10.0.2.2") for ln in out), r.console
    assert "resolv nameserver 10.0.2.3" in out, r.console
    seeds = [ln.split()[1] for ln in out if ln.startswith("seed ")]
    assert seeds and seeds[0] != hashlib.md5(SEED_TEXT.encode()).hexdigest(), (seeds, r.console)
    assert "WARN " not in r.console and "ERROR" not in r.console, r.console


def last_written(r):
    """N of the last 'wrote line-N' the console showed."""
    n = [int(x) for x in re.findall(r"^writer \| wrote line-(\d+)$", r.console, re.M)]
    assert n, r.console
    return n[-1]


def disk_ended_clean(r, image, log):
    clean, report = vmlib.fsck(image)
    assert clean, f"{image} not clean after the power-off:\n{report}\nconsole:\n{r.console}"
    n = last_written(r)
    lines = vmlib.cat_in_image(image, log).split()
    assert f"line-{n}" in lines, (n, lines[-3:], r.console)


@test(timeout=900)
def disk_root_power_button_ends_clean():
    """initramfs -> ext4 root on virtio-blk; QMP system_powerdown (ACPI power
    button, evdev loaded by a service after the loop started) stops the
    services in order; both disks fsck clean with the last line on them, and
    the swap file on / did not keep it from going read-only."""
    r = result("disk-powerdown")
    c = r.console
    assert "switched root to" in c, c
    assert "power button pressed" in c, c
    assert "ERROR" not in c and "WARN " not in c, c
    ended_clean(r)
    disk_ended_clean(r, r.images[0], "/var/log/w.log")
    disk_ended_clean(r, r.images[1], "/w.log")


@test(timeout=900)
def disk_root_network_mounts_sysctl_seed():
    r = result("disk-powerdown")
    out = lines(r, "probe")
    assert "hello from the guest" in r.data.get("http", ""), (r.data, r.console)
    mounts = {ln.split()[1]: ln.split()[2] for ln in out if ln.startswith("mount ") and len(ln.split()) == 3}
    assert mounts.get("/") == "ext4" and mounts.get("/data") == "ext4", (mounts, r.console)
    assert mounts.get("/tmp") == "tmpfs", (mounts, r.console)
    assert "forward 1" in out, r.console
    assert "hostname oxnet" in out, r.console
    assert "resolv nameserver 10.0.2.3" in out, r.console
    assert "addr 10.0.2.15/24" in out, r.console
    assert any(ln.startswith("route default via 10.0.2.2") for ln in out), r.console
    seed = vmlib.cat_in_image(r.images[0], "/var/lib/random-seed", binary=True)
    assert len(seed) == 512 and seed != SEED, ("random seed not replaced", seed[:32])


@test(timeout=900)
def disk_root_ctrl_alt_del_ends_clean():
    r = result("disk-cad")
    c = r.console
    assert "switched root to" in c, c
    assert "received SIGINT" in c, c
    ended_clean(r)
    disk_ended_clean(r, r.images[0], "/var/log/w.log")


@test(timeout=900)
def disk_root_hard_quit_shows_the_check_can_fail():
    """The same disk, ended by QMP quit (the host pulls the plug): the check
    above must notice (a journal to recover, or the last line missing)."""
    r = result("disk-quit")
    assert vmlib.POWER_DOWN not in r.console, r.console
    clean, report = vmlib.fsck(r.images[0])
    n = last_written(r)
    on_disk = f"line-{n}" in vmlib.cat_in_image(r.images[0], "/var/log/w.log").split()
    assert not (clean and on_disk), f"a hard quit left a clean disk with line-{n}:\n{report}"


@test(timeout=900)
def console_shell_has_job_control_and_ctrl_c():
    r = result("console")
    c = r.console
    assert "job control turned off" not in c and "can't access tty" not in c, c
    assert "rc=130" in c, c  # sleep died of SIGINT; the shell went on
    ended_clean(r)


@test(timeout=900)
def missing_module_is_an_error_then_power_off():
    r = result("badmodule")
    c = r.console
    assert re.search(r"ERROR oxinit \(1\)\] vm: unable to load module no_such_module: ", c), c
    assert "unable to switch root to /dev/vda: no such device" in c, c
    assert vmlib.PANIC not in c and vmlib.POWER_DOWN in c and r.rc == 0, c


@test(timeout=900)
def cgroup_memory_hog_is_oom_killed_reported_and_restarted():
    r = result("contain")
    c = r.console
    oom = [ln for ln in c.splitlines() if "service hog: killed by the OOM killer (memory_max 32M)" in ln]
    assert len(oom) == 2, c  # the first run and its one restart (max_restarts = 1)
    assert lines(r, "hog").count("hog survived") == 0, c
    assert "service hog: killed by SIGKILL; restarting in 500ms" in c, c
    assert "service hog: killed by SIGKILL; failed for good: 1 restarts within 60s (max_restarts)" in c, c
    first = index_of(c, oom[0])
    assert first < index_of(c, "restarting in 500ms") < c.find(oom[1], first + 1), c
    ended_clean(r)


@test(timeout=900)
def cgroup_fork_bomb_stops_at_pids_max_while_the_rest_goes_on():
    r = result("contain")
    c = r.console
    out = lines(r, "bomb")
    forked = [ln for ln in out if ln.startswith("forked ")]
    assert forked == ["forked 19, refused 81, other errors 0"], (forked, c)  # 20 with the leader
    check = lines(r, "check")
    assert "bomb pids.current 20" in check, c
    assert any(ln.startswith("bomb events max ") and ln != "bomb events max 0" for ln in check), check
    assert "done" in check, c  # a service started after the bomb ran to its end
    # the bomb stops with everything else at the end, none left behind
    assert "service bomb: still running" not in c, c
    ended_clean(r)


@test(timeout=900)
def cgroup_setsid_grandchild_is_gone_after_its_leader_exits():
    r = result("contain")
    c = r.console
    check = lines(r, "check")
    gc = [ln.split() for ln in check if ln.startswith("grandchild ") and " sid " in ln]
    assert gc and gc[0][1] == gc[0][3] and gc[0][5] == "0::/leaver", check  # own session, in leaver's group
    assert "grandchild gone" in check, c
    assert "service leaver: exited with 0; stopping what it left in its cgroup first" in c, c
    ended_clean(r)


@test(timeout=900)
def cgroup_limits_as_written_and_oxinit_in_init_scope():
    r = result("contain")
    check = lines(r, "check")
    want = {"hog/memory.max": "33554432", "hog/memory.swap.max": "0", "bomb/pids.max": "20",
            "bomb/cpu.max": "50000 100000", "bomb/cpu.weight": "50", "tuned/memory.high": "104857600",
            "tuned/io.weight": "default 200"}
    got = {ln.split()[1]: ln.split(" ", 2)[2] for ln in check if ln.startswith("file ")}
    assert got == want, (got, r.console)
    assert "pid1 0::/init.scope" in check, check
    assert "self 0::/check" in check, check
    sub = [ln for ln in check if ln.startswith("subtree ")]
    assert sub and set(sub[0].split()[1:]) == {"cpu", "io", "memory", "pids"}, sub
    ended_clean(r)


@test(timeout=900)
def cgroup_usage_and_oom_kills_in_ctl_status():
    r = result("contain")
    check = lines(r, "check")
    js = [ln[len("json "):] for ln in check if ln.startswith("json ")]
    assert js, r.console
    svc = {x["name"]: x for x in json.loads(js[0])["services"]}
    assert svc["hog"]["state"] == "failed" and svc["hog"]["oom_kills"] == 2, svc["hog"]
    for name in ("bomb", "tuned"):  # running, in groups with the memory controller on
        assert isinstance(svc[name]["memory"], int) and svc[name]["memory"] > 0, svc[name]
        assert isinstance(svc[name]["cpu_usec"], int) and svc[name]["cpu_usec"] >= 0, svc[name]
    assert svc["bomb"]["cpu_usec"] > 0, svc["bomb"]  # 100 forks cost some CPU
    text = [ln[len("status "):] for ln in check if ln.startswith("status ")]
    assert text and text[0].split()[:7] == ["SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "MEMORY", "CPU"], text
    row = {ln.split()[0]: ln.split() for ln in text[1:]}
    assert re.fullmatch(r"[0-9]+\.[0-9]M", row["tuned"][5]) and re.fullmatch(r"[0-9]+\.[0-9]{2}s", row["tuned"][6]), text
    assert " ".join(row["hog"]).endswith("OOM kills: 2"), text
    ended_clean(r)


@test(timeout=1800)
def cgroup_services_start_time_with_and_without_cgroups():
    r = result("contain-bench")
    c = r.console
    rows = [ln.split() for ln in lines(r, "bench") if ln.startswith("bench ") and ln.endswith(" s")]
    assert "bench setup failed" not in c, c
    assert len(rows) == 4 and all(int(x[2]) >= BENCH_N for x in rows), c
    plain = [float(x[5]) for x in rows if x[1] == "plain"]
    cg = [float(x[5]) for x in rows if x[1] == "cgroups"]
    per = (min(cg) - min(plain)) / BENCH_N * 1e6
    print(f"  {BENCH_N} services all running (VM, {os.environ.get('OXINIT_VM_ACCEL', 'tcg')}): "
          f"plain {plain} s, in cgroups with limits {cg} s; added {per:.0f} us per start")
    ended_clean(r)


if __name__ == "__main__":
    main("vm")
