"""Service mode: the declarative service list (issue 3), oxinit as PID 1."""
import os
import pwd
import re
import signal
import time

from harness import test, wait_until
from lib import Init, proc_status, read, run, tmpdir, write_config


def lines_of(out, name):
    p = f"{name} | "
    return [l[len(p):] for l in out.splitlines() if l.startswith(p)]


def marker_up(d, name, timeout=20):
    wait_until(lambda: os.path.exists(os.path.join(d, name)), timeout, what=f"{name} to appear")


def loop_service(d, name, on_term="exit 0"):
    """A service that marks itself up and handles TERM as told."""
    return (f"[service.{name}]\ncommand = [\"sh\", \"-c\", \"trap '{on_term}' TERM; "
            f"touch {d}/{name}.up; while :; do sleep 0.05; done\"]\n")


@test
def restart_always_restarts_even_after_success():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = "echo run >> {d}/runs; exit 0"
restart = "always"
restart_delay = "50ms"
restart_delay_max = "50ms"
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: read(f"{d}/runs").count("run") >= 3, 20, what="3 runs")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


@test
def restart_on_failure_only_after_failure():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.ok]
command = "echo run >> {d}/ok; exit 0"
restart = "on-failure"
restart_delay = "50ms"

[service.bad]
command = "echo run >> {d}/bad; exit 2"
restart = "on-failure"
restart_delay = "50ms"
restart_delay_max = "50ms"

[service.keeper]
command = ["sleep", "100"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: read(f"{d}/bad").count("run") >= 3, 20, what="bad restarted")
        time.sleep(0.3)
        assert read(f"{d}/ok").count("run") == 1
        i.kill(signal.SIGTERM)
        i.wait(20)


@test
def restart_never_runs_once():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.once]
command = "echo run >> {d}/once; exit 1"
restart = "never"

[service.keeper]
command = ["sleep", "100"]
""")
    with Init(["-c", cfg]) as i:
        marker_up(d, "once")
        time.sleep(1.0)
        assert read(f"{d}/once").count("run") == 1
        i.kill(signal.SIGTERM)
        i.wait(20)
        assert "service once: exited with 1; failed for good" in i.err, i.err


@test
def backoff_doubles_between_restarts():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.crash]
command = "date +%s%N >> {d}/times; exit 1"
restart_delay = "100ms"
restart_delay_max = "10s"

[service.keeper]
command = ["sleep", "100"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: len(read(f"{d}/times").split()) >= 5, 30, what="5 runs")
        i.kill(signal.SIGTERM)
        i.wait(20)
    t = [int(x) / 1e9 for x in read(f"{d}/times").split()]
    gaps = [b - a for a, b in zip(t, t[1:])]
    # 100, 200, 400, 800 ms: each gap at least the delay, and growing.
    for k, g in enumerate(gaps[:4]):
        assert g >= 0.1 * 2 ** k * 0.9, gaps
    assert gaps[3] > gaps[0] * 3, gaps


@test
def max_restarts_marks_failed():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.crash]
command = "echo run >> {d}/runs; exit 3"
restart_delay = "20ms"
restart_delay_max = "20ms"
max_restarts = 2
restart_window = "60s"

[service.keeper]
command = ["sleep", "100"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: "failed" in (i.proc.stderr.peek() if False else "") or
                   read(f"{d}/runs").count("run") >= 3, 20, what="3 runs")
        time.sleep(1.0)
        assert read(f"{d}/runs").count("run") == 3  # 1 + max_restarts
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
        assert re.search(r"service crash: exited with 3; failed for good: 2 restarts within 60s", i.err), i.err


@test
def critical_service_exit_ends_everything_with_its_code():
    d = tmpdir()
    cfg = write_config(d, loop_service(d, "web") + f"""
[service.core]
command = "while [ ! -e {d}/web.up ]; do sleep 0.05; done; exit 42"
critical = true
restart = "never"
""")
    code, out, err = run(["-c", cfg])
    assert code == 42, (code, err)


@test
def critical_service_that_fails_for_good_after_restarts():
    d = tmpdir()
    cfg = write_config(d, loop_service(d, "web") + """
