// Every integer oxinit reads (issue 11, "numbers wrap"): the parsers in
// src/sys at each boundary, then each place that reads a number from the
// command line, the environment, a config file or /etc/passwd.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"
#include "signals.h"
#include "sys/str.h"
#include "users.h"

using namespace oxinit;

namespace {

bool int_ok(std::string_view s, int64_t want) {
  int64_t v = 12345;
  return parse_int(s, v) && v == want;
}
bool int_bad(std::string_view s) {
  int64_t v = 12345;
  return !parse_int(s, v) && v == 12345;  // a rejected value leaves out alone
}

CliOutcome cli(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "oxinit");
  env.push_back(nullptr);
  return parse_cli(static_cast<int>(args.size()), args.data(), env.data());
}

}  // namespace

TEST_CASE("parse_int: every boundary") {
  CHECK(int_ok("0", 0));
  CHECK(int_ok("-0", 0));
  CHECK(int_ok("+0", 0));
  CHECK(int_ok("42", 42));
  CHECK(int_ok("+42", 42));
  CHECK(int_ok("-42", -42));
  CHECK(int_ok("007", 7));
  CHECK(int_ok("9223372036854775807", INT64_MAX));
  CHECK(int_ok("+9223372036854775807", INT64_MAX));
  CHECK(int_ok("-9223372036854775807", -INT64_MAX));
  CHECK(int_ok("-9223372036854775808", INT64_MIN));
  CHECK(int_ok("00000000000000000000000009223372036854775807", INT64_MAX));
  CHECK(int_bad("9223372036854775808"));   // INT64_MAX + 1
  CHECK(int_bad("-9223372036854775809"));  // INT64_MIN - 1
  CHECK(int_bad("18446744073709551615"));  // 2^64 - 1
  CHECK(int_bad("18446744073709551616"));  // 2^64: once parsed as 0
  CHECK(int_bad("18446744073709551617"));  // 2^64 + 1: once parsed as 1
  CHECK(int_bad("-18446744073709551617"));
  CHECK(int_bad("18446744073709551631"));  // 2^64 + 15: once SIGTERM
  CHECK(int_bad("99999999999999999999"));  // 20 digits
  CHECK(int_bad("36893488147419103232"));  // 2^65
  CHECK(int_ok("4611686018427387905", 4611686018427387905LL));  // 2^62 + 1 (the old cut-off was 2^62)
  for (const char* junk : {"", "+", "-", "+-1", "-+1", "--1", "1-", " 1", "1 ", "0x10", "1e3", "1.0", "١", "12a",
                           "a12", "\0" "1"}) {
    CAPTURE(junk);
    CHECK(int_bad(junk));
  }
  CHECK(int_bad(std::string_view("1\0", 2)));
}

TEST_CASE("parse_uint: digits only, bounded by max") {
  uint64_t v = 0;
  CHECK((parse_uint("18446744073709551615", UINT64_MAX, v) && v == UINT64_MAX));
  CHECK_FALSE(parse_uint("18446744073709551616", UINT64_MAX, v));
  CHECK_FALSE(parse_uint("18446744073709551617", UINT64_MAX, v));
  CHECK_FALSE(parse_uint("99999999999999999999", UINT64_MAX, v));
  CHECK((parse_uint("65535", 65535, v) && v == 65535));
  CHECK_FALSE(parse_uint("65536", 65535, v));
  CHECK((parse_uint("0", 0, v) && v == 0));
  CHECK_FALSE(parse_uint("1", 0, v));
  CHECK((parse_uint("9", 9, v) && v == 9));
  CHECK_FALSE(parse_uint("10", 9, v));
  CHECK((parse_uint("4294967294", 0xfffffffe, v) && v == 0xfffffffe));
  CHECK_FALSE(parse_uint("4294967295", 0xfffffffe, v));
  for (const char* junk : {"", "+1", "-1", " 1", "1 ", "0x1", "1_000"}) CHECK_FALSE(parse_uint(junk, UINT64_MAX, v));
}

