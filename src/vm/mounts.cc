#include "vm/mounts.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "log.h"
#include "loop.h"
#include "sys/eintr.h"
#include "sys/format.h"
#include "sys/lines.h"
#include "sys/text.h"
#include "vm/boot.h"
#include "vm/uevent.h"

namespace oxinit::vm {
namespace {

// The source is the type's name for each of these.
struct MountStep {
  const char* fstype;
  const char* target;
  const char* data;
  unsigned flags;
};

constexpr unsigned kSecure = MS_NOSUID | MS_NODEV | MS_NOEXEC;

// In order: /proc first (the mountinfo check needs it), /dev before what
// lives under it.
constexpr MountStep kSteps[] = {
    {"proc", "/proc", nullptr, kSecure},
    {"sysfs", "/sys", nullptr, kSecure},
    {"devtmpfs", "/dev", "mode=0755", MS_NOSUID},
    // ptmxmode=0666: the devpts instance's own ptmx node is 0000 by default
    // (Documentation/filesystems/devpts.rst).
    {"devpts", "/dev/pts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC},
    {"tmpfs", "/dev/shm", "mode=1777", MS_NOSUID | MS_NODEV},
    {"tmpfs", "/run", "mode=0755", MS_NOSUID | MS_NODEV},
    {"cgroup2", "/sys/fs/cgroup", nullptr, kSecure},
};
constexpr int kCgroupStep = 6;
constexpr int kNumSteps = sizeof kSteps / sizeof kSteps[0];

// What mount_api() mounted, for unmount_all(false).
bool g_mounted[kNumSteps];

// The mount points of /proc/self/mountinfo, in its order (mount order:
// parents before their children). Field 5 is the mount point (proc(5)).
std::vector<Str> mount_points() {
  std::vector<Str> out;
  LineReader r("/proc/self/mountinfo");
  std::string_view line;
  while (r.next(line)) {
    for (int i = 0; i < 4; i++) next_word(line);
    out.push_back(unescape_octal(next_word(line)));
  }
  return out;
}

bool is_mounted(const char* path) {
  for (const Str& m : mount_points())
    if (!strcmp(m.c_str(), path)) return true;
  return false;
}

// mkdir -p, best effort (the mount that follows reports what matters).
void make_dirs(const char* path) {
  char p[256];
  size_t n = strlen(path);
  if (n >= sizeof p) return;
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char c = p[i];
    p[i] = 0;
    ::mkdir(p, 0755);
    p[i] = c;
  }
}

bool mount_step(int i) {
  const MountStep& s = kSteps[i];
  if (is_mounted(s.target)) {
    OX_DEBUG("vm: %s already mounted", s.target);
    return false;
  }
  ::mkdir(s.target, 0755);
  if (::mount(s.fstype, s.target, s.fstype, s.flags, s.data) < 0) {
    log_err(Level::Warn, 0, "unable to mount %s on %s", s.fstype, s.target);
    return false;
  }
  g_mounted[i] = true;
  return true;
}

// "3b8a0a9e-6a3c-..." (any case) equals the 16 bytes of a superblock's s_uuid.
bool uuid_equals(const unsigned char* u, std::string_view text) {
  size_t k = 0;
  for (char c : text) {
    if (c == '-') continue;
    unsigned v = static_cast<unsigned>(c - '0');
    if (v > 9) v = static_cast<unsigned>((c | 0x20) - 'a') + 10;
    if (v > 15 || k >= 32 || ((u[k / 2] >> (k % 2 ? 0 : 4)) & 15u) != v) return false;
    k++;
  }
  return k == 32;
}

// spec when it names a block device; for UUID= and LABEL=, the one of
// /sys/class/block whose ext superblock matches; "" when there is none.
// Whether dev is a block device and, for UUID= and LABEL=, has spec's ext
// superblock. Not inlined: one copy for both paths of look_for_device().
[[gnu::noinline]] bool device_matches(const char* dev, std::string_view spec) {
  UniqueFd fd(::open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st;
  unsigned char sb[1024];
  return fd.valid() && ::fstat(fd.get(), &st) == 0 && S_ISBLK(st.st_mode) &&
         (spec[0] == '/' || (::pread(fd.get(), sb, sizeof sb, 1024) == sizeof sb && ext_matches(sb, spec)));
}

Str look_for_device(std::string_view spec) {
  char dev[300];
  format(dev, sizeof dev, "%.*s", static_cast<int>(spec.size()), spec.data());
  if (spec[0] == '/') return device_matches(dev, spec) ? dev : "";
  dev[0] = 0;
  DIR* d = ::opendir("/sys/class/block");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] == '.') continue;
    format(dev, sizeof dev, "/dev/%s", e->d_name);
    if (device_matches(dev, spec)) break;
    dev[0] = 0;
  }
  if (d) ::closedir(d);
  return dev;
}

bool is_device_spec(std::string_view s) {
  return has_prefix(s, "/dev/") || has_prefix(s, "UUID=") || has_prefix(s, "LABEL=");
}

void undo(const char* target, bool warn) {
  if (::umount2(target, 0) == 0) return;
  int e = errno;
  // A busy mount (oxinit's console keeps /dev busy, its binary keeps /) is
  // made read-only instead: what matters before the power goes.
  if (::mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY, nullptr) < 0 && warn)
    log_err(Level::Warn, 0, "unable to unmount %s (%s) or remount it read-only", target, strerror(e));
}

}  // namespace

Str unescape_octal(std::string_view s) {
  Str out;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      c = static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    }
    out += c;
  }
  return out;
}

