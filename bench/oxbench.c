/* oxbench: the C half of the benchmark (bench/run.py is the other half).
 *
 * Launcher modes run an init as PID 1 of a fresh PID namespace (clone with
 * CLONE_NEWPID, see pid_namespaces(7)) and time things that Python would blur:
 *   run [--report FD] [--cpu N] [--nofile] -- ARGV   launch, report host pid, wait
 *   startup ROUNDS -- ARGV1 :: ARGV2 :: ...          interleaved wall and CPU times
 *   siglat N CPU busy|idle -- ARGV                   kill(init) -> child handler
 *   storm N -- ARGV                                  N signals back to back
 *   termstop BOUND_MS -- ARGV                        SIGTERM -> init exit
 * Child modes run under the init being measured:
 *   sleep | sigrecv | ignterm | orphans N | burst N
 * and floors, run as PID 1 instead of an init:
 *   mininit ARGV          the least an init can do: fork, exec, wait, exit
 *   spawnmany N -- ARGV   fork+exec N copies, then park (the services row)
 * Every wait is bounded: children arm alarm(), launchers poll with timeouts,
 * and every init gets PR_SET_PDEATHSIG so it dies with its launcher.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_BOUND_S 900 /* no helper outlives this */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "oxbench: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---------- launcher side ---------- */

struct launch_opts {
  int cpu;      /* -1: no pinning */
  int stdout_fd; /* -1: inherit */
  int nofile;   /* raise RLIMIT_NOFILE soft to hard, like container engines do */
};

/* A new PID namespace per run: the child of clone(CLONE_NEWPID) is its PID 1. */
static pid_t spawn_init(char **argv, const struct launch_opts *o) {
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) die("clone(CLONE_NEWPID)");
  if (pid == 0) {
    /* The parent is outside the namespace, so getppid() says 0 here and
     * cannot detect a launcher that already died; its own deadlines bound it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (o->cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(o->cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(125);
    }
    if (o->nofile) {
      struct rlimit rl;
      if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
      }
    }
    if (o->stdout_fd >= 0) {
      dup2(o->stdout_fd, 1);
      close(o->stdout_fd);
    }
    execv(argv[0], argv);
    _exit(errno == ENOENT ? 127 : 126);
  }
  return pid;
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

/* Wait up to ms for pid to exit; returns 1 and fills *st (and *ru when not
 * NULL: the CPU time of pid and every descendant it reaped) if it did. */
static int wait_bounded_ru(pid_t pid, int ms, int *st, struct rusage *ru) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  int64_t deadline = now_ns() + (int64_t)ms * 1000000;
  for (;;) {
    pid_t r = wait4(pid, st, WNOHANG, ru);
    if (r == pid) {
      if (fd >= 0) close(fd);
      return 1;
    }
    int64_t left = (deadline - now_ns()) / 1000000;
    if (left <= 0) break;
    if (fd >= 0) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, (int)(left > 1000 ? 1000 : left));
    } else {
      sleep_ms(1);
    }
  }
  if (fd >= 0) close(fd);
  return 0;
}

static int wait_bounded(pid_t pid, int ms, int *st) { return wait_bounded_ru(pid, ms, st, NULL); }

static int64_t ru_ns(const struct rusage *ru) {
  return ((int64_t)ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000;
}

static void kill_and_reap(pid_t pid) {
  int st;
  kill(pid, SIGKILL);
  if (!wait_bounded(pid, 10000, &st)) fprintf(stderr, "oxbench: init %d did not die\n", pid);
}

struct rec {
  int64_t signo; /* 0: ready */
  int64_t ns;
};

/* Read one record within ms; 1 on success, 0 on timeout or EOF. */
static int read_rec(int fd, struct rec *r, int ms) {
  size_t got = 0;
  int64_t deadline = now_ns() + (int64_t)ms * 1000000;
  while (got < sizeof *r) {
    int64_t left = (deadline - now_ns()) / 1000000;
    if (left < 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    ssize_t k = read(fd, (char *)r + got, sizeof *r - got);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return 0;
    got += (size_t)k;
  }
  return 1;
}

/* Start an init whose child writes records to a pipe; wait for "ready". */
static pid_t start_with_pipe(char **argv, int cpu, int *rfd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) die("pipe");
  struct launch_opts o = {cpu, -1, 0};
  int w = fcntl(p[1], F_DUPFD, 10); /* without CLOEXEC: the init passes it on as stdout */
  o.stdout_fd = w;
  pid_t pid = spawn_init(argv, &o);
  close(w);
  close(p[1]);
  struct rec r;
  if (!read_rec(p[0], &r, 10000) || r.signo != 0) {
    fprintf(stderr, "oxbench: child under %s never got ready\n", argv[0]);
    kill_and_reap(pid);
    exit(3);
  }
  *rfd = p[0];
  return pid;
}

static void pin_self_away(int cpu) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (long i = 0; i < n && i < CPU_SETSIZE; i++)
    if (i != cpu) CPU_SET(i, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static int cmd_run(int argc, char **argv) {
  struct launch_opts o = {-1, -1, 0};
  int report = -1, i = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (!strcmp(argv[i], "--report") && i + 1 < argc) report = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) o.cpu = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--nofile")) o.nofile = 1;
  }
  if (i + 1 >= argc) return 2;
  pid_t pid = spawn_init(argv + i + 1, &o);
  if (report >= 0) {
    dprintf(report, "%d\n", pid);
    close(report);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* the driver died: take the namespace down */
  int st;
  for (;;) {
    pid_t r = waitpid(pid, &st, 0);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) die("waitpid");
  }
  return status_code(st);
}

