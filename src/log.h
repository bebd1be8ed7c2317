// oxinit's own messages: "[LEVEL oxinit (PID)] text", tini's format.
// FATAL and WARN go to stderr; INFO, DEBUG and TRACE to stdout (as tini).
#pragma once
#include <string_view>

#include "sys/str.h"

namespace oxinit {

// Error: a failure oxinit carries on after (a module that did not load),
// printed whatever the verbosity, as Fatal.
enum class Level { Fatal = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4, Error = 5 };

// A message of level L is printed when L is Fatal or Error, or verbosity >= L.
void set_verbosity(int v);
namespace detail {
extern int g_verbosity;
}
inline bool log_enabled(Level l) {
  return l == Level::Fatal || l == Level::Error || detail::g_verbosity >= static_cast<int>(l);
}

// Where messages go once the loop runs: the same bounded, non-blocking
// queues as the services' lines (logs.h), so a stdout nobody reads cannot
// wedge PID 1 in write(). Until then (and with no sink) a plain write.
// `line` ends with a newline; its text starts at `head`, after the
// "[LEVEL oxinit (PID)] " tag. FATAL and WARN (level <= 1) are for stderr.
using LogSink = void (*)(void* ctx, int level, std::string_view line, size_t head);
void set_log_sink(LogSink sink, void* ctx);

// The i-th name of `packed` ("a\0b\0", ending in an empty name), "?" past
// the last: a name table without a pointer per name.
const char* nth_name(const char* packed, unsigned i);
// How many names `packed` holds (for a static_assert against its enum).
constexpr unsigned count_names(const char* packed) {
  unsigned n = 0;
  for (; *packed; n++) {
    while (*packed++) {
    }
  }
  return n;
}

// Saves and restores errno, so callers can log between a failing call and
// reading errno.
void log(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// log() of "service NAME: " followed by fmt.
void log_service(Level l, const Str& name, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// The level is checked before the arguments are evaluated: a DEBUG line on
// the signal path costs a compare, not a signal_name() lookup and a call.
// WARN is on by default (verbosity 1) and its lines are rare, so log()
// alone checks it: a compare at ~50 call sites cost ~0.5 KB.
#define OX_LOG_AT(level, ...) \
  (::oxinit::log_enabled(level) ? ::oxinit::log(level, __VA_ARGS__) : void())
#define OX_FATAL(...) ::oxinit::log(::oxinit::Level::Fatal, __VA_ARGS__)
#define OX_ERROR(...) ::oxinit::log(::oxinit::Level::Error, __VA_ARGS__)
#define OX_WARN(...) ::oxinit::log(::oxinit::Level::Warn, __VA_ARGS__)
#define OX_INFO(...) OX_LOG_AT(::oxinit::Level::Info, __VA_ARGS__)
#define OX_DEBUG(...) OX_LOG_AT(::oxinit::Level::Debug, __VA_ARGS__)
#define OX_TRACE(...) OX_LOG_AT(::oxinit::Level::Trace, __VA_ARGS__)
#define OX_SVC_WARN(...) ::oxinit::log_service(::oxinit::Level::Warn, __VA_ARGS__)
#define OX_SVC_INFO(...) \
  (::oxinit::log_enabled(::oxinit::Level::Info) ? ::oxinit::log_service(::oxinit::Level::Info, __VA_ARGS__) : void())
#define OX_SVC_DEBUG(...) \
  (::oxinit::log_enabled(::oxinit::Level::Debug) ? ::oxinit::log_service(::oxinit::Level::Debug, __VA_ARGS__) : void())

}  // namespace oxinit
