#include "spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "log.h"
#include "sys/eintr.h"
#include "sys/fd.h"
#include "sys/str.h"

namespace oxinit {

int exec_failure_status(int err) {
  if (err == ENOENT) return 127;
  if (err == EACCES) return 126;
  return 1;
}

namespace {

// What the child reports through the pipe before it gives up.
struct ChildFailure {
  int err;
  int step;
};

// The names of enum Step, in its order (log.h nth_name).
constexpr char kSteps[] =
    "exec\0setsid\0tcsetpgrp\0dup2\0setrlimit\0chdir\0setgroups\0setgid\0setuid\0sigprocmask\0oom_score_adj\0"
    "setpriority\0sched_setaffinity\0capabilities\0capset\0no_new_privs\0cgroup\0";
enum Step {
  kExec, kSetsid, kTcsetpgrp, kDup2, kRlimit, kChdir, kSetgroups, kSetgid, kSetuid, kMask,
  kOom, kNice, kAffinity, kBounding, kCapset, kNoNewPrivs, kCgroup, kNumSteps
};
static_assert(count_names(kSteps) == kNumSteps);

[[noreturn]] void child_fail(int fd, int step) {
  ChildFailure f{errno, step};
  ssize_t w = write(fd, &f, sizeof f);
  (void)w;
  _exit(exec_failure_status(f.err));
}

// The kernel's struct sigaction, as rt_sigaction(2) takes it on Linux. What
// follows the handler differs by arch (no restorer on riscv; a mask of
// longs, so 4-byte aligned on 32-bit ARM), so the child zeroes it all.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask[64 / (8 * sizeof(unsigned long))];
};

int move_to(int from, int to) {
  if (from < 0 || from == to) return 0;
  return dup2(from, to) < 0 ? -1 : 0;
}

// execve, and for a file the kernel cannot run (no #! line: ENOEXEC) the
// shell, as glibc's execvp does: tini runs such scripts, so oxinit must too.
void try_exec(const char* file, const SpawnRequest& r) {
  execve(file, r.argv, r.envp);
  if (errno == ENOEXEC && r.sh_argv) {
    r.sh_argv[1] = file;
    execve("/bin/sh", const_cast<char* const*>(r.sh_argv), r.envp);
    errno = ENOEXEC;
  }
}

// execvp(3)'s search, but in the PATH of the service's own environment (libc's
// execvpe searches the caller's). Returns only on failure, with errno set:
// EACCES if some candidate was not executable, else the last error.
void exec_search(const SpawnRequest& r) {
  const char* file = r.argv[0];
  if (!file || !*file) {
    errno = ENOENT;
    return;
  }
  if (strchr(file, '/')) {
    try_exec(file, r);
    return;
  }
  size_t flen = strlen(file);
  if (flen > NAME_MAX) {
    errno = ENAMETOOLONG;
    return;
  }
  const char* p = r.path ? r.path : "/usr/local/bin:/bin:/usr/bin";
  // Sized to this PATH's longest entry, not PATH_MAX: in exec mode the child
  // runs on oxinit's own stack, whose every touched page stays resident.
  size_t longest = 0;
  for (const char* q = p; *q;) {
    const char* z = q;
    while (*z && *z != ':') z++;
    if (static_cast<size_t>(z - q) > longest) longest = static_cast<size_t>(z - q);
    q = *z ? z + 1 : z;
  }
  if (longest >= PATH_MAX) longest = PATH_MAX - 1;
  char* buf = static_cast<char*>(__builtin_alloca(longest + flen + 2));
  bool denied = false;
  for (;;) {
    const char* z = p;
    while (*z && *z != ':') z++;
    size_t dlen = static_cast<size_t>(z - p);
    if (dlen < PATH_MAX) {
      memcpy(buf, p, dlen);
      size_t at = dlen;
      if (dlen) buf[at++] = '/';  // an empty entry is the current directory
      memcpy(buf + at, file, flen + 1);
      try_exec(buf, r);
      if (errno == EACCES) denied = true;
      else if (errno != ENOENT && errno != ENOTDIR) return;
    }
    if (!*z) break;
    p = z + 1;
  }
  if (denied) errno = EACCES;
}

long sys_prctl(long op, long a, long b = 0) { return syscall(SYS_prctl, op, a, b, 0, 0); }

// capset(2)'s version 3 structures (linux/capability.h): two 32-bit halves.
struct CapHeader {
  uint32_t version;
  int pid;
};
struct CapData {
  uint32_t effective, permitted, inheritable;
};
constexpr uint32_t kCapVersion3 = 0x20080522;

// Every set but the bounding one reduced to s.caps, after the switch of
// user (capabilities(7)): permitted survived it through PR_SET_KEEPCAPS;
// the kernel cleared ambient, which is raised only now.
void set_caps(const ServiceSpec& s, int report_fd) {
  CapHeader h{kCapVersion3, 0};
  auto lo = static_cast<uint32_t>(s.caps), hi = static_cast<uint32_t>(s.caps >> 32);
  CapData d[2] = {{lo, lo, lo}, {hi, hi, hi}};
  if (syscall(SYS_capset, &h, d) < 0) child_fail(report_fd, kCapset);
  if (sys_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL) < 0) child_fail(report_fd, kCapset);
  for (int c = 0; c < 64; c++) {
    if ((s.caps >> c & 1) && sys_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c) < 0) child_fail(report_fd, kCapset);
  }
}