[service.core]
command = "exit 7"
critical = true
restart = "on-failure"
restart_delay = "20ms"
max_restarts = 1
""")
    code, out, err = run(["-c", cfg])
    assert code == 7, (code, err)


@test
def main_command_exit_code_with_services_running():
    d = tmpdir()
    cfg = write_config(d, loop_service(d, "web") + loop_service(d, "worker"))
    code, out, err = run(["-c", cfg, "--", "sh", "-c",
                          f"while [ ! -e {d}/web.up ] || [ ! -e {d}/worker.up ]; do sleep 0.05; done; exit 9"])
    assert code == 9, (code, err)


@test
def main_command_starts_after_oneshots_and_gets_signals():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.migrate]
type = "oneshot"
command = "sleep 0.3; touch {d}/migrated"
""" + loop_service(d, "web"))
    with Init(["-c", cfg, "--", "sh", "-c",
               f"test -e {d}/migrated || exit 50; trap 'exit 5' TERM; touch {d}/main.up; "
               "while :; do sleep 0.05; done"]) as i:
        marker_up(d, "main.up")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 5
        assert os.path.exists(f"{d}/web.up")


@test
def oneshot_ordering():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.first]
type = "oneshot"
command = "sleep 0.3; echo first >> {d}/order"

[service.second]
type = "oneshot"
command = "echo second >> {d}/order"
after = ["first"]

[service.app]
command = "echo app >> {d}/order; exec sleep 100"
after = ["second"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: "app" in read(f"{d}/order"), 20, what="app start")
        assert read(f"{d}/order").split() == ["first", "second", "app"]
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


@test
def oneshot_failure_aborts_startup():
    """A failed oneshot stops what already runs (early gets its TERM), starts nothing after it, and says so."""
    d = tmpdir()
    cfg = write_config(d, loop_service(d, "early", on_term=f"touch {d}/early.stopped; exit 0") + f"""
[service.migrate]
type = "oneshot"
command = "while [ ! -e {d}/early.up ]; do sleep 0.05; done; exit 4"

[service.app]
command = "touch {d}/app.started; exec sleep 100"
after = ["migrate"]
""")
    code, out, err = run(["-c", cfg])
    assert code == 4, (code, err)
    assert not os.path.exists(f"{d}/app.started")
    assert os.path.exists(f"{d}/early.stopped"), err
    # At the default verbosity: a WARN naming the oneshot and its code.
    assert re.search(r"^\[WARN +oxinit.*\bmigrate\b.*\b4\b", err, re.M), err


@test
def stop_in_reverse_dependency_order():
    d = tmpdir()
    def svc(name, after):
        a = f'after = ["{after}"]\n' if after else ""
        return (f"[service.{name}]\n{a}command = [\"sh\", \"-c\", \"trap 'echo {name} >> {d}/stops; exit 0' TERM; "
                f"touch {d}/{name}.up; while :; do sleep 0.05; done\"]\n")
    cfg = write_config(d, svc("db", None) + svc("app", "db") + svc("proxy", "app"))
    with Init(["-c", cfg]) as i:
        for n in ("db", "app", "proxy"):
            marker_up(d, f"{n}.up")
        i.kill(signal.SIGTERM)
        assert i.wait(30) == 0
    assert read(f"{d}/stops").split() == ["proxy", "app", "db"]


@test
def stop_timeout_kills_term_ignoring_service_and_grandchildren():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.stubborn]
command = ["sh", "-c", "trap '' TERM; sh -c 'trap \\"\\" TERM; echo $$ > {d}/gc; while :; do sleep 0.05; done' & echo $$ > {d}/leader; while :; do sleep 0.05; done"]
stop_timeout = "1s"
""")
    with Init(["-c", cfg, "-G", "30"]) as i:
        wait_until(lambda: read(f"{d}/gc").strip() and read(f"{d}/leader").strip(), 20, what="pids")
        t0 = time.monotonic()
        i.kill(signal.SIGTERM)
        assert i.wait(30) == 0
        took = time.monotonic() - t0
    assert took >= 0.9, took
    # The grace (-G 30) was not needed: the group SIGKILL took the grandchild.
    assert took < 25, took
    assert "sending SIGKILL" in i.err, i.err


@test
def user_and_group_seen_in_proc():
    d = tmpdir()
    nobody = pwd.getpwnam("nobody")
    cfg = write_config(d, f"""
