"""Issue 15: contain each service. Privileges (capabilities, no_new_privs,
oom_score_adj, nice, cpu_affinity) as PID 1 of a PID namespace; cgroup v2
per service in a private cgroup namespace with cgroup2 mounted (this host's
v2 tree has no controllers: the limits themselves are tested in tests/vm)."""
import os
import shutil
import signal
import stat
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
