"""Fault and load tests (issue 7): oxinit as PID 1 must never die, lose a
status or stall. Each test is bounded in time; the figures they measure are
printed (indented) so a run's log carries them.

The load generators are a small C program (STORM_C below) built once per run
with cc: a Python fork costs too much for 50,000 orphans or a burst of 10,000
zombies. No cc: the tests that need it fail loudly.
"""
import hashlib
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

from harness import OXINIT, test, wait_until
from lib import Init, children_of, ms, proc_status, read, run, tmpdir, write_config

# An unprivileged uid no other process uses: RLIMIT_NPROC counts a user's
# processes system-wide, and root is exempt from it (fork(2), EAGAIN).
NPROC_UID = 54321
# strerror(EMFILE): glibc and musl word it differently.
EMFILE_TEXT = r"(Too many open files|No file descriptors available)"
LIMIT_HARD = 1024


def raise_soft_limit(pid, res, uid=None):
    """Raises pid's soft limit to LIMIT_HARD. prlimit(2) on another process
    needs the same uid or CAP_SYS_RESOURCE, so for a process running as uid
    the call is made as uid."""
    name = {resource.RLIMIT_NPROC: "nproc", resource.RLIMIT_NOFILE: "nofile"}[res]
    pre = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    subprocess.run(pre + ["prlimit", f"--pid={pid}", f"--{name}={LIMIT_HARD}:{LIMIT_HARD}"],
                   check=True, timeout=10)

STORM_C = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
static void nap(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, 0); }

/* Zombies in this PID namespace (state Z in /proc/N/stat). */
static int zombies(void) {
  DIR* d = opendir("/proc"); struct dirent* e; int z = 0; char path[64], buf[512];
  if (!d) return -1;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY); if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1); close(fd); if (n <= 0) continue;
    buf[n] = 0; char* p = strrchr(buf, ')'); if (p && p[2] == 'Z') z++;
  }
  closedir(d); return z;
}
static int wait_no_zombies(double secs) {
  double end = now() + secs; int z;
  while ((z = zombies()) != 0 && now() < end) nap(20);
  return z;
}
static pid_t fork_retry(void) {
  for (int i = 0; i < 2000; i++) {  /* EAGAIN while pids are being reaped: bounded retry */
    pid_t p = fork(); if (p >= 0 || errno != EAGAIN) return p; nap(5);
  }
  return -1;
}

/* orphans N: N double forks; each grandchild is re-parented to PID 1 and exits. */
static int orphans(long n) {
  double t0 = now();
  for (long i = 0; i < n; i++) {
    pid_t p = fork_retry();
    if (p < 0) { perror("fork"); return 2; }
    if (p == 0) { if (fork() == 0) _exit(0); _exit(0); }
    waitpid(p, 0, 0);
  }
  int z = wait_no_zombies(30);
  printf("orphans=%ld seconds=%.2f zombies_left=%d\n", n, now() - t0, z);
  return z == 0 ? 0 : 1;
}

/* burst N: N children of an intermediate that exits (so they belong to PID 1),
   all blocked on one pipe; closing it makes every one exit at once. */
static int burst(long n) {
  int gate[2], ready[2];
  if (pipe(gate) || pipe(ready)) return 2;
  pid_t mid = fork();
  if (mid == 0) {
    close(ready[0]);
    long made = 0;
    for (long i = 0; i < n; i++) {
      pid_t c = fork_retry();
      if (c < 0) break;
      if (c == 0) { char b; close(gate[1]); close(ready[1]); while (read(gate[0], &b, 1) < 0 && errno == EINTR) {} _exit(0); }
      made++;
    }
    dprintf(ready[1], "%ld\n", made);
    _exit(0);
  }
  close(ready[1]); close(gate[0]);
  char b[32] = {0}; ssize_t r = read(ready[0], b, sizeof b - 1); (void)r;
  waitpid(mid, 0, 0);
  long made = atol(b);
  double t0 = now();
  close(gate[1]);  /* every child exits now */
  int z = wait_no_zombies(30);
  printf("burst=%ld seconds=%.2f zombies_left=%d\n", made, now() - t0, z);
  return z == 0 && made == n ? 0 : 1;
}

/* sigcount OUT: counts every signal (all blocked, sigwaitinfo); appends a
   signal's number to OUT.first the first time it comes; on SIGTERM writes
   "SIG COUNT" lines to OUT and exits 0. */
static int sigcount(const char* out) {
  sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, 0);
  static long count[65]; char first[512]; snprintf(first, sizeof first, "%s.first", out);
  char rdy[512]; snprintf(rdy, sizeof rdy, "%s.ready", out);
  close(open(rdy, O_WRONLY | O_CREAT, 0644));
  double end = now() + 120;
  while (now() < end) {
    struct timespec to = {1, 0};
    int s = sigtimedwait(&all, 0, &to);
    if (s <= 0 || s > 64) continue;
    if (count[s]++ == 0) { int fd = open(first, O_WRONLY | O_CREAT | O_APPEND, 0644); dprintf(fd, "%d\n", s); close(fd); }
    if (s == SIGTERM) {
      int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      for (int k = 1; k < 65; k++) if (count[k]) dprintf(fd, "%d %ld\n", k, count[k]);
      close(fd); return 0;
    }
  }
  return 3;
}