[service.u]
command = ["sh", "-c", "grep -E '^(Uid|Gid|Groups)' /proc/self/status > {d}/ids.tmp; mv {d}/ids.tmp {d}/ids; exec sleep 100"]
user = "nobody"
""")
    os.chmod(d, 0o777)
    with Init(["-c", cfg]) as i:
        marker_up(d, "ids")
        st = dict(l.split(":", 1) for l in read(f"{d}/ids").splitlines())
        assert st["Uid"].split()[0] == str(nobody.pw_uid), st
        assert st["Gid"].split()[0] == str(nobody.pw_gid), st
        i.kill(signal.SIGTERM)
        i.wait(20)


@test
def env_env_file_workdir_umask_rlimits():
    d = tmpdir()
    with open(f"{d}/svc.env", "w") as f:
        f.write("# comment\nFROM_FILE=yes\nexport QUOTED=\"a b\"\n\nMODE=overridden-by-file\n")
    cfg = write_config(d, f"""
[service.probe]
command = ["sh", "-c", "echo MODE=$MODE FROM_FILE=$FROM_FILE QUOTED=$QUOTED PWD=$(pwd) UMASK=$(umask) NOFILE=$(ulimit -n) > {d}/out.tmp; mv {d}/out.tmp {d}/out; exec sleep 100"]
env = {{ MODE = "prod" }}
env_file = "{d}/svc.env"
workdir = "/tmp"
umask = "027"
rlimits = {{ nofile = 123 }}
""")
    with Init(["-c", cfg]) as i:
        marker_up(d, "out")
        out = read(f"{d}/out")
        assert "FROM_FILE=yes" in out and "QUOTED=a b" in out, out
        assert "MODE=overridden-by-file" in out, out
        assert "PWD=/tmp" in out and "UMASK=0027" in out and "NOFILE=123" in out, out
        i.kill(signal.SIGTERM)
        i.wait(20)


@test
def instances_are_named_and_numbered():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.w]
command = ["sh", "-c", "echo instance=$OXINIT_INSTANCE; touch {d}/w$OXINIT_INSTANCE; exec sleep 100"]
instances = 3
""")
    with Init(["-c", cfg]) as i:
        for k in range(3):
            marker_up(d, f"w{k}")
        i.kill(signal.SIGTERM)
        i.wait(20)
    for k in range(3):
        assert f"instance={k}" in lines_of(i.out, f"w.{k}"), i.out


@test
def log_prefixes_and_long_line_without_newline():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.talker]
command = ["sh", "-c", "echo out-line; echo err-line >&2; printf '%010000d' 7; touch {d}/done; exec sleep 100"]

[service.quiet]
command = ["sh", "-c", "echo never-seen; exec sleep 100"]
log = "null"
""")
    with Init(["-c", cfg]) as i:
        marker_up(d, "done")
        time.sleep(0.3)
        i.kill(signal.SIGTERM)
        i.wait(20)
    assert "out-line" in lines_of(i.out, "talker"), i.out[:500]
    assert "err-line" in lines_of(i.err, "talker"), i.err
    assert "never-seen" not in i.out
    long_parts = [l for l in lines_of(i.out, "talker") if l.startswith("0")]
    assert "".join(long_parts) == "0" * 9999 + "7", [len(p) for p in long_parts]
    assert all(len(p) <= 4096 for p in long_parts)


@test
def log_timestamps_prefix_rfc3339():
    d = tmpdir()
    cfg = write_config(d, """
[init]
log_timestamps = true

