#include "config/schema.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "cli.h"
#include "config/toml.h"
#include "signals.h"

namespace oxinit {

namespace {

using toml::cat;
using toml::Member;
using toml::quote;
using toml::Type;
using toml::Value;

constexpr Millis kMaxSeconds = 1000000000;
constexpr int kMaxInstances = 1000;

const char* const kRootKeys[] = {"init", "service"};
const char* const kInitKeys[] = {"shutdown_timeout", "log_timestamps", "vm",
                                 "final_action",     "hostname",       "mount_cgroup"};
enum InitKey { kShutdownTimeout, kLogTimestamps, kVm, kFinalAction, kHostname, kMountCgroup };
const char* const kServiceKeys[] = {
    "type",         "command",    "after",        "restart",  "restart_delay", "restart_delay_max",
    "max_restarts", "restart_window", "stop_signal", "stop_timeout", "critical", "user",
    "group",        "workdir",    "env",          "env_file", "umask",         "rlimits",
    "log",          "instances",  "reload_signal"};
enum ServiceKey {
  kType, kCommand, kAfter, kRestart, kRestartDelay, kRestartDelayMax, kMaxRestarts,
  kRestartWindow, kStopSignal, kStopTimeout, kCritical, kUser, kGroup, kWorkdir, kEnv,
  kEnvFile, kUmask, kRlimits, kLog, kInstances, kReloadSignal
};
const char* const kLimitNames[] = {"as",     "core",  "cpu",    "data",     "fsize",      "locks",
                                   "memlock", "msgqueue", "nice", "nofile", "nproc",      "rss",
                                   "rtprio", "rttime", "sigpending", "stack"};
const int kLimitIds[] = {RLIMIT_AS,     RLIMIT_CORE,   RLIMIT_CPU,    RLIMIT_DATA,
                         RLIMIT_FSIZE,  RLIMIT_LOCKS,  RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE,
                         RLIMIT_NICE,   RLIMIT_NOFILE, RLIMIT_NPROC,  RLIMIT_RSS,
                         RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK};

template <size_t N>
constexpr size_t count(const char* const (&)[N]) {
  return N;
}

Str num(int64_t v) {
  char b[24];
  return Str(std::string_view(b, format_int(b, v)));
}

// The closest of names to word, if close enough to be a likely typo.
const char* suggest(std::string_view word, const char* const* names, size_t n) {
  const char* best = nullptr;
  size_t best_d = 3;
  for (size_t k = 0; k < n; k++) {
    size_t len = std::max(word.size(), std::strlen(names[k]));
    size_t d = edit_distance(word.substr(0, 64), names[k]);
    if (d < best_d && d * 3 <= len) {
      best = names[k];
      best_d = d;
    }
  }
  return best;
}

Str did_you_mean(std::string_view word, const char* const* names, size_t n) {
  const char* s = suggest(word, names, n);
  return s ? cat({"; did you mean '", s, "'?"}) : Str();
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
      int k = pick(m, kRootKeys, count(kRootKeys), "");
      if (k < 0 || !expect(m, m.value, Type::Table, "a table")) return false;
      for (const Member& e : m.value.members) {
        if (k == 0 ? !init_key(e, cfg.init) : !service(e, cfg)) return false;
      }
    }
    return true;
  }

 private:
  std::string_view file_;
  ConfigError& err_;
  UserDb& users_;
  Str section_;  // "[init]" or "[service.web]", for messages

  bool fail(SrcPos p, Str msg) {
    err_ = ConfigError{file_, p.line, p.col, std::move(msg)};
    return false;
  }

  // Index of m's key in names, or -1 after reporting an unknown key.
  int pick(const Member& m, const char* const* names, size_t n, std::string_view where) {
    for (size_t k = 0; k < n; k++) {
      if (m.key.view() == names[k]) return static_cast<int>(k);
    }
    fail(m.pos, cat({"unknown key ", quote(m.key), where.empty() ? "" : " in ", where,
                     did_you_mean(m.key, names, n)}));
    return -1;
  }

  bool expect(const Member& m, const Value& v, Type t, const char* what) {
    if (v.type == t) return true;
    return fail(v.pos, cat({m.key, ": expected ", what, ", got ", toml::type_name(v.type)}));
  }

  bool boolean(const Member& m, bool& out) {
    if (!expect(m, m.value, Type::Boolean, "true or false")) return false;
    out = m.value.boolean;
    return true;
  }

