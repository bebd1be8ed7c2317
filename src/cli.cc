#include "cli.h"

#include <climits>
#include <cstring>

namespace oxinit {

const char kVersionLine[] = "tini version " OXINIT_VERSION " - oxinit " OXINIT_VERSION;

const char kLicenseText[] =
    "MIT License\n\n"
    "Copyright (c) 2026 The oxinit authors\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    "of this software and associated documentation files (the \"Software\"), to deal\n"
    "in the Software without restriction, including without limitation the rights\n"
    "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
    "copies of the Software, and to permit persons to whom the Software is\n"
    "furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all\n"
    "copies or substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
    "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
    "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
    "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
    "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
    "SOFTWARE.\n";

Str usage_text(std::string_view n) {
  Str s;
  s += n; s += " (tini version " OXINIT_VERSION " - oxinit " OXINIT_VERSION ")\n";
  s += "Usage: "; s += n; s += " [OPTIONS] PROGRAM -- [ARGS] | --version\n\n";
  s += "Execute a program under the supervision of a valid init process ("; s += n; s += ")\n\n";
  s += "Command line options:\n\n"
       "  --version: Show version and exit.\n"
       "  -h: Show this help message and exit.\n"
       "  -s: Register as a process subreaper (oxinit does so by itself when not PID 1).\n"
       "  -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".\n"
       "  -v: Generate more verbose output. Repeat up to 3 times.\n"
       "  -w: Print a warning when processes are getting reaped.\n"
       "  -g: Send signals to the child's process group.\n"
       "  -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0 (can be repeated).\n"
       "  -l: Show license and exit.\n"
       "  -r SRC:DST: Rewrite signal SRC to DST before forwarding (DST 0 drops it).\n"
       "  -t SECONDS: SIGKILL the child's process group SECONDS after a stop signal.\n"
       "  -G SECONDS: Grace for leftover processes at exit (default 2).\n"
       "  -c FILE: Read a service list (repeatable).\n"
       "  --check: Validate the service list, print the start order and exit.\n"
       "  --root DIR: With --check: users, groups, env files and the default\n"
       "    config files from the unpacked image at DIR.\n"
       "  --vm / --no-vm: Force or forbid microVM mode (default: PID 1 of the host).\n\n"
       "Environment variables:\n\n"
       "  TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).\n"
       "  TINI_VERBOSITY: Set the verbosity level (default: 1).\n"
       "  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.\n"
       "  OXINIT_SUBREAPER, OXINIT_VERBOSITY, OXINIT_KILL_PROCESS_GROUP: the same.\n"
       "  OXINIT_KILL_TIMEOUT: as -t.  OXINIT_GRACE: as -G.  OXINIT_CONFIG: as -c.\n"
       "  OXINIT_CONTROL_SOCKET: the control socket's path.\n\n"
       "Control a running oxinit: oxinit ctl -h.\n\n";
  return s;
}

bool parse_duration(std::string_view s, Millis& out) {
  // Digits, an optional fraction, a unit; each part bounded before it is
  // multiplied, so no value can wrap.
  size_t i = s.find_first_not_of("0123456789");
  std::string_view whole = s.substr(0, i), frac;
  if (i != std::string_view::npos && s[i] == '.') {
    size_t f = s.find_first_not_of("0123456789", i + 1);
    frac = s.substr(i + 1, f == std::string_view::npos ? f : f - i - 1);
    i = f;
  }
  std::string_view unit = i == std::string_view::npos ? "" : s.substr(i);
  uint64_t mult;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m" || unit == "min") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else return false;
  uint64_t w = 0, f = 0, div = 1;
  if (whole.empty() && frac.empty()) return false;
  if (!whole.empty() && !parse_uint(whole, kMaxDuration / mult, w)) return false;
  for (size_t k = 0; k < frac.size() && k < 6; k++) {  // finer than a millisecond of an hour is noise
    f = f * 10 + static_cast<uint64_t>(frac[k] - '0');
    div *= 10;
  }
  uint64_t ms = w * mult + f * mult / div;
  if (ms > static_cast<uint64_t>(kMaxDuration)) return false;
  out = static_cast<Millis>(ms);
  return true;
}

namespace {

struct Parser {
  CliOutcome out;
  std::string_view prog;

  bool fail(CliAction a, std::string_view msg) {
    out.action = a;
    out.message = msg;
    return false;
  }

  bool value_error(char opt, std::string_view v) {
    Str m("Not a valid option for -");
    m += opt; m += ": "; m += v;
    return fail(CliAction::ValueError, m);
  }

  // One option letter with its argument (if it takes one).
  bool option(char c, std::string_view arg) {
    Options& o = out.options;
    switch (c) {
      case 'h': out.action = CliAction::Help; return true;
      case 'l': out.action = CliAction::License; return true;
      case 's': o.subreaper = true; return true;
      case 'v': o.verbosity++; return true;
      case 'w': o.warn_reap = true; return true;
      case 'g': o.kill_group = true; return true;
      case 'p': {
        // tini: exact, case-sensitive SIG names only.
        int sig = signal_by_name(arg, false, false);
        if (!sig) return value_error(c, arg);
        o.pdeath_signal = sig;
        return true;
      }
      case 'e': {
        int64_t code = 0;
        // tini uses strtol: "" is 0, a leading blank or '+' is accepted.
        std::string_view v = arg;
        while (!v.empty() && (v[0] == ' ' || v[0] == '\t')) v.remove_prefix(1);
        if (!(v.empty() || parse_int(v, code)) || code < 0 || code > 255) return value_error(c, arg);
        o.remap[code / 64] |= 1ULL << (code % 64);
        return true;
      }
      case 'r':
        if (!parse_rewrite(arg, o.rewrite)) return value_error(c, arg);
        return true;
      case 't':
        if (!parse_duration(arg, o.kill_timeout)) return value_error(c, arg);
        return true;
      case 'G':
        if (!parse_duration(arg, o.grace)) return value_error(c, arg);
        o.grace_set = true;
        return true;
      case 'c':
        if (arg.empty()) return value_error(c, "(an empty file name)");
        o.config_files.push_back(arg);
        o.config_given = true;
        return true;
      default:
        return false;
    }
  }

  static bool takes_arg(char c) { return std::strchr("pertGc", c) != nullptr; }
  static bool is_flag(char c) { return std::strchr("hlsvwg", c) != nullptr; }

  bool parse_argv(int argc, const char* const* argv) {
    int i = 1;
    if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
      out.action = CliAction::Version;
      return true;
    }
    for (; i < argc; i++) {
      std::string_view a = argv[i];
      if (a == "--") { i++; break; }
      if (a.size() < 2 || a[0] != '-') break;  // first non-option ends parsing
      if (a[1] == '-') {
        if (a == "--check") { out.action = CliAction::Check; continue; }
        if (a == "--vm") { out.options.vm = VmMode::On; continue; }
        if (a == "--no-vm") { out.options.vm = VmMode::Off; continue; }
        if (a == "--root" || a.substr(0, 7) == "--root=") {
          std::string_view dir = a.size() > 6 ? a.substr(7) : i + 1 < argc ? argv[++i] : "";
          if (dir.empty()) return fail(CliAction::ValueError, "Not a valid value for --root: (an empty directory name)");
          out.options.root = dir;
          continue;
        }
        // Like glibc getopt for an unknown long option in tini's optstring.
        return fail(CliAction::UsageError, Str(prog) + ": invalid option -- '-'");
      }
      for (size_t k = 1; k < a.size(); k++) {
        char c = a[k];
        if (takes_arg(c)) {
          std::string_view arg;
          if (k + 1 < a.size()) {
            arg = a.substr(k + 1);
          } else if (i + 1 < argc) {
            arg = argv[++i];
          } else {
            Str m(prog);
            m += ": option requires an argument -- '"; m += c; m += "'";
            return fail(CliAction::UsageError, m);
          }
          if (!option(c, arg)) return false;
          break;
        }
        if (!is_flag(c)) {
          Str m(prog);
          m += ": invalid option -- '"; m += c; m += "'";
          return fail(CliAction::UsageError, m);
        }
        option(c, {});
      }
    }
    for (; i < argc; i++) out.options.command.push_back(argv[i]);
    // An image's root serves a check; a run uses the real one.
    if (!out.options.root.empty() && out.action == CliAction::Run)
      return fail(CliAction::UsageError, Str(prog) + ": --root DIR works with --check only");
    return true;
  }

  // Variables are read after argv, as tini does: TINI_VERBOSITY overrides -v.
  bool parse_env(const char* const* envp) {
    Options& o = out.options;
    for (; envp && *envp; envp++) {
      std::string_view e = *envp;
      size_t eq = e.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view k = e.substr(0, eq), v = e.substr(eq + 1);
      if (k.substr(0, 5) == "TINI_") k.remove_prefix(5);
      else if (k.substr(0, 7) == "OXINIT_") k.remove_prefix(7);
      else continue;
      if (k == "SUBREAPER") {
        o.subreaper = true;
      } else if (k == "KILL_PROCESS_GROUP") {
        o.kill_group = true;
      } else if (k == "VERBOSITY") {
        // atoi semantics: a leading number, junk is 0; past int's range it
        // saturates (as strtol does) instead of wrapping.
        size_t d = !v.empty() && v[0] == '-';
        while (d < v.size() && v[d] >= '0' && v[d] <= '9') d++;
        std::string_view num = v.substr(0, d);
        int64_t n = 0;
        if (!parse_int(num, n)) n = num.size() < 2 ? 0 : num[0] == '-' ? INT64_MIN : INT64_MAX;
        o.verbosity = n < INT_MIN ? INT_MIN : n > INT_MAX ? INT_MAX : static_cast<int>(n);
      } else if (k == "KILL_TIMEOUT" && e.substr(0, 7) == "OXINIT_") {
        if (o.kill_timeout < 0 && !parse_duration(v, o.kill_timeout)) return fail(CliAction::ValueError, Str("Not a valid value for OXINIT_KILL_TIMEOUT: ") + v);
      } else if (k == "GRACE" && e.substr(0, 7) == "OXINIT_") {
        if (!o.grace_set) {
          if (!parse_duration(v, o.grace)) return fail(CliAction::ValueError, Str("Not a valid value for OXINIT_GRACE: ") + v);
          o.grace_set = true;
        }
      } else if (k == "CONFIG" && e.substr(0, 7) == "OXINIT_") {
        if (!o.config_given) {
          // Several files may be given, separated by ':'.
          while (!v.empty()) {
            size_t c = v.find(':');
            if (c) o.config_files.push_back(v.substr(0, c));
            if (c == std::string_view::npos) break;
            v.remove_prefix(c + 1);
          }
          o.config_given = true;
        }
      }
    }
    return true;
  }
};

}  // namespace

CliOutcome parse_cli(int argc, const char* const* argv, const char* const* envp) {
  Parser p;
  std::string_view a0 = argc > 0 && argv[0] ? argv[0] : "oxinit";
  p.prog = a0;
  if (p.parse_argv(argc, argv) &&
      (p.out.action == CliAction::Run || p.out.action == CliAction::Check)) {
    p.parse_env(envp);
  }
  return std::move(p.out);
}

int final_exit_code(const Options& o, int code) { return o.remapped(code) ? 0 : code; }

}  // namespace oxinit
