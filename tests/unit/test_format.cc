// The printf subset (src/sys/format.cc) against glibc's snprintf: every
// conversion, flag, width, precision and length, and truncation at each cap
// boundary. Conversions oxinit does not print (floats, %n) must still take
// their argument, so the ones after them print the right values.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "sys/format.h"
#include "sys/text.h"

#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat-overflow"

using namespace oxinit;

namespace {

// Ours and glibc's agree for every cap from 0 to the full length + 2.
template <class... A>
void same(const char* f, A... a) {
  char want[512];
  int n = std::snprintf(want, sizeof want, f, a...);
  REQUIRE(n >= 0);
  REQUIRE(static_cast<size_t>(n) < sizeof want);
  CAPTURE(f);
  CAPTURE(want);
  for (size_t cap = 0; cap <= static_cast<size_t>(n) + 2; cap++) {
    char got[512];
    std::memset(got, 'Z', sizeof got);
    size_t len = format(got, cap, f, a...);
    CAPTURE(cap);
    if (cap == 0) {
      CHECK(len == 0);
      CHECK(got[0] == 'Z');  // nothing written at all
      continue;
    }
    size_t expect = static_cast<size_t>(n) < cap ? static_cast<size_t>(n) : cap - 1;
    CHECK(len == expect);
    CHECK(std::string(got) == std::string(want, expect));
    CHECK(got[expect] == 0);
    CHECK(got[cap] == 'Z');  // nothing past the cap
  }
}

}  // namespace

TEST_CASE("format: integers, every length and flag") {
  for (int v : {0, 1, -1, 42, -42, INT32_MAX, INT32_MIN}) {
    for (const char* f : {"%d", "%i", "%5d", "%-5d|", "%05d", "%+d", "% d", "%+05d", "%-+6d|", "%.3d", "%8.3d",
                          "%-8.3d|", "%08.3d", "%.0d", "%5.0d", "%u", "%x", "%X", "%o", "%#x", "%#X", "%#o",
                          "%#.5x", "%#08x", "%hd", "%hhd", "%hu", "%hhu", "%hx", "%hhx"}) {
      same(f, v);
    }
  }
  for (long v : {0L, 1L, -1L, INT64_MAX, INT64_MIN}) {
    for (const char* f : {"%ld", "%li", "%lu", "%lx", "%lX", "%lo", "%20ld", "%-21ld|", "%021ld", "%+ld", "%.19ld"})
      same(f, v);
  }
  for (long long v : {0LL, -7LL, static_cast<long long>(INT64_MAX), static_cast<long long>(INT64_MIN)}) {
    for (const char* f : {"%lld", "%llu", "%llx", "%lli", "%#llo", "%Ld"}) same(f, v);
  }
  for (size_t v : {size_t{0}, size_t{7}, SIZE_MAX}) {
    for (const char* f : {"%zu", "%zx", "%zd", "%10zu"}) same(f, v);
  }
  same("%jd %ju", INTMAX_MIN, UINTMAX_MAX);
  same("%td %tu", static_cast<ptrdiff_t>(-3), static_cast<ptrdiff_t>(9));
}

TEST_CASE("format: strings, chars, percent, widths from arguments") {
  for (const char* s : {"", "a", "hello", "a longer string of text"}) {
    for (const char* f : {"%s", "[%10s]", "[%-10s]", "%.3s", "%.0s|", "[%8.2s]", "[%-8.2s]", "%.30s"}) same(f, s);
    same("%.*s|", 2, s);
    same("%.*s|", -1, s);  // a negative precision is none
    same("[%*s]", 7, s);
    same("[%*s]", -7, s);  // a negative width is '-'
    same("[%-*s]", 7, s);
    same("[%*.*s]", 6, 2, s);
  }
  same("%c%c%c", 'a', 'b', 'c');
  same("[%3c][%-3c]", 'x', 'y');
  same("100%%");
  same("%%%d%%", 5);
  same("[%*d]", 5, 42);
  same("[%-*d]", 5, 42);
  same("[%0*d]", 5, -42);
  same("[%.*d]", 4, 42);
  same("%s=%d (%x) %c%s", "key", -3, 255u, '!', "end");
  char b[32];
  format(b, sizeof b, "%s", static_cast<const char*>(nullptr));
  CHECK(std::string(b) == "(null)");
}

