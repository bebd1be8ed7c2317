"""Issue 11: the defects that broke "the PID 1 you never have to think
about". One test per defect; each failed on the main before the fix."""
import os
import re
import signal
import subprocess
import time

from harness import OXINIT, test, wait_until
from lib import Init, children_of, helper, read, run, tmpdir, write_config

PY = "/usr/bin/python3"


@test
def stop_signal_while_main_command_waits_for_a_oneshot():
    # A SIGTERM while a 3 s oneshot runs (the main command waiting for it)
    # ends the run: the oneshot is stopped, the main command never starts.
    d = tmpdir()
    cfg = write_config(d, f"""
[service.migrate]
type = "oneshot"
command = ["sh", "-c", "trap 'echo term >> {d}/migrate; exit 143' TERM; touch {d}/up; sleep 3 & wait; echo finished >> {d}/migrate"]
""")
    with Init(["-c", cfg, "--", "sh", "-c", f"touch {d}/main-ran"]) as i:
        wait_until(lambda: os.path.exists(f"{d}/up"), 10, what="the oneshot to start")
        t0 = time.monotonic()
        i.kill(signal.SIGTERM)
        code = i.wait(20)
        took = time.monotonic() - t0
    print(f"  SIGTERM during the oneshot: exit {code} after {took:.2f}s")
    assert not os.path.exists(f"{d}/main-ran"), "the main command ran after a stop request"
    assert read(f"{d}/migrate").split() == ["term"], read(f"{d}/migrate")
    assert code == 0, (code, i.err)  # told to stop before the main command ran


@test
def stop_signal_during_backoff_and_while_services_start():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.crash]
type = "oneshot"
restart = "on-failure"
command = ["sh", "-c", "echo run >> {d}/runs; exit 1"]
restart_delay = "30s"
""")
    with Init(["-c", cfg, "--", "true"]) as i:
        wait_until(lambda: "run" in read(f"{d}/runs"), 10, what="the first run")
        time.sleep(0.3)  # in backoff now, the main command waiting for crash to be ready
        i.kill(signal.SIGTERM)
        code = i.wait(20)
    assert read(f"{d}/runs").count("run") == 1
    assert code == 0, (code, i.err)


@test
def other_signal_before_the_main_command_is_reported():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.slow]
type = "oneshot"
command = ["sh", "-c", "touch {d}/up; sleep 2"]
""")
    with Init(["-c", cfg, "--", "true"]) as i:
        wait_until(lambda: os.path.exists(f"{d}/up"), 10, what="the oneshot to start")
        i.kill(signal.SIGUSR1)
        code = i.wait(20)
    assert code == 0, (code, i.err)
    assert re.search(r"WARN .*received SIGUSR1 before the main command started", i.err), i.err


@test(timeout=90)
def own_messages_never_block_pid1_on_a_pipe_nobody_reads():
    # stdout and stderr on one pipe nobody reads (a stalled log collector,
    # 2>&1); a service floods it, another crashes (WARN lines). SIGTERM must
    # still stop everything.
    d = tmpdir()
    cfg = write_config(d, f"""
[service.flood]
command = ["sh", "-c", "touch {d}/flooding; exec yes flood-flood-flood-flood"]

[service.crash]
command = ["sh", "-c", "echo crash; exit 3"]
restart_delay = "10ms"
restart_delay_max = "10ms"
""")
    r, w = os.pipe()
    try:
        with Init(["-c", cfg], stdout=w, stderr=w) as i:
            os.close(w)
            w = -1
            wait_until(lambda: os.path.exists(f"{d}/flooding"), 10, what="the flood")
            time.sleep(1.5)  # the pipe is full and many WARN lines are due
            i.kill(signal.SIGTERM)
            try:
                code = i.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                raise AssertionError("oxinit did not stop: stuck writing its own messages")
            print(f"  pipe nobody reads: stopped with exit {code}")
            assert code == 0, code
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


