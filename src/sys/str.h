// Str: a small owning string (libstdc++'s std::string needs the locale
// machinery, which a musl build cannot link), plus number parsing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace oxinit {

class Str {
 public:
  Str() = default;
  Str(std::string_view s) { assign(s); }  // NOLINT: implicit by design
  Str(const char* s) : Str(std::string_view(s ? s : "")) {}  // NOLINT
  Str(const Str& o) { assign(o.view()); }
  Str(Str&& o) noexcept : p_(o.p_), n_(o.n_), cap_(o.cap_) {
    o.p_ = nullptr;
    o.n_ = o.cap_ = 0;
  }
  Str& operator=(const Str& o) {
    if (this != &o) assign(o.view());
    return *this;
  }
  Str& operator=(Str&& o) noexcept;
  ~Str();

  // Not inlined: it is used in hundreds of places, and the call is smaller.
  [[gnu::noinline]] const char* c_str() const { return p_ ? p_ : ""; }
  std::string_view view() const { return {c_str(), n_}; }
  operator std::string_view() const { return view(); }  // NOLINT
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  char operator[](size_t i) const { return p_[i]; }

  Str& append(std::string_view s);
  Str& operator+=(std::string_view s) { return append(s); }
  Str& operator+=(char c) { return append(std::string_view(&c, 1)); }
  void clear() { n_ = 0; if (p_) p_[0] = 0; }

  friend bool operator==(const Str& a, std::string_view b) { return a.view() == b; }
  friend bool operator<(const Str& a, const Str& b) { return a.view() < b.view(); }

 private:
  void assign(std::string_view s);
  // 32-bit sizes: 16 bytes a Str, not 24, in every spec (ServiceSpec holds
  // about 20); no text oxinit keeps comes near 4 GiB.
  char* p_ = nullptr;
  uint32_t n_ = 0;
  uint32_t cap_ = 0;
};

Str operator+(std::string_view a, std::string_view b);

// Decimal integer, whole string, optional sign; false on junk or overflow.
bool parse_int(std::string_view s, int64_t& out);

// Decimal digits only (no sign, no blanks), whole string, at most max;
// false on junk, emptiness or a value above max (checked before it can wrap).
bool parse_uint(std::string_view s, uint64_t max, uint64_t& out);

// Append a decimal number (async-signal-safe: no locale, no allocation).
// Returns chars written; buf must hold 21 bytes.
size_t format_int(char* buf, int64_t v);

}  // namespace oxinit