bool ext_matches(const unsigned char* sb, std::string_view spec) {
  // Documentation/filesystems/ext4/super.rst: s_magic 0xEF53 at 0x38,
  // s_uuid[16] at 0x68, s_volume_name[16] at 0x78.
  if (sb[0x38] != 0x53 || sb[0x39] != 0xEF) return false;
  if (has_prefix(spec, "UUID=")) return uuid_equals(sb + 0x68, spec.substr(5));
  if (!has_prefix(spec, "LABEL=")) return false;
  const char* label = reinterpret_cast<const char*>(sb + 0x78);
  return std::string_view(label, strnlen(label, 16)) == spec.substr(6);
}

void mount_options(std::string_view opts, unsigned long& flags, Str& data) {
  // mount(8)'s filesystem-independent options ("rw" clears "ro"); the rest
  // go to the filesystem.
  static constexpr char kNames[] =
      "ro\0rw\0nosuid\0nodev\0noexec\0sync\0noatime\0nodiratime\0relatime\0strictatime\0lazytime\0dirsync\0bind\0"
      "rbind\0defaults";
  static constexpr unsigned kFlags[] = {MS_RDONLY, MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS,
                                        MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME,
                                        MS_DIRSYNC, MS_BIND, MS_BIND | MS_REC, 0};
  while (!opts.empty()) {
    size_t comma = opts.find(',');
    std::string_view o = opts.substr(0, comma);
    opts.remove_prefix(comma == std::string_view::npos ? opts.size() : comma + 1);
    size_t k = 0;
    for (const char* n = kNames; k < sizeof kFlags / sizeof kFlags[0] && o != n; n += strlen(n) + 1) k++;
    if (k == 1) {
      flags &= ~static_cast<unsigned long>(MS_RDONLY);
    } else if (k < sizeof kFlags / sizeof kFlags[0]) {
      flags |= kFlags[k];
    } else if (!o.empty()) {
      if (!data.empty()) data += ',';
      data += o;
    }
  }
}

void note_proc_mounted(bool mounted) { g_mounted[0] = mounted; }

void mount_api(bool cgroup) {
  for (int i = 0; i < kNumSteps; i++) {
    if (i == kCgroupStep && !cgroup) continue;
    if (!g_mounted[i]) mount_step(i);
  }
}

Str find_device(std::string_view spec, Millis wait_ms) {
  // The socket first, then the look: a device that appears in between is
  // still announced.
  UniqueFd ue = uevent_socket();
  Millis deadline = now_ms() + wait_ms;
  Str dev = look_for_device(spec);
  while (dev.empty() && ue.valid()) {
    Millis left = deadline - now_ms();
    pollfd p{ue.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) < 0) break;
    char msg[2048];
    long n;
    bool block = false;
    while ((n = uevent_read(ue.get(), msg, sizeof msg)) != 0)
      block = block || n < 0 || uevent_get(std::string_view(msg, static_cast<size_t>(n)), "SUBSYSTEM") == "block";
    if (block) dev = look_for_device(spec);
  }
  return dev;
}

int mount_one(std::string_view source, const char* target, const char* type, std::string_view options,
              Millis wait_ms, const char** what) {
  unsigned long flags = 0;
  Str data;
  mount_options(options, flags, data);
  Str src = source;
  if (is_device_spec(source)) {
    src = find_device(source, wait_ms);
    if (src.empty()) {
      *what = "no such device";
      return ENODEV;
    }
  }
  make_dirs(target);
  *what = "mount";
  if (::mount(src.c_str(), target, type, flags, data.empty() ? nullptr : data.c_str()) < 0) return errno;
  return 0;
}

void mount_configured(const InitSpec& init) {
  const char* what = "";
  if (init.boot.tmp == TmpMode::Tmpfs && !is_mounted("/tmp")) {
    if (int e = mount_one("tmpfs", "/tmp", "tmpfs", "nosuid,nodev,mode=1777", 0, &what))
      log_err(Level::Warn, e, "unable to mount tmpfs on /tmp");
  }
  for (const MountSpec& m : init.boot.mounts) {
    // A disk listed with its module may still be probing: wait a little.
    if (int e = mount_one(m.source, m.target.c_str(), m.type.c_str(), m.options, 5000, &what))
      log_err(Level::Warn, e, "mount.%s: unable to mount %s on %s: %s", m.name.c_str(), m.source.c_str(),
              m.target.c_str(), what);
  }
}

void unmount_all(bool whole_machine) {
  if (!whole_machine) {
    for (int i = kNumSteps - 1; i >= 0; i--)
      if (g_mounted[i]) undo(kSteps[i].target, false);
    return;
  }
  // A swap file keeps its filesystem busy: it could not be made read-only.
  {
    LineReader r("/proc/swaps");
    std::string_view line;
    for (bool header = true; r.next(line); header = false) {
      Str path = unescape_octal(next_word(line));
      if (!header && ::swapoff(path.c_str()) < 0)
        log_err(Level::Warn, 0, "unable to turn off swap %s", path.c_str());
    }
  }
  std::vector<Str> points = mount_points();
  // Reverse mount order: children first. A second pass gets what only its
  // children kept busy; what stays is remounted read-only.
  for (int pass = 0; pass < 3; pass++) {
    for (size_t i = points.size(); i-- > 0;) {
      if (points[i].empty()) continue;
      if (pass == 2) undo(points[i].c_str(), true);
      else if (::umount2(points[i].c_str(), 0) == 0) points[i].clear();
    }
  }
}

}  // namespace oxinit::vm