@test
def vm_forced_when_not_pid1_refuses_and_touches_nothing():
    # In PID + UTS + mount namespaces, so nothing can reach the host even if
    # the refusal failed. oxinit runs as a child of sh there, not as PID 1.
    d = tmpdir()
    cfg = write_config(d, """
[init]
vm = "on"
hostname = "oxinit-vm-test"
""")
    script = (f"hostname before-test; {OXINIT} --vm -- true; echo rc=$?; hostname; "
              f"{OXINIT} -c {cfg} -- true; echo rc=$?; hostname")
    p = subprocess.run(["unshare", "--pid", "--uts", "--mount", "--fork", "--mount-proc", "--kill-child",
                        "sh", "-c", script], capture_output=True, text=True, timeout=30)
    print(f"  {p.stdout.split()}")
    assert p.stdout.split() == ["rc=1", "before-test", "rc=1", "before-test"], (p.stdout, p.stderr)
    assert "--vm needs oxinit to be PID 1" in p.stderr, p.stderr
    assert 'vm = "on" needs oxinit to be PID 1' in p.stderr, p.stderr


@test(timeout=60)
def shutdown_limit_bounds_the_whole_shutdown():
    d = tmpdir()
    cfg = write_config(d, f"""
[init]
shutdown_limit = "2s"

[service.stubborn]
command = ["sh", "-c", "trap '' TERM; touch {d}/up; while :; do sleep 1; done"]
stop_timeout = "60s"
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/up"), 10, what="the service")
        t0 = time.monotonic()
        i.kill(signal.SIGTERM)
        code = i.wait(30)
        took = time.monotonic() - t0
    print(f"  shutdown_limit 2s, stop_timeout 60s: done after {took:.1f}s")
    assert took < 20, took
    assert "shutdown_limit (2s) reached" in i.err, i.err
    assert re.search(r"service stubborn: still stopping \(pid \d+\)", i.err), i.err


@test
def command_is_found_in_the_services_own_path_and_scripts_without_shebang_run():
    d = tmpdir()
    os.makedirs(f"{d}/bin")
    with open(f"{d}/bin/only-here", "w") as f:
        f.write(f"#!/bin/sh\necho found > {d}/found\n")
    with open(f"{d}/bin/no-shebang", "w") as f:
        f.write(f"echo \"ran by sh: $1\" > {d}/noshebang\n")
    os.chmod(f"{d}/bin/only-here", 0o755)
    os.chmod(f"{d}/bin/no-shebang", 0o755)
    cfg = write_config(d, f"""
[service.a]
type = "oneshot"
command = ["only-here"]
env = {{ PATH = "{d}/bin:/usr/bin:/bin" }}

[service.b]
type = "oneshot"
command = ["no-shebang", "arg1"]
env = {{ PATH = "{d}/bin:/usr/bin:/bin" }}
""")
    code, out, err = run(["-c", cfg])
    assert code == 0, (code, err)
    assert read(f"{d}/found").strip() == "found"
    assert read(f"{d}/noshebang").strip() == "ran by sh: arg1"
    # The main command too, as tini (glibc's execvp) runs it.
    code, out, err = run(["--", f"{d}/bin/no-shebang", "main"])
    assert code == 0, (code, err)
    assert read(f"{d}/noshebang").strip() == "ran by sh: main"


@test(timeout=60)
def leftovers_of_a_leader_are_stopped_before_the_restart():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.leaky]
command = ["sh", "-c", "sleep 1000 & echo run >> {d}/runs; exit 1"]
restart_delay = "100ms"
restart_delay_max = "100ms"
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: read(f"{d}/runs").count("run") >= 4, 30, what="four runs")
        # Leftovers are re-parented to oxinit (PID 1): count its sleeping children.
        sleeps = [p for p in children_of(i.pid) if read(f"/proc/{p}/comm").strip() == "sleep"]
        runs = read(f"{d}/runs").count("run")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    print(f"  {runs} runs, sleeps left by the runs still alive: {len(sleeps)}")
    assert len(sleeps) <= 1, sleeps  # at most the current run's
    assert "stopping what it left in its process group first" in i.err, i.err


@test(timeout=60)
def clean_exits_do_not_grow_the_backoff():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.job]
command = ["sh", "-c", "echo run >> {d}/runs"]
restart = "always"
restart_delay = "200ms"
restart_delay_max = "30s"
""")
    with Init(["-v", "-c", cfg]) as i:
        t0 = time.monotonic()
        # Doubling would need 0.2+0.4+...+12.8 = 25 s for 8 runs; 200 ms each, 1.4 s.
        wait_until(lambda: read(f"{d}/runs").count("run") >= 8, 12, what="eight runs")
        took = time.monotonic() - t0
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    print(f"  8 clean runs in {took:.1f}s")
    assert "service job: exited with 0; restarting in 200ms" in i.out, i.out[-2000:]
    assert "WARN" not in i.err, i.err