  bool text(const Member& m, const Value& v, Str& out) {
    if (!expect(m, v, Type::String, "a string")) return false;
    if (v.str.empty()) return fail(v.pos, cat({m.key, ": must not be empty"}));
    out = v.str;
    return true;
  }

  bool path(const Member& m, Str& out) {
    if (!text(m, m.value, out)) return false;
    if (out[0] != '/') return fail(m.value.pos, cat({m.key, ": must be an absolute path, got ", quote(out)}));
    return true;
  }

  // A string out of names; its index in out.
  bool choice(const Member& m, const char* const* names, size_t n, int& out) {
    const Value& v = m.value;
    if (v.type == Type::String) {
      for (size_t k = 0; k < n; k++) {
        if (v.str.view() == names[k]) {
          out = static_cast<int>(k);
          return true;
        }
      }
    }
    Str list;
    for (size_t k = 0; k < n; k++) list += cat({k ? (k + 1 == n ? " or " : ", ") : "", "\"", names[k], "\""});
    Str got = v.type == Type::String ? quote(v.str) : Str(toml::type_name(v.type));
    return fail(v.pos, cat({m.key, ": expected ", list, ", got ", got,
                            v.type == Type::String ? did_you_mean(v.str, names, n) : Str()}));
  }

  bool integer(const Member& m, int64_t lo, int64_t hi, int64_t& out) {
    if (!expect(m, m.value, Type::Integer, "an integer")) return false;
    out = m.value.integer;
    if (out < lo || out > hi)
      return fail(m.value.pos, cat({m.key, ": must be between ", num(lo), " and ", num(hi)}));
    return true;
  }

  bool duration(const Member& m, Millis& out) {
    const Value& v = m.value;
    if (v.type == Type::Integer) {
      if (v.integer < 0 || v.integer > kMaxSeconds)
        return fail(v.pos, cat({m.key, ": must be between 0 and ", num(kMaxSeconds), " seconds"}));
      out = v.integer * 1000;
      return true;
    }
    if (v.type == Type::String && parse_duration(v.str, out)) return true;
    return fail(v.pos, cat({m.key, ": expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or "
                            "an integer of seconds), got ",
                            v.type == Type::String ? quote(v.str) : Str(toml::type_name(v.type))}));
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
    return fail(v.pos, cat({m.key, ": expected a signal (\"SIGTERM\", \"TERM\" or 1 to 64",
                            allow_none ? ", or \"none\"" : "", "), got ",
                            v.type == Type::String || v.type == Type::Integer ? quote(v.str)
                                                                              : Str(toml::type_name(v.type))}));
  }

  // A string, or an array of strings (a list of one is the same as the string).
  bool strings(const Member& m, std::vector<const Value*>& out) {
    if (m.value.type == Type::String) {
      out.push_back(&m.value);
      return true;
    }
    if (!expect(m, m.value, Type::Array, "an array of strings")) return false;
    for (const Value& v : m.value.items) {
      if (!expect(m, v, Type::String, "a string")) return false;
      out.push_back(&v);
    }
    return true;
  }

  bool init_key(const Member& m, InitSpec& init) {
    int k = pick(m, kInitKeys, count(kInitKeys), "[init]");
    int c = 0;
    switch (k) {
      case kShutdownTimeout:
        return duration(m, init.shutdown_timeout);
      case kLogTimestamps:
        return boolean(m, init.log_timestamps);
      case kVm: {
        if (m.value.type == Type::Boolean) {
          init.vm = m.value.boolean ? VmMode::On : VmMode::Off;
          return true;
        }
        static const char* const names[] = {"auto", "on", "off"};
        if (!choice(m, names, 3, c)) return false;
        init.vm = c == 0 ? VmMode::Auto : c == 1 ? VmMode::On : VmMode::Off;
        return true;
      }
      case kFinalAction: {
        static const char* const names[] = {"poweroff", "reboot", "halt"};
        if (!choice(m, names, 3, c)) return false;
        init.final_action = c == 0 ? FinalAction::Poweroff : c == 1 ? FinalAction::Reboot : FinalAction::Halt;
        return true;
      }
      case kHostname:
        if (!text(m, m.value, init.hostname)) return false;
        if (init.hostname.size() > 64) return fail(m.value.pos, "hostname: longer than 64 characters");
        return true;
      case kMountCgroup:
        return boolean(m, init.mount_cgroup);
    }
    return false;
  }

