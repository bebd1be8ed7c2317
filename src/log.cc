#include "log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "sys/format.h"

namespace oxinit {
namespace detail {
int g_verbosity = 1;
}  // namespace detail
using detail::g_verbosity;
namespace {
LogSink g_sink = nullptr;
void* g_sink_ctx = nullptr;
int g_pid = 0;
// Six bytes each: the name of level l starts at 6 * l.
constexpr char kNames[] = "FATAL\0WARN \0INFO \0DEBUG\0TRACE\0ERROR";
}  // namespace

void set_verbosity(int v) { g_verbosity = v; }

const char* nth_name(const char* packed, unsigned i) {
  for (; *packed; packed += strlen(packed) + 1) {
    if (i-- == 0) return packed;
  }
  return "?";
}

void set_log_sink(LogSink sink, void* ctx) {
  g_sink = sink;
  g_sink_ctx = ctx;
}

// oxinit logs no floating-point argument (format.h), so on x86-64 the
// varargs entry points need not save the vector registers (~70 bytes each).
#if defined(__x86_64__) && !defined(__clang__)
#define OX_NO_VECTOR_REGS [[gnu::target("general-regs-only")]]
#else
#define OX_NO_VECTOR_REGS
#endif

namespace {

// service: nullptr, or the name of the service the line is about.
void vlog(Level l, const char* service, const char* fmt, va_list ap) {
  if (!log_enabled(l)) return;
  int saved = errno;
  char buf[1024];
  if (!g_pid) g_pid = static_cast<int>(getpid());  // log() never runs in a child
  size_t n = format(buf, sizeof buf, "[%s oxinit (%d)] ", kNames + static_cast<size_t>(l) * 6, g_pid);
  size_t len = n;
  if (service) len += format(buf + len, sizeof buf - len - 1, "service %s: ", service);
  len += vformat(buf + len, sizeof buf - len - 1, fmt, ap);
  buf[len++] = '\n';
  bool to_stderr = l <= Level::Warn || l == Level::Error;
  if (g_sink) {
    g_sink(g_sink_ctx, static_cast<int>(l), std::string_view(buf, len), n);
  } else {
    // One write per line, so lines from oxinit and its children never
    // interleave mid-line.
    ssize_t w;
    do {
      w = write(to_stderr ? STDERR_FILENO : STDOUT_FILENO, buf, len);
    } while (w < 0 && errno == EINTR);
  }
  errno = saved;
}

}  // namespace

OX_NO_VECTOR_REGS void log(Level l, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(l, nullptr, fmt, ap);
  va_end(ap);
}

OX_NO_VECTOR_REGS void log_service(Level l, const Str& name, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(l, name.c_str(), fmt, ap);
  va_end(ap);
}

}  // namespace oxinit
