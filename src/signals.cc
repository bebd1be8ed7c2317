#include "signals.h"

#include <sys/signalfd.h>

#include <cstring>

#include "sys/str.h"

namespace oxinit {
namespace {

// Names without "SIG", 7 bytes each, and their numbers: the aliases after
// the names that signal_name() prints.
constexpr char kNames[][7] = {
    "HUP",  "INT",  "QUIT",  "ILL",  "TRAP",   "ABRT", "BUS",  "FPE",  "KILL", "USR1",   "SEGV", "USR2",
    "PIPE", "ALRM", "TERM",  "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",   "URG",  "XCPU",
    "XFSZ", "VTALRM", "PROF", "WINCH", "IO",   "PWR",  "SYS",  "POLL", "IOT",  "CLD",
};
constexpr uint8_t kNumbers[] = {
    SIGHUP,  SIGINT,  SIGQUIT, SIGILL,    SIGTRAP,   SIGABRT, SIGBUS,  SIGFPE,  SIGKILL, SIGUSR1,  SIGSEGV, SIGUSR2,
    SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD,   SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU,  SIGURG,  SIGXCPU,
    SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO,    SIGPWR,  SIGSYS,  SIGIO,   SIGABRT, SIGCHLD,
};
static_assert(sizeof kNames / sizeof kNames[0] == sizeof kNumbers);

// Real-time signals are numbered as glibc numbers them (SIGRTMIN = 34,
// SIGRTMAX = 64): the programs oxinit runs and `kill -l` mostly use glibc,
// while musl's own SIGRTMIN is 35 (it reserves 32..34).
constexpr int kRtMin = 34;
constexpr int kRtMax = 64;

int rt_signal(std::string_view rest, bool from_max) {
  int base = from_max ? kRtMax : kRtMin;
  if (rest.empty()) return base;
  uint64_t off = 0;
  if (rest[0] != (from_max ? '-' : '+') || !parse_uint(rest.substr(1), kRtMax - kRtMin, off)) return 0;
  int sig = from_max ? base - static_cast<int>(off) : base + static_cast<int>(off);
  return sig >= kRtMin && sig <= kRtMax ? static_cast<int>(sig) : 0;
}

}  // namespace

int signal_by_name(std::string_view s, bool allow_bare, bool allow_number) {
  if (allow_number && !s.empty() && s[0] >= '0' && s[0] <= '9') {
    uint64_t n = 0;
    return parse_uint(s, kMaxSignal - 1, n) ? static_cast<int>(n) : 0;
  }
  if (s.substr(0, 3) == "SIG") {
    s.remove_prefix(3);
  } else if (!allow_bare) {
    return 0;
  }
  std::string_view rt = s.substr(0, 5);
  bool max = rt == "RTMAX";
  if (max || rt == "RTMIN") return rt_signal(s.substr(5), max);
  for (size_t k = 0; k < sizeof kNumbers; k++) {
    if (s == kNames[k]) return kNumbers[k];
  }
  return 0;
}

const char* signal_name(int sig, char* buf) {
  std::memcpy(buf, "SIG", 4);
  for (size_t k = 0; k < sizeof kNumbers; k++) {
    if (kNumbers[k] == sig) {
      std::memcpy(buf + 3, kNames[k], 7);
      return buf;
    }
  }
  char* p = buf + 3;
  if (sig >= kRtMin && sig <= kRtMax) {
    std::memcpy(p, "RTMIN+", 6);  // NOLINT(bugprone-not-null-terminated-result): format_int ends it
    p += 6;
    sig -= kRtMin;
  }
  format_int(p, sig);
  return buf;
}

namespace {
constexpr uint64_t bit(int sig) { return 1ULL << (sig - 1); }
constexpr uint64_t kSynchronous =
    bit(SIGFPE) | bit(SIGILL) | bit(SIGSEGV) | bit(SIGBUS) | bit(SIGABRT) | bit(SIGTRAP) | bit(SIGSYS);
}  // namespace

bool is_synchronous_signal(int sig) { return sig > 0 && sig < kMaxSignal && (kSynchronous & bit(sig)); }

bool is_stop_signal(int sig) {
  return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGPWR;
}

SignalMeaning signal_meaning(int sig, const SignalContext& c) {
  if (sig == SIGCHLD) return SignalMeaning::Reap;
  // busybox halt and poweroff send USR1 and USR2; Ctrl-Alt-Del is SIGINT
  // after reboot(RB_DISABLE_CAD) (reboot(2)).
  if (c.vm && (is_stop_signal(sig) || sig == SIGUSR1 || sig == SIGUSR2)) return SignalMeaning::Shutdown;
  if (c.has_main) {
    if (c.main_running) return SignalMeaning::ForwardMain;
    return is_stop_signal(sig) ? SignalMeaning::Shutdown : SignalMeaning::Unrouted;
  }
  if (is_stop_signal(sig)) return SignalMeaning::Shutdown;
  if (sig == SIGHUP) return SignalMeaning::Reload;
  return SignalMeaning::ForwardAll;
}

bool parse_rewrite(std::string_view spec, SignalRewrite& rw) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return false;
  int src = signal_by_name(spec.substr(0, colon), true, true);
  std::string_view dst_s = spec.substr(colon + 1);
  int dst = signal_by_name(dst_s, true, true);  // 0 for "0" (drop it), and for what is no signal
  if (src <= 0 || src == SIGKILL || src == SIGSTOP || src == SIGCHLD) return false;
  if (dst == 0 && dst_s != "0") return false;
  rw.map[src] = dst;
  return true;
}

Result<void> setup_signals(SignalSetup& out) {
  // Every signal 1..64 but the synchronous ones. Built by hand: musl's
  // sigfillset and sigaddset leave out 32..34, its internal signals, which
  // a PID 1 must still receive (and forward: glibc's SIGRTMIN is 34).
  sigset_t all;
  sigemptyset(&all);
  uint64_t bits = ~kSynchronous;
  std::memcpy(&all, &bits, sizeof bits);
  if (sigprocmask(SIG_BLOCK, &all, &out.original_mask) != 0) return errno_error("sigprocmask");
  struct sigaction old;
  if (sigaction(SIGCHLD, nullptr, &old) == 0 &&
      (old.sa_handler == SIG_IGN || (old.sa_flags & SA_NOCLDWAIT))) {
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, nullptr);
    out.sigchld_was_ignored = true;
  }
  out.blocked = all;
  int fd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return errno_error("signalfd");
  out.fd.reset(fd);
  return {};
}

}  // namespace oxinit
