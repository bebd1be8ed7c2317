// libFuzzer target: the small value parsers shared by the command line and
// the config (signal names and numbers, -r SRC:DST, durations, integers).
// The first byte picks the parser and its flags; the rest is the text.
// Each accepted value must round-trip (format it, parse it again: the same
// value) and agree with a slow reference computed in 128 bits, so a value
// that wrapped into range cannot pass (issue 11).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "cli.h"
#include "signals.h"
#include "sys/str.h"

using namespace oxinit;

namespace {

using u128 = unsigned __int128;
constexpr u128 kHuge = u128{1} << 100;  // saturation point: past every limit checked here

// Digits only -> their value, saturated at kHuge; false if not all digits or empty.
bool ref_digits(std::string_view s, u128& v) {
  v = 0;
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (v < kHuge) v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

std::string num(int64_t v) {
  char b[24];
  return std::string(b, format_int(b, v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode % 5) {
    case 0: {
      bool bare = mode & 8, number = mode & 16;
      int sig = signal_by_name(s, bare, number);
      if (sig < 0 || sig >= kMaxSignal) abort();
      u128 ref = 0;
      bool digits = ref_digits(s, ref);
      // A number names that signal when it is 1..64, else none.
      if (number && digits && sig != (ref >= 1 && ref <= 64 ? static_cast<int>(ref) : 0)) abort();
      if (digits && sig && ref != static_cast<u128>(sig)) abort();  // a wrapped number
      if (sig) {
        // A named signal's name maps back to it ("SIG33", musl's internal
        // numbers 32 and 33, has no name: accepted as a number only).
        char b[32];
        const char* name = signal_name(sig, b);
        bool numeric = name[3] >= '0' && name[3] <= '9';
        if (!numeric && signal_by_name(name, false, false) != sig) abort();
        if (signal_by_name(num(sig), true, true) != sig) abort();
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
      if (ok) {  // the same mapping from its numbers
        size_t colon = s.find(':');
        int src = signal_by_name(s.substr(0, colon), true, true);
        SignalRewrite again;
        if (!parse_rewrite(num(src) + ":" + num(rw.map[src]), again) || again.map[src] != rw.map[src]) abort();
      }
      break;
    }
    case 2: {
      Millis ms = -12345;
      bool ok = parse_duration(s, ms);
      if (ok && (ms < 0 || ms > kMaxDuration)) abort();
      if (!ok && ms != -12345) abort();  // a rejected value leaves out alone
      if (ok) {
        Millis back = -1;
        if (!parse_duration(num(ms) + "ms", back) || back != ms) abort();
      }
      // Digits and a unit, no fraction: the value is exactly digits * unit.
      size_t end = s.find_first_not_of("0123456789");
      std::string_view unit = end == std::string_view::npos ? "" : s.substr(end);
      u128 whole = 0;
      u128 mult = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" || unit == "min" ? 60000
                : unit == "h" ? 3600000 : 0;
      if (mult && ref_digits(s.substr(0, end), whole)) {
        bool fits = whole * mult <= static_cast<u128>(kMaxDuration);
        if (ok != fits || (ok && static_cast<u128>(ms) != whole * mult)) abort();
      }
      break;
    }
    case 3: {
      int64_t v = 777;
      bool ok = parse_int(s, v);
      std::string_view d = s;
      bool neg = !d.empty() && d[0] == '-';
      if (!d.empty() && (d[0] == '-' || d[0] == '+')) d.remove_prefix(1);
      u128 ref = 0;
      bool fits = ref_digits(d, ref) && ref <= (neg ? u128{1} << 63 : (u128{1} << 63) - 1);
      if (ok != fits) abort();
      if (!ok && v != 777) abort();
      if (ok) {
        if ((neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v)) != static_cast<uint64_t>(ref)) abort();
        int64_t back = 0;
        if (!parse_int(num(v), back) || back != v) abort();
      }
      break;
    }
    default: {
      // The maximum: 2^64 - 1, or one of the limits oxinit uses.
      static constexpr uint64_t kMax[] = {UINT64_MAX, 0xfffffffe, 65535, 1023, 64, 0, uint64_t{1} << 63};
      uint64_t max = kMax[(mode >> 3) % (sizeof kMax / sizeof kMax[0])];
      uint64_t v = 777;
      bool ok = parse_uint(s, max, v);
      u128 ref = 0;
      bool fits = ref_digits(s, ref) && ref <= max;
      if (ok != fits || (ok && v != static_cast<uint64_t>(ref)) || (!ok && v != 777)) abort();
      break;
    }
  }
  return 0;
}
