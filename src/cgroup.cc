#include "cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

#include "sys/eintr.h"
#include "sys/format.h"
#include "sys/str.h"

namespace oxinit {

namespace {

constexpr unsigned long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC, linux/magic.h
constexpr char kRoot[] = "/sys/fs/cgroup";
// oxinit's own leaf (and the main command's): a name no service can have.
constexpr char kLeaf[] = "init.scope";

struct Controller {
  char name[7];
  unsigned bit;
};
constexpr Controller kControllers[] = {{"memory", kCgMemory}, {"cpu", kCgCpu}, {"io", kCgIo}, {"pids", kCgPids}};

// "NAME/FILE" into buf.
const char* at(char (&buf)[128], std::string_view name, const char* file) {
  format(buf, sizeof buf, "%.*s/%s", static_cast<int>(name.size()), name.data(), file);
  return buf;
}

// One write of text to dir/path: 0, or the errno (the kernel answers a
// cgroup file's write as a whole).
int write_at(int dir, const char* path, std::string_view text) {
  UniqueFd fd(retry_eintr([&] { return openat(dir, path, O_WRONLY | O_CLOEXEC); }));
  if (!fd.valid()) return errno;
  if (retry_eintr([&] { return write(fd.get(), text.data(), text.size()); }) < 0) return errno;
  return 0;
}

// The number after "key " at the start of a line of dir/path (cgroup.events,
// memory.events); false when the file or the key is not there.
bool read_key(int dir, const char* path, std::string_view key, uint64_t& out) {
  UniqueFd fd(retry_eintr([&] { return openat(dir, path, O_RDONLY | O_CLOEXEC); }));
  char buf[512];
  ssize_t n = fd.valid() ? retry_eintr([&] { return read(fd.get(), buf, sizeof buf); }) : -1;
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ')
      return parse_uint(line.substr(key.size() + 1), ~uint64_t{0}, out);
  }
  return false;
}

}  // namespace

const char* format_size(char* buf, size_t cap, uint64_t bytes) {
  static constexpr char kUnits[] = "KMGT";
  int u = 0;
  while (u < 4 && bytes && (bytes & 1023) == 0) {
    bytes >>= 10;
    u++;
  }
  format(buf, cap, "%llu%.*s", static_cast<unsigned long long>(bytes), u ? 1 : 0, kUnits + (u ? u - 1 : 0));
  return buf;
}

unsigned Cgroups::needs(const ServiceSpec& s) {
  unsigned b = 0;
  if (s.memory_max != kNoLimit || s.memory_high != kNoLimit || s.memory_swap_max != kNoLimit) b |= kCgMemory;
  if (s.cpu_quota || s.cpu_weight != kUnset) b |= kCgCpu;
  if (s.io_weight != kUnset) b |= kCgIo;
  if (s.pids_max != kUnset) b |= kCgPids;
  return b;
}

const char* Cgroups::controller_name(unsigned bits) {
  for (const Controller& c : kControllers) {
    if (bits & c.bit) return c.name;
  }
  return "?";
}

Result<void> Cgroups::setup(unsigned want) {
  struct statfs st;
  if (statfs(kRoot, &st) < 0 || static_cast<unsigned long>(st.f_type) != kCgroup2Magic)
    return Error{0, "/sys/fs/cgroup is not a cgroup2 mount"};
  // The v2 line of /proc/self/cgroup is "0::/PATH" (cgroups(7)), relative to
  // the cgroup namespace's root, which is the mount's root in a container
  // with a private cgroup namespace and in a VM.
  char buf[4096];
  ssize_t n = 0;
  if (UniqueFd fd(open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC)); fd.valid())
    n = retry_eintr([&] { return read(fd.get(), buf, sizeof buf - 1); });
  buf[n > 0 ? n : 0] = 0;
  const char* line = buf;
  while (line && strncmp(line, "0::/", 4) != 0) {
    line = strchr(line, '\n');
    if (line) line++;
  }
  if (!line) return Error{0, "no cgroup v2 line in /proc/self/cgroup"};
  Str path = kRoot;
  path += std::string_view(line + 3, strcspn(line + 3, "\n"));
  UniqueFd base(open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!base.valid()) return errno_error("unable to open oxinit's cgroup under /sys/fs/cgroup");
  // cgroup v2's "no internal processes" rule: a group that gives its
  // children controllers holds no process itself, so oxinit leaves first.
  // Writing 0 moves the writer.
  if (mkdirat(base.get(), kLeaf, 0755) < 0 && errno != EEXIST) return errno_error("unable to create init.scope");
  if (int e = write_at(base.get(), "init.scope/cgroup.procs", "0")) return Error{e, "unable to move into init.scope"};
  // One controller at a time: one the group does not offer (or cannot give
  // away, EBUSY) leaves the others enabled.
  for (const Controller& c : kControllers) {
    char plus[8] = "+";
    strcpy(plus + 1, c.name);
    if ((want & c.bit) && write_at(base.get(), "cgroup.subtree_control", plus) == 0) enabled_ |= c.bit;
  }
  base_ = std::move(base);
  return {};
}

