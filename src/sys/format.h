// A small printf subset for messages. musl's printf pulls in its floating-point
// formatter (~9 KB); oxinit never prints floats.
// Supports %s %.*s %c %d %i %u %x %ld %lu %lld %llu %zu %p-free, flags '0' and
// '-', and a width: enough for every message in oxinit.
#pragma once
#include <cstdarg>
#include <cstddef>

namespace oxinit {

// Like vsnprintf: always NUL-terminates (when cap > 0), returns the length
// written (truncated to cap - 1; never more).
size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap);
size_t format(char* buf, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace oxinit