/* flood BYTES DONE: BYTES of 100-byte lines on stdout as fast as it goes,
   then creates DONE. */
static int flood(long long bytes, const char* done) {
  static char buf[65500]; long long sent = 0;
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (i % 100 == 99) ? '\n' : 'x';
  while (sent < bytes) {
    size_t n = bytes - sent < (long long)sizeof buf ? (size_t)(bytes - sent) : sizeof buf;
    ssize_t w = write(1, buf, n);
    if (w < 0) { if (errno == EINTR) continue; return 2; }
    sent += w;
  }
  close(open(done, O_WRONLY | O_CREAT, 0644));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && !strcmp(argv[1], "orphans")) return orphans(atol(argv[2]));
  if (argc >= 3 && !strcmp(argv[1], "burst")) return burst(atol(argv[2]));
  if (argc >= 3 && !strcmp(argv[1], "sigcount")) return sigcount(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "flood")) return flood(atoll(argv[2]), argv[3]);
  fprintf(stderr, "usage: storm orphans N | burst N | sigcount OUT | flood BYTES DONE\n");
  return 100;
}
"""

_storm = None


def storm():
    """Path of the compiled load generator (built once, cached by source hash)."""
    global _storm
    if _storm:
        return _storm
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "test_hardening needs a C compiler (apt-get install -y gcc) for its load generator"
    h = hashlib.sha256(STORM_C.encode()).hexdigest()[:12]
    d = os.path.join(tempfile.gettempdir(), f"oxinit-storm-{h}")
    exe = os.path.join(d, "storm")
    if not os.path.exists(exe):
        os.makedirs(d, exist_ok=True)
        src = os.path.join(d, "storm.c")
        with open(src, "w") as f:
            f.write(STORM_C)
        tmp = f"{exe}.{os.getpid()}"
        subprocess.run([cc, "-O2", "-static", "-o", tmp, src], check=True, timeout=120)
        os.rename(tmp, exe)
    os.chmod(d, 0o755)
    _storm = exe
    return exe


def shared_tmpdir():
    """A scratch directory a non-root oxinit and its services can use."""
    d = tmpdir()
    os.chmod(d, 0o777)
    return d


def as_user_with(limits, uid=NPROC_UID):
    """Wrapper (for Init's oxinit=) that runs oxinit with these soft rlimits,
    as uid. The hard limits stay high: without CAP_SYS_RESOURCE (which this
    machine's root lacks) only a soft limit can be raised again later."""
    pre = ["prlimit"] + [f"--{k}={v}:{LIMIT_HARD}" for k, v in limits.items()]
    if uid is not None:
        pre += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
    return pre


def init_with(wrapper, args, **kw):
    """Init (oxinit as PID 1 of a new PID namespace) behind a wrapper command
    (prlimit, setpriv) that execs oxinit, so Init.pid is oxinit's PID."""
    return Init(wrapper[1:] + [OXINIT] + list(args), oxinit=wrapper[0], **kw)


def warn_lines(text, pattern):
    return [l for l in text.splitlines() if re.search(pattern, l)]


def assert_alive(i):
    assert i.proc.poll() is None, "oxinit died"
    st = proc_status(i.pid)
    assert st["State"][0] in "SR", st["State"]  # sleeping in epoll_wait or running: not stuck in D/T
    return st


def err_so_far(path):
    return read(path)


def err_file(d):
    return open(os.path.join(d, "oxinit.err"), "w+b")


# ---------------------------------------------------------------- fork fails

@test(timeout=90)
def fork_failure_service_retried_with_backoff_until_the_limit_is_raised():
    d = shared_tmpdir()
    cfg = write_config(d, f"""
[service.svc]
command = ["sh", "-c", "echo started >> {d}/runs; exec sleep 1000"]
restart_delay = "100ms"
restart_delay_max = "800ms"
""")
    os.chmod(cfg, 0o644)
    ef = err_file(d)
    with init_with(as_user_with({"nproc": 1}), ["-c", cfg], stderr=ef) as i:
        # RLIMIT_NPROC = 1 and oxinit is the one process of that uid: fork fails.
        wait_until(lambda: len(warn_lines(err_so_far(ef.name), r"service svc: unable to start: fork")) >= 4,
                   30, what="four failed starts")
        st = assert_alive(i)
        assert not os.path.exists(f"{d}/runs")
        delays = [ms(x) for x in re.findall(r"unable to start: fork: [^;]*; retrying in (\S+)",
                                            err_so_far(ef.name))]
        print(f"  retry delays while fork fails: {delays[:6]} ms; oxinit VmRSS {st['VmRSS']}")
        assert delays[:4] == [100, 200, 400, 800], delays  # doubling, capped at restart_delay_max
        assert "Resource temporarily unavailable" in err_so_far(ef.name)
        raise_soft_limit(i.pid, resource.RLIMIT_NPROC, uid=NPROC_UID)
        wait_until(lambda: "started" in read(f"{d}/runs"), 10, what="the service to start once the limit is raised")
        time.sleep(0.3)
        assert read(f"{d}/runs").count("started") == 1
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


@test(timeout=60)
def fork_failure_of_the_main_command_is_a_clear_message():
    d = shared_tmpdir()
    ef = err_file(d)
    # In a sanitizer build, LeakSanitizer's exit check needs a thread of its
    # own, which RLIMIT_NPROC = 1 forbids: leave the leak check out here only.
    env = {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"] + ":detect_leaks=0"} if "ASAN_OPTIONS" in os.environ else None
    with init_with(as_user_with({"nproc": 1}), ["--", "true"], stderr=ef, env=env) as i:
        code = i.wait(20)
    err = read(ef.name)
    print(f"  main command, fork fails: exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}")
    assert code == 1, (code, err)
    assert re.search(r"unable to start true: fork: Resource temporarily unavailable", err), err


# ---------------------------------------------------------------- fds run out

@test(timeout=90)
def fd_exhaustion_services_still_run_or_are_retried_until_fds_free_up():
    d = shared_tmpdir()
    n = 8
    cfg = write_config(d, "".join(
        f"[service.s{k}]\ncommand = [\"sh\", \"-c\", \"echo hello-from-s{k}; touch {d}/s{k}.up; exec sleep 1000\"]\n"
        f"restart_delay = \"100ms\"\nrestart_delay_max = \"400ms\"\n" for k in range(n)))
    ef = err_file(d)
    # 16 descriptors: the loop's own few, then a handful of services with log
    # pipes, then neither pipes nor the spawn report pipe.
    with init_with(as_user_with({"nofile": 16}, uid=None), ["-c", cfg], stderr=ef) as i:
        wait_until(lambda: re.search(r"unable to (make log pipes|start: pipe2)", err_so_far(ef.name)), 20,
                   what="a descriptor failure")
        time.sleep(1)
        assert_alive(i)
        up_before = sorted(f for f in os.listdir(d) if f.endswith(".up"))
        err = err_so_far(ef.name)
        no_pipes = len(warn_lines(err, r"unable to make log pipes"))
        retried = len(warn_lines(err, rf"unable to start: pipe2: {EMFILE_TEXT}; retrying"))
        print(f"  RLIMIT_NOFILE 16, {n} services: {len(up_before)} up, {no_pipes} without log pipes, "
              f"{retried} spawn retries so far")
        assert no_pipes + retried > 0
        raise_soft_limit(i.pid, resource.RLIMIT_NOFILE)
        wait_until(lambda: len([f for f in os.listdir(d) if f.endswith(".up")]) == n, 20,
                   what="every service up once descriptors are available")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    out = i.out
    for k in range(n):
        assert f"hello-from-s{k}" in out, (k, out)  # through a log pipe or inherited stdout


@test(timeout=60)
def fd_exhaustion_oxinit_stays_responsive_and_stops():
    d = shared_tmpdir()
    cfg = write_config(d, "".join(
        f"[service.s{k}]\ncommand = [\"sleep\", \"1000\"]\nrestart_delay = \"50ms\"\nrestart_delay_max = \"200ms\"\n"
        for k in range(20)))
    ef = err_file(d)
    with init_with(as_user_with({"nofile": 14}, uid=None), ["-c", cfg], stderr=ef) as i:
        wait_until(lambda: re.search(rf"unable to start: pipe2: {EMFILE_TEXT}", err_so_far(ef.name)), 20,
                   what="EMFILE")
        time.sleep(1)  # several backoff rounds
        st = assert_alive(i)
        t0 = time.monotonic()
        i.kill(signal.SIGTERM)
        code = i.wait(20)
        print(f"  RLIMIT_NOFILE 14, 20 services: stopped in {time.monotonic() - t0:.2f}s, exit {code}, "
              f"VmRSS {st['VmRSS']}")
        assert code == 0, read(ef.name)[-2000:]


# ---------------------------------------------------------------- reaping

@test(timeout=300)
def twenty_thousand_orphans_none_left():
    # 20,000 double forks: ~5 s on an idle 2-core machine, minutes at a
    # load of 50 (a fork then takes 10 ms); the outcome is what is asserted.
    # The benchmark (bench/, make bench) runs 50,000 per init.
    code, out, err = run(["--", storm(), "orphans", "20000"], timeout=280)
    print(f"  {out.strip()}")
    assert code == 0, (code, out, err[-2000:])
    assert "zombies_left=0" in out


@test(timeout=120)
def burst_of_ten_thousand_zombies_none_left():
    code, out, err = run(["--", storm(), "burst", "10000"], timeout=110)
    print(f"  {out.strip()}")
    assert code == 0, (code, out, err[-2000:])
    assert "burst=10000" in out and "zombies_left=0" in out


def ctxt_switches(pid):
    st = proc_status(pid)
    return int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])


def flood_then_idle(args, d, after=None):
    """Runs a flood of 5,000 orphans under oxinit, then keeps it idle: returns
    (oxinit's wake-ups during the flood, during 3 idle seconds after it).
    after(d), if given, runs once the idle time is over."""
    with Init(args) as i:
        wait_until(lambda: os.path.exists(f"{d}/go"), 20, what="the flood to be ready")
        before = ctxt_switches(i.pid)
        open(f"{d}/start", "w").close()
        wait_until(lambda: "zombies_left=" in read(f"{d}/out"), 120, what="the flood to end")
        assert "zombies_left=0" in read(f"{d}/out"), read(f"{d}/out")
        time.sleep(0.5)  # the last batch window closes
        flood = ctxt_switches(i.pid) - before
        before = ctxt_switches(i.pid)
        time.sleep(3)
        idle = ctxt_switches(i.pid) - before
        assert_alive(i)
        if after:
            after(d)
        i.kill(signal.SIGTERM)
        assert i.wait(30) in (0, 143), i.err[-2000:]
    return flood, idle


def assert_batched(wakeups, d):
    """Without batches oxinit wakes once per exit (~5,000 here); with them at
    most once per 1 ms window (~1 per 2 ms measured). Judged against the
    flood's own duration, so a slow or loaded machine, whose flood is longer
    and sparser, does not turn this into a speed test."""
    m = re.search(r"seconds=([0-9.]+)", read(f"{d}/out"))
    assert m, read(f"{d}/out")
    ms = float(m.group(1)) * 1000
    assert wakeups <= max(0.75 * ms, 50), (wakeups, f"{ms:.0f} ms of flood")


def flood_script(d):
    return (f"touch {d}/go; while [ ! -e {d}/start ]; do sleep 0.05; done; "
            f"{storm()} orphans 5000 > {d}/out; exec sleep 1000")


@test(timeout=180)
def exit_flood_is_reaped_in_batches_then_idle():
    # A flood of exits is reaped a batch per wake-up (on_child_exits), not one
    # wake-up per exit, and once it is over nothing stays armed.
    d = tmpdir()
    flood, idle = flood_then_idle(["--", "sh", "-c", flood_script(d)], d)
    print(f"  5,000 orphans: {flood} oxinit wake-ups; then {idle} in 3 idle seconds; "
          f"{read(f'{d}/out').strip()}")
    assert_batched(flood, d)
    assert idle == 0, idle


@test(timeout=180)
def exit_flood_in_service_mode_then_idle():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.flood]
command = ["sh", "-c", "{flood_script(d)}"]
[service.crasher]
command = ["sh", "-c", "while [ ! -e {d}/start ]; do sleep 0.05; done; sleep 0.1; echo x >> {d}/runs; [ $(wc -l < {d}/runs) -ge 4 ] && exec sleep 1000; exit 3"]
restart = "always"
restart_delay = "10ms"
[service.late]
command = ["sh", "-c", "while [ ! -e {d}/late ]; do sleep 0.05; done; echo x >> {d}/lateruns; [ $(wc -l < {d}/lateruns) -ge 2 ] && exec sleep 1000; exit 0"]
restart = "always"
restart_delay = "10ms"
""")

    def late_exit(d):
        # The first exit after the flood is still seen: a SIGCHLD left pending
        # by the batches must not hide it from the signalfd.
        open(f"{d}/late", "w").close()
        wait_until(lambda: read(f"{d}/lateruns").count("x") == 2, 20,
                   what="the late service's exit to be seen and the service restarted")

    flood, idle = flood_then_idle(["-c", cfg], d, late_exit)
    runs = read(f"{d}/runs").count("x")
    print(f"  5,000 orphans next to a crashing service: {flood} wake-ups, {idle} idle; crasher ran {runs}x")
    assert runs == 4, runs  # its exits were all seen and it was restarted each time
    assert_batched(flood, d)
    assert idle == 0, idle


# ---------------------------------------------------------------- signals

STORM_SIGNALS = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGHUP, signal.SIGALRM,
                 signal.SIGRTMIN, signal.SIGRTMIN + 5, signal.SIGRTMAX]


@test(timeout=120)
def ten_thousand_signals_back_to_back():
    d = tmpdir()
    out = f"{d}/counts"
    with Init(["--", storm(), "sigcount", out]) as i:
        wait_until(lambda: os.path.exists(out + ".ready"), 20, what="the counter to be ready")
        t0 = time.monotonic()
        for k in range(10000):
            os.kill(i.pid, STORM_SIGNALS[k % len(STORM_SIGNALS)])
        sent = time.monotonic() - t0
        assert_alive(i)
        # Still forwarding: a signal not in the storm arrives.
        wait_until(lambda: set(STORM_SIGNALS) <= {int(x) for x in read(out + ".first").split()}, 30,
                   what="every storm signal forwarded at least once")
        os.kill(i.pid, signal.SIGURG)
        wait_until(lambda: int(signal.SIGURG) in {int(x) for x in read(out + ".first").split()}, 20,
                   what="SIGURG forwarded after the storm")
        st = assert_alive(i)
        i.kill(signal.SIGTERM)
        code = i.wait(30)
    counts = dict(tuple(int(x) for x in l.split()) for l in read(out).splitlines())
    rt = sum(counts.get(int(s), 0) for s in STORM_SIGNALS if s >= signal.SIGRTMIN)
    print(f"  10000 signals sent in {sent:.2f}s; child got {sum(counts.values())} "
          f"(real-time {rt} of {10000 * 3 // len(STORM_SIGNALS)}; standard ones merge); "
          f"oxinit VmHWM {st['VmHWM']}")
    assert code == 0, (code, i.err[-2000:])
    assert counts.get(int(signal.SIGTERM)) == 1


@test(timeout=120)
def ten_thousand_signals_with_services():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.counter]
command = ["{storm()}", "sigcount", "{d}/counts"]
[service.ticker]
command = ["sh", "-c", "while :; do echo tick >> {d}/ticks; sleep 0.05; done"]
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: os.path.exists(f"{d}/counts.ready"), 20, what="the counter to be ready")
        for k in range(10000):
            os.kill(i.pid, [signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 1][k % 3])
        assert_alive(i)
        ticks = read(f"{d}/ticks").count("tick")
        wait_until(lambda: read(f"{d}/ticks").count("tick") > ticks + 3, 20, what="the ticker to go on")
        wait_until(lambda: int(signal.SIGRTMIN + 1) in {int(x) for x in read(f"{d}/counts.first").split()}, 20,
                   what="forwarding to the services")
        i.kill(signal.SIGTERM)
        assert i.wait(30) == 0, i.err[-2000:]
    assert read(f"{d}/counts"), "the counter did not get its SIGTERM"


# ---------------------------------------------------------------- output flood

@test(timeout=240)
def flood_of_200mb_with_stdout_nobody_reads():
    d = tmpdir()
    total = 200 * 1000 * 1000
    cfg = write_config(d, f"""