@test
def user_gets_home_user_logname_shell_from_passwd():
    d = tmpdir()
    os.chmod(d, 0o777)
    cfg = write_config(d, f"""
[service.who]
type = "oneshot"
user = "nobody"
command = ["sh", "-c", "echo \\"$HOME $USER $LOGNAME $SHELL\\" > {d}/who"]

[service.override]
type = "oneshot"
user = "nobody"
env = {{ HOME = "/srv" }}
command = ["sh", "-c", "echo \\"$HOME $USER\\" > {d}/override"]
""")
    code, out, err = run(["-c", cfg])
    assert code == 0, (code, err)
    import pwd
    pw = pwd.getpwnam("nobody")
    assert read(f"{d}/who").split() == [pw.pw_dir, "nobody", "nobody", pw.pw_shell], read(f"{d}/who")
    assert read(f"{d}/override").split() == ["/srv", "nobody"], read(f"{d}/override")


@test
def every_unexpected_exit_is_a_warn_line_saying_what_is_next():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.three]
command = ["sh", "-c", "exit 3"]
restart_delay = "2s"
max_restarts = 1
restart_window = "60s"

[service.killed]
command = ["sh", "-c", "kill -KILL $$"]
restart = "never"

[service.keeper]
command = ["sh", "-c", "touch {d}/up; exec sleep 100"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/up"), 10, what="keeper")
        time.sleep(3.5)  # three: first run, 2 s backoff, second run, then final
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    err = i.err
    assert "WARN  oxinit (1)] service three: exited with 3; restarting in 2s" in err, err
    assert "service three: exited with 3; failed for good: 1 restarts within 60s (max_restarts)" in err, err
    assert "WARN  oxinit (1)] service killed: killed by SIGKILL; failed for good" in err, err


@test
def log_timestamps_stamp_oxinits_own_lines():
    d = tmpdir()
    cfg = write_config(d, """
[init]
log_timestamps = true

[service.bad]
command = ["sh", "-c", "exit 4"]
restart = "never"
""")
    code, out, err = run(["-c", cfg])
    line = next(l for l in err.splitlines() if "service bad: exited with 4" in l)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[WARN  oxinit \(1\)\]", line), line


@test
def sigpipe_from_oxinits_own_write_is_not_forwarded():
    d = tmpdir()
    rec = f"{d}/signals"
    r, w = os.pipe()
    os.close(r)  # oxinit's stdout: a pipe whose reader is gone
    try:
        with Init(["-vvv", "--", PY, helper("sigrecorder.py"), rec, "exit-on-term"], stdout=w) as i:
            wait_until(lambda: os.path.exists(rec + ".ready"), 10, what="the recorder")
            i.kill(signal.SIGUSR1)  # -vvv: DEBUG "Passing signal" to the dead stdout: EPIPE
            wait_until(lambda: str(int(signal.SIGUSR1)) in read(rec).split(), 10, what="SIGUSR1 forwarded")
            time.sleep(0.3)
            i.kill(signal.SIGTERM)
            i.wait(20)
    finally:
        os.close(w)
    got = [int(x) for x in read(rec).split()]
    assert signal.SIGPIPE not in got, got
