#include "config/schema.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "cli.h"
#include "config/toml.h"
#include "signals.h"
#include "sys/alloc.h"
#include "sys/format.h"
#include "sys/text.h"
#include "vm/net.h"

namespace oxinit {

namespace {

using toml::Member;
using toml::Type;
using toml::Value;

constexpr Millis kMaxSeconds = kMaxDuration / 1000;
static_assert(kMaxSeconds == 1000000000, "the duration message spells it out");
constexpr uint64_t kMaxCpu = 1024;  // CPU_SETSIZE; the cpu_affinity message spells it out

// Lists of names (keys, choices, rlimits, capabilities) are packed in one
// string, "a\0b\0": the literal's own NUL ends the list. One shape, so
// lookups and suggestions are written once.
const char* next_name(const char* p) { return p + std::strlen(p) + 1; }

// s begins with p (string_view's substr is bounds-checked: more code; a
// string_view made from a literal is a call at every site).
[[gnu::noinline]] bool starts(std::string_view s, const char* p) {
  size_t n = std::strlen(p);
  return s.size() >= n && std::memcmp(s.data(), p, n) == 0;
}

// Index of word in names, or -1.
int index_of(std::string_view word, const char* names) {
  for (int k = 0; *names; k++, names = next_name(names)) {
    if (word == names) return k;
  }
  return -1;
}

// "; did you mean 'x'?" when one of names is close enough to word to be a
// likely typo, else "".
Str did_you_mean(std::string_view word, const char* names) {
  Suggestion s{word};
  for (; *names; names = next_name(names)) s.consider(names);
  return s.text();
}

consteval int count(const char* names) {
  int n = 0;
  for (; *names; names += std::string_view(names).size() + 1) n++;
  return n;
}

// Choices, in the order messages list them; the index is the enum's value
// (restart is listed backwards).
constexpr const char* kChoices[] = {
    "simple\0oneshot\0",       "always\0on-failure\0never\0", "prefix\0inherit\0null\0", "auto\0on\0off\0",
    "poweroff\0reboot\0halt\0", "restart\0stop\0ignore\0",     "none\0tmpfs\0",            "text\0json\0",
};
enum Choice : uint8_t {
  kTypeChoice, kRestartChoice, kLogChoice, kVmChoice, kFinalChoice, kUnhealthyChoice, kTmpChoice, kFormatChoice,
};
static_assert(static_cast<int>(RestartPolicy::Always) == 2 && static_cast<int>(RestartPolicy::Never) == 0);
static_assert(static_cast<int>(VmMode::On) == 1 && static_cast<int>(VmMode::Off) == 2);
static_assert(static_cast<int>(OnUnhealthy::Stop) == 1 && static_cast<int>(OnUnhealthy::Ignore) == 2);
static_assert(static_cast<int>(LogMode::Null) == 2 && static_cast<int>(TmpMode::Tmpfs) == 1 &&
              static_cast<int>(FinalAction::Halt) == 2 && static_cast<int>(LogFormat::Json) == 1);
static_assert(sizeof(ServiceType) == sizeof(int) && sizeof(RestartPolicy) == sizeof(int) &&
              sizeof(LogMode) == sizeof(int) && sizeof(VmMode) == sizeof(int) &&
              sizeof(FinalAction) == sizeof(int) && sizeof(OnUnhealthy) == sizeof(int) &&
              sizeof(TmpMode) == sizeof(int) && sizeof(LogFormat) == sizeof(int));

constexpr char kRootKeys[] = "init\0service\0mount\0";
constexpr char kNetworkKeys[] = "interface\0address\0gateway\0dns\0";
constexpr char kMountKeys[] = "source\0target\0type\0options\0";

constexpr char kLimitNames[] =
    "as\0core\0cpu\0data\0fsize\0locks\0memlock\0msgqueue\0nice\0nofile\0nproc\0rss\0rtprio\0rttime\0sigpending\0"
    "stack\0";
constexpr uint8_t kLimitIds[] = {
    RLIMIT_AS,    RLIMIT_CORE,  RLIMIT_CPU, RLIMIT_DATA,   RLIMIT_FSIZE,  RLIMIT_LOCKS,      RLIMIT_MEMLOCK,
    RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME,
    RLIMIT_SIGPENDING, RLIMIT_STACK,
};
static_assert(count(kLimitNames) == sizeof kLimitIds);

// capabilities(7) without their CAP_, by number (CAP_CHOWN is 0).
constexpr char kCapNames[] =
    "CHOWN\0DAC_OVERRIDE\0DAC_READ_SEARCH\0FOWNER\0FSETID\0KILL\0SETGID\0SETUID\0SETPCAP\0"
    "LINUX_IMMUTABLE\0NET_BIND_SERVICE\0NET_BROADCAST\0NET_ADMIN\0NET_RAW\0IPC_LOCK\0IPC_OWNER\0"
    "SYS_MODULE\0SYS_RAWIO\0SYS_CHROOT\0SYS_PTRACE\0SYS_PACCT\0SYS_ADMIN\0SYS_BOOT\0SYS_NICE\0"
    "SYS_RESOURCE\0SYS_TIME\0SYS_TTY_CONFIG\0MKNOD\0LEASE\0AUDIT_WRITE\0AUDIT_CONTROL\0SETFCAP\0"
    "MAC_OVERRIDE\0MAC_ADMIN\0SYSLOG\0WAKE_ALARM\0BLOCK_SUSPEND\0AUDIT_READ\0PERFMON\0BPF\0"
    "CHECKPOINT_RESTORE\0";

// ready = / health = by kind: ProbeSpec::Kind is the index.
constexpr char kProbeNames[] = "none\0started\0notify\0fd\0tcp\0http\0exec\0file\0";
static_assert(ProbeSpec::Started == 1 && ProbeSpec::Notify == 2 && ProbeSpec::Fd == 3 && ProbeSpec::Tcp == 4 &&
              ProbeSpec::Http == 5 && ProbeSpec::Exec == 6 && ProbeSpec::File == 7);

// Integer keys and their ranges (Key::choice indexes this for kInt).
struct Range {
  int32_t lo;
  uint32_t hi;
};
constexpr Range kRanges[] = {{-1000, 1000}, {-20, 19}, {1, 10000}, {1, 4194304},
                             {1, 1000},     {0, 1000}, {-1, 1000000}, {0, 0xfffffffe}};
enum : uint8_t { kOomRange, kNiceRange, kWeightRange, kPidsRange, kCountRange, kKeepRange, kRestartsRange, kIdRange };

// How a key's value is checked, and where it goes: an offset into the
// ServiceSpec or InitSpec being filled. One table instead of code per key;
// the names are packed apart (kServiceNames), in the same order.
enum Kind : uint8_t {
  kDuration, kTimeout, kLimitDuration, kBool, kChoice, kVm, kLog, kSignal, kSignalOrNone, kSocket, kPath,
  kHostname, kCommand, kAfter, kMaxRestarts, kInt, kId, kEnv, kUmask, kRlimits, kReady, kHealth, kCaps, kCpus,
  kSize, kCpuMax, kStrings, kNetwork, kSysctl,
};
struct Key {
  uint8_t kind;
  uint8_t choice;  // kChoice, kVm, kLog: kChoices index; kInt, kMaxRestarts: kRanges index; kSize: nonzero caps at 1G
  uint16_t offset;
};
static_assert(std::is_standard_layout_v<ServiceSpec> && std::is_standard_layout_v<InitSpec>);

#define SERVICE_KEYS(X)                                    \
  X("type", kChoice, kTypeChoice, type)                    \
  X("command", kCommand, 0, argv)                          \
  X("after", kAfter, 0, after)                             \
  X("restart", kChoice, kRestartChoice, restart)           \
  X("restart_delay", kDuration, 0, restart_delay)          \
  X("restart_delay_max", kDuration, 0, restart_delay_max)  \
  X("max_restarts", kMaxRestarts, kRestartsRange, max_restarts) \
  X("restart_window", kDuration, 0, restart_window)        \
  X("stop_signal", kSignal, 0, stop_signal)                \
  X("stop_timeout", kDuration, 0, stop_timeout)            \
  X("critical", kBool, 0, critical)                        \
  X("user", kId, 0, uid)                                   \
  X("group", kId, 0, gid)                                  \
  X("workdir", kPath, 0, workdir)                          \
  X("env", kEnv, 0, env)                                   \
  X("env_file", kPath, 0, env_file)                        \
  X("umask", kUmask, 0, umask)                             \
  X("rlimits", kRlimits, 0, rlimits)                       \
  X("log", kLog, kLogChoice, log)                          \
  X("log_max_size", kSize, 0, log_max_size)                \
  X("log_keep", kInt, kKeepRange, log_keep)                \
  X("enabled", kBool, 0, enabled)                          \
  X("instances", kInt, kCountRange, instances)             \
  X("reload_signal", kSignalOrNone, 0, reload_signal)      \
  X("ready", kReady, 0, ready)                             \
  X("ready_timeout", kTimeout, 0, ready_timeout)           \
  X("health", kHealth, 0, health)                          \
  X("health_interval", kTimeout, 0, health_interval)       \
  X("health_timeout", kTimeout, 0, health_timeout)         \
  X("health_retries", kInt, kCountRange, health_retries)   \
  X("health_start_period", kDuration, 0, health_start_period) \
  X("on_unhealthy", kChoice, kUnhealthyChoice, on_unhealthy) \
  X("watchdog", kDuration, 0, watchdog)                    \
  X("no_new_privs", kBool, 0, no_new_privs)                \
  X("capabilities", kCaps, 0, caps)                        \
  X("oom_score_adj", kInt, kOomRange, oom_score_adj)       \
  X("nice", kInt, kNiceRange, nice)                        \
  X("cpu_affinity", kCpus, 0, cpus)                        \
  X("memory_max", kSize, 2, memory_max)                    \
  X("memory_high", kSize, 2, memory_high)                  \
  X("memory_swap_max", kSize, 2, memory_swap_max)          \
  X("cpu_max", kCpuMax, 0, cpu_quota)                      \
  X("cpu_weight", kInt, kWeightRange, cpu_weight)          \
  X("io_weight", kInt, kWeightRange, io_weight)            \
  X("pids_max", kInt, kPidsRange, pids_max)
#define INIT_KEYS(X)                                       \
  X("shutdown_timeout", kDuration, 0, shutdown_timeout)    \
  X("shutdown_limit", kLimitDuration, 0, shutdown_limit)   \
  X("log_timestamps", kBool, 0, log_timestamps)            \
  X("vm", kVm, kVmChoice, vm)                              \
  X("final_action", kChoice, kFinalChoice, final_action)   \
  X("hostname", kHostname, 0, hostname)                    \
  X("mount_cgroup", kBool, 0, mount_cgroup)                \
  X("cgroups", kVm, kVmChoice, cgroups)                    \
  X("modules", kStrings, 0, boot.modules)                  \
  X("network", kNetwork, 0, boot.network)                  \
  X("sysctl", kSysctl, 0, boot.sysctl)                     \
  X("tmp", kChoice, kTmpChoice, boot.tmp)                  \
  X("random_seed", kPath, 0, boot.random_seed)             \
  X("random_seed_credit", kBool, 0, boot.random_seed_credit) \
  X("control_socket", kSocket, 0, control_socket)          \
  X("log_format", kChoice, kFormatChoice, log_format)      \
  X("log_buffer", kSize, 1, log_buffer)
#define NAME(name, kind, choice, field) name "\0"
#define SERVICE_KEY(name, kind, choice, field) {kind, choice, offsetof(ServiceSpec, field)},
#define INIT_KEY(name, kind, choice, field) {kind, choice, offsetof(InitSpec, field)},
constexpr char kServiceNames[] = SERVICE_KEYS(NAME);
constexpr Key kServiceKeys[] = {SERVICE_KEYS(SERVICE_KEY)};
constexpr char kInitNames[] = INIT_KEYS(NAME);
constexpr Key kInitKeys[] = {INIT_KEYS(INIT_KEY)};
#undef NAME
#undef SERVICE_KEY
#undef INIT_KEY
#undef SERVICE_KEYS
#undef INIT_KEYS

// The index of a key the code checks after the loop, derived from the table:
// a name that is not there stops the build (key_not_found is not constexpr).
inline void key_not_found() {}
consteval int key(const char* names, std::string_view name) {
  for (int k = 0; *names; k++, names += std::string_view(names).size() + 1) {
    if (std::string_view(names) == name) return k;
  }
  key_not_found();
  return -1;
}
constexpr int kNumServiceKeys = sizeof kServiceKeys / sizeof kServiceKeys[0];
static_assert(count(kServiceNames) == kNumServiceKeys);
constexpr int kAfterKey = key(kServiceNames, "after");
constexpr int kRestartKey = key(kServiceNames, "restart");
constexpr int kUserKey = key(kServiceNames, "user");
constexpr int kGroupKey = key(kServiceNames, "group");
constexpr int kReadyKey = key(kServiceNames, "ready");
constexpr int kHealthKey = key(kServiceNames, "health");
constexpr int kWatchdogKey = key(kServiceNames, "watchdog");

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// RFC 4291 text form into a[0..15]: up to 8 groups of 1-4 hex digits, one
// "::" for a run of zero groups (the dotted-quad tail is not accepted).
bool parse_ipv6(std::string_view s, uint8_t* a) {
  uint16_t w[8] = {};
  int n = 0, gap = -1;
  size_t i = 0;
  if (starts(s, "::")) {
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    size_t j = i;
    unsigned v = 0;
    while (j < s.size() && j - i < 4 && hex_digit(s[j]) >= 0) v = v * 16 + static_cast<unsigned>(hex_digit(s[j++]));
    if (j == i || n == 8) return false;
    w[n++] = static_cast<uint16_t>(v);
    if (j == s.size()) break;
    if (s[j++] != ':' || j == s.size()) return false;
    if (s[j] == ':') {
      if (gap >= 0) return false;
      gap = n;
      j++;
    }
    i = j;
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  for (int k = 0; k < 16; k++) a[k] = 0;
  for (int k = 0; k < n; k++) {
    auto at = static_cast<size_t>(gap >= 0 && k >= gap ? k + 8 - n : k);
    a[2 * at] = static_cast<uint8_t>(w[k] >> 8);
    a[2 * at + 1] = static_cast<uint8_t>(w[k]);
  }
  return true;
}

// "256M", "1G", "512MiB", "1.5G", "4096": K, M, G and T are powers of 1024
// (a fraction only with a unit, rounded down to a byte, as systemd does).
bool parse_size(std::string_view t, uint64_t& out) {
  size_t k = 0;
  while (k < t.size() && t[k] >= '0' && t[k] <= '9') k++;
  size_t dot = k;
  uint64_t frac = 0, scale = 1;
  if (k < t.size() && t[k] == '.') {
    while (++k < t.size() && t[k] >= '0' && t[k] <= '9' && scale < 1000000000) {
      frac = frac * 10 + static_cast<uint64_t>(t[k] - '0');
      scale *= 10;
    }
    if (scale == 1 || k == t.size() || (t[k] >= '0' && t[k] <= '9')) return false;  // "1.", "1.5", too many digits
  }
  std::string_view unit = t.substr(k);
  int shift = 0;
  if (!unit.empty()) {
    static constexpr char kUnits[] = "KMGT";
    const char* u = std::strchr(kUnits, unit[0] & ~0x20);
    if (!u || !*u) return false;
    shift = 10 * static_cast<int>(u - kUnits + 1);
    unit.remove_prefix(1);
    if (unit.size() > 2 || std::memcmp(unit.data(), &"iB"[2 - unit.size()], unit.size()) != 0)
      return false;  // "", "B" or "iB": a suffix of "iB"
  }
  uint64_t n = 0;
  if (!parse_uint(t.substr(0, dot), ~uint64_t{0} >> shift, n)) return false;
  out = n << shift;
  // frac < scale <= 10^9 < 2^30: shifted by up to 30 it fits in 64 bits
  // (T loses less than 1K). part < 2^shift, which out's low bits leave free.
  int s1 = shift > 30 ? 30 : shift;
  out += (frac << s1) / scale << (shift - s1);
  return true;
}

// What a bad value was, for messages: a string or integer as written (quoted),
// else its type.
Str got(const Value& v) {
  return v.type == Type::String || v.type == Type::Integer ? quote(v.str) : Str(toml::type_name(v.type));
}

// s = v, written once (a Str from a string_view is a temporary, a move and
// a destructor at every call site).
[[gnu::noinline]] void put(Str& s, std::string_view v) { s = v; }

// v is the string word.
[[gnu::noinline]] bool is(const Value& v, const char* word) { return v.type == Type::String && v.str.view() == word; }

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

// Every message is a template with these codes (one error path instead of
// a printf per check): the key of the member at fault, the key quoted, the
// two texts given with it, the value as got() shows it, the value's type;
// three phrases that most messages share; and, for a list of names given
// as the first text, the names quoted ("a", "b" or "c") and a suggestion
// for the key or the (string) value.
#define KEY_ "\1"
#define QKEY_ "\2"
#define ARG1_ "\3"
#define ARG2_ "\4"
#define VAL_ "\5"
#define TYPE_ "\6"
#define EXPECTED_ "\7"  // ": expected "
#define GOT_ "\16"      // ", got " VAL_
#define GOT_TYPE_ "\17" // ", got " TYPE_
#define AT_KEY_ "\23"   // first: the position is the key's (fail)
#define NAMES_ "\20"
#define KEY_TYPO_ "\21"
#define VAL_TYPO_ "\22"

void expand(Str& out, const char* t, const Member& m, const Value& v, const char* const* args) {
  for (; *t; t++) {
    switch (*t) {
      case 1: out += m.key; break;
      case 2: out += quote(m.key); break;
      case 3:
      case 4:
        if (args[*t - 3]) out += args[*t - 3];
        break;
      case 5: out += got(v); break;
      case 6: out += toml::type_name(v.type); break;
      case 7: out += ": expected "; break;
      case 016: expand(out, ", got " VAL_, m, v, args); break;
      case 017: expand(out, ", got " TYPE_, m, v, args); break;
      case 020:
        for (const char* p = args[0]; *p;) {
          const char* q = next_name(p);
          if (p != args[0]) out += *q ? ", " : " or ";
          out += '"';
          out += p;
          out += '"';
          p = q;
        }
        break;
      case 021:
      case 022: out += did_you_mean(*t == 021 ? m.key.view() : v.str.view(), args[0]); break;
      default: out += *t;
    }
  }
}

class Schema {
 public:
  Schema(std::string_view file, ConfigError& err, UserDb& users)
      : file_(file), err_(err), users_(users) {}

  bool apply(const Value& root, Config& cfg) {
    earlier_ = cfg.services.size();
    for (const Member& m : root.members) {
      int k = pick(m, kRootKeys, nullptr);
      if (k < 0 || !expect(m, m.value, Type::Table, "a table")) return false;
      // One allocation for this file's services, not a doubling vector of
      // ~750-byte specs (a reload of 1,000 services spent a third of its
      // time moving them and faulting in fresh pages).
      if (k == 1) cfg.services.reserve(cfg.services.size() + m.value.members.size());
      for (const Member& e : m.value.members) {
        if (k == 0) {
          int i = pick(e, kInitNames, " in [init]");
          if (i < 0 || !set(e, kInitKeys[i], reinterpret_cast<char*>(&cfg.init))) return false;
        } else if (k == 2) {
          if (!mount(e, cfg.init)) return false;
        } else if (!service(e, cfg)) {
          return false;
        }
      }
    }
    return true;
  }

 private:
  std::string_view file_;
  size_t earlier_ = 0;  // services defined by earlier files: the only ones a name can repeat
  ConfigError& err_;
  UserDb& users_;
  char section_[80] = {};  // " in [service.web]", for messages

  // The one error path: msg (a template, see expand) about member m and its
  // value v (or an item of it), at p.
  [[gnu::cold, gnu::noinline]] bool fail_at(SrcPos p, const char* msg, const Member& m, const Value& v,
                                            const char* a, const char* b) {
    const char* args[] = {a, b};
    err_.message.clear();
    expand(err_.message, msg, m, v, args);
    err_.file = file_;
    err_.line = p.line;
    err_.col = p.col;
    return false;
  }

  // At v, or at m's key for a message that starts with AT_KEY_: the call
  // sites pass no position (and the common case no texts either).
  [[gnu::cold, gnu::noinline]] bool fail(const char* msg, const Member& m, const Value& v, const char* a,
                                         const char* b) {
    bool at_key = *msg == *AT_KEY_;
    return fail_at(at_key ? m.pos : v.pos, msg + at_key, m, v, a, b);
  }
  [[gnu::cold, gnu::noinline]] bool fail(const char* msg, const Member& m, const Value& v) {
    return fail(msg, m, v, nullptr, nullptr);
  }

  // Index of m's key in names, or -1 after reporting an unknown key.
  int pick(const Member& m, const char* names, const char* where) {
    int k = index_of(m.key, names);
    if (k < 0) fail(AT_KEY_ "unknown key " QKEY_ ARG2_ KEY_TYPO_, m, m.value, names, where);
    return k;
  }

  bool expect(const Member& m, const Value& v, Type t, const char* what) {
    if (v.type == t) return true;
    return fail(KEY_ EXPECTED_ ARG1_ GOT_TYPE_, m, v, what, nullptr);
  }

  // A non-empty string.
  bool text(const Member& m, const Value& v) {
    if (!expect(m, v, Type::String, "a string")) return false;
    if (v.str.empty()) return fail(KEY_ ": must not be empty", m, v);
    return true;
  }

  // A non-empty string that starts with /.
  bool path(const Member& m, const Value& v) {
    if (!text(m, v)) return false;
    if (v.str[0] != '/') return fail(KEY_ ": must be an absolute path" GOT_, m, v);
    return true;
  }

  // [service.NAME] or [mount.NAME]: a table with a valid name.
  bool entry(const Member& m, const char* what) {
    if (!valid_name(m.key))
      return fail(AT_KEY_ "invalid " ARG1_ " name " QKEY_ " (use 1 to 64 letters, digits, '_' or '-')", m, m.value,
                  what, nullptr);
    return expect(m, m.value, Type::Table, "a table");
  }

  // A string out of names; its index in out.
  bool choice(const Member& m, const char* names, bool backwards, void* out) {
    const Value& v = m.value;
    if (v.type == Type::String) {
      int k = index_of(v.str, names);
      if (k >= 0) {
        if (backwards) k = 2 - k;
        std::memcpy(out, &k, sizeof k);  // an enum with int as its underlying type
        return true;
      }
    }
    return fail(v.type == Type::String ? KEY_ EXPECTED_ NAMES_ GOT_ VAL_TYPO_ : KEY_ EXPECTED_ NAMES_ GOT_TYPE_, m, v,
                names, nullptr);
  }

  // An integer in kRanges[r], stored at out (an int) unless out is null.
  bool integer(const Member& m, uint8_t r, void* out) {
    const Value& v = m.value;
    if (!expect(m, v, Type::Integer, "an integer")) return false;
    Range g = kRanges[r];
    if (v.integer < g.lo || v.integer > g.hi) {
      char lo[24], hi[24];
      lo[format_int(lo, g.lo)] = 0;
      hi[format_int(hi, g.hi)] = 0;
      return fail(KEY_ ": must be between " ARG1_ " and " ARG2_, m, v, lo, hi);
    }
    int i = static_cast<int>(v.integer);
    if (out) std::memcpy(out, &i, sizeof i);
    return true;
  }

  // kTimeout: a wait that must end (0 would fail every run at once);
  // kLimitDuration: 0 means "computed by the engine", stored as -1.
  bool duration(const Member& m, Millis& out, uint8_t kind) {
    const Value& v = m.value;
    if (v.type == Type::Integer) {
      if (v.integer < 0 || v.integer > kMaxSeconds)
        return fail(KEY_ ": must be between 0 and 1000000000 seconds", m, v);
      out = v.integer * 1000;
    } else if (v.type != Type::String || !parse_duration(v.str, out)) {
      return fail(KEY_ EXPECTED_ "a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of seconds)" GOT_, m, v);
    }
    if (out == 0 && kind == kTimeout) return fail(KEY_ ": must be more than 0", m, v);
    if (out == 0 && kind == kLimitDuration) out = -1;
    return true;
  }

  bool signal(const Member& m, int& out, bool allow_none) {
    const Value& v = m.value;
    if (allow_none && (is(v, "none") || (v.type == Type::Integer && v.integer == 0))) {
      out = 0;
      return true;
    }
    if (v.type == Type::Integer && v.integer > 0 && v.integer < kMaxSignal) {
      out = static_cast<int>(v.integer);
      return true;
    }
    if (v.type == Type::String && (out = signal_by_name(v.str, true, true)) > 0) return true;
    return fail(KEY_ EXPECTED_ "a signal (\"SIGTERM\", \"TERM\" or 1 to 64" ARG1_ ")" GOT_, m, v,
                allow_none ? ", or \"none\"" : nullptr, nullptr);
  }

  // A string, or an array of strings (a list of one is the same as the
  // string): the n values at first.
  bool strings(const Member& m, const Value*& first, size_t& n) {
    const Value& v = m.value;
    first = &v;
    n = 1;
    if (v.type == Type::String) return true;
    if (!expect(m, v, Type::Array, "an array of strings")) return false;
    first = v.items.data();
    n = v.items.size();
    for (size_t k = 0; k < n; k++) {
      if (!expect(m, first[k], Type::String, "a string")) return false;
    }
    return true;
  }

  // Checks m's value as slot says and stores it at base + slot.offset.
  bool set(const Member& m, Key slot, char* base) {
    const Value& v = m.value;
    void* p = base + slot.offset;
    auto* s = reinterpret_cast<ServiceSpec*>(base);  // for the service-only kinds
    const Value* first = nullptr;
    size_t n = 0;
    switch (slot.kind) {
      case kDuration:
      case kTimeout:
      case kLimitDuration:
        return duration(m, *static_cast<Millis*>(p), slot.kind);
      case kBool:
        if (!expect(m, v, Type::Boolean, "true or false")) return false;
        *static_cast<bool*>(p) = v.boolean;
        return true;
      case kVm:
        if (v.type == Type::Boolean) {
          *static_cast<VmMode*>(p) = v.boolean ? VmMode::On : VmMode::Off;
          return true;
        }
        [[fallthrough]];
      case kLog:
        // log: "file:PATH", or one of the choices.
        if (slot.kind == kLog) {
          if (v.type == Type::String && starts(v.str, "file:")) {
            s->log = LogMode::File;
            put(s->log_file, v.str.view().substr(5));
            if (v.str[5] == '/') return true;
            return fail(KEY_ EXPECTED_ "\"file:/ABSOLUTE/PATH\"" GOT_, m, v);
          }
          s->log_file.clear();
        }
        [[fallthrough]];
      case kChoice:
        return choice(m, kChoices[slot.choice], slot.choice == kRestartChoice, p);
      case kSignal:
      case kSignalOrNone:
        return signal(m, *static_cast<int*>(p), slot.kind == kSignalOrNone);
      case kSocket:
        if (is(v, "none")) break;
        [[fallthrough]];
      case kPath:
        if (!path(m, v)) return false;
        break;
      case kHostname:
        if (!text(m, v)) return false;
        if (v.str.size() > 64) return fail(KEY_ ": longer than 64 characters", m, v);
        break;
      case kCommand:
        if (!strings(m, first, n)) return false;
        if (n == 0 || first[0].str.empty()) return fail(KEY_ ": empty command", m, v);
        s->argv.clear();
        // A shell command: /bin/sh -c first. (Every push_back here copies:
        // one growth path for vector<Str> instead of two.)
        for (const char* w = "/bin/sh\0-c\0"; v.type == Type::String && *w; w = next_name(w)) {
          Str t(w);
          s->argv.push_back(t);
        }
        for (size_t k = 0; k < n; k++) s->argv.push_back(first[k].str);
        return true;
      case kAfter:
        if (!strings(m, first, n)) return false;
        s->after.clear();
        s->after_pos = std::vector<SrcPos>(n);
        for (size_t k = 0; k < n; k++) {
          s->after.push_back(first[k].str);
          s->after_pos[k] = first[k].pos;
        }
        return true;
      case kMaxRestarts:
        if (is(v, "unlimited")) {
          s->max_restarts = -1;
          return true;
        }
        [[fallthrough]];
      case kInt:
        if (slot.choice == kPidsRange && is(v, "max")) {  // cgroup v2's word for none
          s->pids_max = kUnset;
          return true;
        }
        return integer(m, slot.choice, p);
      case kId:  // checked here, resolved in credentials()
        return v.type == Type::Integer ? integer(m, kIdRange, nullptr) : text(m, v);
      case kEnv:
      case kSysctl:
        return assignments(m, *static_cast<std::vector<Str>*>(p), slot.kind == kEnv);
      case kUmask:
        return umask(m, s->umask);
      case kRlimits:
        return rlimits(m, *s);
      case kReady:
      case kHealth:
        return probe(m, slot.kind == kReady, *static_cast<ProbeSpec*>(p));
      case kCaps:
        return caps(m, *s);
      case kCpus:
        return cpus(m, *s);
      case kSize: {
        // Bytes, or with K, M, G or T (powers of 1024). Choice 1 caps it at
        // 1G (log_buffer is a ring in memory per service); choice 2, a cgroup
        // limit, also takes "max" (cgroup v2's word, systemd's "infinity").
        uint64_t& out = *static_cast<uint64_t*>(p);
        bool ok = v.type == Type::Integer ? v.integer >= 0 && ((out = static_cast<uint64_t>(v.integer)), true)
                                          : v.type == Type::String && parse_size(v.str, out);
        if (!ok && slot.choice == 2 && (is(v, "max") || is(v, "infinity"))) {
          out = kNoLimit;
          return true;
        }
        if (ok && (slot.choice != 1 || out <= uint64_t{1} << 30)) return true;
        return fail(KEY_ EXPECTED_ "a size (\"512K\", \"256M\", \"1G\", \"1GiB\"" ARG1_ " or an integer of bytes" ARG2_ ")" GOT_,
                    m, v, slot.choice == 2 ? ", \"max\"" : nullptr, slot.choice == 1 ? "; at most 1G" : nullptr);
      }
      case kCpuMax:
        return cpu_max(m, *s);
      case kStrings: {  // [init] modules
        if (!strings(m, first, n)) return false;
        auto* out = static_cast<std::vector<Str>*>(p);
        for (size_t k = 0; k < n; k++) {
          if (first[k].str.empty()) return fail(KEY_ ": must not be empty", m, first[k]);
          out->push_back(first[k].str);
        }
        return true;
      }
      case kNetwork:
        return network(m, *static_cast<NetworkSpec*>(p));
    }
    // kSocket, kPath, kHostname: the string as written.
    *static_cast<Str*>(p) = v.str;
    return true;
  }

  // A service's table. A name already defined in an earlier file is a
  // drop-in: the keys given here replace those (tables such as env and
  // rlimits merge key by key), the rest stays as defined before.
  bool service(const Member& sm, Config& cfg) {
    if (!entry(sm, "service")) return false;
    // This file's own tables are unique (the TOML parser saw to that): only
    // earlier files' services can be drop-in targets, or the same file read twice.
    ServiceSpec* sp = nullptr;
    for (size_t i = 0; i < earlier_; i++) {
      ServiceSpec& o = cfg.services[i];
      if (o.name.view() != sm.key.view()) continue;
      if (o.file.view() == file_) {
        char line[24];
        line[format_int(line, o.line)] = 0;
        return fail(AT_KEY_ "service '" KEY_ "' is already defined at " ARG1_ ":" ARG2_, sm, sm.value, o.file.c_str(),
                    line);
      }
      sp = &o;
    }
    bool fresh = !sp;
    if (fresh) {
      cfg.services.push_back(ServiceSpec());
      sp = &cfg.services.back();
      sp->name = sm.key;
    }
    ServiceSpec& s = *sp;
    format(section_, sizeof section_, " in [service.%s]", sm.key.c_str());
    const Member* seen[kNumServiceKeys] = {};
    for (const Member& m : sm.value.members) {
      int k = pick(m, kServiceNames, section_);
      if (k < 0 || !set(m, kServiceKeys[k], reinterpret_cast<char*>(&s))) return false;
      seen[k] = &m;
    }
    if (fresh || seen[kAfterKey]) {  // a new service, or after's positions are in this file
      put(s.file, file_);
      s.line = sm.pos.line;
    }
    if (s.argv.empty() && s.enabled) return fail(AT_KEY_ "service '" KEY_ "' has no command", sm, sm.value);
    // The checks across keys: the message points at the key when this file
    // set it, else at the service.
    int k = -1;
    const char* msg = nullptr;
    if (s.type == ServiceType::Oneshot) {
      if (!seen[kRestartKey] && s.restart == RestartPolicy::Always) s.restart = RestartPolicy::Never;
      if (s.restart == RestartPolicy::Always) {
        k = kRestartKey;
        msg = "restart: a oneshot cannot use \"always\" (use \"on-failure\" or \"never\")";
      } else if (seen[kReadyKey] || s.ready.kind != ProbeSpec::Started) {
        k = kReadyKey;
        msg = "ready: a oneshot is ready when it exits with 0 (remove ready)";
      } else if (s.health.kind != ProbeSpec::None) {
        k = kHealthKey;
        msg = "health: a oneshot has no health check (remove health)";
      }
    }
    if (s.restart_delay_max < s.restart_delay) s.restart_delay_max = s.restart_delay;
    if (!msg && s.watchdog > 0 && s.ready.kind != ProbeSpec::Notify) {
      k = kWatchdogKey;
      msg = "watchdog: needs ready = \"notify\" (the WATCHDOG=1 pings come through NOTIFY_SOCKET)";
    }
    if (msg) return fail_at(seen[k] ? seen[k]->value.pos : sm.pos, msg, sm, sm.value, nullptr, nullptr);
    return credentials(seen[kUserKey], seen[kGroupKey], s);
  }

  // "HOST:PORT" of a tcp:// or http:// probe into out: an IPv4 address, an
  // IPv6 address in brackets, or localhost (probes run in the event loop, so
  // names are not resolved). Without ":PORT" the port is dflt (0: required).
  static bool host_port(std::string_view hp, uint16_t dflt, ProbeSpec& out) {
    bool v6 = starts(hp, "[");
    size_t end = hp.find(v6 ? ']' : ':');
    if (end == std::string_view::npos) {
      if (v6) return false;
      end = hp.size();
    }
    std::string_view host = hp.substr(v6, end - v6);
    std::string_view rest = hp.substr(end + v6);  // ":PORT" or ""
    put(out.host, host);
    out.family = v6 ? AF_INET6 : AF_INET;
    if (!v6 && host == "localhost") host = "127.0.0.1";
    uint64_t port = dflt;
    if (!(v6 ? parse_ipv6(host, out.addr) : parse_ipv4(host, out.addr)) ||
        (!rest.empty() && (rest[0] != ':' || !parse_uint(rest.substr(1), 65535, port))))
      return false;
    out.port = static_cast<uint16_t>(port);
    return port > 0;
  }

  // ready = / health = "started", "notify", "fd:N", "tcp://HOST:PORT",
  // "http://HOST:PORT/PATH", "exec:COMMAND", "file:PATH" (health: the last
  // four, or "none").
  bool probe(const Member& m, bool ready, ProbeSpec& out) {
    const Value& v = m.value;
    if (!text(m, v)) return false;
    std::string_view t = v.str;
    size_t colon = t.find(':');
    std::string_view scheme = t.substr(0, colon);
    std::string_view arg = t.substr(scheme.size() + (colon != std::string_view::npos));
    bool slashes = starts(arg, "//");
    int kind = index_of(scheme, kProbeNames);
    // none, started and notify take nothing after them, tcp: and http: take //.
    if ((kind <= ProbeSpec::Notify && colon != std::string_view::npos) ||
        ((kind == ProbeSpec::Tcp || kind == ProbeSpec::Http) && !slashes) || (kind == ProbeSpec::None && ready))
      kind = -1;
    if (kind < 0)
      return fail(KEY_ EXPECTED_ ARG1_ "\"tcp://HOST:PORT\", \"http://HOST:PORT/PATH\", \"exec:COMMAND\" or "
                                       "\"file:PATH\"" ARG2_ GOT_,
                  m, v, ready ? "\"started\", \"notify\", \"fd:N\", " : nullptr, ready ? nullptr : " (or \"none\")");
    // What ProbeSpec() holds, field by field (no temporary to move from).
    out.host.clear();
    out.path_or_cmd.clear();
    std::memset(static_cast<void*>(&out), 0, offsetof(ProbeSpec, fd));
    out.kind = static_cast<ProbeSpec::Kind>(kind);
    out.fd = -1;
    if (kind == ProbeSpec::None) return true;
    if (!ready && kind <= ProbeSpec::Fd)
      return fail(KEY_ ": " VAL_ " is for ready only (health takes tcp://, http://, exec: or file:)", m, v);
    bool ok = true;
    if (kind == ProbeSpec::Fd) {
      uint64_t fd = 0;
      ok = parse_uint(arg, 1023, fd) && fd >= 3;
      out.fd = static_cast<int>(fd);
    } else if (kind == ProbeSpec::Tcp) {
      ok = host_port(arg.substr(2), 0, out);
    } else if (kind == ProbeSpec::Http) {
      arg.remove_prefix(2);
      size_t slash = arg.find('/');
      put(out.path_or_cmd, slash == std::string_view::npos ? "/" : arg.substr(slash));
      for (char c : out.path_or_cmd.view()) ok = ok && static_cast<unsigned char>(c) > ' ' && c != 0x7f;
      ok = host_port(arg.substr(0, slash), 80, out) && ok;
    } else if (kind >= ProbeSpec::Exec) {
      put(out.path_or_cmd, arg);
      ok = kind == ProbeSpec::Exec ? arg.find_first_not_of(" \t") != std::string_view::npos
                                   : !arg.empty() && arg[0] == '/';
    }
    if (ok) return true;
    static constexpr const char* kForms[] = {"fd:N with N from 3 to 1023", "tcp://HOST:PORT, ", "http://HOST:PORT/PATH, ",
                                             "exec:COMMAND", "file:/ABSOLUTE/PATH"};
    bool net = kind == ProbeSpec::Tcp || kind == ProbeSpec::Http;
    return fail(net ? KEY_ EXPECTED_ ARG1_ "HOST an IP address (127.0.0.1, [::1]) or localhost, PORT 1 to 65535" ARG2_ GOT_
                    : KEY_ EXPECTED_ ARG1_ GOT_,
                m, v, kForms[kind - ProbeSpec::Fd], kind == ProbeSpec::Http ? ", no spaces in PATH" : nullptr);
  }

  // [init] network = { interface = "eth0", address = "10.0.2.15/24",
  // gateway = "10.0.2.2", dns = ["10.0.2.3"] }: what ip= says, in the file.
  bool network(const Member& m, NetworkSpec& net) {
    if (!expect(m, m.value, Type::Table, "a table")) return false;
    uint8_t a[4];
    int prefix;
    Str* fields[] = {&net.interface, &net.address, &net.gateway};
    for (const Member& e : m.value.members) {
      int k = pick(e, kNetworkKeys, " in network");
      const Value* first = nullptr;
      size_t n = 0;
      if (k < 0 || !(k == 3 ? strings(e, first, n) : text(e, e.value))) return false;
      const Value& v = e.value;
      if (k == 1 && !vm::parse_cidr(v.str, a, prefix))
        return fail(KEY_ EXPECTED_ "an IPv4 address and prefix length such as \"10.0.2.15/24\"" GOT_, e, v);
      if (k == 2) {  // one address, checked as dns's are
        first = &v;
        n = 1;
      }
      for (size_t j = 0; j < n; j++) {
        if (!parse_ipv4(first[j].str, a)) return fail(KEY_ EXPECTED_ "an IPv4 address" GOT_, e, first[j]);
        if (k == 3) net.dns.push_back(first[j].str);
      }
      if (k < 3) *fields[k] = v.str;
    }
    return true;
  }

  // [mount.NAME]: source, target (absolute), type, options; mounted at boot
  // in file order.
  bool mount(const Member& mm, InitSpec& init) {
    if (!entry(mm, "mount")) return false;
    for (const MountSpec& o : init.boot.mounts)
      if (o.name.view() == mm.key.view()) return fail(AT_KEY_ "mount '" KEY_ "' is already defined", mm, mm.value);
    format(section_, sizeof section_, " in [mount.%s]", mm.key.c_str());
    MountSpec& ms = init.boot.mounts.emplace_back();  // an error drops the whole config
    ms.name = mm.key;
    Str* fields[] = {&ms.source, &ms.target, &ms.type, &ms.options};
    for (const Member& e : mm.value.members) {
      int k = pick(e, kMountKeys, section_);
      if (k < 0 || !(k == 1 ? path(e, e.value) : text(e, e.value))) return false;
      *fields[k] = e.value.str;
    }
    if (ms.source.empty() || ms.target.empty())
      return fail(AT_KEY_ "mount '" KEY_ "' needs a source and a target", mm, mm.value);
    return true;
  }

  // env = { NAME = "value" } and [init] sysctl = { "net.ipv4.ip_forward" =
  // 1 } into out as "NAME=value": a string, an integer as written, or a
  // boolean (env: true or false, sysctl: 1 or 0). A sysctl name is a path
  // under /proc/sys. A drop-in's env value replaces the earlier one.
  bool assignments(const Member& m, std::vector<Str>& out, bool env) {
    const char* what = env ? "a table of NAME = \"value\"" : "a table such as { \"net.ipv4.ip_forward\" = 1 }";
    if (!expect(m, m.value, Type::Table, what)) return false;
    for (const Member& e : m.value.members) {
      std::string_view k = e.key;
      if (k.empty() || k.find('=') != std::string_view::npos ||
          (!env && (k[0] == '/' || k[0] == '.' || k.find("..") != std::string_view::npos)))
        return fail(env ? AT_KEY_ "env: invalid variable name " QKEY_ : AT_KEY_ "sysctl: invalid name " QKEY_, e,
                    e.value);
      const Value& v = e.value;
      if (v.type > Type::Boolean)
        return fail(ARG1_ ": " QKEY_ EXPECTED_ ARG2_ GOT_TYPE_, e, v, m.key.c_str(),
                    env ? "a string" : "a string or an integer");
      Str var = e.key;
      var += '=';
      var += v.type != Type::Boolean ? v.str.c_str() : env ? (v.boolean ? "true" : "false") : (v.boolean ? "1" : "0");
      size_t n = k.size() + 1;  // "NAME="
      size_t i = 0;
      while (env && i < out.size() && !(out[i].size() >= n && std::memcmp(out[i].c_str(), var.c_str(), n) == 0)) i++;
      if (!env || i == out.size()) {
        out.push_back(var);
        continue;
      }
      // The earlier one goes, the new one goes last (an erase and a
      // push_back, without vector's erase code).
      for (; i + 1 < out.size(); i++) out[i] = std::move(out[i + 1]);
      out[i] = std::move(var);
    }
    return true;
  }

  // "022" or 0o022; a decimal integer is read as octal digits (umask = 22).
  bool umask(const Member& m, int& out) {
    const Value& v = m.value;
    std::string_view digits = v.str;
    int64_t value = 0;
    bool ok = v.type == Type::String || v.type == Type::Integer;
    if (v.type == Type::Integer && digits.size() > 1 && digits[0] == '0') {
      value = v.integer;  // 0o, 0x or 0b: the number as written
    } else if (ok) {
      ok = !digits.empty() && digits.size() <= 4;
      for (size_t k = 0; ok && k < digits.size(); k++) {
        ok = digits[k] >= '0' && digits[k] <= '7';
        value = value * 8 + (digits[k] - '0');
      }
    }
    if (!ok || value < 0 || value > 0777)
      return fail(KEY_ EXPECTED_ "an octal mode such as \"022\"" GOT_, m, v);
    out = static_cast<int>(value);
    return true;
  }

  bool limit_value(const Member& m, const Value& v, rlim_t& out) {
    if (is(v, "unlimited")) {
      out = RLIM_INFINITY;
      return true;
    }
    // rlim_t is 64 bits with musl and with glibc's _FILE_OFFSET_BITS=64; the
    // check keeps a smaller one from truncating.
    if (v.type == Type::Integer && v.integer >= 0 &&
        static_cast<uint64_t>(v.integer) <= static_cast<rlim_t>(-1)) {
      out = static_cast<rlim_t>(v.integer);
      return true;
    }
    return fail("rlimits: " KEY_ EXPECTED_ "an integer, \"unlimited\" or [soft, hard]" GOT_, m, v);
  }

  bool rlimits(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table such as { nofile = 4096 }")) return false;
    // Keys are unique and known, so there are at most as many as names.
    // The earlier file's limits first: a drop-in's replace them one by one.
    RlimitSpec found[sizeof kLimitIds];
    size_t n = s.rlimits.size();
    for (size_t k = 0; k < n; k++) found[k] = s.rlimits[k];
    for (const Member& e : m.value.members) {
      int k = pick(e, kLimitNames, " in rlimits");
      if (k < 0) return false;
      size_t at = 0;
      while (at < n && found[at].resource != kLimitIds[k]) at++;
      RlimitSpec& r = found[at];
      n += at == n;
      r.resource = kLimitIds[k];
      const Value& v = e.value;
      if (v.type == Type::Array) {
        if (v.items.size() != 2) return fail("rlimits: " KEY_ EXPECTED_ "[soft, hard]", e, v);
        if (!limit_value(e, v.items[0], r.soft) || !limit_value(e, v.items[1], r.hard)) return false;
        if (r.soft > r.hard) return fail("rlimits: " KEY_ ": soft limit above the hard limit", e, v);
      } else {
        if (!limit_value(e, v, r.soft)) return false;
        r.hard = r.soft;
      }
    }
    s.rlimits = std::vector<RlimitSpec>(found, found + n);
    return true;
  }

  // ["CAP_NET_BIND_SERVICE", ...] (or "net_bind_service"): the mask; [] is none.
  bool caps(const Member& m, ServiceSpec& s) {
    const Value* first = nullptr;
    size_t n = 0;
    if (!strings(m, first, n)) return false;
    s.has_caps = true;
    s.caps = 0;
    for (size_t k = 0; k < n; k++) {
      std::string_view w = first[k].str;
      char up[28];
      size_t at = 0;
      for (; at < w.size() && at < sizeof up; at++) up[at] = w[at] >= 'a' && w[at] <= 'z' ? static_cast<char>(w[at] - 32) : w[at];
      std::string_view name(up, at);
      if (starts(name, "CAP_")) name.remove_prefix(4);
      int c = index_of(name, kCapNames);
      if (c < 0) return fail(KEY_ ": unknown capability " VAL_ " (see capabilities(7))", m, first[k]);
      s.caps |= uint64_t{1} << c;
    }
    return true;
  }

  // [0, "2-3"]: CPU numbers and ranges.
  bool cpus(const Member& m, ServiceSpec& s) {
    const Value& v = m.value;
    const Value* first = v.type == Type::Array ? v.items.data() : &v;
    size_t n = v.type == Type::Array ? v.items.size() : 1;
    constexpr uint64_t kBits = 8 * sizeof(unsigned long);
    unsigned long mask[kMaxCpu / kBits] = {};
    uint64_t words = 0;
    if (n == 0) return fail(KEY_ ": empty list (leave the key out to keep every CPU)", m, v);
    for (size_t k = 0; k < n; k++) {
      const Value& it = first[k];
      std::string_view t = it.str;
      size_t dash = t.find('-');
      // An integer, or "N" without a dash, is a range of one.
      uint64_t lo = static_cast<uint64_t>(it.integer), hi = 0;
      bool ok = it.type == Type::Integer ? it.integer >= 0 && lo < kMaxCpu
                : it.type == Type::String && parse_uint(t.substr(0, dash), kMaxCpu - 1, lo) &&
                      (dash == std::string_view::npos || parse_uint(t.substr(dash + 1), kMaxCpu - 1, hi));
      if (ok && (it.type == Type::Integer || dash == std::string_view::npos)) hi = lo;
      ok = ok && lo <= hi;
      if (!ok)
        return fail(KEY_ EXPECTED_ "CPU numbers (0 to 1023) or ranges such as \"0-3\"" GOT_, m, it);
      if (words <= hi / kBits) words = hi / kBits + 1;
      for (uint64_t c = lo; c <= hi; c++) mask[c / kBits] |= 1UL << (c % kBits);
    }
    put(s.cpus, std::string_view(reinterpret_cast<const char*>(mask), words * sizeof mask[0]));
    return true;
  }

  // "50%" of one CPU, or "QUOTA PERIOD" in microseconds as cpu.max takes it.
  bool cpu_max(const Member& m, ServiceSpec& s) {
    const Value& v = m.value;
    std::string_view t = v.str;
    uint64_t q = 0, p = 100000;
    size_t sp = t.find(' ');
    bool ok = v.type == Type::String;
    if (is(v, "max")) {
      q = 0;  // cpu.max's word for none: as if not set
    } else if (ok && !t.empty() && t.back() == '%') {
      ok = parse_uint(t.substr(0, t.size() - 1), 100000, q) && q > 0;
      q *= 1000;
    } else if (ok) {
      ok = sp != std::string_view::npos && parse_uint(t.substr(0, sp), 1000000000, q) &&
           parse_uint(t.substr(sp + 1), 1000000, p) && q >= 1000 && p >= 1000;
    }
    if (!ok)
      return fail(KEY_ EXPECTED_ "a share of one CPU (\"50%\", \"200%\") or \"QUOTA PERIOD\" in "
                  "microseconds (\"50000 100000\")" GOT_, m, v);
    s.cpu_quota = static_cast<uint32_t>(q);
    s.cpu_period = static_cast<uint32_t>(p);
    return true;
  }

  // user -> uid, primary group, supplementary groups; group overrides the
  // primary group (as initgroups(user, group) would).
  [[gnu::noinline]] bool credentials(const Member* user, const Member* group, ServiceSpec& s) {
    if (!user && !group) return true;  // a drop-in that names neither keeps what was resolved
    char b[24];
    auto id = [&](const Member* m, int64_t n) {
      return m && m->value.type != Type::Integer ? m->value.str.view()
                                                 : std::string_view(b, format_int(b, m ? m->value.integer : n));
    };
    // A drop-in's group: the user's other groups are looked up again (an
    // error there leaves them out, as no user does).
    auto r = user || s.has_user ? users_.user(id(user, s.uid)) : Result<UserDb::User, Str>(Str());
    if (user) {
      if (!r) return fail(KEY_ ": " ARG1_, *user, user->value, r.error().c_str(), nullptr);
      s.has_user = s.has_group = true;
      s.uid = r->uid;
      s.gid = r->gid;
      s.user_name = r->name;
      s.user_home = r->home;
      s.user_shell = r->shell;
    }
    s.groups.clear();
    if (group) {
      auto g = users_.group(id(group, 0));
      if (!g) return fail(KEY_ ": " ARG1_, *group, group->value, g.error().c_str(), nullptr);
      s.gid = g.value();
      s.has_group = true;
    }
    if (!s.has_group) return true;
    s.groups.push_back(s.gid);
    const std::vector<gid_t>& more = r.value().groups;
    for (size_t k = 1; k < more.size(); k++) {
      if (more[k] != s.gid) s.groups.push_back(more[k]);
    }
    return true;
  }
};

#undef KEY_
#undef QKEY_
#undef ARG1_
#undef ARG2_
#undef VAL_
#undef TYPE_
#undef EXPECTED_
#undef GOT_
#undef GOT_TYPE_
#undef AT_KEY_
#undef NAMES_
#undef KEY_TYPO_
#undef VAL_TYPO_

}  // namespace

Result<void, ConfigError> parse_config(std::string_view text, std::string_view file, Config& out,
                                       UserDb& users) {
  // The tree lives in scratch blocks (sys/alloc.h), gone at once after;
  // what outlives it (the specs, an error) is copied out of it.
  ConfigError err;
  bool ok;
  {
    Value root;
    alloc_scratch(1);
    auto r = toml::parse(text, file, root);
    alloc_scratch(0);
    ok = r ? Schema(file, err, users).apply(root, out) : (err = r.error(), false);
  }
  alloc_scratch_release();
  if (!ok) return err;
  return {};
}

Result<void, ConfigError> parse_config_text(std::string_view text, std::string_view file, Config& out) {
  UserDb none{std::string_view(), std::string_view()};
  return parse_config(text, file, out, none);
}

Result<void, ConfigError> load_config(const std::vector<Str>& files, Config& out, std::string_view users_root) {
  UserDb users(users_root);
  Str text;
  for (const Str& f : files) {
    int e = read_file(f.c_str(), toml::kMaxFileSize, text);
    if (e) {
      ConfigError err;
      err.file = f;
      err.message = e == EFBIG ? "file too large (the limit is 1 MiB)" : "unable to read: ";
      if (e != EFBIG) err.message += strerror(e);
      return err;
    }
    if (auto r = parse_config(text, f, out, users); !r) return r;
  }
  drop_disabled(out);
  return {};
}

void drop_disabled(Config& c) {
  // In place: the enabled specs move down over the disabled ones (no second
  // vector, no growth path for it).
  std::vector<ServiceSpec>& v = c.services;
  size_t w = 0;
  for (size_t r = 0; r < v.size(); r++) {
    if (!v[r].enabled) c.disabled.push_back(v[r].name);
    else if (w++ != r) v[w - 1] = std::move(v[r]);
  }
  if (w == v.size() && c.disabled.empty()) return;
  while (v.size() > w) v.pop_back();
  for (ServiceSpec& s : v) {
    // after and after_pos go down together (after_pos may be shorter).
    size_t n = 0, np = 0;
    for (size_t a = 0; a < s.after.size(); a++) {
      std::string_view name = s.after[a];
      name = name.substr(0, name.find('.'));
      bool off = false;
      for (const Str& d : c.disabled) off |= d.view() == name;
      if (off) continue;
      if (a < s.after_pos.size()) s.after_pos[np++] = s.after_pos[a];
      if (n != a) s.after[n] = std::move(s.after[a]);
      n++;
    }
    while (s.after.size() > n) s.after.pop_back();
    while (s.after_pos.size() > np) s.after_pos.pop_back();
  }
}

std::vector<Str> unreadable_env_files(const std::vector<ServiceSpec>& services, std::string_view root) {
  std::vector<Str> out;
  Str text;
  for (size_t k = 0; k < services.size(); k++) {
    const ServiceSpec& s = services[k];
    // Instances of one service are one entry of the file: report it once.
    if (s.env_file.empty() || (k && services[k - 1].line == s.line && services[k - 1].file.view() == s.file.view())) continue;
    int e = read_file((root + s.env_file).c_str(), toml::kMaxFileSize, text);
    if (!e) continue;
    Str line = fmt("%s:%d: service '%s': env_file %s: %s%s%.*s", s.file.c_str(), s.line, s.name.c_str(),
                   s.env_file.c_str(), e == EFBIG ? "larger than 1 MiB" : strerror(e), root.empty() ? "" : " under ",
                   static_cast<int>(root.size()), root.data());
    out.push_back(line);
  }
  return out;
}

}  // namespace oxinit