// oom_score_adj, nice and CPUs: before the switch of user, which drops the
// right to lower the first two (proc(5), setpriority(2)).
void set_scheduling(const ServiceSpec& s, int report_fd) {
  if (s.oom_score_adj != kUnset) {
    char b[24];
    size_t n = format_int(b, s.oom_score_adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, b, n) != static_cast<ssize_t>(n)) child_fail(report_fd, kOom);
    close(fd);
  }
  // The raw syscall takes the nice value itself (getpriority's is 20 - nice).
  if (s.nice != kUnset && syscall(SYS_setpriority, PRIO_PROCESS, 0, s.nice) < 0) child_fail(report_fd, kNice);
  if (!s.cpus.empty() &&
      syscall(SYS_sched_setaffinity, 0, s.cpus.size(), s.cpus.c_str()) < 0)
    child_fail(report_fd, kAffinity);
  // The bounding set shrinks while CAP_SETPCAP is still there; the
  // capabilities to keep stay permitted across setuid.
  if (s.has_caps) {
    for (int c = 0; c < 64; c++) {
      long in = sys_prctl(PR_CAPBSET_READ, c);
      if (in < 0) break;  // EINVAL: past the kernel's last capability
      if (in == 1 && !(s.caps >> c & 1) && sys_prctl(PR_CAPBSET_DROP, c) < 0) child_fail(report_fd, kBounding);
    }
    if (s.has_user && s.uid != 0 && sys_prctl(PR_SET_KEEPCAPS, 1) < 0) child_fail(report_fd, kBounding);
  }
}

