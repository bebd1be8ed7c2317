// Signal names, the signal mask and signalfd set-up, the -r rewrite map, and
// what each received signal means to oxinit.
#pragma once
#include <signal.h>

#include <string_view>

#include "sys/fd.h"
#include "sys/result.h"

namespace oxinit {

constexpr int kMaxSignal = 65;  // signals are 1..64 on Linux

// "SIGTERM" -> 15. With allow_bare, "TERM" too; with allow_number, "15" too.
// Real-time signals: "SIGRTMIN+3", "RTMIN+3", "SIGRTMAX-1". Returns 0 if unknown.
int signal_by_name(std::string_view s, bool allow_bare, bool allow_number);

// "SIGTERM" for 15, "SIGRTMIN+3", or "SIG?" for an unknown number.
// Written into buf (at least 16 bytes), which is returned.
const char* signal_name(int sig, char* buf);

// Signals the kernel raises synchronously on a fault: never blocked, so a
// bug in oxinit crashes visibly instead of spinning (tini, catatonit).
bool is_synchronous_signal(int sig);

// -r SRC:DST. DST 0 drops the signal.
struct SignalRewrite {
  int map[kMaxSignal];
  SignalRewrite() {
    for (int i = 0; i < kMaxSignal; i++) map[i] = i;
  }
  int apply(int sig) const { return sig > 0 && sig < kMaxSignal ? map[sig] : sig; }
};
// Parses "SRC:DST" (names with or without SIG, or numbers) into rw.
bool parse_rewrite(std::string_view spec, SignalRewrite& rw);

// Blocks every signal but the synchronous ones and opens a signalfd for them.
// The mask that was in force before is kept for children (spawn restores it).
struct SignalSetup {
  sigset_t original_mask;
  sigset_t blocked;  // what the signalfd reads
  UniqueFd fd;
  // SIGCHLD set to SIG_IGN (or SA_NOCLDWAIT) would make the kernel reap our
  // children itself and lose their statuses (wait(2), NOTES); oxinit resets
  // it and gives children back the disposition it inherited.
  bool sigchld_was_ignored = false;
};
Result<void> setup_signals(SignalSetup& out);

// What a received signal does to oxinit.
enum class SignalMeaning {
  Reap,        // SIGCHLD
  Shutdown,    // an ordered stop of everything
  ForwardMain, // to the main command (after -r)
  ForwardAll,  // to every running service (service mode without a main command)
  Reload,      // SIGHUP in service mode: each service's reload_signal
  Unrouted,    // nobody to pass it to yet: reported, not silently dropped
};
struct SignalContext {
  bool vm = false;            // microVM mode: the machine's shutdown triggers
  bool has_main = false;      // a main command is (or will be) run
  bool main_running = false;  // ... and it has a process now
};
// A stop signal (TERM, INT, QUIT, PWR) begins the shutdown in every phase
// unless a running main command is there to receive it (tini's forwarding).
SignalMeaning signal_meaning(int sig, const SignalContext& c);
bool is_stop_signal(int sig);

}  // namespace oxinit
