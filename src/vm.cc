// microVM mode: the boot steps a kernel's PID 1 owes its services, and the
// final sync + reboot(). Every step is best effort: a VM that boots with one
// mount missing is better than a kernel panic.
#include "vm.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "log.h"
#include "sys/eintr.h"
#include "sys/fd.h"

namespace oxinit::vm {
namespace {

// include/linux/proc_ns.h: the initial PID namespace's nsfs inode number,
// fixed since Linux 3.8 (systemd's namespace-util.h uses the same constant).
constexpr ino_t kProcPidInitIno = 0xEFFFFFFCU;

struct MountStep {
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
};

constexpr unsigned long kSecure = MS_NOSUID | MS_NODEV | MS_NOEXEC;

// In order: /proc first (the mountinfo check needs it), /dev before what
// lives under it.
constexpr MountStep kSteps[] = {
    {"proc", "/proc", "proc", kSecure, nullptr},
    {"sysfs", "/sys", "sysfs", kSecure, nullptr},
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
    // ptmxmode=0666: the devpts instance's own ptmx node is 0000 by default
    // (Documentation/filesystems/devpts.rst).
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666"},
    {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    {"cgroup2", "/sys/fs/cgroup", "cgroup2", kSecure, nullptr},
};
constexpr int kCgroupStep = 6;
constexpr int kNumSteps = sizeof kSteps / sizeof kSteps[0];

// What boot() (or detect()) mounted, so finish() undoes exactly that.
bool g_mounted[kNumSteps];

// True when `path` is a mount point according to /proc/self/mountinfo
// (proc(5): field 5 is the mount point; names with spaces come \ooo-escaped,
// which our plain targets never need). Without /proc nothing is mounted.
bool is_mounted(std::string_view path) {
  UniqueFd fd(retry_eintr([] { return ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC); }));
  if (!fd.valid()) return false;
  char buf[4096];
  char field[256];
  size_t flen = 0;
  int fieldno = 0;  // 0-based field index within the current line
  bool overflow = false;
  for (int reads = 0; reads < 4096; reads++) {  // bounded: 16 MB of mountinfo
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == ' ' || c == '\n') {
        if (fieldno == 4 && !overflow && std::string_view(field, flen) == path) return true;
        fieldno = c == '\n' ? 0 : fieldno + 1;
        flen = 0;
        overflow = false;
      } else if (fieldno == 4) {
        if (flen < sizeof field) field[flen++] = c; else overflow = true;
      }
    }
  }
  return false;
}

bool mount_step(int i) {
  const MountStep& s = kSteps[i];
  if (is_mounted(s.target)) {
    OX_DEBUG("vm: %s already mounted", s.target);
    return false;
  }
  if (::mkdir(s.target, 0755) < 0 && errno != EEXIST)
    OX_DEBUG("vm: unable to create %s: %s", s.target, strerror(errno));
  if (::mount(s.source, s.target, s.fstype, s.flags, s.data) < 0) {
    OX_WARN("vm: unable to mount %s on %s: %s", s.fstype, s.target, strerror(errno));
    return false;
  }
  g_mounted[i] = true;
  return true;
}

// Links that devtmpfs does not make but programs expect (bash's /dev/fd for
// process substitution; /dev/ptmx only when /dev is not a devtmpfs).
void dev_links() {
  static const char* const kLinks[][2] = {
      {"/proc/self/fd", "/dev/fd"},    {"/proc/self/fd/0", "/dev/stdin"},
      {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
      {"pts/ptmx", "/dev/ptmx"},
  };
  for (const auto& l : kLinks) {
    struct stat st;
    if (::lstat(l[1], &st) == 0) continue;
    if (::symlink(l[0], l[1]) < 0) OX_DEBUG("vm: unable to link %s: %s", l[1], strerror(errno));
  }
}

// Fills the holes among fds 0/1/2 with /dev/console (else /dev/null), so no
// later open() lands on a standard fd. O_NOCTTY, and oxinit never takes the
// console as its controlling tty: the kernel never makes /dev/console a
// controlling tty anyway (drivers/tty/tty_io.c: noctty for TTYAUX 5:1), and
// a PID 1 with one would get SIGHUP on hangup.
void console_fds() {
  bool missing[3];
  bool any = false;
  for (int fd = 0; fd < 3; fd++) {
    missing[fd] = ::fcntl(fd, F_GETFD) < 0 && errno == EBADF;
    any = any || missing[fd];
  }
  if (!any) return;
  int c = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (c < 0) {
    OX_DEBUG("vm: unable to open /dev/console: %s", strerror(errno));
    c = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  }
  if (c < 0) return;
  for (int fd = 0; fd < 3; fd++)
    if (missing[fd] && fd != c) ::dup2(c, fd);  // dup2 clears FD_CLOEXEC
  if (c < 3) ::fcntl(c, F_SETFD, 0);
  else ::close(c);
}

// `ip link set lo up` without ip: SIOCSIFFLAGS on any AF_INET socket
// (netdevice(7)). The kernel gives lo 127.0.0.1/8 when it comes up.
void loopback_up() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) {
    OX_WARN("vm: unable to bring lo up: socket: %s", strerror(errno));
    return;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) {
    OX_WARN("vm: unable to bring lo up: SIOCGIFFLAGS: %s", strerror(errno));
    return;
  }
  if (ifr.ifr_flags & IFF_UP) return;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0)
    OX_WARN("vm: unable to bring lo up: SIOCSIFFLAGS: %s", strerror(errno));
}