[service.t]
command = "echo stamped"
restart = "never"
""")
    code, out, err = run(["-c", cfg])
    m = re.search(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z t \| stamped$", out, re.M)
    assert m, out
    import datetime
    stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 600, stamp


@test
def sighup_becomes_each_reload_signal():
    """SIGHUP reaches only the services that set a reload_signal (none by default, issue 13)."""
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = ["sh", "-c", "trap 'echo usr1 >> {d}/a' USR1; touch {d}/a.up; while :; do sleep 0.05; done"]
reload_signal = "SIGUSR1"

[service.b]
command = ["sh", "-c", "trap 'echo hup >> {d}/b' HUP; touch {d}/b.up; while :; do sleep 0.05; done"]
reload_signal = "SIGHUP"

[service.c]
command = ["sh", "-c", "trap 'echo hup >> {d}/c' HUP; echo start >> {d}/c.starts; while :; do sleep 0.05; done"]
""")
    with Init(["-c", cfg]) as i:
        marker_up(d, "a.up")
        marker_up(d, "b.up")
        marker_up(d, "c.starts")
        i.kill(signal.SIGHUP)
        wait_until(lambda: "usr1" in read(f"{d}/a") and "hup" in read(f"{d}/b"), 10, what="reloads")
        time.sleep(0.5)  # c's trap would have run by now (it polls every 50 ms)
        assert read(f"{d}/c") == "", "a SIGHUP reached c, which sets no reload_signal"
        assert read(f"{d}/c.starts").count("start") == 1, read(f"{d}/c.starts")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