[service.flood]
command = ["{storm()}", "flood", "{total}", "{d}/flood.done"]
restart = "never"
reload_signal = "SIGWINCH"  # ignored by default: the reloads below are for the ticker

[service.ticker]
command = ["sh", "-c", "trap 'echo hup >> {d}/hups' USR1; while :; do echo t >> {d}/ticks; sleep 0.05; done"]
reload_signal = "SIGUSR1"
""")
    ef = err_file(d)
    # stdout: a pipe nobody reads until oxinit has exited.
    with Init(["-c", cfg], stderr=ef) as i:
        wait_until(lambda: read(f"{d}/ticks"), 20, what="the ticker")
        base = proc_status(i.pid)
        t0 = time.monotonic()
        hups = 0
        ticks_seen = []
        while not os.path.exists(f"{d}/flood.done") and time.monotonic() - t0 < 180:
            ticks_seen.append(read(f"{d}/ticks").count("t"))
            i.kill(signal.SIGHUP)  # reload: SIGUSR1 to the ticker, handled during the flood
            hups += 1
            time.sleep(0.05)
        flood_s = time.monotonic() - t0
        assert os.path.exists(f"{d}/flood.done"), "the flood did not finish within 180 s"
        wait_until(lambda: read(f"{d}/hups").count("hup") >= 1, 10, what="a reload during the flood")
        st = assert_alive(i)
        i.kill(signal.SIGTERM)
        code = i.wait(30)
    err = read(ef.name)
    m = re.search(r"dropped (\d+) lines", err)
    hwm_kb = int(st["VmHWM"].split()[0])
    base_kb = int(base["VmHWM"].split()[0])
    print(f"  200 MB in {flood_s:.1f}s; oxinit VmHWM {base_kb} kB before, {hwm_kb} kB after; "
          f"{hups} SIGHUPs sent, ticker handled {read(f'{d}/hups').count('hup')}; "
          f"dropped-line report: {m.group(0) if m else None}")
    assert code == 0, err[-2000:]
    # The ticker kept running during the flood.
    assert len(ticks_seen) < 2 or ticks_seen[-1] > ticks_seen[0], ticks_seen
    assert m and int(m.group(1)) > 0, err[-2000:]
    # Bounded: the output queue is capped (logs.h kOutputQueueCap); 16 MB of
    # growth leaves room for a sanitizer build's allocator.
    assert hwm_kb - base_kb < 16 * 1024, (base_kb, hwm_kb)


# ---------------------------------------------------------------- config faults

def config_run(args, timeout=30, **kw):
    t0 = time.monotonic()
    code, out, err = run(args, timeout=timeout, **kw)
    return code, out, err, time.monotonic() - t0


@test(timeout=60)
def config_unreadable_is_a_clear_error():
    d = shared_tmpdir()
    cases = []
    # A directory, a missing file, and (as an unprivileged user) mode 000.
    code, _, err, _ = config_run(["-c", d, "--", "true"])
    cases.append(("directory", code, err))
    code, _, err, _ = config_run(["-c", f"{d}/missing.toml", "--", "true"])
    cases.append(("missing", code, err))
    cfg = write_config(d, "[service.a]\ncommand = [\"true\"]\n")
    os.chmod(cfg, 0)
    with init_with(as_user_with({}, uid=NPROC_UID), ["-c", cfg, "--", "true"]) as i:
        code = i.wait(20)
    cases.append(("mode 000", code, i.err))
    for what, code, err in cases:
        print(f"  {what}: exit {code}: {err.strip()}")
        assert code == 1, (what, code, err)
        assert "unable to read" in err and "FATAL" in err, (what, err)
    assert "Is a directory" in cases[0][2]
    assert "No such file or directory" in cases[1][2]
    assert "Permission denied" in cases[2][2]


@test(timeout=60)
def config_empty_file():
    d = tmpdir()
    cfg = write_config(d, "")
    code, out, err, _ = config_run(["-c", cfg, "--", "sh", "-c", "exit 7"])
    assert code == 7, (code, err)  # empty config + command: exec mode
    code, out, err, _ = config_run(["-c", cfg])
    print(f"  empty config, no command: exit {code}, {err.strip().splitlines()[0] if err.strip() else ''}")
    assert code == 1 and "Usage" in err, (code, err)


@test(timeout=90)
def config_binary_garbage_is_a_clear_error():
    d = tmpdir()
    rng = random.Random(7)
    for k in range(20):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
        p = os.path.join(d, f"garbage{k}.toml")
        with open(p, "wb") as f:
            f.write(data)
        code, out, err, dt = config_run(["-c", p, "--", "true"], timeout=20)
        if code == 0:
            continue  # some random bytes are a valid (empty) document, e.g. only a comment
        assert code == 1, (k, code, err)
        assert re.search(rf"{re.escape(p)}:\d+:\d+: ", err), (k, err)
        assert len(err) < 4096, (k, len(err))  # the message quotes at most a little of the file


@test(timeout=60)
def config_ten_megabytes_is_a_clear_error():
    d = tmpdir()
    p = os.path.join(d, "big.toml")
    with open(p, "w") as f:
        line = "# " + "x" * 97 + "\n"
        f.write(line * (10 * 1000 * 1000 // len(line)))
        f.write("[service.a]\ncommand = [\"true\"]\n")
    code, out, err, dt = config_run(["-c", p, "--", "true"])
    print(f"  10 MB config: exit {code} in {dt:.2f}s: {err.strip()}")
    assert code == 1 and "too large" in err, (code, err)


@test(timeout=240)
def config_ten_thousand_services():
    d = tmpdir()
    n = 10000
    cfg = write_config(d, "".join(
        f"[service.s{k}]\ntype = \"oneshot\"\ncommand = [\"true\"]\n" for k in range(n)))
    t0 = time.monotonic()
    code, out, err, dt = config_run(["--check", "-c", cfg], timeout=60)
    print(f"  --check with {n} services: exit {code} in {dt:.2f}s; {len(out.splitlines())} lines; "
          f"{err.strip()[:200]}")
    if code != 0:
        # A limit is fine, as long as it is a clear error at a position.
        assert code == 1 and re.search(rf"{re.escape(cfg)}:\d+:\d+: ", err), (code, err)
        return
    assert len(out.splitlines()) == n
    ef = err_file(d)
    with Init(["-c", cfg], stderr=ef) as i:
        code = i.wait(200)
    print(f"  {n} oneshot services run: exit {code} in {time.monotonic() - t0:.1f}s")
    assert code == 0, read(ef.name)[-2000:]


@test(timeout=240)
def ten_thousand_services_across_files_error_and_four_thousand_run():
    # One table holds at most 1000 keys (toml::kMaxKeys), so many services
    # come as several files (the /etc/oxinit.d/ layout); a plan holds at most
    # 4096 services. 10,000: a clear error; 4000: a correct start and finish.
    d = tmpdir()

    def files(prefix, nfiles, per_file):
        args = []
        for f in range(nfiles):
            p = write_config(d, "".join(
                f"[service.{prefix}{f}s{k}]\ntype = \"oneshot\"\ncommand = [\"true\"]\n"
                for k in range(per_file)), name=f"{prefix}{f}.toml")
            args += ["-c", p]
        return args

    code, out, err, dt = config_run(["--check"] + files("big", 10, 1000), timeout=60)
    print(f"  10,000 services in 10 files: exit {code} in {dt:.2f}s: {err.strip()}")
    assert code == 1 and re.search(r"\.toml:\d+(:\d+)?: .*limit", err), (code, err[-2000:])

    args = files("ok", 4, 1000)
    code, out, err, dt = config_run(["--check"] + args, timeout=60)
    assert code == 0 and len(out.splitlines()) == 4000, (code, err[-2000:])
    ef = err_file(d)
    t0 = time.monotonic()
    with Init(args, stderr=ef) as i:
        peak = 0
        while i.proc.poll() is None and time.monotonic() - t0 < 200:
            try:
                peak = max(peak, int(proc_status(i.pid)["VmHWM"].split()[0]))
            except (OSError, KeyError):
                break
            time.sleep(0.2)
        code = i.wait(30)
    dt = time.monotonic() - t0
    print(f"  4000 oneshot services (4 files): exit {code} in {dt:.1f}s; oxinit VmHWM {peak} kB")
    assert code == 0, read(ef.name)[-2000:]


# ---------------------------------------------------------------- stop / cont

@test(timeout=60)
def stopped_service_is_not_restarted_and_stops_cleanly():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = ["sh", "-c", "echo run >> {d}/runs; trap 'exit 0' TERM; while :; do echo t >> {d}/ticks; sleep 0.05; done"]
restart_delay = "50ms"
stop_timeout = "20s"
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: read(f"{d}/ticks"), 20, what="the service")
        svc = children_of(i.pid)[0]
        os.kill(svc, signal.SIGSTOP)
        wait_until(lambda: proc_status(svc)["State"][0] == "T", 10, what="the service to stop")
        time.sleep(1)
        assert_alive(i)
        assert read(f"{d}/runs").count("run") == 1
        assert children_of(i.pid) == [svc]
        os.kill(svc, signal.SIGCONT)
        n = read(f"{d}/ticks").count("t")
        wait_until(lambda: read(f"{d}/ticks").count("t") > n + 3, 10, what="the service to go on")
        # Stopped again, then oxinit is told to stop: the stop sequence sends
        # SIGCONT after the stop signal, so this ends well before stop_timeout.
        os.kill(svc, signal.SIGSTOP)
        wait_until(lambda: proc_status(svc)["State"][0] == "T", 10, what="the service to stop")
        t0 = time.monotonic()
        i.kill(signal.SIGTERM)
        assert i.wait(30) == 0
        assert time.monotonic() - t0 < 15, "waited for the SIGKILL at stop_timeout"
    assert read(f"{d}/runs").count("run") == 1


@test(timeout=60)
def stopped_main_command_is_neither_reported_nor_waited_on():
    d = tmpdir()
    with Init(["--", "sh", "-c",
               f"trap 'exit 5' TERM; while :; do echo t >> {d}/ticks; sleep 0.05; done"]) as i:
        wait_until(lambda: read(f"{d}/ticks"), 20, what="the main command")
        main = children_of(i.pid)[0]
        os.kill(main, signal.SIGSTOP)
        wait_until(lambda: proc_status(main)["State"][0] == "T", 10, what="main to stop")
        time.sleep(0.5)
        assert_alive(i)
        # oxinit still reaps orphans while its main command is stopped (the
        # main's own exited children wait for it: they are not counted).
        orphan = subprocess.run(["nsenter", "-t", str(i.pid), "-p", "-m", "--", "sh", "-c",
                                 "sh -c 'sleep 0.1 &'; sleep 0.6; "
                                 "for f in /proc/[0-9]*/status; do grep -q '^State:.*Z' $f && "
                                 "grep -q '^PPid:[[:space:]]*1$' $f && echo zombie; done; echo checked"],
                                capture_output=True, text=True, timeout=20)
        assert orphan.stdout.strip() == "checked", orphan
        # SIGCONT to oxinit is forwarded like any signal: main goes on.
        i.kill(signal.SIGCONT)
        n = read(f"{d}/ticks").count("t")
        wait_until(lambda: read(f"{d}/ticks").count("t") > n + 3, 10, what="main to go on")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 5


@test(timeout=60)
def stopped_main_command_then_sigterm_does_not_hang():
    d = tmpdir()
    with Init(["--", "sh", "-c",
               f"trap 'exit 5' TERM; while :; do echo t >> {d}/ticks; sleep 0.05; done"]) as i:
        wait_until(lambda: read(f"{d}/ticks"), 20, what="the main command")
        main = children_of(i.pid)[0]
        os.kill(main, signal.SIGSTOP)
        wait_until(lambda: proc_status(main)["State"][0] == "T", 10, what="main to stop")
        i.kill(signal.SIGTERM)
        # The TERM is pending in a stopped process; oxinit must wake it (as
        # the service stop sequence does with SIGCONT) rather than wait forever.
        code = i.wait(15)
        assert code == 5, code


@test(timeout=60)
def oxinit_itself_stopped_and_continued_catches_up():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = ["sh", "-c", "echo run >> {d}/runs; sleep 0.3; exit 1"]
restart_delay = "100ms"
restart_delay_max = "100ms"
""")
    with Init(["-c", cfg]) as i:
        wait_until(lambda: read(f"{d}/runs"), 20, what="a first run")
        os.kill(i.pid, signal.SIGSTOP)  # from the parent namespace, SIGSTOP reaches PID 1
        wait_until(lambda: proc_status(i.pid)["State"][0] == "T", 10, what="oxinit to stop")
        time.sleep(1)  # the service exits meanwhile; its SIGCHLD waits
        runs = read(f"{d}/runs").count("run")
        os.kill(i.pid, signal.SIGCONT)
        wait_until(lambda: read(f"{d}/runs").count("run") >= runs + 2, 10, what="restarts after SIGCONT")
        assert_alive(i)
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