[[noreturn]] void stay_alive() {
  // PID 1 must not exit (the kernel panics), so wait for signals forever and
  // keep reaping what gets reparented to us.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&all, &si) == SIGCHLD)
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
  }
}

}  // namespace

bool detect(VmMode mode) {
  if (mode != VmMode::Auto) return mode == VmMode::On;
  if (::getpid() != 1) return false;
  // A kernel's PID 1 starts without /proc: mount it to look (and keep it).
  bool mounted_here = false;
  struct stat st;
  if (::stat("/proc/self", &st) < 0) {
    if (::mkdir("/proc", 0555) < 0 && errno != EEXIST) return false;
    if (::mount("proc", "/proc", "proc", kSecure, nullptr) < 0) return false;
    mounted_here = true;
  }
  bool vm;
  if (::stat("/proc/self/ns/pid", &st) == 0) vm = st.st_ino == kProcPidInitIno;
  else vm = errno == ENOENT;  // no CONFIG_PID_NS: only one PID 1 can exist
  if (mounted_here) {
    if (vm) g_mounted[0] = true;
    else ::umount2("/proc", MNT_DETACH);
  }
  return vm;
}

void boot(const InitSpec& init) {
  for (int i = 0; i < kNumSteps; i++) {
    if (i == kCgroupStep && !init.mount_cgroup) continue;
    if (!g_mounted[i]) mount_step(i);
  }
  dev_links();
  console_fds();
  // The kernel passes init no PATH (only HOME=/ and TERM=linux).
  if (!::getenv("PATH"))
    ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  if (!init.hostname.empty() && ::sethostname(init.hostname.c_str(), init.hostname.size()) < 0)
    OX_WARN("vm: unable to set hostname %s: %s", init.hostname.c_str(), strerror(errno));
  loopback_up();
  // reboot(2): with CAD disabled, Ctrl-Alt-Del sends SIGINT to PID 1 instead
  // of an immediate hard reset, so the services get an ordered stop.
  if (::reboot(RB_DISABLE_CAD) < 0) OX_WARN("vm: unable to disable Ctrl-Alt-Del: %s", strerror(errno));
}

void finish(FinalAction action) {
  // Reverse order; a busy mount (our own fds keep /dev busy) is remounted
  // read-only instead, which is what matters before the power goes.
  for (int i = kNumSteps - 1; i >= 0; i--) {
    if (!g_mounted[i]) continue;
    const char* t = kSteps[i].target;
    if (::umount2(t, 0) < 0 &&
        ::mount(nullptr, t, nullptr, MS_REMOUNT | MS_RDONLY | kSteps[i].flags, nullptr) < 0)
      OX_DEBUG("vm: unable to unmount %s: %s", t, strerror(errno));
  }
  // A disk root (init=/sbin/oxinit on ext4) is left clean; on an initramfs
  // this is harmless and may fail.
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) < 0)
    OX_DEBUG("vm: unable to remount / read-only: %s", strerror(errno));
  ::sync();
  int cmd = static_cast<int>(action == FinalAction::Reboot ? RB_AUTOBOOT
                             : action == FinalAction::Halt ? RB_HALT_SYSTEM
                                                           : RB_POWER_OFF);
  ::reboot(cmd);
  OX_FATAL("vm: unable to %s: %s; staying alive",
           action == FinalAction::Reboot ? "reboot" : action == FinalAction::Halt ? "halt" : "power off",
           strerror(errno));
  stay_alive();
}

}  // namespace oxinit::vm
