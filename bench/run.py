#!/usr/bin/env python3
"""oxinit side by side with tini-static, dumb-init and catatonit (issue 6).

Every init runs as PID 1 of a fresh PID namespace, started by the C helper
bench/oxbench.c (compiled here into a scratch directory). Runs are interleaved
init by init (A B C D A B C D ...) so a drifting machine cannot favour one.
Stdlib only. Usage:

    bench/run.py [--quick] [--inits oxinit,tini,...] [--out DIR] [--no-write]

Prints a markdown table (median (min-max) per metric per init) and writes it to
bench/results/YYYY-MM-DD.md and latest.md (quick mode: bench/results/quick.md).
docs/bench.md explains each row. Needs root (PID namespaces).
"""
import argparse
import datetime
import math
import os
import platform
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OXINIT = os.environ.get("OXINIT", os.path.join(ROOT, "build", "oxinit"))

# name, binary, argv before the command, argv before the command for the stop test
INITS = [
    ("oxinit", OXINIT, ["--"], ["-t", "1", "--"]),
    ("tini", "/usr/bin/tini-static", ["--"], ["--"]),
    ("dumb-init", "/usr/bin/dumb-init", ["--"], ["--"]),
    ("catatonit", "/usr/bin/catatonit", ["--"], ["--"]),
]

FULL = dict(startup_pairs=300, idle_s=10.0, mem_rounds=3, orphans=50000, orphan_rounds=5,
            burst=10000, burst_rounds=9, sig_n=200, sig_rounds=9, storm=10000, storm_rounds=3,
            stop_rounds=3, stop_bound_ms=3000, services=1000, svc_rounds=3, svc_idle_s=10.0,
            crash_services=100, crash_s=30.0, probe_services=100, probe_s=60.0, ready_rounds=10)
# Quick mode checks that the harness runs (tests/bench), not speed: small
# enough for a loaded 2-core machine, where a double fork can take 10 ms.
QUICK = dict(startup_pairs=20, idle_s=2.0, mem_rounds=1, orphans=500, orphan_rounds=1,
             burst=500, burst_rounds=1, sig_n=30, sig_rounds=1, storm=2000, storm_rounds=1,
             stop_rounds=1, stop_bound_ms=1500, services=200, svc_rounds=1, svc_idle_s=2.0,
             crash_services=20, crash_s=3.0, probe_services=20, probe_s=5.0, ready_rounds=2)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

def build_helper(scratch):
    """Compile bench/oxbench.c: static musl when available (small, quick forks)."""
    src = os.path.join(HERE, "oxbench.c")
    out = os.path.join(scratch, "oxbench")
    tries = []
    if shutil.which("musl-gcc"):
        tries.append(["musl-gcc", "-static", "-O2", "-Wall", "-Wextra", "-o", out, src])
    tries.append(["gcc", "-O2", "-Wall", "-Wextra", "-o", out, src])
    err = ""
    for cmd in tries:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            return out
        err += r.stderr
    raise SystemExit(f"bench: cannot compile {src}:\n{err}")


def is_static(path):
    """True when the ELF file has no PT_INTERP program header."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF":
            return False
        is64 = hdr[4] == 2
        end = "<" if hdr[5] == 1 else ">"
        if is64:
            phoff, = struct.unpack_from(end + "Q", hdr, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x36)
        else:
            phoff, = struct.unpack_from(end + "I", hdr, 0x1C)
            phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x2A)
        for i in range(min(phnum, 256)):
            f.seek(phoff + i * phentsize)
            ptype, = struct.unpack(end + "I", f.read(4))
            if ptype == 3:  # PT_INTERP
                return False
    return True


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kb(v):
    return int(v.split()[0])


def pss_anon(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return kb(line.split(":", 1)[1])
    return None


def ctxt(pid):
    s = proc_status(pid)
    return int(s["voluntary_ctxt_switches"]) + int(s["nonvoluntary_ctxt_switches"])


def cpu_ns(pid):
    """CPU time of one task: schedstat (ns) when the kernel has it, else stat ticks."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLK_TCK