  bool service(const Member& sm, Config& cfg) {
    if (!valid_name(sm.key))
      return fail(sm.pos, cat({"invalid service name ", quote(sm.key),
                               " (use 1 to 64 letters, digits, '_' or '-')"}));
    if (!expect(sm, sm.value, Type::Table, "a table")) return false;
    for (const ServiceSpec& o : cfg.services) {
      if (o.name.view() == sm.key.view())
        return fail(sm.pos, cat({"service '", sm.key, "' is already defined at ", o.file, ":", num(o.line)}));
    }
    section_ = cat({"[service.", sm.key, "]"});
    ServiceSpec s;
    s.name = sm.key;
    s.file = file_;
    s.line = sm.pos.line;
    const Member* restart = nullptr;
    const Member* user = nullptr;
    const Member* group = nullptr;
    bool command = false;
    for (const Member& m : sm.value.members) {
      if (!service_key(m, s)) return false;
      command = command || m.key == "command";
      if (m.key == "restart") restart = &m;
      if (m.key == "user") user = &m;
      if (m.key == "group") group = &m;
    }
    if (!command) return fail(sm.pos, cat({"service '", sm.key, "' has no command"}));
    if (s.type == ServiceType::Oneshot) {
      if (!restart) s.restart = RestartPolicy::Never;
      if (s.restart == RestartPolicy::Always)
        return fail(restart->value.pos, "restart: a oneshot cannot use \"always\" (use \"on-failure\" or \"never\")");
    }
    if (s.restart_delay_max < s.restart_delay) s.restart_delay_max = s.restart_delay;
    if (!credentials(user, group, s)) return false;
    cfg.services.push_back(std::move(s));
    return true;
  }

  bool service_key(const Member& m, ServiceSpec& s) {
    const Value& v = m.value;
    int c = 0;
    int64_t n = 0;
    std::vector<const Value*> list;
    switch (pick(m, kServiceKeys, count(kServiceKeys), section_)) {
      case kType: {
        static const char* const names[] = {"simple", "oneshot"};
        if (!choice(m, names, 2, c)) return false;
        s.type = c == 0 ? ServiceType::Simple : ServiceType::Oneshot;
        return true;
      }
      case kCommand:
        if (v.type == Type::String) {
          if (v.str.empty()) return fail(v.pos, "command: empty command");
          s.argv = {"/bin/sh", "-c", v.str};
          return true;
        }
        if (!strings(m, list)) return false;
        if (list.empty() || list[0]->str.empty()) return fail(v.pos, "command: empty command");
        for (const Value* e : list) s.argv.push_back(e->str);
        return true;
      case kAfter:
        if (!strings(m, list)) return false;
        for (const Value* e : list) {
          s.after.push_back(e->str);
          s.after_pos.push_back(e->pos);
        }
        return true;
      case kRestart: {
        static const char* const names[] = {"always", "on-failure", "never"};
        if (!choice(m, names, 3, c)) return false;
        s.restart = c == 0 ? RestartPolicy::Always : c == 1 ? RestartPolicy::OnFailure : RestartPolicy::Never;
        return true;
      }
      case kRestartDelay:
        return duration(m, s.restart_delay);
      case kRestartDelayMax:
        return duration(m, s.restart_delay_max);
      case kMaxRestarts:
        if (v.type == Type::String && v.str == "unlimited") {
          s.max_restarts = -1;
          return true;
        }
        if (!integer(m, -1, 1000000, n)) return false;
        s.max_restarts = static_cast<int>(n);
        return true;
      case kRestartWindow:
        return duration(m, s.restart_window);
      case kStopSignal:
        return signal(m, s.stop_signal, false);
      case kStopTimeout:
        return duration(m, s.stop_timeout);
      case kCritical:
        return boolean(m, s.critical);
      case kUser:
      case kGroup: {  // checked here, resolved in credentials()
        Str name;
        return v.type == Type::Integer ? integer(m, 0, 0xfffffffe, n) : text(m, v, name);
      }
      case kWorkdir:
        return path(m, s.workdir);
      case kEnv:
        return env(m, s);
      case kEnvFile:
        return path(m, s.env_file);
      case kUmask:
        return umask(m, s.umask);
      case kRlimits:
        return rlimits(m, s);
      case kLog: {
        static const char* const names[] = {"prefix", "inherit", "null"};
        if (!choice(m, names, 3, c)) return false;
        s.log = c == 0 ? LogMode::Prefix : c == 1 ? LogMode::Inherit : LogMode::Null;
        return true;
      }
      case kInstances:
        if (!integer(m, 1, kMaxInstances, n)) return false;
        s.instances = static_cast<int>(n);
        return true;
      case kReloadSignal:
        return signal(m, s.reload_signal, true);
    }
    return false;
  }