@test(timeout=120)
def hundred_services_start_and_stop_cleanly():
    d = tmpdir()
    cfg = write_config(d, "".join(
        f"[service.s{k}]\ncommand = [\"sh\", \"-c\", \"touch {d}/s{k}; exec sleep 1000\"]\n" for k in range(100)))
    with Init(["-c", cfg]) as i:
        wait_until(lambda: len([f for f in os.listdir(d) if f.startswith("s")]) == 100, 60,
                   what="100 services up")
        time.sleep(0.5)
        st = proc_status(i.pid)
        time.sleep(3)
        st2 = proc_status(i.pid)
        switches = sum(int(st2[k]) - int(st[k]) for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        print(f"  oxinit with 100 idle services: VmRSS {st['VmRSS']}, VmHWM {st['VmHWM']}, "
              f"{switches} context switches in 3 s")
        assert switches == 0
        i.kill(signal.SIGTERM)
        assert i.wait(60) == 0
        assert "SIGKILL" not in i.err, i.err


@test
def config_errors_name_file_line_col_and_nothing_starts():
    d = tmpdir()
    cases = {
        'unknown key': ('[service.a]\ncommand = "true"\nrestrat = "always"\n', r":3:1: .*restrat.*restart"),
        'wrong type': ('[service.a]\ncommand = "true"\nmax_restarts = "five"\n', r":3:\d+: "),
        'bad duration': ('[service.a]\ncommand = "true"\nstop_timeout = "5 parsecs"\n', r":3:\d+: "),
        'unknown after': ('[service.a]\ncommand = "true"\nafter = ["nope"]\n', r":3:\d+: .*nope"),
        'cycle': ('[service.a]\ncommand = "true"\nafter = ["b"]\n[service.b]\ncommand = "true"\nafter = ["a"]\n',
                  r":\d+:\d+: .*cycle"),
        'syntax': ('[service.a\ncommand = "true"\n', r":1:\d+: "),
    }
    for name, (text, pattern) in cases.items():
        cfg = write_config(d, text + f'\n[service.marker]\ncommand = "touch {d}/started"\n')
        code, out, err = run(["-c", cfg, "--", "touch", f"{d}/started"], timeout=20)
        assert code == 1, (name, code, err)
        assert re.search(re.escape(cfg) + pattern, err), (name, err)
        assert not os.path.exists(f"{d}/started"), name


@test
def duplicate_service_across_files():
    """A later file changes the service (a drop-in, issue 13); the same file
    given twice defines it twice, an error naming both places."""
    d = tmpdir()
    a = write_config(d, '[service.web]\ncommand = "exit 3"\nrestart = "never"\n', "a.toml")
    b = write_config(d, '\n[service.web]\ncommand = "exit 0"\n', "b.toml")
    code, out, err = run(["-c", a, "-c", b])
    assert code == 0, err
    code, out, err = run(["-c", a, "-c", a])
    assert code == 1
    assert f"{a}:1:10: service 'web' is already defined at {a}:1" in err, err


@test
def check_prints_start_order():
    d = tmpdir()
    cfg = write_config(d, """
[service.app]
command = "true"
after = ["db"]

[service.db]
command = "true"
""")
    code, out, err = run(["--check", "-c", cfg], pidns=False)
    assert code == 0, err
    names = [l.split()[0] for l in out.splitlines()]
    assert names == ["db", "app"], out
    bad = write_config(d, '[service.a]\ncomand = "x"\n', "bad.toml")
    code, out, err = run(["--check", "-c", bad], pidns=False)
    assert code == 1 and "bad.toml:2:1" in err, err


@test
def oxinit_config_variable():
    d = tmpdir()
    cfg = write_config(d, '[service.t]\ncommand = "echo via-env"\nrestart = "never"\n')
    code, out, err = run([], env={"OXINIT_CONFIG": cfg})
    assert code == 0, err
    assert "via-env" in lines_of(out, "t"), out


@test
def services_start_with_clean_signals_even_if_oxinit_inherited_ignores():
    # A shell's `cmd &` ignores SIGINT and SIGQUIT; a service must still obey
    # its stop_signal, so services never inherit ignored or blocked signals.
    d = tmpdir()
    cfg = write_config(d, f"""
[service.q]
command = ["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status > {d}/st; trap 'exit 0' QUIT; touch {d}/up; while :; do sleep 0.05; done"]
stop_signal = "SIGQUIT"
stop_timeout = "20s"
""")
    import subprocess
    from lib import OXINIT, PY
    wrapper = ("import os, signal, sys\n"
               "signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n"
               "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
               "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
               "os.execv(sys.argv[1], sys.argv[1:])\n")
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", PY, "-c", wrapper, OXINIT, "-c", cfg],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        marker_up(d, "up")
        st = dict(l.split(":\t") for l in read(f"{d}/st").splitlines())
        assert int(st["SigIgn"], 16) == 0 and int(st["SigBlk"], 16) == 0, st
        from lib import children_of
        init = children_of(p.pid)[0]
        t0 = time.monotonic()
        os.kill(init, signal.SIGTERM)
        assert p.wait(30) == 0
        assert time.monotonic() - t0 < 15  # stopped by QUIT, not by the SIGKILL at 20 s
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


@test
def last_output_comes_before_the_exit_report_and_stop_signal_arrives_once():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.w]
command = ["sh", "-c", "trap 'echo got-term >> {d}/terms; echo bye; exit 0' TERM; touch {d}/up; while :; do sleep 0.05; done"]
""")
    with Init(["-v", "-c", cfg]) as i:
        marker_up(d, "up")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    lines = i.out.splitlines()
    bye = lines.index("w | bye")
    exited = next(k for k, l in enumerate(lines) if "service w: exited" in l)
    assert bye < exited, lines
    assert read(f"{d}/terms").count("got-term") == 1


@test
def a_service_written_before_its_dependency_starts_without_any_other_event():
    # app is written first but comes after db: both must start in one pass,
    # with no exit or signal to wake oxinit in between.
    d = tmpdir()
    cfg = write_config(d, f"""
[service.app]
command = ["sh", "-c", "touch {d}/app.up; exec sleep 100"]
after = ["db"]

[service.db]
command = ["sh", "-c", "touch {d}/db.up; exec sleep 100"]
""")
    with Init(["-c", cfg]) as i:
        marker_up(d, "db.up")
        marker_up(d, "app.up", timeout=10)
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
