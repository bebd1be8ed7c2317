"""dist/: every arch's binary, checked as a file and run under qemu-user as
PID 1 of a PID namespace, with native programs as its children."""
import hashlib
import os
import signal

from harness import test
from lib import (DIST, MACHINE, Pid1, arches, binary, dist_version, elf_facts, machine_of, pid1, run, runner,
                 version_line)

BUDGET = 150 * 1024


@test
def dist_has_every_arch_static_stripped_within_budget():
    want = arches()
    assert {"amd64", "arm64"} <= set(want), want
    with open(os.path.join(DIST, "SHA256SUMS")) as f:
        sums = dict(reversed(ln.split()) for ln in f if ln.strip())
    rows = []
    for arch in want:
        path = binary(arch)
        name = os.path.basename(path)
        with open(path, "rb") as f:
            assert sums.get(name) == hashlib.sha256(f.read()).hexdigest(), f"{name}: SHA256SUMS wrong"
        machine, interp, symtab = elf_facts(path)
        assert machine == MACHINE[arch], f"{name}: e_machine {machine}"
        assert not interp, f"{name}: dynamic (PT_INTERP)"
        assert not symtab, f"{name}: not stripped"
        size = os.path.getsize(path)
        if arch in ("amd64", "armhf"):  # see scripts/dist.py BUDGET_ARCHES
            assert size <= BUDGET, f"{name}: {size} bytes > {BUDGET}"
        rows.append(f"{arch} {size}")
    assert len(sums) == len(want), f"SHA256SUMS lists {sorted(sums)}"
    print("   sizes: " + ", ".join(rows))


def per_arch(fn):
    """Register fn(arch) as one test per arch: NAME_ARCH."""
    for arch in arches():
        def t(arch=arch):
            fn(arch)
        t.__name__ = f"{fn.__name__}_{arch}"
        test(t, timeout=120)
    return fn


@per_arch
def version_under_qemu(arch):
    r = run([*runner(arch), binary(arch), "--version"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert version_line().match(r.stdout.strip()), r.stdout


@per_arch
def exit_codes_as_pid1(arch):
    cases = [
        (["--", "/bin/sh", "-c", "exit 0"], 0),
        (["--", "/bin/sh", "-c", "exit 3"], 3),
        (["--", "/bin/sh", "-c", "exit 255"], 255),
        (["--", "/bin/sh", "-c", "kill -TERM $$; sleep 5"], 143),
        (["--", "/bin/sh", "-c", "kill -KILL $$; sleep 5"], 137),
        (["--", "/nonexistent/program"], 127),
        (["-e", "3", "--", "/bin/sh", "-c", "exit 3"], 0),
    ]
    for args, want in cases:
        r = run(pid1(arch, args), timeout=60)
        assert r.returncode == want, f"{arch} {args}: exit {r.returncode}, want {want}\n{r.stdout}{r.stderr}"


@per_arch
def signals_forwarded_and_orphans_reaped_as_pid1(arch):
    """SIGHUP and SIGUSR1 sent to PID 1 (oxinit under qemu) reach the native
    shell; its orphans are reaped; SIGTERM ends it with its own code."""
    script = r"""
trap 'echo got-HUP' HUP; trap 'echo got-USR1' USR1
trap 'z=0; for f in /proc/[0-9]*/stat; do read -r p c s rest < $f 2>/dev/null && [ "$s" = Z ] && z=$((z+1)); done; echo zombies=$z; exit 42' TERM
(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &)
echo ready
while :; do sleep 0.1; done
"""
    with Pid1(pid1(arch, ["--", "/bin/sh", "-c", script])) as p:
        p.expect("ready")
        p.kill(signal.SIGHUP)
        p.expect("got-HUP")
        p.kill(signal.SIGUSR1)
        p.expect("got-USR1")
        p.kill(signal.SIGTERM)
        rc = p.wait()
    assert rc == 42, f"exit {rc}:\n{p.text()}"
    assert "zombies=0" in p.text(), p.text()


@per_arch
def kill_timeout_as_pid1(arch):
    """-t: a command that ignores the forwarded SIGTERM is SIGKILLed."""
    with Pid1(pid1(arch, ["-t", "0.5", "--", "/bin/sh", "-c",
                          "trap '' TERM; echo ready; while :; do sleep 0.1; done"])) as p:
        p.expect("ready")
        p.kill(signal.SIGTERM)
        rc = p.wait()
    assert rc == 137, f"exit {rc}:\n{p.text()}"


UID_CONFIG = """[service.s]
command = ["/usr/bin/id"]
user = 70000
group = 70001
restart = "never"
"""


@per_arch
def service_uid_above_65535(arch, tmp="/tmp"):
    """A uid and gid above 65535 (i386 and 32-bit ARM have 16-bit set*id
    calls besides the 32-bit ones): the service runs as exactly that."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".toml", dir=tmp) as f:
        f.write(UID_CONFIG)
        f.flush()
        r = run(pid1(arch, ["-c", f.name]), timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode == 0, f"exit {r.returncode}:\n{out}"
        assert "s | uid=70000 gid=70001 groups=70001\n" in out, out
        if arch in ("i386", "armhf"):
            # qemu-user passes a 16-bit setuid's argument through whole, so
            # the output alone cannot tell: its -strace names the calls.
            s = run(pid1(arch, ["-c", f.name], extra=["-strace"]), timeout=60)
            calls = s.stdout + s.stderr
            for name in ("setgroups32(", "setgid32(70001", "setuid32(70000"):
                assert name in calls, f"{arch}: no {name} in qemu -strace:\n{calls[-3000:]}"
            for name in (" setuid(", " setgid(", " setgroups("):
                assert name not in calls, f"{arch}: the 16-bit {name} is called"


@test
def dist_binaries_report_their_arch():
    """The file named ARCH is that arch's ELF (no copy of another)."""
    for arch in arches():
        assert machine_of(binary(arch)) == arch, arch
    assert dist_version()
