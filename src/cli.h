// The command line and TINI_*/OXINIT_* variables -> Options. No syscalls:
// everything here is pure, so unit tests drive it with plain arrays.
#pragma once
#include <cstdint>
#include <vector>

#include "signals.h"
#include "spec.h"
#include "sys/str.h"

namespace oxinit {

enum class CliAction { Run, Help, Version, License, Check, UsageError, ValueError };

struct Options {
  int verbosity = 1;
  bool subreaper = false;        // -s: accepted; oxinit registers by itself anyway
  bool warn_reap = false;        // -w
  bool kill_group = false;       // -g
  int pdeath_signal = 0;         // -p
  uint64_t remap[4] = {0, 0, 0, 0};  // -e: 256-bit set of exit codes mapped to 0
  SignalRewrite rewrite;         // -r
  Millis kill_timeout = -1;      // -t: SIGKILL the child's group this long after a stop signal
  Millis grace = 2000;           // -G: leftovers' grace at exit
  bool grace_set = false;
  std::vector<Str> config_files; // -c (repeatable), OXINIT_CONFIG
  bool config_given = false;
  VmMode vm = VmMode::Auto;      // --vm / --no-vm
  Str root;                      // --check --root DIR: users, groups, env files and the
                                 // default config files as the image at DIR sees them
  std::vector<Str> command;      // PROGRAM [ARGS...]

  bool remapped(int code) const {
    return code >= 0 && code < 256 && (remap[code / 64] >> (code % 64) & 1);
  }
};

struct CliOutcome {
  CliAction action = CliAction::Run;
  Options options;
  Str message;  // for UsageError / ValueError: the line to print
};

// argv as given to main (argv[0] included); envp as "NAME=value" strings.
CliOutcome parse_cli(int argc, const char* const* argv, const char* const* envp);

// Exit code rule shared by every mode: -e remaps a final code to 0.
int final_exit_code(const Options& o, int code);

// Usage text with `name` = basename(argv[0]).
Str usage_text(std::string_view name);
extern const char kLicenseText[];
extern const char kVersionLine[];  // with its newline

// Durations: integer seconds ("5"), or with a unit: "250ms", "1.5s", "2m", "1h",
// at most kMaxDuration. On error out is left alone.
constexpr Millis kMaxDuration = Millis{1000000000} * 1000;  // 10^9 s, about 31 years
bool parse_duration(std::string_view s, Millis& out);

}  // namespace oxinit