  bool env(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table of NAME = \"value\"")) return false;
    for (const Member& e : m.value.members) {
      const Value& v = e.value;
      if (e.key.empty() || e.key.view().find('=') != std::string_view::npos)
        return fail(e.pos, cat({"env: invalid variable name ", quote(e.key)}));
      Str val = v.type == Type::Boolean ? Str(v.boolean ? "true" : "false") : Str(v.str);
      if (v.type != Type::String && v.type != Type::Integer && v.type != Type::Boolean)
        return fail(v.pos, cat({"env: ", quote(e.key), ": expected a string, got ", toml::type_name(v.type)}));
      s.env.push_back(cat({e.key, "=", val}));
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
      return fail(v.pos, cat({"umask: expected an octal mode such as \"022\", got ",
                              ok || v.type == Type::String || v.type == Type::Integer
                                  ? quote(v.str)
                                  : Str(toml::type_name(v.type))}));
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
    return fail(v.pos, cat({"rlimits: ", m.key, ": expected an integer, \"unlimited\" or [soft, hard], got ",
                            v.type == Type::String || v.type == Type::Integer ? quote(v.str)
                                                                              : Str(toml::type_name(v.type))}));
  }

  bool rlimits(const Member& m, ServiceSpec& s) {
    if (!expect(m, m.value, Type::Table, "a table such as { nofile = 4096 }")) return false;
    for (const Member& e : m.value.members) {
      int k = pick(e, kLimitNames, count(kLimitNames), "rlimits");
      if (k < 0) return false;
      RlimitSpec r;
      r.resource = kLimitIds[k];
      const Value& v = e.value;
      if (v.type == Type::Array) {
        if (v.items.size() != 2)
          return fail(v.pos, cat({"rlimits: ", e.key, ": expected [soft, hard]"}));
        if (!limit_value(e, v.items[0], r.soft) || !limit_value(e, v.items[1], r.hard)) return false;
        if (r.soft > r.hard) return fail(v.pos, cat({"rlimits: ", e.key, ": soft limit above the hard limit"}));
      } else {
        if (!limit_value(e, v, r.soft)) return false;
        r.hard = r.soft;
      }
      s.rlimits.push_back(r);
    }
    return true;
  }

  Str id_text(const Value& v) { return v.type == Type::Integer ? num(v.integer) : Str(v.str); }

  // user -> uid, primary group, supplementary groups; group overrides the
  // primary group (as initgroups(user, group) would).
  bool credentials(const Member* user, const Member* group, ServiceSpec& s) {
    Str why;
    UserDb::User u;
    if (user) {
      if (!users_.user(id_text(user->value), u, why)) return fail(user->value.pos, cat({"user: ", why}));
      s.has_user = s.has_group = true;
      s.uid = u.uid;
      s.gid = u.gid;
    }
    if (group) {
      if (!users_.group(id_text(group->value), s.gid, why)) return fail(group->value.pos, cat({"group: ", why}));
      s.has_group = true;
    }
    if (!s.has_group) return true;
    s.groups = {s.gid};
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
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
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
      err = ConfigError{f, 0, 0,
                        e == EFBIG ? Str("file too large (the limit is 1 MiB)") : cat({"unable to read: ", strerror(e)})};
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
  Str main = cat({root, "/etc/oxinit.toml"});
  if (stat(main.c_str(), &st) == 0) files.push_back(main);
  Str dir = cat({root, "/etc/oxinit.d"});
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  std::vector<Str> found;
  while (dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= 5 || name.substr(name.size() - 5) != ".toml") continue;
    Str p = cat({dir, "/", name});
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) found.push_back(std::move(p));
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  for (auto& f : found) files.push_back(std::move(f));
  return files;
}

}  // namespace oxinit