TEST_CASE("format: %p") {
  int x = 0;
  same("%p", static_cast<void*>(&x));
  same("[%20p]", static_cast<void*>(&x));
  same("[%-20p]", static_cast<void*>(&x));
}

TEST_CASE("format: conversions oxinit does not print still take their argument") {
  char b[128];
  // A double between two ints: the second int must come out right.
  format(b, sizeof b, "%d %f %d", 1, 2.5, 3);
  CHECK(std::string(b) == "1 ? 3");
  format(b, sizeof b, "%d %e %g %a %E %G %A %F %s", 1, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, "end");
  CHECK(std::string(b) == "1 ? ? ? ? ? ? ? end");
  format(b, sizeof b, "%Lf %s", static_cast<long double>(1.5), "after-long-double");
  CHECK(std::string(b) == "? after-long-double");
  format(b, sizeof b, "%10.3f|%s", 1.5, "x");
  CHECK(std::string(b) == "         ?|x");
  int n = 0;
  format(b, sizeof b, "ab%ncd %s", &n, "x");
  CHECK(std::string(b) == "abcd x");
  CHECK(n == 0);  // never written through
  format(b, sizeof b, "%ls|%lc|%s", L"wide", static_cast<wint_t>(L'w'), "narrow");
  CHECK(std::string(b) == "|w|narrow");
}

TEST_CASE("format: huge widths and precisions are bounded") {
  char b[16];
  CHECK(format(b, sizeof b, "%99999999999999999999d", 1) == 15);
  CHECK(std::string(b) == std::string(15, ' '));
  CHECK(format(b, sizeof b, "%.99999999999999999999d", 1) == 15);
  CHECK(std::string(b) == std::string(15, '0'));
  CHECK(format(b, sizeof b, "%*d|%s", 2147483647, 1, "x") == 15);
  CHECK(format(b, sizeof b, "%*d", INT32_MIN, 7) == 15);  // |INT_MIN| does not overflow
  CHECK(b[0] == '7');
  char big[8192];
  size_t n = format(big, sizeof big, "%99999d|", 1);
  CHECK(n == 4097);  // the width stops at 4096
  CHECK(big[4095] == '1');
}

TEST_CASE("format: truncation at the cap") {
  char b[8];
  std::memset(b, 'Z', sizeof b);
  CHECK(format(b, 0, "abc") == 0);
  CHECK(b[0] == 'Z');
  CHECK(format(b, 1, "abc") == 0);
  CHECK(b[0] == 0);
  CHECK(b[1] == 'Z');
  CHECK(format(b, 4, "abc") == 3);  // exact: the NUL fits
  CHECK(std::string(b) == "abc");
  CHECK(format(b, 3, "abc") == 2);  // one short
  CHECK(std::string(b) == "ab");
  CHECK(format(b, 8, "%s%s%s", "aaa", "bbb", "ccc") == 7);
  CHECK(std::string(b) == "aaabbbc");
  CHECK(format(b, 5, "%-8d|", -12) == 4);
  CHECK(std::string(b) == "-12 ");
  CHECK(format(b, 3, "%05d", -12) == 2);
  CHECK(std::string(b) == "-0");
}

TEST_CASE("fmt: messages of any length") {
  std::string long_arg(5000, 'q');
  Str s = fmt("<%s>", long_arg.c_str());
  CHECK(s.size() == 5002);
  CHECK(s.view().substr(0, 2) == "<q");
  CHECK(s.view().substr(5000) == "q>");
  CHECK(fmt("%d-%s", 7, "x") == std::string_view("7-x"));
  CHECK(fmt("%s", "").empty());
  std::string exact(511, 'e');  // one below the first buffer, then exactly it
  CHECK(fmt("%s", exact.c_str()).size() == 511);
  exact += 'e';
  CHECK(fmt("%s", exact.c_str()).size() == 512);
}
