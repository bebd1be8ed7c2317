"""Issue 15: contain each service. Privileges (capabilities, no_new_privs,
oom_score_adj, nice, cpu_affinity) as PID 1 of a PID namespace; cgroup v2
per service in a private cgroup namespace with cgroup2 mounted (this host's
v2 tree has no controllers: the limits themselves are tested in tests/vm)."""
import os
import re
import shutil
import signal
import stat
import subprocess
import time

from harness import OXINIT, test, wait_until
from lib import Init, PY, children_of, proc_status, read, tmpdir, write_config

CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_NICE, CAP_SYS_RESOURCE = 5, 10, 23, 24
CAP_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def my_caps(field="CapBnd"):
    return int(proc_status(os.getpid())[field], 16)


def need_caps(*caps):
    """Fail loudly when this machine's root cannot give what a test needs."""
    have = my_caps("CapBnd") & my_caps("CapEff")
    missing = [c for c in caps if not have >> c & 1]
    assert not missing, f"precondition: this root lacks capabilities {missing} (CapBnd {have:x})"


def need_tool(name):
    assert shutil.which(name), f"{name} not found (apt-get install util-linux iproute2)"


def service_pids(ox):
    """{argv string: pid} of oxinit's children."""
    out = {}
    for pid in children_of(ox):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out[f.read().replace(b"\0", b" ").decode().strip()] = pid
        except OSError:
            pass
    return out


def wait_for_children(i, argvs, timeout=20):
    return wait_until(lambda: (lambda p: p if all(a in p for a in argvs) else None)(service_pids(i.pid)),
                      timeout, what=f"services {argvs}")


def wrapper(d, name, body):
    """An executable that prepares a namespace, then execs oxinit with its arguments
    (exec keeps oxinit PID 1 of the namespace Init made)."""
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(p, 0o755)
    return p


def lines_of(out, name):
    p = f"{name} | "
    return [ln[len(p):] for ln in out.splitlines() if ln.startswith(p)]


@test
def capabilities_reduce_every_set_and_no_new_privs():
    need_caps(CAP_KILL, CAP_NET_BIND_SERVICE)
    d = tmpdir()
    cfg = write_config(d, """
[service.root2]
command = ["sleep", "1001"]
capabilities = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
no_new_privs = true
[service.nobody]
command = ["sleep", "1002"]
user = "nobody"
capabilities = ["cap_net_bind_service"]
[service.none]
command = ["sleep", "1003"]
capabilities = []
[service.plain]
command = ["sleep", "1004"]
""")
    with Init(["-c", cfg]) as i:
        pids = wait_for_children(i, ["sleep 1001", "sleep 1002", "sleep 1003", "sleep 1004"])
        # The sets are read once the children have exec'd sleep.
        wait_until(lambda: all(read(f"/proc/{p}/comm").strip() == "sleep" for p in pids.values()), 10,
                   what="the services to exec")
        st = {a: proc_status(p) for a, p in pids.items()}
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0, i.err
    want = {
        "sleep 1001": (1 << CAP_NET_BIND_SERVICE) | (1 << CAP_KILL),
        "sleep 1002": 1 << CAP_NET_BIND_SERVICE,
        "sleep 1003": 0,
    }
    for argv, mask in want.items():
        got = {k: int(st[argv][k], 16) for k in CAP_SETS}
        print(f"  {argv}: " + " ".join(f"{k}={v:x}" for k, v in got.items()))
        assert got == {k: mask for k in CAP_SETS}, (argv, got, mask)
    assert st["sleep 1001"]["NoNewPrivs"] == "1", st["sleep 1001"]
    assert st["sleep 1002"]["NoNewPrivs"] == "0"
    assert st["sleep 1002"]["Uid"].split()[0] == "65534", st["sleep 1002"]["Uid"]
    # Without the key nothing changes: root keeps what oxinit has, ambient empty.
    plain = st["sleep 1004"]
    assert int(plain["CapBnd"], 16) == my_caps("CapBnd"), plain
    assert int(plain["CapEff"], 16) == my_caps("CapBnd"), plain
    assert int(plain["CapAmb"], 16) == 0, plain


