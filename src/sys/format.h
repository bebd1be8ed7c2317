// A small printf subset for messages. musl's printf pulls in its floating-point
// formatter (~9 KB); oxinit never prints floats.
// Prints %d %i %u %x %X %o %c %s %p %% with flags - 0 + space #, a width and
// a precision (digits or *), and lengths hh h l ll L q j z t, as printf does
// (tests/unit/test_format.cc compares it with glibc's). Floats print "?" and
// %n writes nothing, but every conversion takes its argument, so none can
// shift the arguments after it. Widths and precisions stop at 4096.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdint>

namespace oxinit {

// Like vsnprintf: always NUL-terminates (when cap > 0), returns the length
// written (truncated to cap - 1; never more).
size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap);
size_t format(char* buf, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// A duration as a person writes it: "250ms", "2s", "1.5s", "60s", "90s".
// buf must hold 24 bytes; returns buf.
const char* format_duration(char* buf, int64_t ms);

}  // namespace oxinit