TEST_CASE("format_int round-trips through parse_int") {
  char b[24];
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{9}, int64_t{10}, INT64_MAX, INT64_MIN,
                    INT64_MAX - 1, INT64_MIN + 1, int64_t{1} << 62, int64_t{4294967295}}) {
    size_t n = format_int(b, v);
    CHECK(n == std::to_string(v).size());
    CHECK(std::string(b) == std::to_string(v));
    int64_t back = 0;
    CHECK((parse_int(std::string_view(b, n), back) && back == v));
  }
}

TEST_CASE("durations: bounded, no wrap, fractions") {
  Millis m = -7;
  CHECK((parse_duration("1000000000", m) && m == kMaxDuration));
  CHECK((parse_duration("1000000000s", m) && m == kMaxDuration));
  CHECK((parse_duration("1000000000000ms", m) && m == kMaxDuration));
  CHECK((parse_duration("16666666m", m) && m == 16666666LL * 60000));
  CHECK((parse_duration("277777h", m) && m == 277777LL * 3600000));
  CHECK((parse_duration("0.001s", m) && m == 1));
  CHECK((parse_duration("0.0009s", m) && m == 0));
  CHECK((parse_duration("1.999999999s", m) && m == 1999));
  CHECK((parse_duration(".5s", m) && m == 500));
  CHECK((parse_duration("5.", m) && m == 5000));
  CHECK((parse_duration("1.5h", m) && m == 5400000));
  CHECK((parse_duration("0.5ms", m) && m == 0));
  CHECK((parse_duration("2min", m) && m == 120000));
  m = -7;
  for (const char* bad : {"1000000001", "1000000000001ms", "16666667m", "277778h", "999999999999999999999h",
                          "18446744073709551617", "18446744073709551617ms", "9223372036854775807ms",
                          "5124095576030431h", "1000000000.5", "-0", "+1", "1.5.5", ".", ".s", "1,5s", "5 ",
                          " 5", "5S", "5sec", "0x10"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad, m));
    CHECK(m == -7);
  }
}

TEST_CASE("signal numbers and real-time offsets cannot wrap") {
  CHECK(signal_by_name("64", true, true) == 64);
  CHECK(signal_by_name("064", true, true) == 64);
  CHECK(signal_by_name("65", true, true) == 0);
  CHECK(signal_by_name("18446744073709551631", true, true) == 0);  // 2^64 + 15 was SIGTERM
  CHECK(signal_by_name("99999999999999999999", true, true) == 0);
  CHECK(signal_by_name("4294967311", true, true) == 0);  // 2^32 + 15
  CHECK(signal_by_name("SIGRTMIN+30", true, true) == 64);
  CHECK(signal_by_name("SIGRTMIN+31", true, true) == 0);
  CHECK(signal_by_name("SIGRTMIN+18446744073709551617", true, true) == 0);  // was SIGRTMIN+1
  CHECK(signal_by_name("SIGRTMIN++3", true, true) == 0);
  CHECK(signal_by_name("SIGRTMIN+-3", true, true) == 0);
  CHECK(signal_by_name("SIGRTMAX-30", true, true) == 34);
  CHECK(signal_by_name("SIGRTMAX-31", true, true) == 0);
  CHECK(signal_by_name("SIGRTMAX-18446744073709551615", true, true) == 0);
  CHECK(signal_by_name("SIGRTMAX--1", true, true) == 0);
  SignalRewrite rw;
  CHECK_FALSE(parse_rewrite("18446744073709551631:1", rw));
  CHECK_FALSE(parse_rewrite("1:18446744073709551631", rw));
  CHECK(rw.apply(SIGTERM) == SIGTERM);
}

TEST_CASE("cli: -e, -t, -G, -p, -r reject what would wrap") {
  CHECK(cli({"-e", "255", "x"}).options.remapped(255));
  CHECK(cli({"-e", "+7", "x"}).options.remapped(7));
  for (const char* v : {"256", "-1", "18446744073709551616", "18446744073709551617", "9223372036854775808",
                        "-9223372036854775809", "99999999999999999999", "4294967296"}) {
    CAPTURE(v);
    auto o = cli({"-e", v, "x"});
    CHECK(o.action == CliAction::ValueError);
    CHECK(o.options.remapped(0) == false);
    CHECK(o.options.remapped(1) == false);
  }
  for (const char* opt : {"-t", "-G"}) {
    CHECK(cli({opt, "1000000000", "x"}).action == CliAction::Run);
    for (const char* v : {"1000000001", "18446744073709551617", "18446744073709551617ms", "999999999999h"}) {
      CAPTURE(v);
      CHECK(cli({opt, v, "x"}).action == CliAction::ValueError);
    }
  }
  CHECK(cli({"-t", "1000000000", "x"}).options.kill_timeout == kMaxDuration);
  CHECK(cli({"-p", "18446744073709551625", "x"}).action == CliAction::ValueError);  // names only, as tini
  CHECK(cli({"-r", "18446744073709551631:SIGQUIT", "x"}).action == CliAction::ValueError);
  CHECK(cli({"-r", "SIGRTMIN+18446744073709551617:0", "x"}).action == CliAction::ValueError);
}

