#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstddef>
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
  char plus_name[8];  // as cgroup.subtree_control takes it
  unsigned bit;
};
constexpr Controller kControllers[] = {{"+memory", kCgMemory}, {"+cpu", kCgCpu}, {"+io", kCgIo}, {"+pids", kCgPids}};

// The limit keys and their files; a field at its "not set" value is skipped.
enum LimitKind : uint8_t { kSize, kInt, kWeight, kQuota };
struct LimitFile {
  char file[16];
  uint8_t kind;
  uint16_t offset;  // into ServiceSpec
};
#define L(file, kind, field) {file, kind, offsetof(ServiceSpec, field)}
constexpr LimitFile kLimitFiles[] = {
    L("memory.max", kSize, memory_max),      L("memory.high", kSize, memory_high),
    L("memory.swap.max", kSize, memory_swap_max), L("cpu.max", kQuota, cpu_quota),
    L("cpu.weight", kInt, cpu_weight),        L("io.weight", kWeight, io_weight),
    L("pids.max", kInt, pids_max),
};
#undef L

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

// The number after `key` ("\noom_kill ": at the start of a line) in
// dir/path (cgroup.events, memory.events); false when either is missing.
bool read_key(int dir, const char* path, const char* key, uint64_t& out) {
  UniqueFd fd(retry_eintr([&] { return openat(dir, path, O_RDONLY | O_CLOEXEC); }));
  char buf[512] = "\n";
  ssize_t n = fd.valid() ? retry_eintr([&] { return read(fd.get(), buf + 1, sizeof buf - 2); }) : -1;
  buf[n > 0 ? n + 1 : 1] = 0;
  std::string_view text(buf), k(key);
  size_t where = text.find(k);  // not strstr: musl's two-way search is 1 KB of code
  if (where == std::string_view::npos) return false;
  text.remove_prefix(where + k.size());
  return parse_uint(text.substr(0, text.find('\n')), ~uint64_t{0}, out);
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
    if (bits & c.bit) return c.plus_name + 1;
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
  char buf[4096] = "\n";
  ssize_t n = 0;
  if (UniqueFd fd(open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC)); fd.valid())
    n = retry_eintr([&] { return read(fd.get(), buf + 1, sizeof buf - 1); });
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) + 1 : 1);
  size_t at = text.find("\n0::/");
  if (at == std::string_view::npos) return Error{0, "no cgroup v2 line in /proc/self/cgroup"};
  text.remove_prefix(at + 4);
  Str path = kRoot;
  path += text.substr(0, text.find('\n'));
  UniqueFd base(open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!base.valid()) return errno_error("unable to open oxinit's cgroup under /sys/fs/cgroup");
  // cgroup v2's "no internal processes" rule: a group that gives its
  // children controllers holds no process itself, so oxinit leaves first.
  // Writing 0 moves the writer.
  if (mkdirat(base.get(), kLeaf, 0755) < 0 && errno != EEXIST) return errno_error("unable to create init.scope");
  if (int e = write_at(base.get(), "init.scope/cgroup.procs", "0")) return Error{e, "unable to move into init.scope"};
  base_ = std::move(base);
  enable(want);
  return {};
}

unsigned Cgroups::enable(unsigned want) {
  // One controller at a time: one the group does not offer (or cannot give
  // away, EBUSY) leaves the others enabled.
  for (const Controller& c : kControllers) {
    if ((want & c.bit & ~enabled_) && write_at(base_.get(), "cgroup.subtree_control", c.plus_name) == 0)
      enabled_ |= c.bit;
  }
  return enabled_;
}

Result<UniqueFd> Cgroups::prepare(const ServiceSpec& s) {
  // A reload may add limits the first setup had no reason to enable.
  if (unsigned want = needs(s); want & ~enable(want))
    return Error{EOPNOTSUPP, "a cgroup controller its limits need (memory, cpu, io, pids)"};
  const char* name = s.name.c_str();
  if (mkdirat(base_.get(), name, 0755) < 0 && errno != EEXIST) return errno_error("cgroup mkdir");
  UniqueFd dir(openat(base_.get(), name, O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!dir.valid()) return errno_error("cgroup open");
  // Written at every start: the kernel keeps them, but the group may have
  // been made by someone else (or by an earlier oxinit) with other values.
  for (const LimitFile& l : kLimitFiles) {
    const char* f = reinterpret_cast<const char*>(&s) + l.offset;
    uint64_t v = l.kind == kSize ? *reinterpret_cast<const uint64_t*>(f)
                 : l.kind == kQuota ? *reinterpret_cast<const uint32_t*>(f)
                                    : static_cast<uint64_t>(*reinterpret_cast<const int*>(f));
    if (l.kind == kSize ? v == kNoLimit : l.kind == kQuota ? v == 0 : v == static_cast<uint64_t>(kUnset)) continue;
    char text[48];
    size_t k = 0;
    if (l.kind == kWeight) k = format(text, sizeof text, "default ");
    k += format_int(text + k, static_cast<int64_t>(v));
    if (l.kind == kQuota) k += format(text + k, sizeof text - k, " %u", s.cpu_period);
    if (int e = write_at(dir.get(), l.file, std::string_view(text, k))) return Error{e, l.file};
  }
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
  if (write_at(base_.get(), at(p, name, "cgroup.kill"), "1") == 0) return true;
  // Before Linux 5.14 (no cgroup.kill): freeze the group (5.2) so that
  // nothing in it forks while its list is read, SIGKILL each process (a
  // fatal signal still ends a frozen task, cgroup-v2.rst "Core Interface
  // Files"), a second pass for a child whose fork was under way, then thaw,
  // or the next start in this group would be born frozen.
  bool frozen = write_at(base_.get(), at(p, name, "cgroup.freeze"), "1") == 0;
  bool ok = signal(name, SIGKILL) && signal(name, SIGKILL);
  if (frozen) write_at(base_.get(), at(p, name, "cgroup.freeze"), "0");
  return ok;
}

int Cgroups::populated(std::string_view name) {
  char p[128];
  uint64_t v = 0;
  return read_key(base_.get(), at(p, name, "cgroup.events"), "\npopulated ", v) ? v != 0 : -1;
}

uint64_t Cgroups::oom_kills(std::string_view name) const {
  uint64_t v = 0;
  return number(name, "memory.events", "\noom_kill ", v) ? v : 0;
}

bool Cgroups::number(std::string_view name, const char* file, const char* key, uint64_t& out) const {
  char p[128];
  return read_key(base_.get(), at(p, name, file), key, out);
}

}  // namespace oxinit
