#include "log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include "sys/format.h"

namespace oxinit {
namespace detail {
int g_verbosity = 1;
}  // namespace detail
using detail::g_verbosity;
namespace {
int g_out = STDOUT_FILENO;
int g_err = STDERR_FILENO;
int g_pid = 0;
const char* const kNames[] = {"FATAL", "WARN ", "INFO ", "DEBUG", "TRACE", "ERROR"};
}  // namespace

void set_verbosity(int v) { g_verbosity = v; }

void set_log_fds(int out_fd, int err_fd) {
  g_out = out_fd;
  g_err = err_fd;
}

void log(Level l, const char* fmt, ...) {
  if (!log_enabled(l)) return;
  int saved = errno;
  char buf[1024];
  if (!g_pid) g_pid = static_cast<int>(getpid());  // log() never runs in a child
  size_t n = format(buf, sizeof buf, "[%s oxinit (%d)] ", kNames[static_cast<int>(l)], g_pid);
  va_list ap;
  va_start(ap, fmt);
  size_t len = n + vformat(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  buf[len++] = '\n';
  // One write per line, so lines from oxinit and its children never interleave
  // mid-line. A full non-blocking pipe drops the message rather than block.
  ssize_t w;
  do {
    w = write(l <= Level::Warn || l == Level::Error ? g_err : g_out, buf, len);
  } while (w < 0 && errno == EINTR);
  errno = saved;
}

}  // namespace oxinit