static int cmd_startup(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) return 2;
  int rounds = atoi(argv[0]);
  char **cmds[64];
  int ncmd = 0;
  cmds[ncmd++] = argv + 2;
  for (int i = 2; i < argc && ncmd < 64; i++) {
    if (!strcmp(argv[i], "::")) {
      argv[i] = NULL;
      cmds[ncmd++] = argv + i + 1;
    }
  }
  struct launch_opts o = {-1, -1, 0};
  for (int r = 0; r < rounds; r++) {
    for (int c = 0; c < ncmd; c++) {
      int64_t t0 = now_ns();
      pid_t pid = spawn_init(cmds[c], &o);
      int st;
      struct rusage ru;
      if (!wait_bounded_ru(pid, 10000, &st, &ru)) {
        kill_and_reap(pid);
        printf("%d %d timeout\n", c, r);
        continue;
      }
      int64_t t1 = now_ns();
      /* wall ns, exit code, CPU ns of the PID 1 and what it reaped */
      printf("%d %d %lld %d %lld\n", c, r, (long long)(t1 - t0), status_code(st),
             (long long)ru_ns(&ru));
    }
  }
  return 0;
}

/* Keeps `cpu` busy at SCHED_IDLE priority, so it never halts: on a VM,
 * waking a halted vCPU costs the hypervisor 20-40 us (bimodal, and set by the
 * host's load), which would swamp the init's own ~1 us share of a forwarded
 * signal. A SCHED_IDLE task yields at once to any woken normal task
 * (sched(7)), so the init and its child run as soon as they are woken. */
static pid_t start_spinner(int cpu) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    struct sched_param sp = {0};
    /* The raw call: musl's sched_setscheduler() is a stub that fails with ENOSYS. */
    if (sched_setaffinity(0, sizeof set, &set) != 0 ||
        syscall(SYS_sched_setscheduler, 0, SCHED_IDLE, &sp) != 0)
      _exit(125);
    alarm(CHILD_BOUND_S);
    for (;;) __asm__ volatile("" ::: "memory");
  }
  return pid;
}

/* Time the process has spent on a CPU, in ns (first field of
 * /proc/PID/schedstat, see Documentation/scheduler/sched-stats.rst); -1 when
 * the kernel does not say. */
static int64_t oncpu_ns(pid_t pid) {
  char path[64], buf[128];
  snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t k = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (k <= 0) return -1;
  buf[k] = 0;
  return strtoll(buf, NULL, 10);
}

