// libFuzzer target: the small value parsers shared by the command line and
// the config (signal names and numbers, -r SRC:DST, durations). The first
// byte picks the parser and its flags; the rest is the text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cli.h"
#include "signals.h"

using namespace oxinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode % 3) {
    case 0: {
      bool bare = mode & 8, number = mode & 16;
      int sig = signal_by_name(s, bare, number);
      if (sig < 0 || sig >= kMaxSignal) abort();
      if (sig) {
        // A named signal's name maps back to it ("SIG33", musl's internal
        // numbers 32 and 33, has no name: accepted as a number only).
        char b[32];
        const char* name = signal_name(sig, b);
        bool numeric = name[3] >= '0' && name[3] <= '9';
        if (!numeric && signal_by_name(name, false, false) != sig) abort();
      }
      break;
    }
    case 1: {
      SignalRewrite rw;
      bool ok = parse_rewrite(s, rw);
      int changed = 0;
      for (int i = 0; i < kMaxSignal; i++) {
        if (rw.map[i] < 0 || rw.map[i] >= kMaxSignal) abort();
        if (rw.map[i] != i) changed++;
      }
      if (!ok && changed) abort();  // a rejected spec changes nothing
      if (rw.map[SIGKILL] != SIGKILL || rw.map[SIGSTOP] != SIGSTOP) abort();
      break;
    }
    default: {
      Millis ms = -12345;
      bool ok = parse_duration(s, ms);
      if (ok && ms < 0) abort();
      if (!ok && ms != -12345) abort();  // a rejected value leaves out alone
      break;
    }
  }
  return 0;
}
