#include "cli.h"

#include <climits>
#include <cstring>

#include "sys/text.h"

namespace oxinit {

const char kVersionLine[] = "tini version " OXINIT_VERSION " - oxinit " OXINIT_VERSION "\n";

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
  // The name comes before each of these pieces.
  static const char* const kParts[] = {
      " (tini version " OXINIT_VERSION " - oxinit " OXINIT_VERSION ")\nUsage: ",
      " [OPTIONS] PROGRAM -- [ARGS] | --version\n\n"
      "Execute a program under the supervision of a valid init process (",
      ")\n\n"
      "Command line options:\n\n"
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
      "Control a running oxinit: oxinit ctl -h.\n\n"};
  Str s;
  for (const char* p : kParts) {
    s += n;
    s += p;
  }
  return s;
}

namespace {

// The index of w in a list of NUL-separated words ended by an empty one, or -1.
int word_index(const char* list, std::string_view w) {
  for (int k = 0; *list; k++, list += std::strlen(list) + 1) {
    if (w == list) return k;
  }
  return -1;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool parse_duration(std::string_view s, Millis& out) {
  // Digits, an optional fraction, a unit. The whole part stops as soon as it
  // passes the limit (no unit is below a millisecond), so nothing can wrap.
  static const uint32_t kMult[] = {1000, 1, 60000, 60000, 3600000};
  size_t i = 0, n = s.size();
  uint64_t w = 0, f = 0, div = 1;
  bool digits = false;
  for (; i < n && is_digit(s[i]); i++, digits = true) {
    w = w * 10 + static_cast<uint64_t>(s[i] - '0');
    if (w > static_cast<uint64_t>(kMaxDuration)) return false;
  }
  if (i < n && s[i] == '.') {
    // Finer than a millisecond of an hour is noise: six digits at most count.
    for (i++; i < n && is_digit(s[i]); i++, digits = true) {
      if (div < 1000000) {
        f = f * 10 + static_cast<uint64_t>(s[i] - '0');
        div *= 10;
      }
    }
  }
  std::string_view unit = s.substr(i);
  int u = word_index("s\0ms\0m\0min\0h\0", unit.empty() ? "s" : unit);
  if (u < 0 || !digits) return false;
  uint64_t ms = w * kMult[u] + f * kMult[u] / div;
  if (ms > static_cast<uint64_t>(kMaxDuration)) return false;
  out = static_cast<Millis>(ms);
  return true;
}

namespace {

struct Parser {
  CliOutcome& out;
  const char* prog;

  // Every error: the action and its one line (NUL-terminated arguments).
  [[gnu::cold, gnu::noinline, gnu::format(printf, 3, 4)]] bool fail(CliAction a, const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    out.message = vfmt(f, ap);
    va_end(ap);
    out.action = a;
    return false;
  }

  // The option letters: flags, then those that take an argument (from kArg).
  static constexpr char kLetters[] = "hlsvwgpertGc";
  static constexpr int kArg = 6;

  // Option kLetters[k] with its argument (nullptr for a flag). The switch is
  // on k rather than the letter: a jump table of 12 entries, not of 'G'..'w'.
  bool option(int k, const char* arg) {
    if (!arg) arg = "";  // a flag's; those that take one always get it
    Options& o = out.options;
    bool ok = true;
    switch (kLetters[k]) {
      case 'h': out.action = CliAction::Help; break;
      case 'l': out.action = CliAction::License; break;
      case 's': o.subreaper = true; break;
      case 'v': o.verbosity++; break;
      case 'w': o.warn_reap = true; break;
      case 'g': o.kill_group = true; break;
      case 'p':
        // tini: exact, case-sensitive SIG names only.
        ok = (o.pdeath_signal = signal_by_name(arg, false, false)) != 0;
        break;
      case 'e': {
        int64_t code = 0;
        // tini uses strtol: "" is 0, a leading blank or '+' is accepted.
        const char* v = arg;
        while (*v == ' ' || *v == '\t') v++;
        ok = (!*v || parse_int(v, code)) && code >= 0 && code <= 255;
        if (ok) o.remap[code / 64] |= 1ULL << (code % 64);
        break;
      }
      case 'r': ok = parse_rewrite(arg, o.rewrite); break;
      case 't': ok = parse_duration(arg, o.kill_timeout); break;
      case 'G': ok = o.grace_set = parse_duration(arg, o.grace); break;
      case 'c':
        if ((ok = *arg)) {
          o.config_files.push_back(arg);
          o.config_given = true;
        } else {
          arg = "(an empty file name)";
        }
        break;
    }
    return ok || fail(CliAction::ValueError, "Not a valid option for -%c: %s", kLetters[k], arg);
  }

  bool parse_argv(int argc, const char* const* argv) {
    int i = 1;
    if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
      out.action = CliAction::Version;
      return true;
    }
    for (; i < argc; i++) {
      const char* a = argv[i];
      if (a[0] != '-' || !a[1]) break;  // first non-option ends parsing
      if (a[1] == '-') {
        if (!a[2]) { i++; break; }  // "--"
        if (!std::strcmp(a, "--check")) {
          out.action = CliAction::Check;
        } else if (!std::strcmp(a, "--vm")) {
          out.options.vm = VmMode::On;
        } else if (!std::strcmp(a, "--no-vm")) {
          out.options.vm = VmMode::Off;
        } else if (!std::strncmp(a, "--root", 6) && (!a[6] || a[6] == '=')) {
          const char* dir = a[6] ? a + 7 : i + 1 < argc ? argv[++i] : "";
          if (!*dir) return fail(CliAction::ValueError, "Not a valid value for --root: (an empty directory name)");
          out.options.root = dir;
        } else {
          // Like glibc getopt for an unknown long option in tini's optstring.
          return fail(CliAction::UsageError, "%s: invalid option -- '-'", prog);
        }
        continue;
      }
      for (const char* p = a + 1; *p; p++) {
        char c = *p;
        const char* letter = std::strchr(kLetters, c);  // c is not NUL here
        if (!letter) return fail(CliAction::UsageError, "%s: invalid option -- '%c'", prog, c);
        int k = static_cast<int>(letter - kLetters);
        const char* arg = nullptr;
        if (k >= kArg) {
          if (p[1]) arg = p + 1;
          else if (i + 1 < argc) arg = argv[++i];
          else return fail(CliAction::UsageError, "%s: option requires an argument -- '%c'", prog, c);
        }
        if (!option(k, arg)) return false;
        if (arg) break;
      }
    }
    for (; i < argc; i++) out.options.command.push_back(argv[i]);
    // An image's root serves a check; a run uses the real one.
    if (!out.options.root.empty() && out.action == CliAction::Run)
      return fail(CliAction::UsageError, "%s: --root DIR works with --check only", prog);
    return true;
  }

  // Variables are read after argv, as tini does: TINI_VERBOSITY overrides -v.
  void parse_env(const char* const* envp) {
    Options& o = out.options;
    for (; envp && *envp; envp++) {
      const char* e = *envp;
      const char* eq = std::strchr(e, '=');
      if (!eq) continue;
      bool ox = !std::strncmp(e, "OXINIT_", 7);
      const char* k = ox ? e + 7 : !std::strncmp(e, "TINI_", 5) ? e + 5 : nullptr;
      if (!k) continue;
      const char* v = eq + 1;
      // The last three are oxinit's own.
      int which = word_index("SUBREAPER\0KILL_PROCESS_GROUP\0VERBOSITY\0KILL_TIMEOUT\0GRACE\0CONFIG\0",
                             std::string_view(k, static_cast<size_t>(eq - k)));
      if (which > 2 && !ox) continue;
      bool bad = false;
      switch (which) {
        case 0: o.subreaper = true; break;
        case 1: o.kill_group = true; break;
        case 2: {
          // atoi semantics: a leading number, junk is 0; past int's range it
          // saturates (as strtol does) instead of wrapping.
          bool neg = *v == '-';
          int64_t n = 0;
          for (v += neg; is_digit(*v); v++) {
            if (n <= INT_MAX) n = n * 10 + (*v - '0');
          }
          if (neg) n = -n;
          o.verbosity = n < INT_MIN ? INT_MIN : n > INT_MAX ? INT_MAX : static_cast<int>(n);
          break;
        }
        case 3:
          if (o.kill_timeout < 0) bad = !parse_duration(v, o.kill_timeout);
          break;
        case 4:
          if (!o.grace_set) bad = !(o.grace_set = parse_duration(v, o.grace));
          break;
        case 5:
          if (!o.config_given) {
            // Several files may be given, separated by ':'.
            for (;;) {
              const char* c = std::strchr(v, ':');
              size_t len = c ? static_cast<size_t>(c - v) : std::strlen(v);
              if (len) o.config_files.push_back(std::string_view(v, len));
              if (!c) break;
              v = c + 1;
            }
            o.config_given = true;
          }
          break;
      }
      if (bad) {
        fail(CliAction::ValueError, "Not a valid value for %.*s: %s", static_cast<int>(eq - e), e, v);
        return;
      }
    }
  }
};

}  // namespace

CliOutcome parse_cli(int argc, const char* const* argv, const char* const* envp) {
  CliOutcome out{};
  Parser p{out, argc > 0 && argv[0] ? argv[0] : "oxinit"};
  if (p.parse_argv(argc, argv) && (out.action == CliAction::Run || out.action == CliAction::Check)) {
    p.parse_env(envp);
  }
  return out;
}

int final_exit_code(const Options& o, int code) { return o.remapped(code) ? 0 : code; }

}  // namespace oxinit