static int cmd_siglat(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) return 2;
  int n = atoi(argv[0]), cpu = atoi(argv[1]), busy = !strcmp(argv[2], "busy");
  pin_self_away(cpu);
  pid_t spin = busy ? start_spinner(cpu) : -1;
  int rfd;
  pid_t pid = start_with_pipe(argv + 4, cpu, &rfd);
  sleep_ms(50);
  int lost = 0;
  int64_t cpu0 = oncpu_ns(pid);
  for (int i = 0; i < n; i++) {
    struct rec r;
    int64_t t0 = now_ns();
    kill(pid, SIGUSR1);
    if (!read_rec(rfd, &r, 1000) || r.signo != SIGUSR1) {
      lost++;
      printf("lost\n");
      continue;
    }
    printf("lat %lld\n", (long long)(r.ns - t0));
    sleep_ms(2);
  }
  int64_t cpu1 = oncpu_ns(pid);
  if (cpu0 >= 0 && cpu1 >= cpu0) printf("initcpu %lld\n", (long long)((cpu1 - cpu0) / n));
  kill_and_reap(pid);
  if (spin > 0) {
    kill(spin, SIGKILL);
    while (waitpid(spin, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  fprintf(stderr, "siglat: %d lost\n", lost);
  return 0;
}

static int cmd_storm(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) return 2;
  int n = atoi(argv[0]);
  int rfd;
  pid_t pid = start_with_pipe(argv + 2, -1, &rfd);
  fcntl(rfd, F_SETFL, O_NONBLOCK);
  long received = 0, usr2 = 0;
  struct rec buf[256];
  /* Records are 16 bytes and writes of <= PIPE_BUF are atomic, so reads
   * of whole buffers stay aligned. */
#define DRAIN()                                                            \
  for (;;) {                                                               \
    ssize_t k = read(rfd, buf, sizeof buf);                                \
    if (k <= 0) break;                                                     \
    for (ssize_t j = 0; j < k / (ssize_t)sizeof buf[0]; j++) {             \
      if (buf[j].signo == SIGUSR1) received++;                             \
      if (buf[j].signo == SIGUSR2) usr2++;                                 \
    }                                                                      \
  }
  int64_t t0 = now_ns();
  int sent = 0;
  for (int i = 0; i < n; i++) {
    if (kill(pid, SIGUSR1) == 0) sent++;
    if (i % 64 == 0) DRAIN();
  }
  int64_t t1 = now_ns();
  int st;
  int alive = !(waitpid(pid, &st, WNOHANG) == pid);
  for (int i = 0; i < 40; i++) { /* let the queue settle (bounded) */
    sleep_ms(5);
    DRAIN();
  }
  if (alive) alive = !(waitpid(pid, &st, WNOHANG) == pid);
  int forwarded = 0;
  if (alive) {
    kill(pid, SIGUSR2);
    for (int i = 0; i < 400 && !usr2; i++) {
      sleep_ms(5);
      DRAIN();
    }
    forwarded = usr2 > 0;
    alive = !(waitpid(pid, &st, WNOHANG) == pid);
  }
  printf("storm sent=%d ns=%lld alive=%d received=%ld forwarded=%d\n", sent,
         (long long)(t1 - t0), alive, received, forwarded);
  if (alive) kill_and_reap(pid);
  return 0;
}

static int cmd_termstop(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) return 2;
  int bound = atoi(argv[0]);
  int rfd;
  pid_t pid = start_with_pipe(argv + 2, -1, &rfd);
  sleep_ms(100);
  int64_t t0 = now_ns();
  kill(pid, SIGTERM);
  int st;
  if (wait_bounded(pid, bound, &st)) {
    printf("exit %lld %d\n", (long long)(now_ns() - t0), status_code(st));
  } else {
    printf("never %d\n", bound);
    kill_and_reap(pid);
  }
  return 0;
}

/* ---------- child side (runs under the init) ---------- */

static void rec_handler(int sig) {
  struct rec r = {sig, now_ns()};
  int e = errno;
  write_all(1, &r, sizeof r); /* write(2) is async-signal-safe */
  errno = e;
}

static void send_ready_rec(void) {
  struct rec r = {0, now_ns()};
  write_all(1, &r, sizeof r);
}

static void park(void) {
  for (;;) pause();
}

static int child_sigrecv(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = rec_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  alarm(CHILD_BOUND_S);
  send_ready_rec();
  park();
  return 0;
}

static int child_ignterm(void) {
  signal(SIGTERM, SIG_IGN);
  alarm(CHILD_BOUND_S);
  send_ready_rec();
  park();
  return 0;
}

static int child_sleep(void) {
  alarm(CHILD_BOUND_S);
  write_all(1, "ready\n", 6);
  park();
  return 0;
}

/* Remove pids that no longer exist (reaped); returns how many remain.
 * kill(pid, 0) succeeds on a zombie, fails with ESRCH once it is reaped. */
static int compact(pid_t *pids, int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (kill(pids[i], 0) == 0 || errno != ESRCH) pids[k++] = pids[i];
  return k;
}

/* Wait up to ms for every listed pid to be reaped by the init; returns how
 * many are left. Probes one pid at a time (waiting on it until it is gone,
 * then moving on), so the poller costs ~1 kill() per pid in all, not a scan
 * of the whole list per pass that would compete with the init for a CPU. */
static int drain(pid_t *pids, int n, int ms) {
  int64_t deadline = now_ns() + (int64_t)ms * 1000000;
  int i = 0;
  while (i < n) {
    if (kill(pids[i], 0) != 0 && errno == ESRCH) {
      i++;
      continue;
    }
    if (now_ns() >= deadline) return compact(pids + i, n - i);
    usleep(100);
  }
  return 0;
}