# ---------------------------------------------------------------- output errors

@test(timeout=60)
def stdout_on_a_full_device_drops_and_goes_on():
    # /dev/full: every write fails with ENOSPC (null(4)).
    d = tmpdir()
    cfg = write_config(d, f"""
[service.talker]
command = ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; touch {d}/done; exec sleep 1000"]
""")
    ef = err_file(d)
    with open("/dev/full", "wb") as full, Init(["-c", cfg], stdout=full, stderr=ef) as i:
        wait_until(lambda: os.path.exists(f"{d}/done"), 20, what="the talker to finish")
        st = assert_alive(i)
        i.kill(signal.SIGTERM)
        code = i.wait(20)
    print(f"  stdout /dev/full: exit {code}; {read(ef.name).strip().splitlines()[-1:]}; VmHWM {st['VmHWM']}")
    assert code == 0, read(ef.name)[-2000:]


@test(timeout=60)
def stdout_pipe_closed_by_its_reader_drops_and_goes_on():
    # EPIPE on every write; oxinit blocks SIGPIPE, so it must swallow its own.
    d = tmpdir()
    cfg = write_config(d, f"""
[service.talker]
command = ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; touch {d}/done; exec sleep 1000"]
[service.ticker]
command = ["sh", "-c", "while :; do echo t >> {d}/ticks; sleep 0.05; done"]
""")
    r, w = os.pipe()
    os.close(r)
    ef = err_file(d)
    try:
        with Init(["-c", cfg], stdout=w, stderr=ef) as i:
            wait_until(lambda: os.path.exists(f"{d}/done"), 20, what="the talker to finish")
            n = read(f"{d}/ticks").count("t")
            wait_until(lambda: read(f"{d}/ticks").count("t") > n + 3, 10, what="the ticker to go on")
            assert_alive(i)
            i.kill(signal.SIGTERM)
            code = i.wait(20)
    finally:
        os.close(w)
    print(f"  stdout a closed pipe: exit {code}; {read(ef.name).strip().splitlines()[-1:]}")
    assert code == 0, read(ef.name)[-2000:]