TEST_CASE("environment: verbosity saturates, durations are bounded") {
  auto v = [](const char* e) { return cli({"x"}, {e}).options.verbosity; };
  CHECK(v("TINI_VERBOSITY=3") == 3);
  CHECK(v("TINI_VERBOSITY=-2") == -2);
  CHECK(v("TINI_VERBOSITY=2abc") == 2);
  CHECK(v("TINI_VERBOSITY=abc") == 0);
  CHECK(v("TINI_VERBOSITY=") == 0);
  CHECK(v("TINI_VERBOSITY=-") == 0);
  CHECK(v("TINI_VERBOSITY=4294967297") == INT_MAX);  // not 1
  CHECK(v("TINI_VERBOSITY=2147483648") == INT_MAX);
  CHECK(v("TINI_VERBOSITY=2147483647") == INT_MAX);
  CHECK(v("TINI_VERBOSITY=18446744073709551617") == INT_MAX);  // not 1
  CHECK(v("OXINIT_VERBOSITY=-18446744073709551617") == INT_MIN);
  CHECK(v("OXINIT_VERBOSITY=-2147483649") == INT_MIN);
  CHECK(cli({"x"}, {"OXINIT_KILL_TIMEOUT=18446744073709551617"}).action == CliAction::ValueError);
  CHECK(cli({"x"}, {"OXINIT_GRACE=18446744073709551617ms"}).action == CliAction::ValueError);
  CHECK(cli({"x"}, {"OXINIT_GRACE=1000000000"}).options.grace == kMaxDuration);
}

TEST_CASE("users: ids in passwd, group and the config are checked before they wrap") {
  const char* passwd =
      "wrap:x:18446744073709551617:0::/:/bin/sh\n"  // uid 2^64 + 1: skipped, not uid 1
      "big:x:4294967296:0::/:/bin/sh\n"              // 2^32: skipped, not uid 0
      "neg:x:-1:0::/:/bin/sh\n"
      "max:x:4294967294:4294967294::/:/bin/sh\n"
      "inval:x:4294967295:0::/:/bin/sh\n"            // (uid_t)-1 means "no change" to setuid
      "gwrap:x:5:18446744073709551616::/:/bin/sh\n";
  const char* group =
      "gbig:x:4294967296:\n"
      "gmax:x:4294967294:max\n";
  UserDb db{std::string_view(passwd), std::string_view(group)};
  for (const char* name : {"wrap", "big", "neg", "inval", "gwrap"}) {
    CAPTURE(name);
    auto r = db.user(name);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().view().substr(0, 13) == "unknown user ");
  }
  auto max = db.user("max");
  REQUIRE(max.ok());
  CHECK(max->uid == 4294967294u);
  CHECK(max->groups == std::vector<gid_t>{4294967294u});
  for (const char* id : {"18446744073709551617", "18446744073709551616", "4294967295", "4294967296",
                         "99999999999999999999"}) {
    CAPTURE(id);
    auto r = db.user(id);
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(r.error().c_str()) == std::string("invalid user id \"") + id + "\"");
  }
  CHECK_FALSE(db.group("gbig").ok());
  auto wrap = db.group("18446744073709551617");
  REQUIRE_FALSE(wrap.ok());
  CHECK(std::string(wrap.error().c_str()) == "invalid group id \"18446744073709551617\"");
  auto gmax = db.group("4294967294");
  REQUIRE(gmax.ok());
  CHECK(*gmax == 4294967294u);
  CHECK_FALSE(db.group("4294967295").ok());
}
