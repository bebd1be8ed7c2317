#include <doctest/doctest.h>

#include <vector>

#include "cli.h"

using namespace oxinit;

namespace {
CliOutcome parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "oxinit");
  env.push_back(nullptr);
  return parse_cli(static_cast<int>(args.size()), args.data(), env.data());
}
}  // namespace

TEST_CASE("flags, clustering and attached arguments") {
  auto o = parse({"-vvv", "-sgw", "-e143", "-e", "3", "-pSIGTERM", "--", "prog", "-x"});
  REQUIRE(o.action == CliAction::Run);
  CHECK(o.options.verbosity == 4);
  CHECK(o.options.subreaper);
  CHECK(o.options.kill_group);
  CHECK(o.options.warn_reap);
  CHECK(o.options.remapped(143));
  CHECK(o.options.remapped(3));
  CHECK_FALSE(o.options.remapped(4));
  CHECK(o.options.pdeath_signal == 15);
  REQUIRE(o.options.command.size() == 2);
  CHECK(o.options.command[0] == std::string_view("prog"));
  CHECK(o.options.command[1] == std::string_view("-x"));
}

TEST_CASE("parsing stops at the first non-option (no GNU permutation)") {
  auto o = parse({"sh", "-c", "exit 3"});
  REQUIRE(o.action == CliAction::Run);
  REQUIRE(o.options.command.size() == 3);
  CHECK(o.options.command[1] == std::string_view("-c"));
  auto t = parse({"--", "--", "true"});
  CHECK(t.options.command[0] == std::string_view("--"));
}

TEST_CASE("help, version, license") {
  CHECK(parse({"-h"}).action == CliAction::Help);
  CHECK(parse({"-l"}).action == CliAction::License);
  CHECK(parse({"--version"}).action == CliAction::Version);
  CHECK(parse({"--version", "x"}).action == CliAction::UsageError);
  CHECK(std::string_view(kVersionLine).substr(0, 13) == "tini version ");
  CHECK(usage_text("oxinit").view().find("supervision of a valid init process") != std::string_view::npos);
}

TEST_CASE("usage and value errors") {
  auto z = parse({"-z", "true"});
  CHECK(z.action == CliAction::UsageError);
  CHECK(z.message.view() == "oxinit: invalid option -- 'z'");
  auto e = parse({"-e"});
  CHECK(e.action == CliAction::UsageError);
  CHECK(e.message.view() == "oxinit: option requires an argument -- 'e'");
  for (const char* bad : {"256", "-1", "abc", "1x", "0x10"}) {
    auto r = parse({"-e", bad, "true"});
    CHECK(r.action == CliAction::ValueError);
    CHECK(r.message.view() == (Str("Not a valid option for -e: ") + bad).view());
  }
  // strtol-compatible leniency, as tini: "" is 0, " 5" and "+5" are 5.
  CHECK(parse({"-e", "", "true"}).options.remapped(0));
  CHECK(parse({"-e", " 5", "true"}).options.remapped(5));
  CHECK(parse({"-e", "+5", "true"}).options.remapped(5));
  for (const char* bad : {"KILL", "9", "sigterm", "SIGBOGUS"}) {
    CHECK(parse({"-p", bad, "true"}).action == CliAction::ValueError);
  }
  CHECK(parse({"-r", "TERM", "true"}).action == CliAction::ValueError);
  CHECK(parse({"-t", "soon", "true"}).action == CliAction::ValueError);
  CHECK(parse({"--bogus", "true"}).action == CliAction::UsageError);
  CHECK(parse({"-c", "", "true"}).action == CliAction::ValueError);
}

TEST_CASE("environment variables: presence turns options on; verbosity overrides -v") {
  auto o = parse({"-vv", "true"}, {"TINI_SUBREAPER=", "TINI_KILL_PROCESS_GROUP=0", "TINI_VERBOSITY=0"});
  CHECK(o.options.subreaper);
  CHECK(o.options.kill_group);
  CHECK(o.options.verbosity == 0);
  auto x = parse({"true"}, {"OXINIT_VERBOSITY=junk", "OXINIT_KILL_TIMEOUT=1500ms", "OXINIT_GRACE=3"});
  CHECK(x.options.verbosity == 0);
  CHECK(x.options.kill_timeout == 1500);
  CHECK(x.options.grace == 3000);
  CHECK(x.options.grace_set);
  auto y = parse({"-G", "1", "-t", "2", "true"}, {"OXINIT_GRACE=9", "OXINIT_KILL_TIMEOUT=9"});
  CHECK(y.options.grace == 1000);
  CHECK(y.options.kill_timeout == 2000);
  auto c = parse({"true"}, {"OXINIT_CONFIG=/a.toml:/b.toml"});
  REQUIRE(c.options.config_files.size() == 2);
  CHECK(c.options.config_files[1] == std::string_view("/b.toml"));
  CHECK(parse({"true"}, {"OXINIT_GRACE=never"}).action == CliAction::ValueError);
}

TEST_CASE("config, check and vm flags") {
  auto o = parse({"--check", "-c", "a.toml", "-cb.toml", "--no-vm"});
  CHECK(o.action == CliAction::Check);
  REQUIRE(o.options.config_files.size() == 2);
  CHECK(o.options.vm == VmMode::Off);
  CHECK(parse({"--vm", "true"}).options.vm == VmMode::On);
}

TEST_CASE("exit code mapping") {
  Options o;
  o.remap[143 / 64] |= 1ULL << (143 % 64);
  CHECK(final_exit_code(o, 143) == 0);
  CHECK(final_exit_code(o, 142) == 142);
  CHECK(final_exit_code(o, 0) == 0);
}

TEST_CASE("durations") {
  Millis m = 0;
  CHECK((parse_duration("5", m) && m == 5000));
  CHECK((parse_duration("250ms", m) && m == 250));
  CHECK((parse_duration("1.5s", m) && m == 1500));
  CHECK((parse_duration("2m", m) && m == 120000));
  CHECK((parse_duration("1h", m) && m == 3600000));
  CHECK((parse_duration("0", m) && m == 0));
  for (const char* bad : {"", "s", "-1", "5 s", "1.2.3", "5d", "abc"}) CHECK_FALSE(parse_duration(bad, m));
}

TEST_CASE("--root DIR goes with --check") {
  auto o = parse({"--check", "--root", "/img", "-c", "x.toml"});
  REQUIRE(o.action == CliAction::Check);
  CHECK(o.options.root == std::string_view("/img"));
  CHECK(o.options.config_files.size() == 1);
  o = parse({"--root=rootfs", "--check"});
  REQUIRE(o.action == CliAction::Check);
  CHECK(o.options.root == std::string_view("rootfs"));
  CHECK(parse({"--check", "--root"}).action == CliAction::ValueError);
  CHECK(parse({"--check", "--root="}).action == CliAction::ValueError);
  auto run = parse({"--root", "/img", "--", "true"});
  CHECK(run.action == CliAction::UsageError);
  CHECK(run.message == std::string_view("oxinit: --root DIR works with --check only"));
  CHECK(parse({"--rootx", "--check"}).action == CliAction::UsageError);
  // tini's options are untouched by it.
  o = parse({"--check", "--root", "/img", "-g", "-e", "3"});
  CHECK(o.options.kill_group);
  CHECK(o.options.remapped(3));
}
