#include "sys/format.h"

#include <cstdint>
#include <cstring>

namespace oxinit {
namespace {

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

}  // namespace

size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
  Out o{buf, cap};
  for (const char* p = fmt; *p; p++) {
    if (*p != '%') {
      o.put(*p);
      continue;
    }
    p++;
    bool left = false, zero = false;
    for (;; p++) {
      if (*p == '-') left = true;
      else if (*p == '0') zero = true;
      else break;
    }
    size_t width = 0;
    if (*p == '*') {
      int w = va_arg(ap, int);
      width = w > 0 ? static_cast<size_t>(w) : 0;
      p++;
    }
    while (*p >= '0' && *p <= '9') width = width * 10 + static_cast<size_t>(*p++ - '0');
    long precision = -1;
    if (*p == '.') {
      p++;
      if (*p == '*') {
        precision = va_arg(ap, int);
        p++;
      } else {
        precision = 0;
        while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
      }
    }
    int longs = 0;
    bool size_t_arg = false;
    while (*p == 'l') { longs++; p++; }
    if (*p == 'z') { size_t_arg = true; p++; }
    char tmp[24];
    const char* s = tmp;
    size_t len = 0;
    switch (*p) {
      case 's': {
        s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        len = precision >= 0 ? strnlen(s, static_cast<size_t>(precision)) : strlen(s);
        zero = false;
        break;
      }
      case 'c':
        tmp[0] = static_cast<char>(va_arg(ap, int));
        len = 1;
        break;
      case 'd': case 'i': case 'u': case 'x': {
        bool is_signed = *p == 'd' || *p == 'i';
        uint64_t v;
        bool neg = false;
        if (size_t_arg) {
          v = va_arg(ap, size_t);
        } else if (longs >= 2) {
          long long x = va_arg(ap, long long);
          neg = is_signed && x < 0;
          v = is_signed ? (neg ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x)) : static_cast<unsigned long long>(x);
        } else if (longs == 1) {
          long x = va_arg(ap, long);
          neg = is_signed && x < 0;
          v = is_signed ? (neg ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x)) : static_cast<unsigned long>(x);
        } else {
          int x = va_arg(ap, int);
          neg = is_signed && x < 0;
          v = is_signed ? (neg ? 0 - static_cast<uint64_t>(static_cast<int64_t>(x)) : static_cast<uint64_t>(x))
                        : static_cast<unsigned>(x);
        }
        unsigned base = *p == 'x' ? 16 : 10;
        char rev[24];
        size_t k = 0;
        do {
          rev[k++] = "0123456789abcdef"[v % base];
          v /= base;
        } while (v);
        if (neg) tmp[len++] = '-';
        while (k) tmp[len++] = rev[--k];
        if (neg && zero && !left) {  // "-0042": sign before the zeros
          o.put('-');
          s = tmp + 1;
          len--;
          width = width ? width - 1 : 0;
        }
        break;
      }
      case '%':
        tmp[0] = '%';
        len = 1;
        break;
      default:  // unknown conversion: print it as is
        tmp[0] = '%';
        tmp[1] = *p ? *p : '%';
        len = 2;
        if (!*p) p--;
        break;
    }
    if (!left) o.pad(len, width, zero ? '0' : ' ');
    for (size_t i = 0; i < len; i++) o.put(s[i]);
    if (left) o.pad(len, width, ' ');
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
