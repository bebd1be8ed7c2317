// The microVM boot order. Every step is best effort: a VM that boots with one
// mount missing is better than a kernel panic.
#include "vm/boot.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "sys/eintr.h"
#include "sys/fd.h"
#include "sys/format.h"
#include "vm/kernel.h"
#include "vm/modules.h"
#include "vm/mounts.h"
#include "vm/net.h"
#include "vm/power.h"
#include "vm/root.h"

namespace oxinit::vm {
namespace {

const InitSpec* g_init = nullptr;
bool g_whole = false;  // PID 1 of the initial PID namespace: the machine is ours

bool in_initial_pid_ns() {
  struct stat st;
  if (::stat("/proc/self/ns/pid", &st) == 0) return st.st_ino == kProcPidInitIno;
  return errno == ENOENT;  // no CONFIG_PID_NS: only one PID 1 can exist
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
    if (::symlink(l[0], l[1]) < 0) log_err(Level::Debug, 0, "unable to link %s", l[1]);
  }
}

// Fills the holes among fds 0/1/2 with /dev/console (else /dev/null), so no
// later open() lands on a standard fd. O_NOCTTY, and oxinit never takes the
// console as its controlling tty: the kernel never makes /dev/console a
// controlling tty on open (drivers/tty/tty_io.c: noctty for TTYAUX 5:1), and
// a PID 1 with one would get SIGHUP on hangup. The main command gets it
// instead (spawn.h, controlling_tty).
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
    log_err(Level::Debug, 0, "unable to open /dev/console");
    c = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  }
  if (c < 0) return;
  for (int fd = 0; fd < 3; fd++)
    if (missing[fd] && fd != c) ::dup2(c, fd);  // dup2 clears FD_CLOEXEC
  if (c < 3) ::fcntl(c, F_SETFD, 0);
  else ::close(c);
}

// "net.ipv4.ip_forward=1" -> /proc/sys/net/ipv4/ip_forward (a key with '/'
// is taken as a path, as sysctl(8) does, for names that contain dots).
void write_sysctl(const Str& kv) {
  char path[512], value[4096];  // no sysctl takes more than a page
  const char* eq = strchr(kv.c_str(), '=');  // the schema checked there is one
  int klen = static_cast<int>(eq - kv.c_str());
  size_t n = format(path, sizeof path, "/proc/sys/%.*s", klen, kv.c_str());
  bool slashes = memchr(kv.c_str(), '/', static_cast<size_t>(klen));
  for (size_t i = 10; i < n && !slashes; i++) path[i] = path[i] == '.' ? '/' : path[i];
  n = format(value, sizeof value, "%s\n", eq + 1);
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd.valid() || ::write(fd.get(), value, n) < 0)
    log_err(Level::Warn, 0, "unable to set sysctl %.*s", klen, kv.c_str());
}

constexpr size_t kSeedSize = 512;  // 4096 bits, as systemd-random-seed

// Replaces the seed file with fresh bytes from the pool. Not when the pool
// is not ready yet (GRND_NONBLOCK): a weak seed is worse than the old one.
void save_seed(const Str& path) {
  unsigned char buf[kSeedSize];
  if (::getrandom(buf, sizeof buf, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof buf)) return;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid() || ::write(fd.get(), buf, sizeof buf) != static_cast<ssize_t>(sizeof buf) || ::fsync(fd.get()) < 0)
    log_err(Level::Warn, 0, "unable to write the random seed %s", path.c_str());
}

// random(4): a write to /dev/urandom mixes bytes in without crediting
// entropy; RNDADDENTROPY credits them. Credit only when asked: VMs booted
// from one image share the same file. Then the file is replaced at once,
// so a crash before shutdown does not reuse it.
void load_seed(const Str& path, bool credit) {
  struct {
    int entropy_count;  // struct rand_pool_info
    int buf_size;
    unsigned char buf[kSeedSize];
  } info;
  UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ssize_t n = in.valid() ? retry_eintr([&] { return ::read(in.get(), info.buf, sizeof info.buf); }) : -1;
  UniqueFd rnd(::open("/dev/urandom", O_WRONLY | O_CLOEXEC));
  if (n > 0 && rnd.valid()) {
    info.entropy_count = credit ? static_cast<int>(n) * 8 : 0;
    info.buf_size = static_cast<int>(n);
    if ((credit ? ::ioctl(rnd.get(), k::RNDADDENTROPY, &info) : ::write(rnd.get(), info.buf, static_cast<size_t>(n))) < 0)
      log_err(Level::Warn, 0, "unable to add the random seed");
  } else if (errno != ENOENT) {
    log_err(Level::Warn, 0, "unable to read the random seed %s", path.c_str());
  }
  save_seed(path);
}

// /proc, for detect(): mounted when missing (mounted_here tells); false when
// it is missing and cannot be mounted. Only a PID 1 without /proc gets here
// (detect() in boot.h answers the others itself).
bool ensure_proc(bool& mounted_here) {
  struct stat st;
  mounted_here = false;
  if (::stat("/proc/self", &st) == 0) return true;
  ::mkdir("/proc", 0555);
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) return false;
  mounted_here = true;
  note_proc_mounted(true);
  return true;
}

// Drops /proc again (detect() found a container, not a VM).
void drop_proc() {
  ::umount2("/proc", MNT_DETACH);
  note_proc_mounted(false);
}

}  // namespace

bool initial_pid1() {
  // A kernel's PID 1 starts without /proc: mount it to look (and keep it).
  bool mounted_here;
  if (!ensure_proc(mounted_here)) return false;
  bool vm = in_initial_pid_ns();
  if (mounted_here && !vm) drop_proc();
  return vm;
}

bool boot(const InitSpec& init, char** argv, const sigset_t& mask) {
  g_init = &init;
  mount_api(init.mount_cgroup);
  g_whole = in_initial_pid_ns();
  dev_links();
  console_fds();
  // The kernel passes init no PATH (only HOME=/ and TERM=linux). putenv:
  // nothing else needs setenv()'s copying (~200 bytes of libc).
  if (!::getenv("PATH")) {
    static char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    ::putenv(path);
  }
  if (g_whole) {
    load_modules(init.boot.modules);
    if (!switch_root(argv, mask)) return false;
  }
  mount_configured(init);
  Str from_ip = configure_network(init.boot.network);
  const Str& host = init.hostname.empty() ? from_ip : init.hostname;
  if (!host.empty() && ::sethostname(host.c_str(), host.size()) < 0)
    log_err(Level::Warn, 0, "unable to set hostname %s", host.c_str());
  for (const Str& kv : init.boot.sysctl) write_sysctl(kv);
  if (!init.boot.random_seed.empty()) load_seed(init.boot.random_seed, init.boot.random_seed_credit);
  disable_cad();
  return true;
}

void finish(FinalAction action) {
  if (g_init && !g_init->boot.random_seed.empty()) save_seed(g_init->boot.random_seed);
  unmount_all(g_init ? g_whole : in_initial_pid_ns());  // before boot: a config error
  power_off(action);
}

}  // namespace oxinit::vm
