#include "vm/root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"
#include "sys/format.h"
#include "sys/text.h"
#include "vm/mounts.h"

namespace oxinit::vm {

void parse_cmdline(std::string_view s, RootArgs& out) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) i++;
    size_t b = i;
    for (bool quoted = false; i < s.size() && (quoted || (s[i] != ' ' && s[i] != '\n')); i++)
      quoted ^= s[i] == '"';
    std::string_view w = s.substr(b, i - b);
    if (w == "--") break;
    size_t eq = w.find('=');
    std::string_view key = w.substr(0, eq), val = w.substr(eq == std::string_view::npos ? w.size() : eq + 1);
    if (val.size() >= 2 && val[0] == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
    static constexpr char kKeys[][11] = {"root", "rootfstype", "rootflags", "init"};
    std::string_view* to[] = {&out.root, &out.fstype, &out.flags, &out.init};
    for (int k = 0; k < 4; k++)
      if (eq != std::string_view::npos && key == kKeys[k]) *to[k] = val;
    if (w == "rw" || w == "ro") out.rw = w[1] == 'w';
    if (w == "rootwait") out.rootwait = true;
  }
}

namespace {

constexpr const char* kNewRoot = "/sysroot";
// The kernel waits forever with rootwait; a VM whose disk never comes
// should end with a message instead.
constexpr Millis kRootWait = 30000;
constexpr Millis kRootNoWait = 5000;

// util-linux switch_root's recursiveRemove(): everything on the initramfs,
// never crossing into another filesystem. Frees the initramfs's memory.
void remove_tree(int dirfd, dev_t dev) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
    struct stat st;
    if (::fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    bool dir = S_ISDIR(st.st_mode);
    if (dir) {
      if (st.st_dev != dev) continue;
      int sub = ::openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) remove_tree(sub, dev);
    }
    ::unlinkat(dirfd, n, dir ? AT_REMOVEDIR : 0);
  }
  ::closedir(d);
}

// Tries each type of rootfstype= or, without it, each of /proc/filesystems
// that needs a device ("nodev\tsysfs" lines are skipped), as the kernel's
// mount_block_root() does.
int mount_root(const RootArgs& a, const char* dev) {
  Str fs;
  std::string_view types = a.fstype;
  if (types.empty() && read_file("/proc/filesystems", 65536, fs) == 0) types = fs;
  char opts[512];
  format(opts, sizeof opts, "%s,%.*s", a.rw ? "rw" : "ro", static_cast<int>(a.flags.size()), a.flags.data());
  int err = ENODEV;
  bool skip = false;
  while (!types.empty()) {
    size_t e = types.find_first_of(",\n\t");
    std::string_view t = types.substr(0, e);
    types.remove_prefix(e == std::string_view::npos ? types.size() : e + 1);
    if (t.empty() || (skip = !skip && t == "nodev")) continue;
    char type[32];
    format(type, sizeof type, "%.*s", static_cast<int>(t.size()), t.data());
    const char* what;
    if (!(err = mount_one(dev, kNewRoot, type, opts, 0, &what))) break;
  }
  return err;
}

}  // namespace

bool switch_root(char** argv, const sigset_t& mask) {
  Str cmdline;
  char buf[512];
  RootArgs a;
  if (read_file("/proc/cmdline", 65536, cmdline) == 0) parse_cmdline(cmdline, a);
  struct statfs fs;
  // Only from an initramfs (ramfs or tmpfs): a disk root is already there.
  if (a.root.empty() || ::statfs("/", &fs) < 0 || (fs.f_type != 0x858458f6 && fs.f_type != 0x01021994))
    return true;
  Millis wait = a.rootwait ? kRootWait : kRootNoWait;
  Str dev = find_device(a.root, wait);
  if (dev.empty()) {
    OX_FATAL("vm: unable to switch root: no device %.*s after %d s (are its modules in [init] modules?)",
             static_cast<int>(a.root.size()), a.root.data(), static_cast<int>(wait / 1000));
    return false;
  }
  if (int e = mount_root(a, dev.c_str())) {
    OX_FATAL("vm: unable to mount root %s: %s", dev.c_str(), strerror(e));
    return false;
  }
  char init[256];
  std::string_view iv = a.init.empty() ? "/sbin/oxinit" : a.init;
  format(init, sizeof init, "%.*s", static_cast<int>(iv.size()), iv.data());
  format(buf, sizeof buf, "%s%s", kNewRoot, init);
  if (::access(buf, X_OK) < 0) {
    OX_FATAL("vm: unable to switch root: %s on %s: %s", init, dev.c_str(), strerror(errno));
    ::umount2(kNewRoot, 0);
    return false;
  }
  // switch_root(8): the API filesystems move along; one that cannot (no
  // directory for it on the disk) is detached, and the new init mounts it.
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    format(buf, sizeof buf, "%s%s", kNewRoot, m);
    if (::mount(m, buf, nullptr, MS_MOVE, nullptr) < 0) {
      OX_DEBUG("vm: unable to move %s to the new root: %s", m, strerror(errno));
      ::umount2(m, MNT_DETACH);
    }
  }
  int old_root = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (::chdir(kNewRoot) < 0 || ::mount(kNewRoot, "/", nullptr, MS_MOVE, nullptr) < 0 || ::chroot(".") < 0 ||
      ::chdir("/") < 0) {
    OX_FATAL("vm: unable to switch root to %s: %s", dev.c_str(), strerror(errno));
    return false;
  }
  struct stat st;
  if (old_root >= 0 && ::fstat(old_root, &st) == 0) remove_tree(old_root, st.st_dev);
  OX_INFO("vm: switched root to %s; running %s", dev.c_str(), init);
  argv[0] = init;
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  ::execv(init, argv);
  OX_FATAL("vm: unable to run %s: %s", init, strerror(errno));
  return false;
}

}  // namespace oxinit::vm
