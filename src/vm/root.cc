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
#include "vm/boot.h"
#include "vm/mounts.h"

namespace oxinit::vm {

void parse_cmdline(std::string_view cmdline, RootArgs& out) {
  // "key=" prefixes (a NUL stands for '=': "rw" and "ro" have none) and
  // where each value goes.
  static constexpr char kKeys[] = "root=\0rootfstype=\0rootflags=\0init=\0rw\0ro\0rootwait";
  std::string_view* to[] = {&out.root, &out.fstype, &out.flags, &out.init};
  const char* p = cmdline.data();
  const char* end = p + cmdline.size();
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\n')) p++;
    const char* b = p;
    for (bool quoted = false; p < end && (quoted || (*p != ' ' && *p != '\n')); p++) quoted ^= *p == '"';
    size_t n = static_cast<size_t>(p - b);
    if (n == 2 && b[0] == '-' && b[1] == '-') break;
    const char* key = kKeys;
    for (int k = 0; k < 7; k++, key += strlen(key) + 1) {
      size_t kn = strlen(key);
      bool prefix = key[kn - 1] == '=';
      if (n < kn || memcmp(b, key, kn) != 0 || (!prefix && n != kn)) continue;
      if (k == 6) out.rootwait = true;
      else if (k >= 4) out.rw = k == 4;
      else if (n > kn + 1 && b[kn] == '"' && p[-1] == '"') *to[k] = std::string_view(b + kn + 1, n - kn - 2);
      else *to[k] = std::string_view(b + kn, n - kn);
    }
  }
}

std::string_view next_fstype(std::string_view& types) {
  bool skip = false;
  while (!types.empty()) {
    size_t e = types.find_first_of(",\n\t");
    std::string_view t = types.substr(0, e);
    types.remove_prefix(e == std::string_view::npos ? types.size() : e + 1);
    if (!t.empty() && t != "nodev" && !skip) return t;
    skip = t == "nodev" || (skip && t.empty());  // the name after it: sysfs "mounts" any device
  }
  return {};
}

namespace {

constexpr const char* kNewRoot = "/sysroot";
// The kernel waits forever with rootwait; a VM whose disk never comes
// should end with a message instead.
constexpr Millis kRootWait = 30000;
constexpr Millis kRootNoWait = 5000;

// util-linux switch_root's recursiveRemove(): everything on the initramfs,
// never crossing into another filesystem (the new root on /sysroot is one),
// which frees the initramfs's memory. Runs before the new root moves onto /,
// while the initramfs is still reachable by path. path holds cap bytes.
void remove_tree(char* path, size_t cap, dev_t dev) {
  DIR* d = ::opendir(path);
  size_t len = strlen(path);
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    const char* n = e->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..") || len + strlen(n) + 2 > cap) continue;
    format(path + len, cap - len, "%s%s", len > 1 ? "/" : "", n);
    struct stat st;
    if (::lstat(path, &st) == 0 && st.st_dev == dev) {
      if (S_ISDIR(st.st_mode)) {
        remove_tree(path, cap, dev);
        ::rmdir(path);
      } else {
        ::unlink(path);
      }
    }
    path[len] = 0;
  }
  if (d) ::closedir(d);
}

// Tries each type of rootfstype= or, without it, of /proc/filesystems, as
// the kernel's mount_block_root() does.
int mount_root(const RootArgs& a, const char* dev) {
  Str fs;
  std::string_view types = a.fstype;
  if (types.empty() && read_file("/proc/filesystems", 65536, fs) == 0) types = fs;
  char opts[512];
  format(opts, sizeof opts, "%s,%.*s", a.rw ? "rw" : "ro", static_cast<int>(a.flags.size()), a.flags.data());
  int err = ENODEV;
  for (std::string_view t = next_fstype(types); !t.empty(); t = next_fstype(types)) {
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
  RootArgs a;
  if (read_file("/proc/cmdline", 65536, cmdline) == 0) parse_cmdline(cmdline, a);
  struct statfs fs;
  // Only from an initramfs (ramfs or tmpfs): a disk root is already there.
  if (a.root.empty() || ::statfs("/", &fs) < 0 || (fs.f_type != 0x858458f6 && fs.f_type != 0x01021994))
    return true;
  char init[256], buf[512];
  std::string_view iv = a.init.empty() ? "/sbin/oxinit" : a.init;
  format(init, sizeof init, "%.*s", static_cast<int>(iv.size()), iv.data());
  format(buf, sizeof buf, "%s%s", kNewRoot, init);
  const char* step = a.rootwait ? "no such device after 30 s (are its modules in [init] modules?)"
                                : "no such device after 5 s (rootwait waits 30 s; are its modules in [init] modules?)";
  int err = ENODEV;
  Str dev = find_device(a.root, a.rootwait ? kRootWait : kRootNoWait);
  if (!dev.empty()) {
    step = "mount";
    err = mount_root(a, dev.c_str());
  }
  if (!dev.empty() && !err && ::access(buf, X_OK) < 0) {
    step = init;
    err = errno;
    ::umount2(kNewRoot, 0);
  }
  if (err) {
    log_err(Level::Fatal, err, "unable to switch root to %.*s: %s", static_cast<int>(a.root.size()), a.root.data(), step);
    return false;
  }
  // switch_root(8): the API filesystems move along; one that cannot (no
  // directory for it on the disk) is detached, and the new init mounts it.
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    format(buf, sizeof buf, "%s%s", kNewRoot, m);
    if (::mount(m, buf, nullptr, MS_MOVE, nullptr) < 0) ::umount2(m, MNT_DETACH);
  }
  struct stat st;
  if (::stat("/", &st) == 0) {
    char path[4096] = "/";
    remove_tree(path, sizeof path, st.st_dev);
  }
  if (::chdir(kNewRoot) == 0 && ::mount(kNewRoot, "/", nullptr, MS_MOVE, nullptr) == 0 && ::chroot(".") == 0 &&
      ::chdir("/") == 0) {
    OX_INFO("vm: switched root to %s; running %s", dev.c_str(), init);
    argv[0] = init;
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    ::execv(init, argv);
  }
  log_err(Level::Fatal, 0, "unable to switch root to %s: %s", dev.c_str(), init);
  return false;
}

}  // namespace oxinit::vm