// Runs in the child: async-signal-safe calls only (signal-safety(7)).
// in_cgroup: clone3 started it in r.cgroup_fd's group already.
[[noreturn]] void child(const SpawnRequest& r, int report_fd, bool in_cgroup) {
  if (r.cgroup_fd >= 0 && !in_cgroup) {
    // Writing 0 to cgroup.procs moves the writer, before it makes anything.
    int fd = openat(r.cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) child_fail(report_fd, kCgroup);
    close(fd);
  }
  if (r.new_session) {
    if (setsid() < 0) child_fail(report_fd, kSetsid);
    if (r.controlling_tty) (void)ioctl(STDIN_FILENO, TIOCSCTTY, 0);  // best effort: not a tty, no job control
  } else {
    setpgid(0, 0);  // also done by the parent, so kill(-pid) cannot race
    // Make the new group the terminal's foreground group, so ^C reaches it
    // (tini #19). SIGTTOU is still blocked here, so a background caller is
    // not stopped by tcsetpgrp (termios(3), "TOSTOP").
    if (r.take_terminal && tcsetpgrp(STDIN_FILENO, getpgrp()) < 0 && errno != ENOTTY &&
        errno != ENXIO && errno != EBADF) {
      child_fail(report_fd, kTcsetpgrp);
    }
  }
  if (move_to(r.stdin_fd, 0) < 0 || move_to(r.stdout_fd, 1) < 0 || move_to(r.stderr_fd, 2) < 0) {
    child_fail(report_fd, kDup2);
  }
  if (int n = r.ready_fd_target; r.ready_fd >= 0 && n >= 3) {
    // The report pipe moves off fd N first; dup2 onto itself would keep
    // FD_CLOEXEC (dup2(2)), so then the flag is cleared instead.
    if (report_fd == n) report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
    if ((r.ready_fd == n ? fcntl(n, F_SETFD, 0) : dup2(r.ready_fd, n)) < 0) child_fail(report_fd, kDup2);
  }
  if (const ServiceSpec* s = r.spec) {
    for (const RlimitSpec& l : s->rlimits) {
      // prlimit64 directly: musl's setrlimit applies the limit to every
      // thread through __synccall, which has no place in a forked child.
      struct rlimit rl = {l.soft, l.hard};
      if (syscall(SYS_prlimit64, 0, l.resource, &rl, nullptr) < 0) child_fail(report_fd, kRlimit);
    }
    if (s->umask >= 0) umask(static_cast<mode_t>(s->umask));
    if (!s->workdir.empty() && chdir(s->workdir.c_str()) < 0) child_fail(report_fd, kChdir);
    set_scheduling(*s, report_fd);
    // Raw syscalls: libc's setuid family synchronises every thread of the
    // process (musl's __synccall, glibc's setxid), pointless in a child that
    // has one thread, and not async-signal-safe in every libc.
    if (s->has_user || s->has_group) {
      // i386, 32-bit ARM (and others) keep the 16-bit-id calls under the
      // plain names; the 32-bit ones are the *32 variants (setuid(2), NOTES).
#ifdef SYS_setuid32
      constexpr long kSetgroupsNr = SYS_setgroups32, kSetgidNr = SYS_setgid32, kSetuidNr = SYS_setuid32;
#else
      constexpr long kSetgroupsNr = SYS_setgroups, kSetgidNr = SYS_setgid, kSetuidNr = SYS_setuid;
#endif
      if (syscall(kSetgroupsNr, s->groups.size(), s->groups.data()) < 0) child_fail(report_fd, kSetgroups);
      if (s->has_group && syscall(kSetgidNr, s->gid) < 0) child_fail(report_fd, kSetgid);
      if (s->has_user && syscall(kSetuidNr, s->uid) < 0) child_fail(report_fd, kSetuid);
    }
    if (s->has_caps) set_caps(*s, report_fd);
    if (s->no_new_privs && sys_prctl(PR_SET_NO_NEW_PRIVS, 1) < 0) child_fail(report_fd, kNoNewPrivs);
  }
  if (r.clean_signals) {
    // The raw syscall: libc wrappers refuse the signals they reserve (musl
    // 32..34, glibc 32..33), which may still have been inherited ignored.
    KernelSigaction dfl{};  // the mask (and any padding) zeroed
    dfl.handler = SIG_DFL;
    dfl.flags = 0;
    dfl.restorer = nullptr;
    for (int sig = 1; sig < 65; sig++) {
      if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, nullptr) < 0) child_fail(report_fd, kMask);
  } else {
    if (r.sigchld_was_ignored) (void)signal(SIGCHLD, SIG_IGN);
    if (r.mask && sigprocmask(SIG_SETMASK, r.mask, nullptr) < 0) child_fail(report_fd, kMask);
  }
  exec_search(r);
  child_fail(report_fd, kExec);
}

// Sanitizer runtimes track the stack and intercept clone: a CLONE_VM child
// on a borrowed stack confuses them, so sanitized builds always fork.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct ChildArgs {
  const SpawnRequest* req;
  int report_fd;
};

