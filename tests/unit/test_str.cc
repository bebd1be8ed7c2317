// Str: growth, and views of a string into itself (s += s once read freed
// memory after realloc moved the buffer). The ASan build (make asan) runs
// these too, so a read of freed memory fails there loudly.
#include <doctest/doctest.h>

#include <string>

#include "sys/str.h"

using namespace oxinit;

namespace {
std::string str(const Str& s) { return std::string(s.view()); }
}  // namespace

TEST_CASE("Str: append grows and keeps the NUL") {
  Str s;
  CHECK(s.empty());
  CHECK(std::string(s.c_str()).empty());
  std::string want;
  for (int i = 0; i < 200; i++) {
    s += static_cast<char>('a' + i % 26);
    want += static_cast<char>('a' + i % 26);
    REQUIRE(str(s) == want);
    REQUIRE(s.c_str()[s.size()] == 0);
  }
  s.clear();
  CHECK(s.empty());
  CHECK(s.c_str()[0] == 0);
  s += "x";
  CHECK(str(s) == "x");
}

TEST_CASE("Str: appending itself, at every size around a reallocation") {
  for (size_t n = 1; n < 70; n++) {
    Str s(std::string(n, 'a').c_str());
    std::string want(n, 'a');
    s += s;  // the view points into the buffer being grown
    want += want;
    CHECK(str(s) == want);
    s.append(s.view().substr(1, 3));
    want += want.substr(1, 3);
    CHECK(str(s) == want);
    s += s.view().substr(s.size() - 1);
    want += want.substr(want.size() - 1);
    CHECK(str(s) == want);
  }
  Str t("0123456789");
  for (int i = 0; i < 6; i++) t += t;  // 640 bytes, through several reallocations
  CHECK(t.size() == 640);
  CHECK(t.view().substr(630) == "0123456789");
}

TEST_CASE("Str: assigning a piece of itself") {
  Str s("hello, world");
  s = s.view().substr(7);
  CHECK(str(s) == "world");
  s = s;  // NOLINT: self-assignment is a no-op
  CHECK(str(s) == "world");
  Str big(std::string(100, 'b').c_str());
  big = big.view().substr(50, 10);
  CHECK(str(big) == std::string(10, 'b'));
  Str m("abc");
  m = Str(m.view().substr(1));
  CHECK(str(m) == "bc");
  Str moved(std::move(m));
  CHECK(str(moved) == "bc");
  CHECK(m.empty());  // NOLINT: moved-from is empty by design
}

TEST_CASE("Str: operator+ and comparisons") {
  Str a("ab");
  Str c = a + a;
  CHECK(str(c) == "abab");
  CHECK(c == std::string_view("abab"));
  CHECK(a < c);
  CHECK(str(Str(static_cast<const char*>(nullptr))).empty());
}
