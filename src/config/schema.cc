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
#include "sys/format.h"
#include "sys/text.h"
#include "vm/net.h"

namespace oxinit {

namespace {

using toml::Member;
using toml::Type;
using toml::Value;

constexpr Millis kMaxSeconds = kMaxDuration / 1000;
constexpr int kMaxInstances = 1000;

// A list of names to match a word against: entries `stride` bytes apart,
// each starting with its NUL-terminated name (arrays of char[N], or tables
// of structs whose first member is the name). One shape for keys, choices
// and rlimit names, so lookups and suggestions are written once.
struct Names {
  const char* first;
  uint8_t stride;
  uint8_t count;
  const char* at(int k) const { return first + static_cast<size_t>(k) * stride; }
};
template <size_t L, size_t N>
constexpr Names names(const char (&a)[N][L]) {
  return {a[0], L, N};
}
template <class T, size_t N>
constexpr Names names(const T (&a)[N]) {
  static_assert(offsetof(T, name) == 0);
  return {a[0].name, sizeof(T), N};
}

// Choices, in the order messages list them; the index is the enum's value
// (restart is listed backwards).
constexpr char kTypeNames[][8] = {"simple", "oneshot"};
constexpr char kRestartNames[][11] = {"always", "on-failure", "never"};
constexpr char kLogNames[][8] = {"prefix", "inherit", "null"};
constexpr char kVmNames[][5] = {"auto", "on", "off"};
constexpr char kFinalNames[][9] = {"poweroff", "reboot", "halt"};
constexpr char kUnhealthyNames[][8] = {"restart", "stop", "ignore"};
constexpr char kTmpNames[][6] = {"none", "tmpfs"};
constexpr char kFormatNames[][5] = {"text", "json"};
constexpr Names kChoices[] = {names(kTypeNames),  names(kRestartNames),   names(kLogNames), names(kVmNames),
                              names(kFinalNames), names(kUnhealthyNames), names(kTmpNames), names(kFormatNames)};
enum Choice : uint8_t {
  kTypeChoice, kRestartChoice, kLogChoice, kVmChoice, kFinalChoice, kUnhealthyChoice, kTmpChoice, kFormatChoice,
};
static_assert(kChoices[kTypeChoice].first == kTypeNames[0] && kChoices[kRestartChoice].first == kRestartNames[0] &&
              kChoices[kLogChoice].first == kLogNames[0] && kChoices[kVmChoice].first == kVmNames[0] &&
              kChoices[kFinalChoice].first == kFinalNames[0] &&
              kChoices[kUnhealthyChoice].first == kUnhealthyNames[0] && kChoices[kTmpChoice].first == kTmpNames[0] &&
              kChoices[kFormatChoice].first == kFormatNames[0]);
static_assert(static_cast<int>(RestartPolicy::Always) == 2 && static_cast<int>(RestartPolicy::Never) == 0);
static_assert(static_cast<int>(VmMode::On) == 1 && static_cast<int>(VmMode::Off) == 2);
static_assert(static_cast<int>(OnUnhealthy::Stop) == 1 && static_cast<int>(OnUnhealthy::Ignore) == 2);
static_assert(sizeof(ServiceType) == sizeof(int) && sizeof(RestartPolicy) == sizeof(int) &&
              sizeof(LogMode) == sizeof(int) && sizeof(VmMode) == sizeof(int) &&
              sizeof(FinalAction) == sizeof(int) && sizeof(OnUnhealthy) == sizeof(int) &&
              sizeof(TmpMode) == sizeof(int) && sizeof(LogFormat) == sizeof(int));

constexpr char kRootKeys[][8] = {"init", "service", "mount"};
constexpr char kNetworkKeys[][10] = {"interface", "address", "gateway", "dns"};
constexpr char kMountKeys[][8] = {"source", "target", "type", "options"};

struct Limit {
  char name[11];  // cppcheck-suppress unusedStructMember ; read through names(), by offset
  uint8_t id;  // RLIMIT_*
};
constexpr Limit kLimits[] = {
    {"as", RLIMIT_AS},         {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},     {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO}, {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

// capabilities(7) without their CAP_, by number (CAP_CHOWN is 0), packed.
constexpr char kCapNames[] =
    "CHOWN\0DAC_OVERRIDE\0DAC_READ_SEARCH\0FOWNER\0FSETID\0KILL\0SETGID\0SETUID\0SETPCAP\0"
    "LINUX_IMMUTABLE\0NET_BIND_SERVICE\0NET_BROADCAST\0NET_ADMIN\0NET_RAW\0IPC_LOCK\0IPC_OWNER\0"
    "SYS_MODULE\0SYS_RAWIO\0SYS_CHROOT\0SYS_PTRACE\0SYS_PACCT\0SYS_ADMIN\0SYS_BOOT\0SYS_NICE\0"
    "SYS_RESOURCE\0SYS_TIME\0SYS_TTY_CONFIG\0MKNOD\0LEASE\0AUDIT_WRITE\0AUDIT_CONTROL\0SETFCAP\0"
    "MAC_OVERRIDE\0MAC_ADMIN\0SYSLOG\0WAKE_ALARM\0BLOCK_SUSPEND\0AUDIT_READ\0PERFMON\0BPF\0"
    "CHECKPOINT_RESTORE\0";

// The number of capability `name` (without CAP_), or -1.
int cap_number(std::string_view name) {
  int n = 0;
  for (const char* p = kCapNames; *p; p += std::strlen(p) + 1, n++) {
    if (name == p) return n;
  }
  return -1;
}

// Integer keys and their ranges (Key::choice indexes this for kInt).
struct Range {
  int32_t lo, hi;
};
constexpr Range kRanges[] = {{-1000, 1000}, {-20, 19}, {1, 10000}, {1, 4194304}};
enum : uint8_t { kOomRange, kNiceRange, kWeightRange, kPidsRange };
constexpr uint64_t kMaxCpu = 1024;  // CPU_SETSIZE

// How a key's value is checked, and where it goes: an offset into the
// ServiceSpec or InitSpec being filled. One table instead of code per key.
enum Kind : uint8_t {
  kDuration, kTimeout, kLimitDuration, kBool, kChoice, kVm, kSignal, kSignalOrNone, kPath,
  kHostname, kCommand, kAfter, kMaxRestarts, kId, kEnv, kUmask, kRlimits, kInstances, kRetries,
  kReady, kHealth, kInt, kCaps, kCpus, kSize, kCpuMax, kStrings, kNetwork, kSysctl, kSocket, kKeep, kLog,
};
struct Key {
  char name[20];
  uint8_t kind;
  uint8_t choice;
  uint16_t offset;
};
static_assert(std::is_standard_layout_v<ServiceSpec> && std::is_standard_layout_v<InitSpec>);
#define S(name, kind, field) {name, kind, 0, offsetof(ServiceSpec, field)}
#define C(name, choice, field) {name, kChoice, choice, offsetof(ServiceSpec, field)}
#define R(name, range, field) {name, kInt, range, offsetof(ServiceSpec, field)}
constexpr Key kServiceKeys[] = {
    C("type", kTypeChoice, type),
    S("command", kCommand, argv),
    S("after", kAfter, after),
    C("restart", kRestartChoice, restart),
    S("restart_delay", kDuration, restart_delay),
    S("restart_delay_max", kDuration, restart_delay_max),
    S("max_restarts", kMaxRestarts, max_restarts),
    S("restart_window", kDuration, restart_window),
    S("stop_signal", kSignal, stop_signal),
    S("stop_timeout", kDuration, stop_timeout),
    S("critical", kBool, critical),
    S("user", kId, uid),
    S("group", kId, gid),
    S("workdir", kPath, workdir),
    S("env", kEnv, env),
    S("env_file", kPath, env_file),
    S("umask", kUmask, umask),
    S("rlimits", kRlimits, rlimits),
    {"log", kLog, kLogChoice, offsetof(ServiceSpec, log)},
    S("log_max_size", kSize, log_max_size),
    S("log_keep", kKeep, log_keep),
    S("enabled", kBool, enabled),
    S("instances", kInstances, instances),
    S("reload_signal", kSignalOrNone, reload_signal),
    S("ready", kReady, ready),
    S("ready_timeout", kTimeout, ready_timeout),
    S("health", kHealth, health),
    S("health_interval", kTimeout, health_interval),
    S("health_timeout", kTimeout, health_timeout),
    S("health_retries", kRetries, health_retries),
    S("health_start_period", kDuration, health_start_period),
    C("on_unhealthy", kUnhealthyChoice, on_unhealthy),
    S("watchdog", kDuration, watchdog),
    S("no_new_privs", kBool, no_new_privs),
    S("capabilities", kCaps, caps),
    R("oom_score_adj", kOomRange, oom_score_adj),
    R("nice", kNiceRange, nice),
    S("cpu_affinity", kCpus, cpus),
    S("memory_max", kSize, memory_max),
    S("memory_high", kSize, memory_high),
    S("memory_swap_max", kSize, memory_swap_max),
    S("cpu_max", kCpuMax, cpu_quota),
    R("cpu_weight", kWeightRange, cpu_weight),
    R("io_weight", kWeightRange, io_weight),
    R("pids_max", kPidsRange, pids_max),
};
#undef S
#undef C
#undef R
#define I(name, kind, choice, field) {name, kind, choice, offsetof(InitSpec, field)}
constexpr Key kInitKeys[] = {
    I("shutdown_timeout", kDuration, 0, shutdown_timeout),
    I("shutdown_limit", kLimitDuration, 0, shutdown_limit),
    I("log_timestamps", kBool, 0, log_timestamps),
    I("vm", kVm, kVmChoice, vm),
    I("final_action", kChoice, kFinalChoice, final_action),
    I("hostname", kHostname, 0, hostname),
    I("mount_cgroup", kBool, 0, mount_cgroup),
    I("cgroups", kVm, kVmChoice, cgroups),
    I("modules", kStrings, 0, boot.modules),
    I("network", kNetwork, 0, boot.network),
    I("sysctl", kSysctl, 0, boot.sysctl),
    I("tmp", kChoice, kTmpChoice, boot.tmp),
    I("random_seed", kPath, 0, boot.random_seed),
    I("random_seed_credit", kBool, 0, boot.random_seed_credit),
    I("control_socket", kSocket, 0, control_socket),
    I("log_format", kChoice, kFormatChoice, log_format),
    I("log_buffer", kSize, 1, log_buffer),
};
#undef I

// The index of a key the code checks after the loop, derived from the table:
// a name that is not there stops the build (key_not_found is not constexpr).
inline void key_not_found() {}
template <size_t N>
consteval int key(const Key (&keys)[N], std::string_view name) {
  for (size_t k = 0; k < N; k++) {
    if (std::string_view(keys[k].name) == name) return static_cast<int>(k);
  }
  key_not_found();
  return -1;
}
constexpr int kNumServiceKeys = sizeof kServiceKeys / sizeof kServiceKeys[0];
constexpr int kAfterKey = key(kServiceKeys, "after");
constexpr int kRestartKey = key(kServiceKeys, "restart");
constexpr int kUserKey = key(kServiceKeys, "user");
constexpr int kGroupKey = key(kServiceKeys, "group");
constexpr int kReadyKey = key(kServiceKeys, "ready");
constexpr int kHealthKey = key(kServiceKeys, "health");
constexpr int kWatchdogKey = key(kServiceKeys, "watchdog");

// Index of word in names, or -1.
int index_of(std::string_view word, Names names) {
  for (int k = 0; k < names.count; k++) {
    if (word == names.at(k)) return k;
  }
  return -1;
}

// "; did you mean 'x'?" when one of names is close enough to word to be a
// likely typo, else "".
Str did_you_mean(std::string_view word, Names names) {
  Suggestion s{word};
  for (int k = 0; k < names.count; k++) s.consider(names.at(k));
  return s.text();
}

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
  if (s.substr(0, 2) == "::") {
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

// "256M", "1G", "512MiB", "4096": K, M, G and T are powers of 1024.
bool parse_size(std::string_view t, uint64_t& out) {
  size_t k = 0;
  while (k < t.size() && t[k] >= '0' && t[k] <= '9') k++;
  std::string_view unit = t.substr(k);
  int shift = 0;
  if (!unit.empty()) {
    static constexpr char kUnits[] = "KMGT";
    const char* u = std::strchr(kUnits, unit[0] & ~0x20);
    if (!u || !*u) return false;
    shift = 10 * static_cast<int>(u - kUnits + 1);
    unit.remove_prefix(1);
    if (!unit.empty() && unit != "B" && unit != "iB") return false;
  }
  uint64_t n = 0;
  if (!parse_uint(t.substr(0, k), ~uint64_t{0} >> shift, n)) return false;
  out = n << shift;
  return true;
}

// What a bad value was, for messages: a string or integer as written (quoted),
// else its type.
Str got(const Value& v) {
  return v.type == Type::String || v.type == Type::Integer ? quote(v.str) : Str(toml::type_name(v.type));
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

class Schema {
 public:
  Schema(std::string_view file, ConfigError& err, UserDb& users)
      : file_(file), err_(err), users_(users) {}

  bool apply(const Value& root, Config& cfg) {
    for (const Member& m : root.members) {
      int k = pick(m, names(kRootKeys), "");
      if (k < 0 || !expect(m, m.value, Type::Table, "a table")) return false;
      for (const Member& e : m.value.members) {
        if (k == 0) {
          int i = pick(e, names(kInitKeys), "[init]");
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
  ConfigError& err_;
  UserDb& users_;
  char section_[80] = {};  // "[service.web]", for messages

  [[gnu::cold, gnu::noinline, gnu::format(printf, 3, 4)]] bool fail(SrcPos p, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_.message = vfmt(fmt, ap);
    va_end(ap);
    err_.file = file_;
    err_.line = p.line;
    err_.col = p.col;
    return false;
  }

  // Index of m's key in names, or -1 after reporting an unknown key.
  int pick(const Member& m, Names names, const char* where) {
    int k = index_of(m.key, names);
    if (k < 0) {
      fail(m.pos, "unknown key %s%s%s%s", quote(m.key).c_str(), *where ? " in " : "", where,
           did_you_mean(m.key, names).c_str());
    }
    return k;
  }

  bool expect(const Member& m, const Value& v, Type t, const char* what) {
    if (v.type == t) return true;
    return fail(v.pos, "%s: expected %s, got %s", m.key.c_str(), what, toml::type_name(v.type));
  }

  // A non-empty string.
  bool text(const Member& m, const Value& v) {
    if (!expect(m, v, Type::String, "a string")) return false;
    if (v.str.empty()) return fail(v.pos, "%s: must not be empty", m.key.c_str());
    return true;
  }

  // A string out of names; its index in out.
  bool choice(const Member& m, Names names, bool backwards, void* out) {
    const Value& v = m.value;
    if (v.type == Type::String) {
      int k = index_of(v.str, names);
      if (k >= 0) {
        if (backwards) k = 2 - k;
        std::memcpy(out, &k, sizeof k);  // an enum with int as its underlying type
        return true;
      }
    }
    Str list;
    for (int k = 0; k < names.count; k++) {
      if (k) list += k + 1 < names.count ? ", " : " or ";
      list += '"';
      list += names.at(k);
      list += '"';
    }
    bool s = v.type == Type::String;
    return fail(v.pos, "%s: expected %s, got %s%s", m.key.c_str(), list.c_str(),
                (s ? quote(v.str) : Str(toml::type_name(v.type))).c_str(),
                (s ? did_you_mean(v.str, names) : Str()).c_str());
  }

  bool integer(const Member& m, int64_t lo, int64_t hi, int64_t& out) {
    if (!expect(m, m.value, Type::Integer, "an integer")) return false;
    out = m.value.integer;
    if (out < lo || out > hi)
      return fail(m.value.pos, "%s: must be between %lld and %lld", m.key.c_str(), static_cast<long long>(lo),
                  static_cast<long long>(hi));
    return true;
  }

  // kTimeout: a wait that must end (0 would fail every run at once);
  // kLimitDuration: 0 means "computed by the engine", stored as -1.
  bool duration(const Member& m, Millis& out, uint8_t kind) {
    const Value& v = m.value;
    if (v.type == Type::Integer) {
      if (v.integer < 0 || v.integer > kMaxSeconds)
        return fail(v.pos, "%s: must be between 0 and %lld seconds", m.key.c_str(),
                    static_cast<long long>(kMaxSeconds));
      out = v.integer * 1000;
    } else if (v.type != Type::String || !parse_duration(v.str, out)) {
      return fail(v.pos,
                  "%s: expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of seconds), got %s",
                  m.key.c_str(), got(v).c_str());
    }
    if (out == 0 && kind == kTimeout) return fail(v.pos, "%s: must be more than 0", m.key.c_str());
    if (out == 0 && kind == kLimitDuration) out = -1;
    return true;
  }

  bool signal(const Member& m, int& out, bool allow_none) {
    const Value& v = m.value;
    if (allow_none && ((v.type == Type::String && v.str == "none") ||
                       (v.type == Type::Integer && v.integer == 0))) {
      out = 0;
      return true;
    }
    if (v.type == Type::Integer && v.integer > 0 && v.integer < kMaxSignal) {
      out = static_cast<int>(v.integer);
      return true;
    }
    if (v.type == Type::String && (out = signal_by_name(v.str, true, true)) > 0) return true;
    return fail(v.pos, "%s: expected a signal (\"SIGTERM\", \"TERM\" or 1 to 64%s), got %s", m.key.c_str(),
                allow_none ? ", or \"none\"" : "", got(v).c_str());
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
  bool set(const Member& m, const Key& slot, char* base) {
    const Value& v = m.value;
    void* p = base + slot.offset;
    auto* s = reinterpret_cast<ServiceSpec*>(base);  // for the service-only kinds
    const Value* first = nullptr;
    size_t n = 0;
    int64_t i = 0;
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
          if (v.type == Type::String && v.str.view().substr(0, 5) == "file:") {
            s->log = LogMode::File;
            s->log_file = v.str.view().substr(5);
            if (s->log_file.view().substr(0, 1) == "/") return true;
            return fail(v.pos, "log: expected \"file:/ABSOLUTE/PATH\", got %s", quote(v.str).c_str());
          }
          s->log_file = Str();
        }
        [[fallthrough]];
      case kChoice:
        return choice(m, kChoices[slot.choice], slot.choice == kRestartChoice, p);
      case kSignal:
      case kSignalOrNone:
        return signal(m, *static_cast<int*>(p), slot.kind == kSignalOrNone);
      case kKeep:
        if (!integer(m, 0, kMaxInstances, i)) return false;
        *static_cast<int*>(p) = static_cast<int>(i);
        return true;
      case kSocket:
        if (v.type == Type::String && v.str == "none") {
          *static_cast<Str*>(p) = v.str;
          return true;
        }
        [[fallthrough]];
      case kPath: {
        if (!text(m, v)) return false;
        if (v.str[0] != '/')
          return fail(v.pos, "%s: must be an absolute path, got %s", m.key.c_str(), quote(v.str).c_str());
        *static_cast<Str*>(p) = v.str;
        return true;
      }
      case kHostname:
        if (!text(m, v)) return false;
        if (v.str.size() > 64) return fail(v.pos, "hostname: longer than 64 characters");
        *static_cast<Str*>(p) = v.str;
        return true;
      case kCommand:
        if (!strings(m, first, n)) return false;
        if (n == 0 || first[0].str.empty()) return fail(v.pos, "command: empty command");
        s->argv.clear();
        if (v.type == Type::String) {  // a shell command
          s->argv.push_back("/bin/sh");
          s->argv.push_back("-c");
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
        if (v.type == Type::String && v.str == "unlimited") {
          s->max_restarts = -1;
          return true;
        }
        if (!integer(m, -1, 1000000, i)) return false;
        s->max_restarts = static_cast<int>(i);
        return true;
      case kInstances:
      case kRetries:
        if (!integer(m, 1, kMaxInstances, i)) return false;
        *static_cast<int*>(p) = static_cast<int>(i);
        return true;
      case kReady:
      case kHealth:
        return probe(m, slot.kind == kReady, *static_cast<ProbeSpec*>(p));
      case kId:  // checked here, resolved in credentials()
        return v.type == Type::Integer ? integer(m, 0, 0xfffffffe, i) : text(m, v);
      case kEnv:
        return env(m, *s);
      case kUmask:
        return umask(m, s->umask);
      case kRlimits:
        return rlimits(m, *s);
      case kInt:
        if (!integer(m, kRanges[slot.choice].lo, kRanges[slot.choice].hi, i)) return false;
        *static_cast<int*>(p) = static_cast<int>(i);
        return true;
      case kCaps:
        return caps(m, *s);
      case kCpus:
        return cpus(m, *s);
      case kSize: {
        // Bytes, or with K, M, G or T (powers of 1024). A nonzero choice caps
        // it at 1G: log_buffer is a ring in memory per service.
        uint64_t& out = *static_cast<uint64_t*>(p);
        bool ok = v.type == Type::Integer ? v.integer >= 0 && ((out = static_cast<uint64_t>(v.integer)), true)
                                          : v.type == Type::String && parse_size(v.str, out);
        if (ok && (!slot.choice || out <= uint64_t{1} << 30)) return true;
        return fail(v.pos, "%s: expected a size (\"512K\", \"256M\", \"1G\", \"1GiB\" or an integer of bytes%s), got %s",
                    m.key.c_str(), slot.choice ? "; at most 1G" : "", got(v).c_str());
      }
      case kCpuMax:
        return cpu_max(m, *s);
      case kStrings: {  // [init] modules
        if (!strings(m, first, n)) return false;
        auto* out = static_cast<std::vector<Str>*>(p);
        for (size_t k = 0; k < n; k++) {
          if (first[k].str.empty()) return fail(first[k].pos, "%s: must not be empty", m.key.c_str());
          out->push_back(first[k].str);
        }
        return true;
      }
      case kNetwork:
        return network(m, *static_cast<NetworkSpec*>(p));
      case kSysctl:
        return sysctl(m, *static_cast<std::vector<Str>*>(p));
    }
    return false;
  }

  // A service's table. A name already defined in an earlier file is a
  // drop-in: the keys given here replace those (tables such as env and
  // rlimits merge key by key), the rest stays as defined before.
  bool service(const Member& sm, Config& cfg) {
    if (!valid_name(sm.key))
      return fail(sm.pos, "invalid service name %s (use 1 to 64 letters, digits, '_' or '-')",
                  quote(sm.key).c_str());
    if (!expect(sm, sm.value, Type::Table, "a table")) return false;
    ServiceSpec* sp = nullptr;
    for (ServiceSpec& o : cfg.services) {
      if (o.name.view() != sm.key.view()) continue;
      if (o.file.view() == file_)
        return fail(sm.pos, "service '%s' is already defined at %s:%d", sm.key.c_str(), o.file.c_str(), o.line);
      sp = &o;
    }
    if (!sp) {
      cfg.services.push_back(ServiceSpec());
      sp = &cfg.services.back();
      sp->name = sm.key;
      sp->file = file_;
      sp->line = sm.pos.line;
    }
    ServiceSpec& s = *sp;
    format(section_, sizeof section_, "[service.%s]", sm.key.c_str());
    const Member* seen[kNumServiceKeys] = {};
    for (const Member& m : sm.value.members) {
      int k = pick(m, names(kServiceKeys), section_);
      if (k < 0 || !set(m, kServiceKeys[k], reinterpret_cast<char*>(&s))) return false;
      seen[k] = &m;
    }
    if (seen[kAfterKey]) {  // its positions are in this file
      s.file = file_;
      s.line = sm.pos.line;
    }
    auto at = [&](int k) { return seen[k] ? seen[k]->value.pos : sm.pos; };
    if (s.argv.empty() && s.enabled) return fail(sm.pos, "service '%s' has no command", sm.key.c_str());
    if (s.type == ServiceType::Oneshot) {
      if (!seen[kRestartKey] && s.restart == RestartPolicy::Always) s.restart = RestartPolicy::Never;
      if (s.restart == RestartPolicy::Always)
        return fail(at(kRestartKey), "restart: a oneshot cannot use \"always\" (use \"on-failure\" or \"never\")");
      if (seen[kReadyKey] || s.ready.kind != ProbeSpec::Started)
        return fail(at(kReadyKey), "ready: a oneshot is ready when it exits with 0 (remove ready)");
      if (s.health.kind != ProbeSpec::None)
        return fail(at(kHealthKey), "health: a oneshot has no health check (remove health)");
    }
    if (s.restart_delay_max < s.restart_delay) s.restart_delay_max = s.restart_delay;
    if (s.watchdog > 0 && s.ready.kind != ProbeSpec::Notify)
      return fail(at(kWatchdogKey), "watchdog: needs ready = \"notify\" (the WATCHDOG=1 pings come through NOTIFY_SOCKET)");
    return credentials(seen[kUserKey], seen[kGroupKey], s);
  }

  // "HOST:PORT" of a tcp:// or http:// probe into out: an IPv4 address, an
  // IPv6 address in brackets, or localhost (probes run in the event loop, so
  // names are not resolved). Without ":PORT" the port is dflt (0: required).
  static bool host_port(std::string_view hp, uint16_t dflt, ProbeSpec& out) {
    bool v6 = hp.substr(0, 1) == "[";
    size_t end = hp.find(v6 ? ']' : ':');
    if (end == std::string_view::npos) {
      if (v6) return false;
      end = hp.size();
    }
    std::string_view host = hp.substr(v6, end - v6);
    std::string_view rest = hp.substr(end + v6);  // ":PORT" or ""
    out.host = host;
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
    std::string_view arg = colon == std::string_view::npos ? "" : t.substr(colon + 1);
    bool slashes = arg.substr(0, 2) == "//";
    bool ok = true;
    uint64_t fd = 0;
    out = ProbeSpec();
    if (t == "started") {
      out.kind = ProbeSpec::Started;
    } else if (t == "notify") {
      out.kind = ProbeSpec::Notify;
    } else if (scheme == "fd") {
      out.kind = ProbeSpec::Fd;
      ok = parse_uint(arg, 1023, fd) && fd >= 3;
      out.fd = static_cast<int>(fd);
    } else if (t == "none" && !ready) {
      return true;
    } else if (scheme == "tcp" && slashes) {
      out.kind = ProbeSpec::Tcp;
      ok = host_port(arg.substr(2), 0, out);
    } else if (scheme == "http" && slashes) {
      out.kind = ProbeSpec::Http;
      arg.remove_prefix(2);
      size_t slash = arg.find('/');
      out.path_or_cmd = slash == std::string_view::npos ? "/" : arg.substr(slash);
      for (char c : out.path_or_cmd.view()) ok = ok && static_cast<unsigned char>(c) > ' ' && c != 0x7f;
      ok = host_port(arg.substr(0, slash), 80, out) && ok;
    } else if (scheme == "exec") {
      out.kind = ProbeSpec::Exec;
      ok = arg.find_first_not_of(" \t") != std::string_view::npos;
      out.path_or_cmd = arg;
    } else if (scheme == "file") {
      out.kind = ProbeSpec::File;
      ok = arg.substr(0, 1) == "/";
      out.path_or_cmd = arg;
    } else {
      return fail(v.pos, "%s: expected %s\"tcp://HOST:PORT\", \"http://HOST:PORT/PATH\", \"exec:COMMAND\" or \"file:PATH\"%s, got %s",
                  m.key.c_str(), ready ? "\"started\", \"notify\", \"fd:N\", " : "", ready ? "" : " (or \"none\")",
                  quote(t).c_str());
    }
    if (!ready && out.kind <= ProbeSpec::Fd)
      return fail(v.pos, "health: %s is for ready only (health takes tcp://, http://, exec: or file:)", quote(t).c_str());
    if (ok) return true;
    static constexpr const char* kForms[] = {
        "fd:N with N from 3 to 1023",
        "tcp://HOST:PORT, HOST an IP address (127.0.0.1, [::1]) or localhost, PORT 1 to 65535",
        "http://HOST:PORT/PATH, HOST an IP address (127.0.0.1, [::1]) or localhost, PORT 1 to 65535, no spaces in PATH",
        "exec:COMMAND", "file:/ABSOLUTE/PATH"};
    return fail(v.pos, "%s: expected %s, got %s", m.key.c_str(), kForms[out.kind - ProbeSpec::Fd], quote(t).c_str());
  }

  // [init] network = { interface = "eth0", address = "10.0.2.15/24",
  // gateway = "10.0.2.2", dns = ["10.0.2.3"] }: what ip= says, in the file.
  bool network(const Member& m, NetworkSpec& net) {
    if (!expect(m, m.value, Type::Table, "a table")) return false;
    uint8_t a[4];
    int prefix;
    Str* fields[] = {&net.interface, &net.address, &net.gateway};
    for (const Member& e : m.value.members) {
      int k = pick(e, names(kNetworkKeys), "network");
      const Value* first = nullptr;
      size_t n = 0;
      if (k < 0 || !(k == 3 ? strings(e, first, n) : text(e, e.value))) return false;
      const Value& v = e.value;
      if (k == 1 && !vm::parse_cidr(v.str, a, prefix))
        return fail(v.pos, "address: expected an IPv4 address and prefix length such as \"10.0.2.15/24\", got %s",
                    quote(v.str).c_str());
      if (k == 2 && !parse_ipv4(v.str, a))
        return fail(v.pos, "gateway: expected an IPv4 address, got %s", quote(v.str).c_str());
      if (k < 3) *fields[k] = v.str;
      for (size_t j = 0; j < n; j++) {
        if (!parse_ipv4(first[j].str, a))
          return fail(first[j].pos, "dns: expected an IPv4 address, got %s", quote(first[j].str).c_str());
        net.dns.push_back(first[j].str);
      }
    }
    return true;
  }

  // [init] sysctl = { "net.ipv4.ip_forward" = 1 }: a string, an integer or
  // a boolean (1 or 0) per name; the name is a path under /proc/sys.
  bool sysctl(const Member& m, std::vector<Str>& out) {
    if (!expect(m, m.value, Type::Table, "a table such as { \"net.ipv4.ip_forward\" = 1 }")) return false;
    for (const Member& e : m.value.members) {
      const Value& v = e.value;
      std::string_view k = e.key;
      if (k.empty() || k[0] == '/' || k[0] == '.' || k.find('=') != std::string_view::npos ||
          k.find("..") != std::string_view::npos)
        return fail(e.pos, "sysctl: invalid name %s", quote(k).c_str());
      if (v.type != Type::String && v.type != Type::Integer && v.type != Type::Boolean)
        return fail(v.pos, "sysctl: %s: expected a string or an integer, got %s", quote(k).c_str(),
                    toml::type_name(v.type));
      Str kv = k;
      kv += '=';
      kv += v.type == Type::Boolean ? std::string_view(v.boolean ? "1" : "0") : v.str.view();
      out.push_back(std::move(kv));
    }
    return true;
  }

  // [mount.NAME]: source, target (absolute), type, options; mounted at boot
  // in file order.
  bool mount(const Member& mm, InitSpec& init) {
    if (!valid_name(mm.key))
      return fail(mm.pos, "invalid mount name %s (use 1 to 64 letters, digits, '_' or '-')", quote(mm.key).c_str());
    if (!expect(mm, mm.value, Type::Table, "a table")) return false;
    for (const MountSpec& o : init.boot.mounts)
      if (o.name.view() == mm.key.view()) return fail(mm.pos, "mount '%s' is already defined", mm.key.c_str());
    format(section_, sizeof section_, "[mount.%s]", mm.key.c_str());
    MountSpec ms;
    ms.name = mm.key;
    Str* fields[] = {&ms.source, &ms.target, &ms.type, &ms.options};
    for (const Member& e : mm.value.members) {
      int k = pick(e, names(kMountKeys), section_);
      if (k < 0 || !text(e, e.value)) return false;
      if (k == 1 && e.value.str[0] != '/')
        return fail(e.value.pos, "target: must be an absolute path, got %s", quote(e.value.str).c_str());
      *fields[k] = e.value.str;
    }
    if (ms.source.empty() || ms.target.empty())
      return fail(mm.pos, "mount '%s' needs a source and a target", mm.key.c_str());
    init.boot.mounts.push_back(std::move(ms));
    return true;
  }

  bool env(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table of NAME = \"value\"")) return false;
    for (const Member& e : m.value.members) {
      const Value& v = e.value;
      if (e.key.empty() || e.key.view().find('=') != std::string_view::npos)
        return fail(e.pos, "env: invalid variable name %s", quote(e.key).c_str());
      if (v.type != Type::String && v.type != Type::Integer && v.type != Type::Boolean)
        return fail(v.pos, "env: %s: expected a string, got %s", quote(e.key).c_str(), toml::type_name(v.type));
      Str var = e.key;
      var += '=';
      for (size_t k = 0; k < s.env.size(); k++) {  // a drop-in's value replaces the earlier one
        if (s.env[k].view().substr(0, var.size()) == var.view()) {
          s.env.erase(s.env.begin() + static_cast<std::ptrdiff_t>(k));
          break;
        }
      }
      var += v.type == Type::Boolean ? std::string_view(v.boolean ? "true" : "false") : v.str.view();
      s.env.push_back(std::move(var));
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
      return fail(v.pos, "umask: expected an octal mode such as \"022\", got %s", got(v).c_str());
    out = static_cast<int>(value);
    return true;
  }

  bool limit_value(const Member& m, const Value& v, rlim_t& out) {
    if (v.type == Type::String && v.str == "unlimited") {
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
    return fail(v.pos, "rlimits: %s: expected an integer, \"unlimited\" or [soft, hard], got %s", m.key.c_str(),
                got(v).c_str());
  }

  bool rlimits(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table such as { nofile = 4096 }")) return false;
    // Keys are unique and known, so there are at most as many as names.
    // The earlier file's limits first: a drop-in's replace them one by one.
    RlimitSpec found[sizeof kLimits / sizeof kLimits[0]];
    size_t n = s.rlimits.size();
    for (size_t k = 0; k < n; k++) found[k] = s.rlimits[k];
    for (const Member& e : m.value.members) {
      int k = pick(e, names(kLimits), "rlimits");
      if (k < 0) return false;
      size_t at = 0;
      while (at < n && found[at].resource != kLimits[k].id) at++;
      RlimitSpec& r = found[at];
      n += at == n;
      r.resource = kLimits[k].id;
      const Value& v = e.value;
      if (v.type == Type::Array) {
        if (v.items.size() != 2) return fail(v.pos, "rlimits: %s: expected [soft, hard]", e.key.c_str());
        if (!limit_value(e, v.items[0], r.soft) || !limit_value(e, v.items[1], r.hard)) return false;
        if (r.soft > r.hard) return fail(v.pos, "rlimits: %s: soft limit above the hard limit", e.key.c_str());
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
      if (name.substr(0, 4) == "CAP_") name.remove_prefix(4);
      int c = cap_number(name);
      if (c < 0) return fail(first[k].pos, "capabilities: unknown capability %s (see capabilities(7))", quote(w).c_str());
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
    if (n == 0) return fail(v.pos, "cpu_affinity: empty list (leave the key out to keep every CPU)");
    for (size_t k = 0; k < n; k++) {
      const Value& it = first[k];
      std::string_view t = it.str;
      size_t dash = t.find('-');
      uint64_t lo = static_cast<uint64_t>(it.integer), hi = lo;
      bool ok = it.type == Type::Integer ? it.integer >= 0 && lo < kMaxCpu
                : it.type == Type::String && parse_uint(t.substr(0, dash), kMaxCpu - 1, lo) &&
                      (dash == std::string_view::npos ? (hi = lo, true)
                                                      : parse_uint(t.substr(dash + 1), kMaxCpu - 1, hi)) &&
                      lo <= hi;
      if (!ok)
        return fail(it.pos, "cpu_affinity: expected CPU numbers (0 to %d) or ranges such as \"0-3\", got %s",
                    static_cast<int>(kMaxCpu - 1), got(it).c_str());
      if (words <= hi / kBits) words = hi / kBits + 1;
      for (uint64_t c = lo; c <= hi; c++) mask[c / kBits] |= 1UL << (c % kBits);
    }
    s.cpus = std::string_view(reinterpret_cast<const char*>(mask), words * sizeof mask[0]);
    return true;
  }

  // "50%" of one CPU, or "QUOTA PERIOD" in microseconds as cpu.max takes it.
  bool cpu_max(const Member& m, ServiceSpec& s) {
    const Value& v = m.value;
    std::string_view t = v.str;
    uint64_t q = 0, p = 100000;
    size_t sp = t.find(' ');
    bool ok = v.type == Type::String;
    if (ok && !t.empty() && t.back() == '%') {
      ok = parse_uint(t.substr(0, t.size() - 1), 100000, q) && q > 0;
      q *= 1000;
    } else if (ok) {
      ok = sp != std::string_view::npos && parse_uint(t.substr(0, sp), 1000000000, q) &&
           parse_uint(t.substr(sp + 1), 1000000, p) && q >= 1000 && p >= 1000;
    }
    if (!ok)
      return fail(v.pos, "cpu_max: expected a share of one CPU (\"50%%\", \"200%%\") or \"QUOTA PERIOD\" in "
                  "microseconds (\"50000 100000\"), got %s", got(v).c_str());
    s.cpu_quota = static_cast<uint32_t>(q);
    s.cpu_period = static_cast<uint32_t>(p);
    return true;
  }

  // user -> uid, primary group, supplementary groups; group overrides the
  // primary group (as initgroups(user, group) would).
  bool credentials(const Member* user, const Member* group, ServiceSpec& s) {
    UserDb::User u;
    char b[24];
    auto id = [&](const Value& v) {
      return v.type == Type::Integer ? std::string_view(b, format_int(b, v.integer)) : v.str.view();
    };
    if (!user && !group) return true;  // a drop-in that names neither keeps what was resolved
    // A drop-in's group: the user's other groups are looked up again.
    if (!user && s.has_user) {
      auto r = users_.user(std::string_view(b, format_int(b, s.uid)));
      if (r) u = std::move(r.value());
    }
    s.groups.clear();
    if (user) {
      auto r = users_.user(id(user->value));
      if (!r) return fail(user->value.pos, "user: %s", r.error().c_str());
      u = std::move(r.value());
      s.has_user = s.has_group = true;
      s.uid = u.uid;
      s.gid = u.gid;
      s.user_name = u.name;
      s.user_home = u.home;
      s.user_shell = u.shell;
    }
    if (group) {
      auto r = users_.group(id(group->value));
      if (!r) return fail(group->value.pos, "group: %s", r.error().c_str());
      s.gid = r.value();
      s.has_group = true;
    }
    if (!s.has_group) return true;
    s.groups.push_back(s.gid);
    for (size_t k = 1; k < u.groups.size(); k++) {
      if (u.groups[k] != s.gid) s.groups.push_back(u.groups[k]);
    }
    return true;
  }
};

}  // namespace

Result<void, ConfigError> parse_config(std::string_view text, std::string_view file, Config& out,
                                       UserDb& users) {
  Value root;
  if (auto r = toml::parse(text, file, root); !r) return r;
  ConfigError err;
  if (!Schema(file, err, users).apply(root, out)) return err;
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
      err.message = e == EFBIG ? Str("file too large (the limit is 1 MiB)") : "unable to read: " + Str(strerror(e));
      return err;
    }
    if (auto r = parse_config(text, f, out, users); !r) return r;
  }
  drop_disabled(out);
  return {};
}

void drop_disabled(Config& c) {
  std::vector<ServiceSpec> kept;
  kept.reserve(c.services.size());
  for (ServiceSpec& s : c.services) {
    if (s.enabled) kept.push_back(std::move(s));
    else c.disabled.push_back(s.name);
  }
  c.services.swap(kept);
  for (ServiceSpec& s : c.services) {
    for (size_t a = 0; a < s.after.size();) {
      std::string_view name = s.after[a];
      name = name.substr(0, name.find('.'));
      bool off = false;
      for (const Str& d : c.disabled) off |= d.view() == name;
      if (!off) {
        a++;
        continue;
      }
      s.after.erase(s.after.begin() + static_cast<std::ptrdiff_t>(a));
      if (a < s.after_pos.size()) s.after_pos.erase(s.after_pos.begin() + static_cast<std::ptrdiff_t>(a));
    }
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
    out.push_back(fmt("%s:%d: service '%s': env_file %s: %s%s%.*s", s.file.c_str(), s.line, s.name.c_str(),
                      s.env_file.c_str(), e == EFBIG ? "larger than 1 MiB" : strerror(e), root.empty() ? "" : " under ",
                      static_cast<int>(root.size()), root.data()));
  }
  return out;
}

}  // namespace oxinit