int child_entry(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  child(*a->req, a->report_fd, false);
}

// clone3(2)'s arguments up to `cgroup` (CLONE_ARGS_SIZE_VER2), linux/sched.h.
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
      cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

// fork() straight into a cgroup; -1 with errno, 0 in the child.
pid_t fork_into(int cgroup_fd) {
  CloneArgs a{};
  a.flags = kCloneIntoCgroup;
  a.exit_signal = SIGCHLD;
  a.cgroup = static_cast<uint64_t>(cgroup_fd);
  return static_cast<pid_t>(syscall(SYS_clone3, &a, sizeof a));
}

// Set once a fork cost oxinit more than kSlowForkNs of CPU: from then on
// every start is vfork-style. fork's cost grows with oxinit's memory (page
// tables to copy, copy-on-write faults after) and with the machine (a VM
// where a page fault is dear); vfork's does not. Measured: 1,000 services
// started with fork took 136 µs of oxinit's CPU each on one VM (2026-11-28),
// where fork is the quicker for a burst (it does not wait for each exec);
// on another a fork took ~1 ms, and vfork started the burst 25 % sooner
// with a third of the CPU (docs/bench.md, 2026-12-01).
constexpr long kSlowForkNs = 300000;
bool g_fork_is_slow = false;

long thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

}  // namespace

Result<SpawnResult> spawn(const SpawnRequest& req) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return errno_error("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  ChildArgs args{&req, wr.get()};
  pid_t pid = -1;
  bool vfork_style = (req.share_memory || g_fork_is_slow) && !kSanitized && req.cgroup_fd < 0;
  if (vfork_style) {
    // CLONE_VM|CLONE_VFORK, as posix_spawn does: no page tables to copy and
    // no copy-on-write faults afterwards, so a crash-looping service costs
    // oxinit little; oxinit is suspended until the child calls exec. The
    // child runs on this stack buffer and touches nothing of ours but errno.
    alignas(16) char stack[16384];  // execvpe alone may take PATH_MAX + NAME_MAX
    pid = clone(child_entry, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  } else {
    if (req.cgroup_fd >= 0 && !kSanitized) {
      pid = fork_into(req.cgroup_fd);
      if (pid == 0) child(req, wr.get(), true);
      // Older kernels: ENOSYS (no clone3, < 5.3), E2BIG or EINVAL (no
      // CLONE_INTO_CGROUP, < 5.7): the child moves itself instead.
      if (pid < 0 && errno != ENOSYS && errno != E2BIG && errno != EINVAL) return errno_error("clone3");
    }
    if (pid < 0) {
      long t0 = thread_cpu_ns();
      pid = fork();
      if (pid == 0) child(req, wr.get(), false);
      if (long took = thread_cpu_ns() - t0; pid > 0 && took > kSlowForkNs && !g_fork_is_slow) {
        g_fork_is_slow = true;
        OX_DEBUG("a fork took %ld us of CPU: later starts share memory until their exec", took / 1000);
      }
    }
  }
  if (pid < 0) return errno_error("fork");
  wr.reset();
  SpawnResult res;
  res.pid = pid;
  if (vfork_style) {
    // The child has exec'd or failed (CLONE_VFORK), and setpgid is done.
    res.failure = read_exec_report(rd.get());
    return res;
  }
  if (!req.new_session) setpgid(pid, pid);  // see child(): both sides, no race
  res.report = std::move(rd);
  return res;
}

ExecFailure read_exec_report(int report_fd) {
  ChildFailure f{};
  ExecFailure out;
  ssize_t n = retry_eintr([&] { return read(report_fd, &f, sizeof f); });
  if (n == static_cast<ssize_t>(sizeof f)) {
    out.err = f.err;
    out.step = f.step >= 0 && f.step < kNumSteps ? nth_name(kSteps, static_cast<unsigned>(f.step)) : "spawn";
  }
  return out;
}

}  // namespace oxinit
