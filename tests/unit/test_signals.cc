#include <doctest/doctest.h>

#include <csignal>
#include <string>

#include "signals.h"

using namespace oxinit;

TEST_CASE("signal names") {
  CHECK(signal_by_name("SIGTERM", false, false) == SIGTERM);
  CHECK(signal_by_name("TERM", false, false) == 0);
  CHECK(signal_by_name("TERM", true, false) == SIGTERM);
  CHECK(signal_by_name("15", true, false) == 0);
  CHECK(signal_by_name("15", true, true) == 15);
  CHECK(signal_by_name("0", true, true) == 0);
  CHECK(signal_by_name("65", true, true) == 0);
  CHECK(signal_by_name("sigterm", true, true) == 0);  // case-sensitive, as tini
  CHECK(signal_by_name("SIGRTMIN", true, true) == 34);
  CHECK(signal_by_name("SIGRTMIN+3", true, true) == 37);
  CHECK(signal_by_name("RTMAX-1", true, true) == 63);
  CHECK(signal_by_name("SIGRTMIN+31", true, true) == 0);
  CHECK(signal_by_name("SIGPWR", false, false) == SIGPWR);
  char b[16];
  CHECK(std::string_view(signal_name(SIGQUIT, b)) == "SIGQUIT");
  CHECK(std::string_view(signal_name(36, b)) == "SIGRTMIN+2");
  // Every signal's name maps back to it, 1..64. 32 and 33 are musl's own
  // (no name): "SIG32", taken as a number only. 34..64 are SIGRTMIN+k.
  int named = 0;
  for (int s = 1; s < kMaxSignal; s++) {
    CAPTURE(s);
    const char* n = signal_name(s, b);
    if (s == 32 || s == 33) {
      CHECK(std::string_view(n) == (s == 32 ? "SIG32" : "SIG33"));
      CHECK(signal_by_name(n, false, false) == 0);
    } else {
      CHECK(signal_by_name(n, false, false) == s);
      CHECK(signal_by_name(std::string_view(n).substr(3), true, false) == s);
      named++;
    }
    if (s >= 34) CHECK(std::string_view(n) == "SIGRTMIN+" + std::to_string(s - 34));
    CHECK(signal_by_name(std::to_string(s), true, true) == s);
  }
  CHECK(named == 62);
  CHECK(std::string_view(signal_name(64, b)) == "SIGRTMIN+30");
  CHECK(signal_by_name("SIGRTMAX", true, true) == 64);
}

TEST_CASE("rewrite map") {
  SignalRewrite rw;
  CHECK(rw.apply(SIGTERM) == SIGTERM);
  CHECK(parse_rewrite("TERM:QUIT", rw));
  CHECK(parse_rewrite("SIGUSR1:0", rw));
  CHECK(parse_rewrite("12:10", rw));
  CHECK(rw.apply(SIGTERM) == SIGQUIT);
  CHECK(rw.apply(SIGUSR1) == 0);
  CHECK(rw.apply(SIGUSR2) == SIGUSR1);
  CHECK_FALSE(parse_rewrite("TERM", rw));
  CHECK_FALSE(parse_rewrite("KILL:TERM", rw));
  CHECK_FALSE(parse_rewrite("CHLD:TERM", rw));
  CHECK_FALSE(parse_rewrite("TERM:BOGUS", rw));
  CHECK_FALSE(parse_rewrite(":1", rw));
}

TEST_CASE("synchronous signals stay unblocked") {
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) CHECK(is_synchronous_signal(s));
  for (int s : {SIGTERM, SIGINT, SIGTTIN, SIGTTOU, SIGCHLD}) CHECK_FALSE(is_synchronous_signal(s));
}