def read_stat(pid):
    """(comm, ppid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.index("(") + 1:s.rindex(")")], int(s[s.rindex(")") + 2:].split()[1])


class ChildCounter:
    """Counts children of pid named comm by scanning /proc (this kernel lacks
    /proc/PID/task/TID/children). A pid once seen as a matching child is
    remembered, so each pass re-reads only the few other processes: the scan
    must not steal the CPU the init needs to start its services."""

    def __init__(self, pid, comm):
        self.pid, self.comm, self.seen = pid, comm, set()

    def count(self):
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) not in self.seen:
                st = read_stat(int(d))
                if st and st == (self.comm, self.pid):
                    self.seen.add(int(d))
        return len(self.seen)

    def still_there(self):
        return sum(1 for p in self.seen if read_stat(p) == (self.comm, self.pid))


class Launched:
    """An init as PID 1 of a new PID namespace, via `oxbench run`."""

    def __init__(self, helper, argv, nofile=False):
        r, w = os.pipe()
        cmd = [helper, "run", "--report", str(w)] + (["--nofile"] if nofile else []) + ["--"] + argv
        self.argv0 = os.path.basename(argv[0])
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     pass_fds=(w,))
        os.close(w)
        self.buf = b""
        self.pid = None
        try:
            ready, _, _ = select.select([r], [], [], 10)
            data = os.read(r, 64) if ready else b""
            if not data.strip():
                raise RuntimeError(f"launcher did not report a pid for {argv[0]}")
            self.pid = int(data)
        finally:
            os.close(r)

    def readline(self, timeout):
        """One line of the child's stdout, or raise after timeout seconds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("timed out waiting for output from the child")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"child output ended (init exit {self.proc.poll()})")
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.pid and self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)  # PID 1 dies: the namespace goes with it
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def kv(line):
    """'done a=1 b=2.5' -> {'a': 1.0, 'b': 2.5}"""
    out = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def pctl(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


# ---------------------------------------------------------------- measurements
# Each returns {metric_key: {init_name: [samples]}}; a sample is a number or a
# string ("never", "yes", ...). Missing init => "n/a" in the table.

def add(res, key, name, value):
    res.setdefault(key, {}).setdefault(name, []).append(value)


def rotated(inits, rnd):
    """The inits in round rnd's order: A B C D, then B C D A, ... Every init
    takes every place in a round equally often, so none is always the one
    that runs first after another group (or after a slow neighbour)."""
    k = rnd % len(inits)
    return inits[k:] + inits[:k]


def m_size(inits, cfg, helper, res):
    for name, path, _, _ in inits:
        add(res, "size", name, os.stat(path).st_size / 1024)
        add(res, "static", name, "yes" if is_static(path) else "no")


def m_startup(inits, cfg, helper, res):
    # Column 0: bare /bin/true; 1: the floor, a minimal static C init (fork, exec,
    # wait, exit); then the inits.
    cmds = [["/bin/true"], [helper, "mininit", "/bin/true"]] + [
        [path] + pre + ["/bin/true"] for _, path, pre, _ in inits]
    argv = [helper, "startup", str(cfg["startup_pairs"]), "--"]
    for i, c in enumerate(cmds):
        argv += (["::"] if i else []) + c
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=60 + cfg["startup_pairs"] * len(cmds) * 0.2)
    if out.returncode != 0:
        raise RuntimeError(f"oxbench startup failed: {out.stderr.strip()}")
    rounds = {}
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) < 4 or f[2] == "timeout":
            raise RuntimeError(f"startup run timed out: {line}")
        if f[3] != "0":
            raise RuntimeError(f"`{' '.join(cmds[int(f[0])])}` exited {f[3]}")
        rounds.setdefault(int(f[1]), {})[int(f[0])] = (int(f[2]) / 1000, int(f[4]) / 1000)
    for r in sorted(rounds):
        bare, bare_cpu = rounds[r][0]
        add(res, "startup_bare", "all", bare)
        add(res, "startup_floor", "all", rounds[r][1][0] - bare)
        add(res, "startup_floor_cpu", "all", rounds[r][1][1] - bare_cpu)
        for i, (name, _, _, _) in enumerate(inits, 2):
            t, cpu = rounds[r][i]
            add(res, "startup", name, t)
            add(res, "startup_over", name, t - bare)
            add(res, "startup_cpu", name, cpu - bare_cpu)
    over = {n: statistics.median(v) for n, v in res["startup_over"].items()}
    if "tini" in over and over["tini"] > 0:
        for name in over:
            add(res, "startup_ratio", name, over[name] / over["tini"])
        add(res, "startup_floor_ratio", "all",
            statistics.median(res["startup_floor"]["all"]) / over["tini"])


def m_memory_idle(inits, cfg, helper, res):
    """All inits at once, each over a sleeping child: memory, then wake-ups."""
    for rnd in range(cfg["mem_rounds"]):
        running = []
        try:
            for name, path, pre, _ in rotated(inits, rnd):
                running.append((name, Launched(helper, [path] + pre + [helper, "sleep"])))
            for name, l in running:
                if l.readline(10) != "ready":
                    raise RuntimeError(f"{name}: child not ready")
            time.sleep(0.3)
            start = {}
            for name, l in running:
                st = proc_status(l.pid)
                add(res, "vmhwm", name, kb(st["VmHWM"]))
                add(res, "vmrss", name, kb(st["VmRSS"]))
                add(res, "pss_anon", name, pss_anon(l.pid))
                start[name] = ctxt(l.pid)
            time.sleep(cfg["idle_s"])
            for name, l in running:
                add(res, "idle", name, ctxt(l.pid) - start[name])
        finally:
            for _, l in running:
                l.kill()


def m_reaping(inits, cfg, helper, res):
    n = cfg["orphans"]
    for rnd in range(cfg["orphan_rounds"]):
        for name, path, pre, _ in rotated(inits, rnd):
            with Launched(helper, [path] + pre + [helper, "orphans", str(n)]) as l:
                if l.readline(10) != "start":
                    raise RuntimeError(f"{name}: orphans helper did not start")
                c0, x0 = cpu_ns(l.pid), ctxt(l.pid)
                done = kv(l.readline(60 + n / 200))
                c1, x1 = cpu_ns(l.pid), ctxt(l.pid)
                add(res, "reap_cpu", name, (c1 - c0) / 1e6)
                add(res, "reap_wakes", name, x1 - x0)
                add(res, "reap_peak", name, int(done["peak"]))
                add(res, "reap_left", name, int(done["left"]))
    for rnd in range(cfg["burst_rounds"]):
        for name, path, pre, _ in rotated(inits, rnd):
            with Launched(helper, [path] + pre + [helper, "burst", str(cfg["burst"])]) as l:
                if l.readline(10) != "start":
                    raise RuntimeError(f"{name}: burst helper did not start")
                c0 = cpu_ns(l.pid)
                done = kv(l.readline(60))
                c1 = cpu_ns(l.pid)
                if int(done["zombies"]) != cfg["burst"]:
                    raise RuntimeError(f"burst made {done['zombies']} zombies, not {cfg['burst']}")
                add(res, "burst_ms", name, done["drain_ms"])
                add(res, "burst_cpu", name, (c1 - c0) / 1e6)
                add(res, "burst_left", name, int(done["left"]))


