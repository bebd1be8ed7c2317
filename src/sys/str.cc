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
  // Written so it cannot wrap: cap_ > n_ once allocated, both 0 before.
  if (s.size() >= cap_ - n_) {
    size_t cap = cap_ ? cap_ * 2 : 16;
    while (cap < n_ + s.size() + 1) cap *= 2;
    char* p = static_cast<char*>(std::realloc(p_, cap));
    if (!p) std::abort();  // out of memory: nothing sensible is left to do
    p_ = p;
    cap_ = cap;
  }
  if (!s.empty()) std::memcpy(p_ + n_, s.data(), s.size());
  n_ += s.size();
  p_[n_] = 0;
  return *this;
}

Str operator+(std::string_view a, std::string_view b) {
  Str s(a);
  s.append(b);
  return s;
}

bool parse_int(std::string_view s, int64_t& out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == s.size()) return false;
  uint64_t v = 0;
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    if (v > (1ULL << 62)) return false;
  }
  out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10 || d > max) return false;
    v = v * 10 + d;
  }
  out = v;
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