Result<UniqueFd> Cgroups::prepare(const ServiceSpec& s) {
  const char* name = s.name.c_str();
  if (mkdirat(base_.get(), name, 0755) < 0 && errno != EEXIST) return errno_error("cgroup mkdir");
  UniqueFd dir(openat(base_.get(), name, O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!dir.valid()) return errno_error("cgroup open");
  // Written at every start: the kernel keeps them, but the group may have
  // been made by someone else (or by an earlier oxinit) with other values.
  const char* bad = nullptr;
  int err = 0;
  auto put = [&](const char* file, std::string_view prefix, uint64_t v, uint64_t v2 = 0) {
    char text[64];
    size_t k = prefix.copy(text, 16);
    k += format_int(text + k, static_cast<int64_t>(v));
    if (v2) {
      text[k++] = ' ';
      k += format_int(text + k, static_cast<int64_t>(v2));
    }
    if (!bad && (err = write_at(dir.get(), file, std::string_view(text, k))) != 0) bad = file;
  };
  if (s.memory_max != kNoLimit) put("memory.max", "", s.memory_max);
  if (s.memory_high != kNoLimit) put("memory.high", "", s.memory_high);
  if (s.memory_swap_max != kNoLimit) put("memory.swap.max", "", s.memory_swap_max);
  if (s.cpu_quota) put("cpu.max", "", s.cpu_quota, s.cpu_period);
  if (s.cpu_weight != kUnset) put("cpu.weight", "", static_cast<uint64_t>(s.cpu_weight));
  if (s.io_weight != kUnset) put("io.weight", "default ", static_cast<uint64_t>(s.io_weight));
  if (s.pids_max != kUnset) put("pids.max", "", static_cast<uint64_t>(s.pids_max));
  if (bad) return Error{err, bad};
  return dir;
}

bool Cgroups::signal(std::string_view name, int sig) {
  char p[128];
  UniqueFd fd(openat(base_.get(), at(p, name, "cgroup.procs"), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  // A pid per line; a fork bomb may list thousands, so read in pieces.
  char buf[1024];
  size_t have = 0;
  for (;;) {
    ssize_t n = retry_eintr([&] { return read(fd.get(), buf + have, sizeof buf - have); });
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    size_t start = 0;
    for (size_t k = 0; k < have; k++) {
      if (buf[k] != '\n') continue;
      uint64_t pid = 0;
      if (parse_uint(std::string_view(buf + start, k - start), 0x7fffffff, pid) && pid > 0)
        ::kill(static_cast<pid_t>(pid), sig);
      start = k + 1;
    }
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == sizeof buf) have = 0;  // not a pid list
  }
  return true;
}

bool Cgroups::kill(std::string_view name) {
  char p[128];
  int e = write_at(base_.get(), at(p, name, "cgroup.kill"), "1");
  if (e != ENOENT) return e == 0;
  // Before Linux 5.14: frozen, nothing in the group can fork while the
  // pids are read; SIGKILL still ends frozen processes.
  write_at(base_.get(), at(p, name, "cgroup.freeze"), "1");
  bool ok = signal(name, SIGKILL);
  write_at(base_.get(), at(p, name, "cgroup.freeze"), "0");
  return ok;
}

int Cgroups::populated(std::string_view name) {
  char p[128];
  uint64_t v = 0;
  return read_key(base_.get(), at(p, name, "cgroup.events"), "populated", v) ? v != 0 : -1;
}

uint64_t Cgroups::oom_kills(std::string_view name) {
  char p[128];
  uint64_t v = 0;
  return read_key(base_.get(), at(p, name, "memory.events"), "oom_kill", v) ? v : 0;
}

void Cgroups::remove(std::string_view name) {
  char p[128];
  format(p, sizeof p, "%.*s", static_cast<int>(name.size()), name.data());
  unlinkat(base_.get(), p, AT_REMOVEDIR);
}

}  // namespace oxinit