@test
def nobody_binds_port_80_only_with_cap_net_bind_service():
    need_caps(CAP_NET_BIND_SERVICE)
    need_tool("ip")
    need_tool("unshare")
    d = tmpdir()
    # A private network namespace: port 80 of nobody else, lo up for 127.0.0.1.
    w = wrapper(d, "netns", f'exec unshare --net sh -c \'ip link set lo up && exec "$0" "$@"\' {OXINIT} "$@"')
    bind = ("import socket, errno\n"
            "s = socket.socket()\n"
            "try:\n"
            "    s.bind(('127.0.0.1', 80)); print('bound', flush=True)\n"
            "except OSError as e:\n"
            "    print('denied', errno.errorcode[e.errno], flush=True)\n")
    cfg = write_config(d, f"""
[service.with]
type = "oneshot"
command = ["{PY}", "-c", "{bind.encode('unicode_escape').decode()}"]
user = "nobody"
capabilities = ["CAP_NET_BIND_SERVICE"]
[service.nnp]
type = "oneshot"
command = ["{PY}", "-c", "{bind.encode('unicode_escape').decode()}"]
user = "nobody"
capabilities = ["CAP_NET_BIND_SERVICE"]
no_new_privs = true
after = ["with"]
[service.without]
type = "oneshot"
command = ["{PY}", "-c", "{bind.encode('unicode_escape').decode()}"]
user = "nobody"
after = ["nnp"]
[service.emptied]
type = "oneshot"
command = ["{PY}", "-c", "{bind.encode('unicode_escape').decode()}"]
capabilities = []
after = ["without"]
""")
    with Init(["-c", cfg], oxinit=w) as i:
        code = i.wait(30)
    print("  " + " / ".join(f"{n}: {lines_of(i.out, n)}" for n in ("with", "nnp", "without", "emptied")))
    assert code == 0, (code, i.out, i.err)
    assert lines_of(i.out, "with") == ["bound"], i.out + i.err
    assert lines_of(i.out, "nnp") == ["bound"], i.out + i.err
    assert lines_of(i.out, "without") == ["denied EACCES"], i.out + i.err
    # root with every capability dropped is as powerless as nobody here
    assert lines_of(i.out, "emptied") == ["denied EACCES"], i.out + i.err


@test
def capability_oxinit_does_not_hold_fails_the_start_clearly():
    need_tool("setpriv")
    need_caps(CAP_KILL)
    d = tmpdir()
    # Whatever this root holds: without CAP_SYS_RESOURCE in oxinit's bounding
    # set, a service cannot be given it.
    w = wrapper(d, "nores", f'exec setpriv --bounding-set -sys_resource {OXINIT} "$@"')
    cfg = write_config(d, """
[service.greedy]
command = ["sleep", "1000"]
capabilities = ["CAP_SYS_RESOURCE", "CAP_KILL"]
restart = "never"
""")
    with Init(["-c", cfg], oxinit=w) as i:
        code = i.wait(20)
    assert code == 1, (code, i.err)
    assert "service greedy: unable to start sleep: capset failed: Operation not permitted" in i.err, i.err


@test
def oom_score_adj_nice_and_cpu_affinity_in_proc():
    need_caps(CAP_SYS_NICE)
    cpus = sorted(os.sched_getaffinity(0))
    last = cpus[-1]
    d = tmpdir()
    cfg = write_config(d, f"""
[service.tuned]
command = ["sleep", "1001"]
oom_score_adj = 500
nice = 7
cpu_affinity = ["{last}-{last}"]
user = "nobody"
[service.raised]
command = ["sleep", "1002"]
nice = -5
cpu_affinity = {cpus}
[service.plain]
command = ["sleep", "1003"]
""")
    with Init(["-c", cfg]) as i:
        pids = wait_for_children(i, ["sleep 1001", "sleep 1002", "sleep 1003"])
        wait_until(lambda: all(read(f"/proc/{p}/comm").strip() == "sleep" for p in pids.values()), 10,
                   what="the services to exec")
        got = {}
        for a, p in pids.items():
            fields = read(f"/proc/{p}/stat").rsplit(")", 1)[1].split()
            got[a] = (int(read(f"/proc/{p}/oom_score_adj")), int(fields[16]),
                      proc_status(p)["Cpus_allowed_list"])
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0, i.err
    print(f"  (oom_score_adj, nice, cpus): {got}")
    own_oom = int(read("/proc/self/oom_score_adj"))
    own_cpus = proc_status(os.getpid())["Cpus_allowed_list"]
    assert got["sleep 1001"] == (500, 7, str(last)), got
    assert got["sleep 1002"][1:] == (-5, own_cpus), got
    assert got["sleep 1003"] == (own_oom, 0, own_cpus), got


