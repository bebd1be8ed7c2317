#include "sys/format.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cwchar>

namespace oxinit {
namespace {

// Widths and precisions past this are cut to it: the output is bounded by
// cap anyway, and a huge width must not cost a loop of billions.
constexpr size_t kMaxPad = 4096;
constexpr unsigned kLongBits = 8 * sizeof(long);

struct Out {
  char* buf;
  size_t cap;
  size_t n = 0;
  void put(char c) {
    if (n + 1 < cap) buf[n] = c;
    n++;
  }
  void pad(size_t len, size_t width, char fill) {
    for (size_t i = len; i < width; i++) put(fill);
  }
};

size_t digits(const char*& p) {
  size_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v < kMaxPad) v = v * 10 + static_cast<size_t>(*p - '0');
  }
  return v < kMaxPad ? v : kMaxPad;
}

}  // namespace

// Every conversion printf knows takes its argument off the list with the
// type printf would (GCC's format check has already refused the unknown
// ones), so a conversion oxinit does not print, such as %f, can never shift
// the arguments after it.
size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
  Out o{buf, cap};
  // One place each that takes an int or a pointer off the list (each
  // va_arg is some 30 bytes of code); ap is shared by reference.
  auto int_arg = [&]() __attribute__((noinline)) { return va_arg(ap, int); };
  auto ptr_arg = [&]() __attribute__((noinline)) { return va_arg(ap, const void*); };
  for (const char* p = fmt; *p; p++) {
    if (*p != '%') {
      o.put(*p);
      continue;
    }
    p++;
    bool left = false, zero = false, alt = false;
    char sign = 0;
    for (;; p++) {
      if (*p == '-') left = true;
      else if (*p == '0') zero = true;
      else if (*p == '#') alt = true;
      else if (*p == '+' || (*p == ' ' && !sign)) sign = *p;
      else break;
    }
    size_t width;
    if (*p == '*') {
      p++;
      int w = int_arg();
      if (w < 0) left = true;  // a negative width is a '-' flag (printf(3))
      width = static_cast<size_t>(w < 0 ? -static_cast<int64_t>(w) : w);
      if (width > kMaxPad) width = kMaxPad;
    } else {
      width = digits(p);
    }
    long precision = -1;
    if (*p == '.') {
      p++;
      if (*p == '*') {
        p++;
        int x = int_arg();
        precision = x < 0 ? -1 : x > static_cast<int>(kMaxPad) ? static_cast<long>(kMaxPad) : x;
      } else {
        precision = static_cast<long>(digits(p));
      }
    }
    // Length: h, hh, l, ll, L, q, j, z, t -> the size of the argument.
    unsigned bits = 8 * sizeof(int);
    int wide = 0;  // 'l' seen (also %ls, %lc)
    bool long_double = false;
    for (;; p++) {
      if (*p == 'h') bits = bits == 16 ? 8 : 16;
      else if (*p == 'l') bits = wide++ ? 64 : kLongBits;  // cppcheck-suppress duplicateValueTernary ; not on ILP32
      else if (*p == 'q' || *p == 'L') { bits = 64; long_double = true; }
      else if (*p == 'j') bits = 8 * sizeof(intmax_t);
      else if (*p == 'z') bits = 8 * sizeof(size_t);
      else if (*p == 't') bits = 8 * sizeof(ptrdiff_t);
      else break;
    }
    char tmp[24];
    const char* s = tmp;
    size_t len = 0;
    char prefix[2];
    size_t prefix_len = 0;
    size_t zeros = 0;  // from the precision of an integer
    switch (*p) {
      case 's':
        if (wide) {  // oxinit has no wide strings: take it, print nothing
          (void)ptr_arg();
          s = "";
        } else {
          s = static_cast<const char*>(ptr_arg());
          if (!s) s = "(null)";
        }
        len = precision >= 0 ? strnlen(s, static_cast<size_t>(precision)) : strlen(s);
        zero = false;
        break;
      case 'c':
        tmp[0] = static_cast<char>(int_arg());  // a wint_t is promoted to int too
        len = 1;
        zero = false;
        break;
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'p': {
        bool is_signed = *p == 'd' || *p == 'i';
        uint64_t v;
        if (*p == 'p') {
          v = reinterpret_cast<uintptr_t>(ptr_arg());
          alt = true;
        } else if (bits > 8 * sizeof(int)) {
          v = bits == 8 * sizeof(long) ? va_arg(ap, unsigned long) : va_arg(ap, unsigned long long);
        } else {
          v = static_cast<unsigned>(int_arg());
        }
        if (bits < 64 && *p != 'p') {  // as printf converts: to the argument's own width
          v &= (uint64_t{1} << bits) - 1;
          if (is_signed && (v >> (bits - 1) & 1)) v |= ~uint64_t{0} << bits;
        }
        bool neg = is_signed && static_cast<int64_t>(v) < 0;
        bool nonzero = v != 0;
        if (neg) v = 0 - v;
        unsigned base = *p == 'o' ? 8 : (*p == 'x' || *p == 'X' || *p == 'p') ? 16 : 10;
        const char* hex = *p == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        if (v || precision != 0) {  // "%.0d" of 0 prints no digit
          char rev[24];
          size_t k = 0;
          do {
            rev[k++] = hex[v % base];
            v /= base;
          } while (v);
          while (k) tmp[len++] = rev[--k];
        }
        if (neg) prefix[prefix_len++] = '-';
        else if (is_signed && sign) prefix[prefix_len++] = sign;
        if (alt && base == 16 && (nonzero || *p == 'p')) {
          prefix[prefix_len++] = '0';
          prefix[prefix_len++] = *p == 'X' ? 'X' : 'x';
        }
        if (alt && base == 8 && (len == 0 || tmp[0] != '0')) zeros = 1;
        if (precision >= 0) {
          if (static_cast<size_t>(precision) > len) zeros = static_cast<size_t>(precision) - len;
          zero = false;  // a precision turns the '0' flag off (printf(3))
        }
        break;
      }
      case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
        // oxinit never prints floats (musl's formatter is ~9 KB): take the
        // argument and show that something was there.
        if (long_double) (void)va_arg(ap, long double);  // NOLINT(bugprone-branch-clone): not the same type
        else (void)va_arg(ap, double);
        tmp[0] = '?';
        len = 1;
        zero = false;
        break;
      case 'n':  // never written through
        (void)ptr_arg();
        continue;
      case '%':
        tmp[0] = '%';
        len = 1;
        break;
      default:  // not a conversion (GCC's check refuses these): print it as is
        tmp[0] = '%';
        tmp[1] = *p ? *p : '%';
        len = 2;
        if (!*p) p--;
        break;
    }
    size_t total = prefix_len + zeros + len;
    if (!left && !zero) o.pad(total, width, ' ');
    for (size_t i = 0; i < prefix_len; i++) o.put(prefix[i]);
    if (!left && zero) o.pad(total, width, '0');
    for (size_t i = 0; i < zeros; i++) o.put('0');
    for (size_t i = 0; i < len; i++) o.put(s[i]);
    if (left) o.pad(total, width, ' ');
  }
  if (cap) buf[o.n < cap ? o.n : cap - 1] = 0;
  return o.n < cap ? o.n : (cap ? cap - 1 : 0);
}

size_t format(char* buf, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

const char* format_duration(char* buf, int64_t ms) {
  if (ms < 1000) {
    format(buf, 24, "%lldms", static_cast<long long>(ms));
  } else if (ms % 1000 == 0) {
    format(buf, 24, "%llds", static_cast<long long>(ms / 1000));
  } else {
    // Up to three decimals, trailing zeros dropped: 1500 -> "1.5s".
    size_t n = format(buf, 24, "%lld.%03ds", static_cast<long long>(ms / 1000), static_cast<int>(ms % 1000));
    while (n >= 2 && buf[n - 2] == '0') {
      buf[n - 2] = 's';
      buf[--n] = 0;
    }
  }
  return buf;
}

}  // namespace oxinit