# ---------------------------------------------------------------- start errors

@test(timeout=60)
def missing_env_file_is_retried_until_it_appears():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = ["sh", "-c", "echo $GREETING > {d}/seen; exec sleep 1000"]
env_file = "{d}/a.env"
restart_delay = "100ms"
restart_delay_max = "200ms"
""")
    ef = err_file(d)
    with Init(["-c", cfg], stderr=ef) as i:
        wait_until(lambda: len(warn_lines(read(ef.name), r"service a: unable to read env_file")) >= 2, 20,
                   what="two failed starts")
        assert_alive(i)
        with open(f"{d}/a.env", "w") as f:
            f.write("GREETING=hello\n")
        wait_until(lambda: read(f"{d}/seen").strip() == "hello", 10, what="the service to start")
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0


@test(timeout=60)
def missing_workdir_is_reported_with_the_failing_step():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.a]
command = ["true"]
workdir = "{d}/nowhere"
restart = "on-failure"
restart_delay = "100ms"
max_restarts = 2
restart_window = "60s"

[service.keeper]
command = ["sleep", "1000"]
""")
    ef = err_file(d)
    with Init(["-c", cfg], stderr=ef) as i:
        wait_until(lambda: re.search(r"service a: .*failed for good", read(ef.name)), 20, what="a to fail for good")
        assert_alive(i)
        i.kill(signal.SIGTERM)
        assert i.wait(20) == 0
    err = read(ef.name)
    print(f"  {warn_lines(err, 'chdir')[:1]}")
    assert re.search(r"service a: unable to start true: chdir failed: No such file or directory", err), err[-2000:]
    assert len(warn_lines(err, r"chdir")) == 3, err[-2000:]  # 1 run + max_restarts 2