@test
def lowering_oom_score_adj_is_applied_or_refused_clearly():
    # proc(5): lowering oom_score_adj below its minimum needs CAP_SYS_RESOURCE,
    # which some machines' root lacks (this one's). Either it is applied, or
    # the service does not start and says why: never a silent default.
    d = tmpdir()
    cfg = write_config(d, """
[service.precious]
command = ["sleep", "1000"]
oom_score_adj = -900
restart = "never"
""")
    have = my_caps("CapEff") >> CAP_SYS_RESOURCE & 1
    print(f"  CAP_SYS_RESOURCE held: {bool(have)}")
    with Init(["-c", cfg]) as i:
        if have:
            pid = wait_for_children(i, ["sleep 1000"])["sleep 1000"]
            wait_until(lambda: read(f"/proc/{pid}/oom_score_adj").strip() == "-900", 10, what="-900")
            i.kill(signal.SIGTERM)
            assert i.wait(20) == 0, i.err
        else:
            assert i.wait(20) == 1, i.err
            assert "service precious: unable to start sleep: oom_score_adj failed: Permission denied" in i.err, i.err


# ---- cgroup v2 in a private cgroup namespace -------------------------------

def host_cgroup2():
    """This process's cgroup directory in the host's cgroup2 tree (the whole
    of /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one)."""
    mnt = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] == "cgroup2" and pre.split()[3] == "/":
                mnt = pre.split()[4]
                break
    assert mnt, "precondition: no cgroup2 mount of the tree's root in this mount namespace"
    rel = [ln[3:].strip() for ln in read("/proc/self/cgroup").splitlines() if ln.startswith("0::")]
    assert rel, "precondition: no cgroup v2 line in /proc/self/cgroup"
    return os.path.join(mnt, rel[0].lstrip("/"))