static int child_orphans(int n) {
  alarm(CHILD_BOUND_S);
  pid_t *out = calloc((size_t)n, sizeof *out);
  if (!out) die("calloc");
  int nout = 0, peak = 0, p[2];
  if (pipe2(p, O_CLOEXEC) != 0) die("pipe");
  printf("start\n");
  fflush(stdout);
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++) {
    pid_t mid = fork();
    if (mid < 0) {
      usleep(1000); /* EAGAIN: the init is not keeping up; try again */
      i--;
      continue;
    }
    if (mid == 0) {
      pid_t g = fork();
      if (g == 0) _exit(0);
      write_all(p[1], &g, sizeof g);
      _exit(0);
    }
    pid_t g = -1;
    if (read(p[0], &g, sizeof g) != sizeof g) g = -1;
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (g > 0) out[nout++] = g;
    int every = nout > 4096 ? 1024 : 64; /* keep the sampling cheap */
    if (i % every == every - 1) {
      nout = compact(out, nout);
      if (nout > peak) peak = nout;
    }
  }
  int64_t t1 = now_ns();
  nout = compact(out, nout);
  if (nout > peak) peak = nout;
  int left = drain(out, nout, 2000);
  int64_t t2 = now_ns();
  printf("done peak=%d left=%d make_ms=%.1f settle_ms=%.1f\n", peak, left,
         (t1 - t0) / 1e6, (t2 - t1) / 1e6);
  fflush(stdout);
  park();
  return 0;
}

static int child_burst(int n) {
  alarm(CHILD_BOUND_S);
  /* Shared with the middle process: its children's pids and its exit time. */
  size_t sz = sizeof(int64_t) + (size_t)n * sizeof(pid_t);
  void *shm = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) die("mmap");
  volatile int64_t *handover = shm;
  pid_t *pids = (pid_t *)((char *)shm + sizeof(int64_t));
  printf("start\n");
  fflush(stdout);
  pid_t mid = fork();
  if (mid < 0) die("fork");
  if (mid == 0) {
    int made = 0;
    for (int i = 0; i < n; i++) {
      pid_t c = fork();
      if (c == 0) _exit(0);
      if (c > 0) pids[made++] = c;
    }
    /* Wait (without reaping) until every child is a zombie. */
    for (int i = 0; i < made; i++) {
      siginfo_t si;
      while (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
      }
    }
    for (int i = made; i < n; i++) pids[i] = 0;
    *handover = now_ns();
    _exit(0); /* all zombies go to PID 1 at once */
  }
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
  }
  int k = 0;
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) pids[k++] = pids[i];
  int left = drain(pids, k, 10000);
  int64_t t1 = now_ns();
  printf("done zombies=%d drain_ms=%.3f left=%d\n", k, (t1 - *handover) / 1e6, left);
  fflush(stdout);
  park();
  return 0;
}

static int child_mininit(char **argv) {
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int st;
  for (;;) {
    pid_t r = wait(&st);
    if (r == c) return status_code(st);
    if (r < 0 && errno != EINTR) return 255;
  }
}

/* The least a PID 1 must do to start N services: fork, exec, nothing else. */
static int child_spawnmany(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) return 2;
  int n = atoi(argv[0]);
  alarm(CHILD_BOUND_S);
  for (int i = 0; i < n; i++) {
    pid_t c = fork();
    if (c == 0) {
      execvp(argv[2], argv + 2);
      _exit(127);
    }
  }
  park();
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: oxbench MODE ...\n");
    return 2;
  }
  const char *m = argv[1];
  argc -= 2;
  argv += 2;
  if (!strcmp(m, "run")) return cmd_run(argc, argv);
  if (!strcmp(m, "startup")) return cmd_startup(argc, argv);
  if (!strcmp(m, "siglat")) return cmd_siglat(argc, argv);
  if (!strcmp(m, "storm")) return cmd_storm(argc, argv);
  if (!strcmp(m, "termstop")) return cmd_termstop(argc, argv);
  if (!strcmp(m, "sleep")) return child_sleep();
  if (!strcmp(m, "sigrecv")) return child_sigrecv();
  if (!strcmp(m, "ignterm")) return child_ignterm();
  if (!strcmp(m, "orphans") && argc >= 1) return child_orphans(atoi(argv[0]));
  if (!strcmp(m, "burst") && argc >= 1) return child_burst(atoi(argv[0]));
  if (!strcmp(m, "mininit") && argc >= 1) return child_mininit(argv);
  if (!strcmp(m, "spawnmany")) return child_spawnmany(argc, argv);
  fprintf(stderr, "oxbench: unknown mode %s\n", m);
  return 2;
}
