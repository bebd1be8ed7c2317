#include "sys/str.h"

#include <cstdlib>
#include <cstring>

namespace oxinit {

Str& Str::operator=(Str&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    cap_ = o.cap_;
    o.p_ = nullptr;
    o.n_ = o.cap_ = 0;
  }
  return *this;
}

Str::~Str() { std::free(p_); }

void Str::assign(std::string_view s) {
  n_ = 0;
  append(s);
}

Str& Str::append(std::string_view s) {
  // s may be a view into this string (s += s, or assign(view().substr(k))):
  // keep its offset, since realloc may move (and free) the bytes it points at.
  // Written so it cannot wrap: cap_ > n_ once allocated, both 0 before.
  if (s.size() >= cap_ - n_) {
    auto at = reinterpret_cast<uintptr_t>(s.data()), base = reinterpret_cast<uintptr_t>(p_);
    bool inside = p_ && at >= base && at < base + cap_;
    size_t cap = cap_ ? 2 * static_cast<size_t>(cap_) : 16;
    while (cap < n_ + s.size() + 1) cap *= 2;
    if (cap >> 31 >> 1) std::abort();  // 4 GiB of text (a no-op test where size_t has 32 bits)
    char* p = static_cast<char*>(std::realloc(p_, cap));
    if (!p) std::abort();  // out of memory: nothing sensible is left to do
    if (inside) s = std::string_view(p + (at - base), s.size());
    p_ = p;
    cap_ = static_cast<uint32_t>(cap);
  }
  if (!s.empty()) std::memmove(p_ + n_, s.data(), s.size());  // may overlap after assign
  n_ += static_cast<uint32_t>(s.size());
  p_[n_] = 0;
  return *this;
}

Str operator+(std::string_view a, std::string_view b) {
  Str s(a);
  s.append(b);
  return s;
}

bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (d > max || v > (max - d) / 10) return false;  // v * 10 + d > max, asked without wrapping
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool parse_int(std::string_view s, int64_t& out) {
  bool neg = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  uint64_t v = 0;
  if (!parse_uint(s, neg ? uint64_t{1} << 63 : uint64_t{INT64_MAX}, v)) return false;
  out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

size_t format_int(char* buf, int64_t v) {
  char tmp[21];
  size_t n = 0;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  size_t o = 0;
  if (v < 0) buf[o++] = '-';
  while (n) buf[o++] = tmp[--n];
  buf[o] = 0;
  return o;
}

}  // namespace oxinit