class CgroupNs:
    """A fresh cgroup under this process's, for one test: oxinit runs in it as
    the root of a private cgroup namespace, with cgroup2 mounted on
    /sys/fs/cgroup in a private mount namespace (what a container engine
    gives on a cgroup v2 host, without controllers on this host)."""

    def __init__(self, d):
        need_tool("unshare")
        self.dir = os.path.join(host_cgroup2(), f"oxinit-test-{os.getpid()}-{os.path.basename(d)}")
        os.mkdir(self.dir)
        self.wrapper = wrapper(d, "cgns", f"echo 0 > {self.dir}/cgroup.procs || exit 98\n"
                               f"exec unshare --cgroup --mount sh -c "
                               f"'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$0\" \"$@\"' {OXINIT} \"$@\"")

    def path(self, *rel):
        return os.path.join(self.dir, *rel)

    def groups(self):
        return sorted(e for e in os.listdir(self.dir) if os.path.isdir(self.path(e)))

    def cleanup(self):
        """Every group below ours, then ours: empty once the namespace is gone."""
        def gone():
            for sub in self.groups():
                if read(self.path(sub, "cgroup.events")).find("populated 1") >= 0:
                    try:
                        with open(self.path(sub, "cgroup.kill"), "w") as f:
                            f.write("1")
                    except OSError:
                        pass
                    return False
                try:
                    os.rmdir(self.path(sub))
                except OSError:
                    return False
            try:
                os.rmdir(self.dir)
            except OSError:
                return False
            return True
        wait_until(gone, 10, what=f"{self.dir} to be removed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def cgroup_of(pid):
    """The v2 path of pid as this process sees it."""
    v2 = [ln[3:] for ln in read(f"/proc/{pid}/cgroup").splitlines() if ln.startswith("0::")]
    assert v2, f"pid {pid} is gone"
    return v2[0]


def host_pid(ox, nspid):
    """The pid, as seen here, of the process that is nspid in oxinit's PID namespace."""
    ns = os.readlink(f"/proc/{ox}/ns/pid")
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            ids = proc_status(int(e)).get("NSpid", "").split()
            if ids and ids[-1] == str(nspid) and os.readlink(f"/proc/{e}/ns/pid") == ns:
                return int(e)
        except OSError:
            continue
    raise AssertionError(f"no process {nspid} in the namespace of {ox}")


def alive(pid):
    st = read(f"/proc/{pid}/stat")
    return bool(st) and st.rsplit(")", 1)[1].split()[0] != "Z"


@test
def each_service_in_its_own_cgroup_oxinit_and_main_command_in_init_scope():
    d = tmpdir()
    with CgroupNs(d) as cg:
        cfg = write_config(d, f"""
[service.one]
command = ["sleep", "1001"]
[service.many]
command = ["sleep", "1002"]
instances = 2
[service.again]
command = ["sh", "-c", "cat /proc/self/cgroup >> {d}/again; sleep 0.2"]
restart_delay = "50ms"
""")
        with Init(["-c", cfg, "--", "sleep", "1003"], oxinit=cg.wrapper) as i:
            pids = wait_for_children(i, ["sleep 1001", "sleep 1002", "sleep 1003"])
            wait_until(lambda: read(f"{d}/again").count("0::") >= 3, 20, what="three runs of again")
            base = cgroup_of(i.pid).rsplit("/", 1)[0]
            got = {a: cgroup_of(p)[len(base):] for a, p in pids.items() if a.startswith("sleep")}
            ox = cgroup_of(i.pid)[len(base):]
            groups = cg.groups()
            print(f"  oxinit {ox}; services {got}; groups {groups}")
            i.kill(signal.SIGTERM)
            assert i.wait(20) == 128 + signal.SIGTERM, i.err  # the main command's code
        assert base == "/" + os.path.basename(cg.dir) or base.endswith("/" + os.path.basename(cg.dir)), base
        assert ox == "/init.scope", ox
        assert got["sleep 1001"] == "/one", got
        assert got["sleep 1003"] == "/init.scope", got  # the main command stays with oxinit
        assert got["sleep 1002"] in ("/many.0", "/many.1"), got
        assert {"init.scope", "one", "many.0", "many.1", "again"} <= set(groups), groups
        # The restarts (vfork-style for other services) start in the group too.
        runs = [r for r in read(f"{d}/again").split() if r.startswith("0::")]
        assert len(runs) >= 3 and all(r == "0::/again" for r in runs), runs


@test
def setsid_grandchild_goes_with_its_service_after_leader_exit_and_at_stop():
    d = tmpdir()
    # A daemon that double-forks out of its process group and session: only
    # its cgroup still holds it. It records the SIGTERMs it ignores.
    escape = (f"setsid sh -c 'trap \\\"echo term >> {d}/$0\\\" TERM; echo $$ > {d}/$0.pid; "
              f"while :; do sleep 0.1; done' {{name}} & ")
    with CgroupNs(d) as cg:
        cfg = write_config(d, f"""
[init]
shutdown_timeout = "30s"
[service.leaver]
command = ["sh", "-c", "{escape.format(name='leaver')} sleep 0.5; echo leader-exits"]
restart = "never"
stop_timeout = "1s"
[service.stopped]
command = ["sh", "-c", "{escape.format(name='stopped')} exec sleep 1000"]
stop_timeout = "1s"
""")
        with Init(["-c", cfg], oxinit=cg.wrapper) as i:
            wait_until(lambda: read(f"{d}/leaver.pid").strip() and read(f"{d}/stopped.pid").strip(), 20,
                       what="the grandchildren")
            leaver = host_pid(i.pid, int(read(f"{d}/leaver.pid")))
            stopped = host_pid(i.pid, int(read(f"{d}/stopped.pid")))
            assert alive(leaver) and alive(stopped)
            assert os.getsid(leaver) == leaver and os.getsid(stopped) == stopped, "sessions of their own"
            # The leader exits; what it left in its cgroup is stopped: TERM
            # (ignored), then SIGKILL after stop_timeout.
            wait_until(lambda: not alive(leaver), 15, what="the leaver's grandchild to be gone")
            assert alive(stopped)
            t0 = time.monotonic()
            i.kill(signal.SIGTERM)
            code = i.wait(25)
            took = time.monotonic() - t0
        print(f"  shutdown took {took:.2f}s (stop_timeout 1s, shutdown_timeout 30s)")
        assert code == 0, (code, i.err)
        assert read(f"{d}/leaver").split() == ["term"], read(f"{d}/leaver")
        assert read(f"{d}/stopped").split() == ["term"], read(f"{d}/stopped")
        assert "service leaver: exited with 0; stopping what it left" in i.err, i.err
        assert "service stopped: still running 1s after its stop signal; sending SIGKILL" in i.err, i.err
        # Gone with its service, not in the 30 s sweep of leftovers.
        assert took < 15, took


@test
def without_cgroup_kill_the_group_is_frozen_killed_each_and_thawed():
    """Linux < 5.14 has no cgroup.kill. Here it cannot be written (oxinit runs
    without CAP_DAC_OVERRIDE and the file is 0444), so the whole-tree SIGKILL
    takes the older way: freeze the group, SIGKILL each process listed, thaw.
    strace shows that way taken; a setsid'd TERM-ignoring grandchild is gone,
    and the restart in the same group runs (the group was thawed)."""
    need_tool("setpriv")
    need_tool("strace")
    d = tmpdir()
    sock = os.path.join(d, "ctl.sock")
    script = os.path.join(d, "stuck.sh")
    with open(script, "w") as f:
        f.write(f"""trap '' TERM
echo $$ >> {d}/leader
setsid sh -c 'echo $$ > {d}/grandchild; while :; do sleep 0.1; done' &
while :; do sleep 0.1; done
""")
    with CgroupNs(d) as cg:
        cfg = write_config(d, f"""
[init]
control_socket = "{sock}"
[service.stuck]
command = ["sh", "{script}"]
stop_timeout = "1s"
""")
        nodac = wrapper(d, "nodac", f'exec setpriv --bounding-set -dac_override {cg.wrapper} "$@"')
        with Init(["-c", cfg], oxinit=nodac) as i:
            wait_until(lambda: read(f"{d}/grandchild").strip() and read(f"{d}/leader").strip(), 20,
                       what="the service and its grandchild")
            assert proc_status(i.pid)["CapEff"] != proc_status(os.getpid())["CapEff"], "precondition: a capability dropped"
            grandchild = host_pid(i.pid, int(read(f"{d}/grandchild")))
            os.chmod(cg.path("stuck", "cgroup.kill"), 0o444)
            trace = os.path.join(d, "trace")
            st = subprocess.Popen(["strace", "-qq", "-e", "trace=openat,write", "-e", "signal=none",
                                   "-s", "64", "-o", trace, "-p", str(i.pid)],
                                  stderr=subprocess.DEVNULL)
            try:
                # strace opens its output file before it attaches: attached once
                # a `ctl status` shows in it (it reads the group's cpu.stat).
                wait_until(lambda: subprocess.run([OXINIT, "ctl", "-s", sock, "status"], capture_output=True,
                                                  timeout=15).returncode == 0 and "stuck/cpu.stat" in read(trace),
                           20, what="strace to attach")
                r = subprocess.run([OXINIT, "ctl", "-s", sock, "restart", "stuck"], capture_output=True,
                                   text=True, timeout=30)
                assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
                wait_until(lambda: not alive(grandchild), 20, what="the grandchild to be gone")
                wait_until(lambda: len(read(f"{d}/leader").split()) >= 2, 20,
                           what="the restarted service to run in its thawed group")
            finally:
                st.terminate()
                st.wait(10)
            assert read(cg.path("stuck", "cgroup.freeze")).strip() == "0"
            i.kill(signal.SIGTERM)
            code = i.wait(25)
        calls = read(trace)
        print("  " + "\n  ".join(ln for ln in calls.splitlines() if "stuck/cgroup." in ln or ln.startswith("write(") and '"1"' in ln)[:2000])
        assert code == 0, (code, i.err)
        assert re.search(r'openat\(\d+, "stuck/cgroup.kill", O_WRONLY[^)]*\) = -1 EACCES', calls), calls[-3000:]
        kill_at = calls.index('"stuck/cgroup.kill"')
        freeze = [m.start() for m in re.finditer(r'openat\(\d+, "stuck/cgroup.freeze", O_WRONLY[^)]*\) = \d+', calls)]
        assert len(freeze) == 2 and kill_at < freeze[0], calls[-3000:]
        # Frozen ("1"), the list read between, thawed ("0").
        between = calls[freeze[0]:freeze[1]]
        assert re.search(r'write\(\d+, "1", 1\)\s+= 1', between) and '"stuck/cgroup.procs"' in between, between
        assert re.search(r'write\(\d+, "0", 1\)\s+= 1', calls[freeze[1]:]), calls[freeze[1]:][:500]
        assert "service stuck: still running 1s after its stop signal; sending SIGKILL" in i.err, i.err
        assert read(cg.path("stuck", "cgroup.freeze")).strip() == "0"


@test
def limit_without_its_controller_fails_that_service_clearly():
    d = tmpdir()
    cfg = write_config(d, """
[service.hog]
command = ["sleep", "1000"]
memory_max = "64M"
[service.fine]
command = ["sh", "-c", "echo fine-ran"]
restart = "never"
""")
    # This host's cgroup2 tree has no controllers; outside a cgroup
    # namespace /sys/fs/cgroup is not cgroup2 at all. Neither runs hog unlimited.
    with CgroupNs(d) as cg:
        assert "memory" not in read(os.path.join(os.path.dirname(cg.dir), "cgroup.subtree_control")), \
            "precondition: this test needs a cgroup2 tree without the memory controller"
        with Init(["-c", cfg], oxinit=cg.wrapper) as i:
            code1 = i.wait(20)
        err1 = i.err
        out1 = i.out
    with Init(["-c", cfg]) as i:
        code2 = i.wait(20)
    print(f"  {err1.strip()}\n  {i.err.strip()}")
    assert code1 == 1 and code2 == 1, (code1, code2)
    assert "service hog: not started: its limits need the memory controller of cgroup v2, " \
           "which this cgroup does not offer" in err1, err1
    assert "service hog: not started: its limits need the memory controller of cgroup v2, not in use: " \
           "/sys/fs/cgroup is not a cgroup2 mount" in i.err, i.err
    assert "fine | fine-ran" in out1 and "fine | fine-ran" in i.out, (out1, i.out)


@test
def cgroups_on_without_cgroup2_stops_before_anything_runs():
    d = tmpdir()
    cfg = write_config(d, f"""
[init]
cgroups = "on"
[service.app]
command = ["touch", "{d}/ran"]
""")
    with Init(["-c", cfg]) as i:
        code = i.wait(20)
    assert code == 1, (code, i.err)
    assert 'FATAL oxinit' in i.err and '[init] cgroups = "on", but cgroup v2 cannot be used: ' \
        '/sys/fs/cgroup is not a cgroup2 mount' in i.err, i.err
    assert not os.path.exists(f"{d}/ran")


@test
def exec_mode_and_cgroups_off_leave_cgroups_alone():
    d = tmpdir()
    with CgroupNs(d) as cg:
        with Init(["--", "cat", "/proc/self/cgroup"], oxinit=cg.wrapper) as i:
            code = i.wait(20)
        assert code == 0, i.err
        assert [ln for ln in i.out.split() if ln.startswith("0::")] == ["0::/"], i.out
        assert cg.groups() == [], cg.groups()
        cfg = write_config(d, """
[init]
cgroups = "off"
[service.app]
command = ["cat", "/proc/self/cgroup"]
restart = "never"
""")
        with Init(["-c", cfg], oxinit=cg.wrapper) as i:
            code = i.wait(20)
        assert code == 0, i.err
        assert [ln for ln in i.out.splitlines() if ln.startswith("app | 0::")] == ["app | 0::/"], i.out
        assert cg.groups() == [], cg.groups()


@test(timeout=120)
def a_reload_never_adds_a_service_that_would_run_unlimited():
    # At start-up such a service is refused (above); one a reload adds must
    # not slip through: without cgroups in use, and with cgroups but without
    # the controller its limits need (enabled on demand when the group offers it).
    d = tmpdir()
    first = """
[service.fine]
command = ["sleep", "1000"]
"""
    added = first + f"""
[service.hog]
command = ["sh", "-c", "touch {d}/hog-ran; exec sleep 1000"]
memory_max = "64M"
[service.marker]
command = ["touch", "{d}/marker"]
restart = "never"
"""
    errs = []
    with CgroupNs(d) as cg:
        for oxinit in (cg.wrapper, None):
            cfg = write_config(d, first)
            if os.path.exists(f"{d}/marker"):
                os.unlink(f"{d}/marker")
            kw = {"oxinit": oxinit} if oxinit else {}
            with Init(["-c", cfg], **kw) as i:
                wait_for_children(i, ["sleep 1000"])
                write_config(d, added)
                i.kill(signal.SIGHUP)
                wait_until(lambda: os.path.exists(f"{d}/marker"), 15, what="the reload's marker service")
                time.sleep(1)  # hog's start was tried with marker's: let a retry come too
                i.kill(signal.SIGTERM)
                assert i.wait(30) == 0, i.err
            errs.append(i.err)
            assert not os.path.exists(f"{d}/hog-ran"), i.err
    print(f"  {errs[0].strip()}\n  {errs[1].strip()}")
    # strerror(EOPNOTSUPP): musl's "Not supported", glibc's (the ASan build)
    # "Operation not supported".
    assert re.search(r"service hog: unable to start: a cgroup controller its limits need "
                     r"\(memory, cpu, io, pids\): (Operation )?[Nn]ot supported; retrying", errs[0]), errs[0]
    assert re.search(r"service hog: unable to start: its limits need cgroup v2, which is not in use: "
                     r"(Operation )?[Nn]ot supported; retrying", errs[1]), errs[1]
