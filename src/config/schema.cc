#include "config/schema.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "cli.h"
#include "config/toml.h"
#include "signals.h"
#include "sys/format.h"

namespace oxinit {

namespace {

using toml::Member;
using toml::quote;
using toml::Type;
using toml::Value;

constexpr Millis kMaxSeconds = 1000000000;
constexpr int kMaxInstances = 1000;

// Name lists are packed ("a\0b\0"): no pointer table per list.
constexpr char kRootKeys[] = "init\0service\0";
constexpr char kInitKeys[] =
    "shutdown_timeout\0log_timestamps\0vm\0final_action\0hostname\0mount_cgroup\0shutdown_limit\0";
constexpr char kServiceKeys[] =
    "type\0command\0after\0restart\0restart_delay\0restart_delay_max\0max_restarts\0"
    "restart_window\0stop_signal\0stop_timeout\0critical\0user\0group\0workdir\0env\0"
    "env_file\0umask\0rlimits\0log\0instances\0reload_signal\0";
enum ServiceKey { kCommandKey = 1, kRestartKey = 3, kUserKey = 11, kGroupKey = 12, kNumServiceKeys = 21 };
constexpr char kLimitNames[] =
    "as\0core\0cpu\0data\0fsize\0locks\0memlock\0msgqueue\0nice\0nofile\0nproc\0rss\0"
    "rtprio\0rttime\0sigpending\0stack\0";
constexpr uint8_t kLimitIds[] = {RLIMIT_AS,     RLIMIT_CORE,   RLIMIT_CPU,    RLIMIT_DATA,
                                 RLIMIT_FSIZE,  RLIMIT_LOCKS,  RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE,
                                 RLIMIT_NICE,   RLIMIT_NOFILE, RLIMIT_NPROC,  RLIMIT_RSS,
                                 RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK};

// Choices, in the order messages list them; the index is the enum's value
// (restart is listed backwards).
constexpr const char* kChoices[] = {"simple\0oneshot\0", "always\0on-failure\0never\0",
                                    "prefix\0inherit\0null\0", "auto\0on\0off\0",
                                    "poweroff\0reboot\0halt\0"};
enum Choice : uint8_t { kTypeChoice, kRestartChoice, kLogChoice, kVmChoice, kFinalChoice };
static_assert(static_cast<int>(RestartPolicy::Always) == 2 && static_cast<int>(RestartPolicy::Never) == 0);
static_assert(static_cast<int>(VmMode::On) == 1 && static_cast<int>(VmMode::Off) == 2);
static_assert(sizeof(ServiceType) == sizeof(int) && sizeof(RestartPolicy) == sizeof(int) &&
              sizeof(LogMode) == sizeof(int) && sizeof(VmMode) == sizeof(int) &&
              sizeof(FinalAction) == sizeof(int));

// How a key's value is checked, and where it goes: an offset into the
// ServiceSpec or InitSpec being filled. One table instead of code per key.
enum Kind : uint8_t {
  kDuration, kBool, kChoice, kVm, kSignal, kSignalOrNone, kPath, kHostname, kCommand, kAfter,
  kMaxRestarts, kId, kEnv, kUmask, kRlimits, kInstances,
};
struct Slot {
  uint8_t kind;
  uint8_t choice;
  uint16_t offset;
};
static_assert(std::is_standard_layout_v<ServiceSpec> && std::is_standard_layout_v<InitSpec>);
#define S(kind, field) {kind, 0, offsetof(ServiceSpec, field)}
#define C(choice, field) {kChoice, choice, offsetof(ServiceSpec, field)}
constexpr Slot kServiceSlots[kNumServiceKeys] = {
    C(kTypeChoice, type),          S(kCommand, argv),           S(kAfter, after),
    C(kRestartChoice, restart),    S(kDuration, restart_delay), S(kDuration, restart_delay_max),
    S(kMaxRestarts, max_restarts), S(kDuration, restart_window), S(kSignal, stop_signal),
    S(kDuration, stop_timeout),    S(kBool, critical),          S(kId, uid),
    S(kId, gid),                   S(kPath, workdir),           S(kEnv, env),
    S(kPath, env_file),            S(kUmask, umask),            S(kRlimits, rlimits),
    C(kLogChoice, log),            S(kInstances, instances),    S(kSignalOrNone, reload_signal),
};
#undef S
#undef C
constexpr Slot kInitSlots[] = {
    {kDuration, 0, offsetof(InitSpec, shutdown_timeout)},
    {kBool, 0, offsetof(InitSpec, log_timestamps)},
    {kVm, kVmChoice, offsetof(InitSpec, vm)},
    {kChoice, kFinalChoice, offsetof(InitSpec, final_action)},
    {kHostname, 0, offsetof(InitSpec, hostname)},
    {kBool, 0, offsetof(InitSpec, mount_cgroup)},
    {kDuration, 0, offsetof(InitSpec, shutdown_limit)},
};

const char* next_name(const char* p) { return p + std::strlen(p) + 1; }

// Index of word in a packed list, or -1.
int index_of(std::string_view word, const char* names) {
  int k = 0;
  for (const char* p = names; *p; p = next_name(p), k++) {
    if (word == p) return k;
  }
  return -1;
}

// "; did you mean 'x'?" when one of names is close enough to word to be a
// likely typo, else "".
Str did_you_mean(std::string_view word, const char* names) {
  const char* best = nullptr;
  size_t best_d = 3;
  for (const char* p = names; *p; p = next_name(p)) {
    size_t len = std::strlen(p);
    if (word.size() > len) len = word.size();
    size_t d = edit_distance(word.substr(0, 64), p);
    if (d < best_d && d * 3 <= len) {
      best = p;
      best_d = d;
    }
  }
  return best ? Str("; did you mean '") + best + "'?" : Str();
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
      int k = pick(m, kRootKeys, "");
      if (k < 0 || !expect(m, m.value, Type::Table, "a table")) return false;
      for (const Member& e : m.value.members) {
        if (k == 0) {
          int i = pick(e, kInitKeys, "[init]");
          if (i < 0 || !set(e, kInitSlots[i], reinterpret_cast<char*>(&cfg.init))) return false;
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
    err_.message = toml::vfmt(fmt, ap);
    va_end(ap);
    err_.file = file_;
    err_.line = p.line;
    err_.col = p.col;
    return false;
  }

  // Index of m's key in names, or -1 after reporting an unknown key.
  int pick(const Member& m, const char* names, const char* where) {
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

  // A string out of a packed list; its index in out.
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
    Str list;
    for (const char* p = names; *p; p = next_name(p)) {
      if (p != names) list += *next_name(p) ? ", " : " or ";
      list += '"';
      list += p;
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
      return fail(m.value.pos, "%s: must be between %ld and %ld", m.key.c_str(), static_cast<long>(lo),
                  static_cast<long>(hi));
    return true;
  }

  bool duration(const Member& m, Millis& out) {
    const Value& v = m.value;
    if (v.type == Type::Integer) {
      if (v.integer < 0 || v.integer > kMaxSeconds)
        return fail(v.pos, "%s: must be between 0 and %ld seconds", m.key.c_str(), static_cast<long>(kMaxSeconds));
      out = v.integer * 1000;
      return true;
    }
    if (v.type == Type::String && parse_duration(v.str, out)) return true;
    return fail(v.pos,
                "%s: expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of seconds), got %s",
                m.key.c_str(), got(v).c_str());
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
  bool set(const Member& m, Slot slot, char* base) {
    const Value& v = m.value;
    void* p = base + slot.offset;
    auto* s = reinterpret_cast<ServiceSpec*>(base);  // for the service-only kinds
    const Value* first = nullptr;
    size_t n = 0;
    int64_t i = 0;
    switch (slot.kind) {
      case kDuration:
        return duration(m, *static_cast<Millis*>(p));
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
      case kChoice:
        return choice(m, kChoices[slot.choice], slot.choice == kRestartChoice, p);
      case kSignal:
      case kSignalOrNone:
        return signal(m, *static_cast<int*>(p), slot.kind == kSignalOrNone);
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
        if (v.type == Type::String) {  // a shell command
          s->argv.push_back("/bin/sh");
          s->argv.push_back("-c");
        }
        for (size_t k = 0; k < n; k++) s->argv.push_back(first[k].str);
        return true;
      case kAfter:
        if (!strings(m, first, n)) return false;
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
        if (!integer(m, 1, kMaxInstances, i)) return false;
        s->instances = static_cast<int>(i);
        return true;
      case kId:  // checked here, resolved in credentials()
        return v.type == Type::Integer ? integer(m, 0, 0xfffffffe, i) : text(m, v);
      case kEnv:
        return env(m, *s);
      case kUmask:
        return umask(m, s->umask);
      case kRlimits:
        return rlimits(m, *s);
    }
    return false;
  }

  bool service(const Member& sm, Config& cfg) {
    if (!valid_name(sm.key))
      return fail(sm.pos, "invalid service name %s (use 1 to 64 letters, digits, '_' or '-')",
                  quote(sm.key).c_str());
    if (!expect(sm, sm.value, Type::Table, "a table")) return false;
    for (const ServiceSpec& o : cfg.services) {
      if (o.name.view() == sm.key.view())
        return fail(sm.pos, "service '%s' is already defined at %s:%d", sm.key.c_str(), o.file.c_str(), o.line);
    }
    format(section_, sizeof section_, "[service.%s]", sm.key.c_str());
    ServiceSpec s;
    s.name = sm.key;
    s.file = file_;
    s.line = sm.pos.line;
    const Member* seen[kNumServiceKeys] = {};
    for (const Member& m : sm.value.members) {
      int k = pick(m, kServiceKeys, section_);
      if (k < 0 || !set(m, kServiceSlots[k], reinterpret_cast<char*>(&s))) return false;
      seen[k] = &m;
    }
    const Member* restart = seen[kRestartKey];
    if (!seen[kCommandKey]) return fail(sm.pos, "service '%s' has no command", sm.key.c_str());
    if (s.type == ServiceType::Oneshot) {
      if (!restart) s.restart = RestartPolicy::Never;
      if (s.restart == RestartPolicy::Always)
        return fail(restart->value.pos, "restart: a oneshot cannot use \"always\" (use \"on-failure\" or \"never\")");
    }
    if (s.restart_delay_max < s.restart_delay) s.restart_delay_max = s.restart_delay;
    if (!credentials(seen[kUserKey], seen[kGroupKey], s)) return false;
    cfg.services.push_back(std::move(s));
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
    if (v.type == Type::Integer && v.integer >= 0) {
      out = static_cast<rlim_t>(v.integer);
      return true;
    }
    return fail(v.pos, "rlimits: %s: expected an integer, \"unlimited\" or [soft, hard], got %s", m.key.c_str(),
                got(v).c_str());
  }

  bool rlimits(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table such as { nofile = 4096 }")) return false;
    // Keys are unique and known, so there are at most as many as names.
    RlimitSpec found[sizeof kLimitIds];
    size_t n = 0;
    for (const Member& e : m.value.members) {
      int k = pick(e, kLimitNames, "rlimits");
      if (k < 0) return false;
      RlimitSpec& r = found[n++];
      r.resource = kLimitIds[k];
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

  // user -> uid, primary group, supplementary groups; group overrides the
  // primary group (as initgroups(user, group) would).
  bool credentials(const Member* user, const Member* group, ServiceSpec& s) {
    Str why;
    UserDb::User u;
    char b[24];
    auto id = [&](const Value& v) {
      return v.type == Type::Integer ? std::string_view(b, format_int(b, v.integer)) : v.str.view();
    };
    if (user) {
      if (!users_.user(id(user->value), u, why)) return fail(user->value.pos, "user: %s", why.c_str());
      s.has_user = s.has_group = true;
      s.uid = u.uid;
      s.gid = u.gid;
      s.user_name = u.name;
      s.user_home = u.home;
      s.user_shell = u.shell;
    }
    if (group) {
      if (!users_.group(id(group->value), s.gid, why)) return fail(group->value.pos, "group: %s", why.c_str());
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

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      size_t d = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < d) d = up + 1;
      if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
      row[j] = d;
      diag = up;
    }
  }
  return row[b.size()];
}

bool parse_config(std::string_view text, std::string_view file, Config& out, ConfigError& err,
                  UserDb& users) {
  Value root;
  if (!toml::parse(text, file, root, err)) return false;
  return Schema(file, err, users).apply(root, out);
}

bool parse_config_text(std::string_view text, std::string_view file, Config& out, ConfigError& err) {
  UserDb none{std::string_view(), std::string_view()};
  return parse_config(text, file, out, err, none);
}

bool load_config(const std::vector<Str>& files, Config& out, ConfigError& err,
                 std::string_view users_root) {
  UserDb users(users_root);
  Str text;
  for (const Str& f : files) {
    int e = toml::read_file(f.c_str(), toml::kMaxFileSize, text);
    if (e) {
      err.file = f;
      err.line = err.col = 0;
      err.message = e == EFBIG ? Str("file too large (the limit is 1 MiB)") : "unable to read: " + Str(strerror(e));
      return false;
    }
    if (!parse_config(text, f, out, err, users)) return false;
  }
  return true;
}

std::vector<Str> default_config_files(std::string_view root) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  std::vector<Str> files;
  struct stat st;
  Str main = root + "/etc/oxinit.toml";
  if (stat(main.c_str(), &st) == 0) files.push_back(std::move(main));
  Str dir = root + "/etc/oxinit.d";
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  size_t first = files.size();
  while (dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= 5 || name.substr(name.size() - 5) != ".toml") continue;
    Str p = dir + "/";
    p += name;
    if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // Insertion sort: a directory holds a handful of files.
    files.push_back(std::move(p));
    for (size_t k = files.size() - 1; k > first && files[k] < files[k - 1]; k--) std::swap(files[k], files[k - 1]);
  }
  closedir(d);
  return files;
}

}  // namespace oxinit