def siglat(helper, cpu, n, mode, path, pre):
    out = subprocess.run([helper, "siglat", str(n), str(cpu), mode, "--", path] + pre
                         + [helper, "sigrecv"], capture_output=True, text=True,
                         timeout=30 + n * 1.1)
    if out.returncode != 0:
        raise RuntimeError(f"siglat under {path}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    lat = [int(l.split()[1]) / 1000 for l in lines if l.startswith("lat ")]
    cpu_ns = [int(l.split()[1]) for l in lines if l.startswith("initcpu ")]
    return lat, sum(1 for l in lines if l == "lost"), cpu_ns[0] / 1000 if cpu_ns else None


def m_signals(inits, cfg, helper, res):
    cpu = (os.cpu_count() or 1) - 1
    n = cfg["sig_n"]
    for rnd in range(cfg["sig_rounds"]):
        for name, path, pre, _ in rotated(inits, rnd):
            # busy: the measured CPU never halts (oxbench.c, start_spinner);
            # idle: it halts between signals, as on a quiet machine.
            for mode, key in (("busy", "sig"), ("idle", "sig_idle")):
                lat, lost, init_cpu = siglat(helper, cpu, n, mode, path, pre)
                if lat:
                    add(res, key + "_med", name, statistics.median(lat))
                    add(res, key + "_p99", name, pctl(lat, 99))
                add(res, "sig_lost", name, lost)
                if mode == "busy" and init_cpu is not None:
                    add(res, "sig_cpu", name, init_cpu)
    for rnd in range(cfg["storm_rounds"]):
        for name, path, pre, _ in rotated(inits, rnd):
            out = subprocess.run([helper, "storm", str(cfg["storm"]), "--", path] + pre
                                 + [helper, "sigrecv"], capture_output=True, text=True,
                                 timeout=120)
            line = [l for l in out.stdout.splitlines() if l.startswith("storm ")]
            if out.returncode != 0 or not line:
                raise RuntimeError(f"storm under {name}: {out.stderr.strip()}")
            d = kv(line[0])
            add(res, "storm_alive", name, "yes" if d["alive"] else "NO")
            add(res, "storm_fwd", name, "yes" if d["forwarded"] else "NO")
            add(res, "storm_recv", name, int(d["received"]))


def m_stop(inits, cfg, helper, res):
    """Concurrently per round: a peer that never stops costs the bound once, not 3x."""
    bound = cfg["stop_bound_ms"]
    for rnd in range(cfg["stop_rounds"]):
        procs = []
        for name, path, _, stop_pre in rotated(inits, rnd):
            procs.append((name, subprocess.Popen(
                [helper, "termstop", str(bound), "--", path] + stop_pre + [helper, "ignterm"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        for name, p in procs:
            out, err = p.communicate(timeout=bound / 1000 + 60)
            f = out.split()
            if not f:
                raise RuntimeError(f"termstop under {name}: {err.strip()}")
            if f[0] == "exit":
                add(res, "stop_ms", name, int(f[1]) / 1e6)
            else:
                add(res, "stop_ms", name, f"never (> {bound / 1000:g} s)")


def wait_children(l, comm, n, bound=30.0):
    """Seconds from launch until n children of the init named comm run."""
    up, counter = 0, ChildCounter(l.pid, comm)
    while time.monotonic() < l.t0 + bound and l.alive():
        up = counter.count()
        if up >= n:
            break
        time.sleep(0.01)
    t_up = time.monotonic() - l.t0
    if up >= n:
        up = counter.still_there()  # none crashed and came back under a new pid
    if up < n:
        raise RuntimeError(f"only {up} of {n} `{comm}` children running after {bound:g} s"
                           f" ({l.argv0} {'alive' if l.alive() else 'exited'})")
    return t_up


def write_config(path, services):
    with open(path, "w") as f:
        for name, body in services:
            f.write(f"[service.{name}]\n{body}\n")


def m_services(inits, cfg, helper, res, scratch):
    names = [i[0] for i in inits]
    if "oxinit" not in names:
        return
    oxinit = dict((i[0], i[1]) for i in inits)["oxinit"]
    n = cfg["services"]
    conf = os.path.join(scratch, "scale.toml")
    write_config(conf, [(f"s{i}", 'command = ["sleep", "1000"]') for i in range(n)])
    for rnd in range(cfg["svc_rounds"]):
        # oxinit, then (interleaved) the floor on this machine: a bare C loop as
        # PID 1 that fork+execs the same n sleeps and does nothing else.
        with Launched(helper, [oxinit, "-c", conf], nofile=True) as l:
            t_up = wait_children(l, "sleep", n)
            add(res, "svc_up_ms", "oxinit", t_up * 1000)
            add(res, "svc_up_cpu", "oxinit", cpu_ns(l.pid) / 1e6)
            time.sleep(0.5)
            st = proc_status(l.pid)
            add(res, "svc_rss", "oxinit", kb(st["VmRSS"]))
            add(res, "svc_hwm", "oxinit", kb(st["VmHWM"]))
            base = res.get("vmrss", {}).get("oxinit")
            if base:
                add(res, "svc_per", "oxinit",
                    (kb(st["VmRSS"]) - statistics.median(base)) * 1024 / n)
            c0 = ctxt(l.pid)
            time.sleep(cfg["svc_idle_s"])
            add(res, "svc_idle", "oxinit", ctxt(l.pid) - c0)
        with Launched(helper, [helper, "spawnmany", str(n), "--", "sleep", "1000"],
                      nofile=True) as l:
            floor = wait_children(l, "sleep", n)
            add(res, "svc_floor_ms", "all", floor * 1000)
            add(res, "svc_up_floor", "oxinit", t_up / floor)
    conf = os.path.join(scratch, "crash.toml")
    body = ('command = ["false"]\nrestart = "always"\n'
            'restart_delay = "1s"\nrestart_delay_max = "1s"')
    write_config(conf, [(f"c{i}", body) for i in range(cfg["crash_services"])])
    with Launched(helper, [oxinit, "-c", conf], nofile=True) as l:
        time.sleep(0.5)
        if not l.alive():
            raise RuntimeError(f"oxinit exited with the crash-loop config ({l.proc.poll()})")
        c0, t0 = cpu_ns(l.pid), time.monotonic()
        time.sleep(cfg["crash_s"])
        c1, t1 = cpu_ns(l.pid), time.monotonic()
        if not l.alive():
            raise RuntimeError("oxinit exited during the crash loop")
        add(res, "crash_cpu", "oxinit", (c1 - c0) / 1e9 / (t1 - t0) * 100)


def ctl_request(path, line, bound=10.0):
    """One request on oxinit's control socket: (exit code, text, seconds)."""
    import socket
    t0 = time.monotonic()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(bound)
    c.connect(path)
    c.sendall(line.encode() + b"\n")
    data = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
    c.close()
    head, _, text = data.decode(errors="replace").partition("\n")
    return int(head), text, time.monotonic() - t0


def m_ctl(inits, cfg, helper, res, scratch):
    """Issue 13: `ctl status` and a reload with n services, and what an idle
    control socket costs."""
    names = [i[0] for i in inits]
    if "oxinit" not in names:
        return
    import json
    oxinit = dict((i[0], i[1]) for i in inits)["oxinit"]
    n = cfg["services"]
    sock = os.path.join(scratch, "ctl.sock")
    conf = os.path.join(scratch, "ctl.toml")

    def services(changed):
        return [(f"s{i}", 'command = ["sleep", "%d"]' % (1001 if i == changed else 1000)) for i in range(n)]
    with open(conf, "w") as f:
        f.write(f'[init]\ncontrol_socket = "{sock}"\n')
    with open(conf, "a") as f:
        for name, body in services(-1):
            f.write(f"[service.{name}]\n{body}\n")
    with Launched(helper, [oxinit, "-c", conf], nofile=True) as l:
        wait_children(l, "sleep", n)
        time.sleep(0.3)
        for _ in range(cfg["svc_rounds"] * 10):
            c0 = cpu_ns(l.pid)
            code, text, dt = ctl_request(sock, "status")
            add(res, "ctl_status_ms", "oxinit", dt * 1000)
            add(res, "ctl_status_cpu", "oxinit", (cpu_ns(l.pid) - c0) / 1e6)
            if code != 0 or len(text.splitlines()) != n + 1:
                raise RuntimeError(f"ctl status: code {code}, {len(text.splitlines())} lines")
        before = {s["name"]: s["pid"] for s in json.loads(ctl_request(sock, "status --json")[1])["services"]}
        with open(conf, "w") as f:
            f.write(f'[init]\ncontrol_socket = "{sock}"\n')
            for name, body in services(7):
                f.write(f"[service.{name}]\n{body}\n")
        c0 = cpu_ns(l.pid)
        code, text, dt = ctl_request(sock, "reload", 30)
        add(res, "ctl_reload_cpu", "oxinit", (cpu_ns(l.pid) - c0) / 1e6)
        add(res, "ctl_reload_ms", "oxinit", dt * 1000)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = {s["name"]: s["pid"] for s in json.loads(ctl_request(sock, "status --json")[1])["services"]}
            if after.get("s7") not in (None, before["s7"]):
                break
            time.sleep(0.05)
        changed = sorted(k for k in before if before[k] != after.get(k))
        add(res, "ctl_reload_restarted", "oxinit", len(changed))
        if code != 0 or changed != ["s7"]:
            raise RuntimeError(f"reload: code {code} ({text.strip()}); restarted {changed[:5]}")
    # An idle control socket: wake-ups and resident memory against none.
    one = os.path.join(scratch, "one.toml")
    rss = {}
    for sockline in (f'control_socket = "{sock}"', 'control_socket = "none"'):
        with open(one, "w") as f:
            f.write(f'[init]\n{sockline}\n[service.a]\ncommand = ["sleep", "1000"]\n')
        with Launched(helper, [oxinit, "-c", one], nofile=True) as l:
            wait_children(l, "sleep", 1)
            time.sleep(0.5)
            if "none" not in sockline:
                ctl_request(sock, "status")  # one client served, then idle
                time.sleep(0.2)
                c0 = ctxt(l.pid)
                time.sleep(cfg["svc_idle_s"])
                add(res, "ctl_idle", "oxinit", ctxt(l.pid) - c0)
            rss[sockline] = kb(proc_status(l.pid)["VmRSS"])
    add(res, "ctl_rss", "oxinit", rss[f'control_socket = "{sock}"'] - rss['control_socket = "none"'])


def host_cgroup2():
    """This process's directory in the host's cgroup2 tree, or None."""
    try:
        with open("/proc/self/mountinfo") as f:
            mnt = next((ln.split(" - ")[0].split()[4] for ln in f
                        if ln.split(" - ")[1].split()[0] == "cgroup2" and ln.split()[3] == "/"), None)
        with open("/proc/self/cgroup") as f:
            rel = next((ln[3:].strip() for ln in f if ln.startswith("0::")), None)
    except (OSError, IndexError):
        return None
    return os.path.join(mnt, rel.lstrip("/")) if mnt and rel else None


def m_cgroups(inits, cfg, helper, res, scratch):
    """The services row again with each service in a cgroup of its own: oxinit
    as the root of a private cgroup namespace over a fresh group of the host's
    cgroup2 tree (what an engine gives a container on a cgroup v2 host), with
    cgroups = "on", against the same wrapper with cgroups = "off"."""
    names = [i[0] for i in inits]
    base = host_cgroup2()
    if "oxinit" not in names or not base:
        return
    oxinit = dict((i[0], i[1]) for i in inits)["oxinit"]
    n = cfg["services"]
    confs = {}
    for mode in ("on", "off"):
        confs[mode] = os.path.join(scratch, f"cg-{mode}.toml")
        with open(confs[mode], "w") as f:
            f.write(f'[init]\ncgroups = "{mode}"\n')
        with open(confs[mode], "a") as f:
            for i in range(n):
                f.write(f'[service.s{i}]\ncommand = ["sleep", "1000"]\n')

    def run(mode, rnd):
        d = os.path.join(base, f"oxbench-{os.getpid()}-{mode}-{rnd}")
        os.mkdir(d)
        wrapper = os.path.join(scratch, f"cgns-{mode}-{rnd}")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\necho 0 > {d}/cgroup.procs || exit 98\n"
                    f"exec unshare --cgroup --mount sh -c "
                    f"'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$0\" \"$@\"' {oxinit} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        try:
            with Launched(helper, [wrapper, "-c", confs[mode]], nofile=True) as l:
                t = wait_children(l, "sleep", n)
                return t, cpu_ns(l.pid) / 1e9
        finally:
            deadline = time.monotonic() + 20
            while os.path.isdir(d) and time.monotonic() < deadline:
                for e in os.listdir(d):
                    if os.path.isdir(os.path.join(d, e)):
                        try:
                            os.rmdir(os.path.join(d, e))
                        except OSError:
                            pass
                try:
                    os.rmdir(d)
                except OSError:
                    time.sleep(0.05)

    for rnd in range(cfg["svc_rounds"]):
        t_off, c_off = run("off", rnd)
        t_on, c_on = run("on", rnd)
        add(res, "cg_up_ms", "oxinit", t_on * 1000)
        add(res, "cg_off_ms", "oxinit", t_off * 1000)
        add(res, "cg_per_us", "oxinit", (t_on - t_off) / n * 1e6)
        add(res, "cg_cpu_per_us", "oxinit", (c_on - c_off) / n * 1e6)


class Acceptor:
    """A listening socket on 127.0.0.1 whose connections a thread accepts and
    closes at once: the target of the TCP health checks."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import socket
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                c.close()
            except (socket.timeout, OSError):
                pass

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def children_cpu_ns(pid):
    """CPU of the reaped children of pid (cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLK_TCK


def m_probes(inits, cfg, helper, res, scratch):
    """Issue 12: n services with a TCP health check every second, checked in
    oxinit's loop, beside the same checks Docker-style (a forked `sh -c`
    checker per check, busybox nc here); then a port opening to its
    dependent running."""
    names = [i[0] for i in inits]
    if "oxinit" not in names:
        return
    oxinit = dict((i[0], i[1]) for i in inits)["oxinit"]
    n, secs = cfg["probe_services"], cfg["probe_s"]
    acc = Acceptor()
    try:
        for key, health in (("probe_loop", f"tcp://127.0.0.1:{acc.port}"),
                            ("probe_fork", f"exec:busybox nc 127.0.0.1 {acc.port} </dev/null")):
            conf = os.path.join(scratch, f"{key}.toml")
            body = (f'command = ["sleep", "1000"]\nhealth = "{health}"\nhealth_interval = "1s"\n'
                    'health_timeout = "1s"\non_unhealthy = "ignore"')
            write_config(conf, [(f"p{i}", body) for i in range(n)])
            with Launched(helper, [oxinit, "-c", conf], nofile=True) as l:
                wait_children(l, "sleep", n)
                time.sleep(1.5)  # every service has had a first check
                c0, k0, t0 = cpu_ns(l.pid), children_cpu_ns(l.pid), time.monotonic()
                time.sleep(secs)
                c1, k1, t1 = cpu_ns(l.pid), children_cpu_ns(l.pid), time.monotonic()
                if not l.alive():
                    raise RuntimeError(f"oxinit exited during {key}")
                add(res, key + "_cpu", "oxinit", (c1 - c0) / 1e9 / (t1 - t0) * 100)
                add(res, key + "_all", "oxinit", ((c1 - c0) + (k1 - k0)) / 1e9 / (t1 - t0) * 100)
    finally:
        acc.close()
    # A port opening to its dependent running: srv listens after 0.5 s (and
    # writes the time), dep writes the time as its first act.
    ready = os.path.join(scratch, "ready.toml")
    opened, started = os.path.join(scratch, "opened"), os.path.join(scratch, "started")
    port = Acceptor()
    p = port.port
    port.close()  # a free port, opened again by srv below
    listen = (f"import socket,time; time.sleep(0.5); s=socket.socket(); "
              f"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {p})); "
              f"s.listen(8); open('{opened}', 'w').write(repr(time.time())); time.sleep(1000)")
    write_config(ready, [("srv", f'command = ["{sys.executable}", "-c", "{listen}"]\n'
                                 f'ready = "tcp://127.0.0.1:{p}"'),
                         ("dep", f'command = ["sh", "-c", "date +%s.%N > {started}; exec sleep 1000"]\n'
                                 'after = ["srv"]')])
    for _ in range(cfg["ready_rounds"]):
        for f in (opened, started):
            if os.path.exists(f):
                os.unlink(f)
        with Launched(helper, [oxinit, "-c", ready], nofile=True) as l:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (os.path.exists(started) and os.path.getsize(started)):
                time.sleep(0.02)
            with open(opened) as f:
                t_open = float(f.read())
            with open(started) as f:
                t_dep = float(f.read())
            add(res, "ready_gap", "oxinit", (t_dep - t_open) * 1000)


# ---------------------------------------------------------------- the table

def best_peer(res, key, inits):
    """(name, median) of the peer with the lowest median, or None."""
    meds = [(statistics.median(v), n) for n, v in res.get(key, {}).items()
            if n != "oxinit" and n in inits and v and all(isinstance(x, (int, float)) for x in v)]
    if not meds:
        return None
    med, name = min(meds)
    return name, med


def ox(res, key):
    v = res.get(key, {}).get("oxinit")
    if not v or not all(isinstance(x, (int, float)) for x in v):
        return None
    return statistics.median(v)


def goal_le(limit):
    return lambda res, names: None if ox(res, limit[0]) is None else ox(res, limit[0]) <= limit[1]


def sign_test_p(k, n):
    """Two-sided sign test: the chance of k or more of n coin flips landing
    one way (doubled), i.e. of oxinit losing k of n paired rounds to a peer
    that is in truth just as fast."""
    tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def goal_best(key):
    """≤ best peer, by medians. When oxinit's median is above the best peer's,
    the rounds are paired (each round runs every init back to back) and a sign
    test says whether oxinit was slower in significantly many of them: if not,
    the verdict is a tie (the gap is below what this machine can resolve), not
    a pass; either way the gap is printed."""
    def check(res, names):
        o, best = ox(res, key), best_peer(res, key, names)
        if o is None or best is None:
            return None
        peer, b = best
        if o <= b:
            return True
        xs, ys = res[key]["oxinit"], res[key][peer]
        gap = f"+{(o / b - 1) * 100:.1f} % vs {peer}" if b else "vs " + peer
        if len(xs) != len(ys) or len(xs) < 2:
            return False
        slower = sum(1 for x, y in zip(xs, ys) if x > y)
        p = sign_test_p(slower, len(xs))
        if p < 0.05:
            return f"**NO** ({gap}; slower in {slower} of {len(xs)} rounds)"
        return f"tie ({gap}; slower in {slower} of {len(xs)} rounds, p = {p:.2f})"
    return check


def goal_all(key, want):
    def check(res, names):
        v = res.get(key, {}).get("oxinit")
        return None if not v else all(x == want for x in v)
    return check


def goal_stop(res, names):
    v = res.get("stop_ms", {}).get("oxinit")
    if not v:
        return None
    return all(isinstance(x, float) and 950 <= x <= 1050 for x in v)


# key, label, number format, goal text, check(res, names) -> True/False/None
def metrics(cfg):
    return [
        ("size", "binary size (KB)", "{:.1f}", "≤ 100 KB", goal_le(("size", 100))),
        ("static", "statically linked (no PT_INTERP)", None, "yes", goal_all("static", "yes")),
        ("startup", "`INIT -- /bin/true` as PID 1, wall (µs)", "{:.0f}", "", None),
        ("startup_over", "start-up + teardown overhead over bare `/bin/true` (µs)", "{:.0f}",
         "", None),
        ("startup_ratio", "overhead ÷ tini-static's (medians)", "{:.2f}", "≤ 0.40",
         goal_le(("startup_ratio", 0.40))),
        ("startup_cpu", "start-up + teardown CPU over bare `/bin/true` (µs; init and child)",
         "{:.0f}", "", None),
        ("vmhwm", "VmHWM, child sleeping (KB)", "{:.0f}", "≤ 128 KB", goal_le(("vmhwm", 128))),
        ("vmrss", "VmRSS, child sleeping (KB)", "{:.0f}", "", None),
        ("pss_anon", "Pss_Anon, child sleeping (KB)", "{:.0f}", "", None),
        ("idle", f"idle wake-ups in {cfg['idle_s']:g} s (ctxt switches)", "{:.0f}", "0",
         goal_le(("idle", 0))),
        ("reap_cpu", f"{cfg['orphans']:,} orphans: init CPU (ms)", "{:.0f}", "≤ best peer",
         goal_best("reap_cpu")),
        ("reap_wakes", f"{cfg['orphans']:,} orphans: init wake-ups (ctxt switches)", "{:.0f}",
         "", None),
        ("reap_peak", f"{cfg['orphans']:,} orphans: peak unreaped (sampled)", "{:.0f}", "", None),
        ("reap_left", f"{cfg['orphans']:,} orphans: left unreaped", "{:.0f}", "0",
         goal_le(("reap_left", 0))),
        ("burst_ms", f"burst of {cfg['burst']:,} zombies: time to drain (ms)", "{:.1f}",
         "≤ best peer", goal_best("burst_ms")),
        ("burst_cpu", f"burst of {cfg['burst']:,} zombies: init CPU (ms)", "{:.1f}", "", None),
        ("burst_left", f"burst of {cfg['burst']:,} zombies: left unreaped", "{:.0f}", "0",
         goal_le(("burst_left", 0))),
        ("sig_med", f"signal forwarding latency, median of {cfg['sig_n']} (µs; CPU kept busy)",
         "{:.1f}", "≤ best peer", goal_best("sig_med")),
        ("sig_p99", f"signal forwarding latency, p99 of {cfg['sig_n']} (µs; CPU kept busy)",
         "{:.1f}", "≤ best peer", goal_best("sig_p99")),
        ("sig_cpu", "init CPU per forwarded signal (µs; CPU kept busy)", "{:.2f}", "", None),
        ("sig_idle_med", f"signal forwarding latency, median of {cfg['sig_n']} (µs; CPU halts "
         "between signals)", "{:.1f}", "", None),
        ("sig_idle_p99", f"signal forwarding latency, p99 of {cfg['sig_n']} (µs; CPU halts "
         "between signals)", "{:.1f}", "", None),
        ("sig_lost", f"signals lost of {cfg['sig_n']} (both ways)", "{:.0f}", "0",
         goal_le(("sig_lost", 0))),
        ("storm_alive", f"storm of {cfg['storm']:,} signals: init alive", None, "yes",
         goal_all("storm_alive", "yes")),
        ("storm_fwd", f"storm of {cfg['storm']:,} signals: still forwarding", None, "yes",
         goal_all("storm_fwd", "yes")),
        ("storm_recv", "storm: signals the child saw (merged)", "{:.0f}", "", None),
        ("stop_ms", "stop of a TERM-ignoring child, SIGTERM to exit (ms; oxinit `-t 1`)",
         "{:.0f}", "1000 ± 50 ms", goal_stop),
        ("svc_up_ms", f"{cfg['services']:,} `sleep` services: all running (ms)", "{:.0f}",
         "< 1000 ms", goal_le(("svc_up_ms", 999.999))),
        ("svc_up_floor", f"{cfg['services']:,} services: all running ÷ the floor's time "
         "(same round)", "{:.2f}", "", None),
        ("svc_up_cpu", f"{cfg['services']:,} services: oxinit CPU until all run (ms)", "{:.0f}",
         "", None),
        ("svc_rss", f"{cfg['services']:,} services: VmRSS (KB)", "{:.0f}", "", None),
        ("svc_hwm", f"{cfg['services']:,} services: VmHWM (KB)", "{:.0f}", "", None),
        ("svc_per", f"{cfg['services']:,} services: RSS per service over exec mode (bytes)",
         "{:.0f}", "≤ 2048 B", goal_le(("svc_per", 2048))),
        ("svc_idle", f"{cfg['services']:,} services: idle wake-ups in {cfg['svc_idle_s']:g} s",
         "{:.0f}", "0", goal_le(("svc_idle", 0))),
        ("cg_up_ms", f"{cfg['services']:,} `sleep` services, each in its own cgroup: all running (ms; "
         "cgroup v2 in a cgroup namespace, no controllers)", "{:.0f}", "< 1500 ms", goal_le(("cg_up_ms", 1499.999))),
        ("cg_off_ms", f"{cfg['services']:,} services, the same wrapper with cgroups = \"off\" (ms)", "{:.0f}",
         "", None),
        ("cg_per_us", "added cost of a start in its own cgroup (µs per service, same round)", "{:.0f}", "", None),
        ("cg_cpu_per_us", "added oxinit CPU per start in its own cgroup (µs; mkdir, limits, clone3 "
         "into the group; same round)", "{:.1f}", "", None),
        ("probe_loop_cpu", f"{cfg['probe_services']} services, a TCP health check each per second, "
         f"in the loop: oxinit CPU over {cfg['probe_s']:g} s (% of a core)", "{:.2f}", "< 0.5 %",
         goal_le(("probe_loop_cpu", 0.4999))),
        ("probe_fork_cpu", f"the same checks Docker-style (a forked `sh -c` + busybox nc each): "
         "oxinit CPU (%)", "{:.2f}", "", None),
        ("probe_fork_all", "the same Docker-style: oxinit + its checkers' CPU (%)", "{:.2f}", "", None),
        ("probe_loop_all", "in the loop: oxinit + children CPU (%)", "{:.2f}", "", None),
        ("ready_gap", "a port opening -> its dependent running (ms; readiness interval 100 ms)",
         "{:.1f}", "≤ 105 ms", goal_le(("ready_gap", 105))),
        ("ctl_status_ms", f"`ctl status` with {cfg['services']:,} services: answered in (ms)", "{:.2f}",
         "< 5 ms", goal_le(("ctl_status_ms", 4.999))),
        ("ctl_status_cpu", f"`ctl status` with {cfg['services']:,} services: oxinit CPU (ms)", "{:.2f}", "", None),
        ("ctl_reload_cpu", f"reload of {cfg['services']:,} services changing one: oxinit CPU (ms)", "{:.1f}",
         "< 50 ms", goal_le(("ctl_reload_cpu", 49.999))),
        ("ctl_reload_restarted", "... services it restarted", "{:.0f}", "1", goal_all("ctl_reload_restarted", 1)),
        ("ctl_idle", f"idle control socket: wake-ups in {cfg['svc_idle_s']:g} s", "{:.0f}", "0",
         goal_le(("ctl_idle", 0))),
        ("ctl_rss", "idle control socket: VmRSS over none (KB)", "{:.0f}", "≤ 4 KB", goal_le(("ctl_rss", 4))),
        ("crash_cpu", f"{cfg['crash_services']} crash-looping services for {cfg['crash_s']:g} s:"
         " CPU (% of a core)", "{:.2f}", "< 1 %", goal_le(("crash_cpu", 0.999))),
    ]


def cell(samples, fmt):
    if not samples:
        return "n/a"
    if any(isinstance(x, str) for x in samples) or fmt is None:
        uniq = sorted(set(str(x) for x in samples))
        return uniq[0] if len(uniq) == 1 else " / ".join(uniq)
    med, lo, hi = statistics.median(samples), min(samples), max(samples)
    m = fmt.format(med)
    if len(samples) == 1 or fmt.format(lo) == fmt.format(hi):
        return m
    return f"{m} ({fmt.format(lo)}–{fmt.format(hi)})"


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


LOADAVG = [loadavg()]


def versions(inits):
    out = []
    for name, path, _, _ in inits:
        if name == "oxinit":
            try:
                v = subprocess.run([path, "--version"], capture_output=True, text=True,
                                   timeout=5).stdout.splitlines()[:1]
                rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, timeout=5).stdout.strip()
                out.append(f"oxinit ({v[0] if v else '?'}; git {rev or '?'})")
            except (OSError, subprocess.SubprocessError):
                out.append("oxinit (?)")
            continue
        pkg = {"tini": "tini", "dumb-init": "dumb-init", "catatonit": "catatonit"}[name]
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                           text=True, timeout=5)
        out.append(f"{name} {r.stdout.strip() or '?'} (`{path}`)")
    return out


def render(res, inits, cfg, quick, errors, elapsed):
    names = [i[0] for i in inits]
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        f"# oxinit benchmark{' (QUICK mode: smoke figures, not for quoting)' if quick else ''}",
        "",
        f"- date: {now.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: Linux {platform.release()}, {os.cpu_count()} cores, {machine()}",
        f"- inits: {'; '.join(versions(inits))}",
        f"- cells: median (min–max) over the runs; runs interleaved init by init; "
        f"bench/run.py{' --quick' if quick else ''} took {elapsed:.0f} s",
    ]
    lines.append(f"- load average at the start and the end: {LOADAVG[0]} / {loadavg()} "
                 "(other work on the machine inflates wall times)")
    bare = res.get("startup_bare", {}).get("all")
    if bare:
        lines.append(f"- bare `/bin/true` as PID 1: {cell(bare, '{:.0f}')} µs "
                     f"({len(bare)} runs, interleaved with the inits)")
    floor = res.get("startup_floor", {}).get("all")
    if floor:
        ratio = res.get("startup_floor_ratio", {}).get("all")
        lines.append(f"- floor for the start-up rows: a minimal static C init (fork, exec, wait, "
                     f"exit) adds {cell(floor, '{:.0f}')} µs wall and "
                     f"{cell(res['startup_floor_cpu']['all'], '{:.0f}')} µs CPU over bare `/bin/true`"
                     + (f", {ratio[0]:.2f} of tini-static's overhead" if ratio else ""))
    floor = res.get("svc_floor_ms", {}).get("all")
    if floor:
        lines.append(f"- floor for the services row: a bare C fork+exec loop as PID 1 starts "
                     f"{cfg['services']:,} `sleep 1000` in {cell(floor, '{:.0f}')} ms")
    lines += ["", "| metric | " + " | ".join(names) + " | goal (oxinit) | met |",
              "|---|" + "---|" * len(names) + "---|---|"]
    for key, label, fmt, goal, check in metrics(cfg):
        row = [cell(res.get(key, {}).get(n), fmt) for n in names]
        verdict = ""
        if check and "oxinit" in names:
            try:
                v = check(res, names)
            except (TypeError, ValueError):
                v = None
            verdict = "—" if v is None else v if isinstance(v, str) else ("yes" if v else "**NO**")
        lines.append(f"| {label} | " + " | ".join(row) + f" | {goal} | {verdict} |")
    if errors:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", default=os.environ.get("QUICK", "") not in ("", "0"))
    ap.add_argument("--inits", default=",".join(i[0] for i in INITS),
                    help="comma-separated subset of " + ",".join(i[0] for i in INITS))
    ap.add_argument("--only", default="", help="comma-separated measurement groups: "
                    "size,startup,memory,reaping,signals,stop,services,probes")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (it makes PID namespaces)")
    want = args.inits.split(",")
    inits = [i for i in INITS if i[0] in want]
    for name, path, _, _ in inits:
        if not os.access(path, os.X_OK):
            hint = "run `make`" if name == "oxinit" else "apt-get install -y tini dumb-init catatonit"
            raise SystemExit(f"bench: {name} not found at {path} ({hint})")
    cfg = QUICK if args.quick else FULL
    scratch = tempfile.mkdtemp(prefix="oxbench.")
    started = time.monotonic()
    LOADAVG[0] = loadavg()
    res, errors = {}, []
    try:
        helper = build_helper(scratch)
        groups = [("size", m_size), ("startup", m_startup), ("memory", m_memory_idle),
                  ("reaping", m_reaping), ("signals", m_signals), ("stop", m_stop),
                  ("services", lambda *a: m_services(*a, scratch)),
                  ("probes", lambda *a: m_probes(*a, scratch)),
                  ("ctl", lambda *a: m_ctl(*a, scratch)),
                  ("cgroups", lambda *a: m_cgroups(*a, scratch))]
        only = [g for g in args.only.split(",") if g]
        for gname, fn in groups:
            if only and gname not in only:
                continue
            log(f"{gname} ...")
            t = time.monotonic()
            try:
                fn(inits, cfg, helper, res)
            except Exception as e:  # noqa: BLE001 - one broken group must not hide the rest
                errors.append(f"{gname}: {type(e).__name__}: {e}")
                log(f"{gname} FAILED: {e}")
            log(f"{gname} took {time.monotonic() - t:.1f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = render(res, inits, cfg, args.quick, errors, time.monotonic() - started)
    print(table, end="")
    if not args.no_write:
        os.makedirs(args.out, exist_ok=True)
        files = ["quick.md"] if args.quick else [
            datetime.date.today().isoformat() + ".md", "latest.md"]
        for fname in files:
            tmp = os.path.join(args.out, fname + ".tmp")
            with open(tmp, "w") as f:
                f.write(table)
            os.replace(tmp, os.path.join(args.out, fname))
        log(f"wrote {', '.join(os.path.join(args.out, f) for f in files)}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
