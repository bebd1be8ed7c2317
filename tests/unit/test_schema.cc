// The config schema: every key, its defaults, its errors at line:col, users
// and groups from fixture files, and the loading of several files.
#include <doctest/doctest.h>

#include "into.h"
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "cli.h"
#include "config/schema.h"
#include "plan.h"
#include "users.h"

using namespace oxinit;

namespace {

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "broken line without fields\n"
    "app:x:1000:1000::/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char* kGroup =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "www-data:x:33:\n"
    "adm:x:4:app,daemon\n"
    "video:x:44:app\n"
    "app:x:1000:\n"
    "staff:x:50:www-data,app\n"
    "nogroup:x:65534:\n";

// A scratch directory, removed at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/oxinit-unit-XXXXXX";
    REQUIRE(mkdtemp(t));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& rel, std::string_view text) {
    std::string p = path + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    FILE* f = std::fopen(p.c_str(), "w");
    REQUIRE(f);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    return p;
  }
};

UserDb fixture_users() { return UserDb(std::string_view(kPasswd), std::string_view(kGroup)); }

Config ok(std::string_view text) {
  Config c;
  ConfigError err;
  UserDb users = fixture_users();
  bool good = into(parse_config(text, "c.toml", c, users), err);
  std::string msg = err.format().c_str();
  INFO(msg);
  CHECK(good);
  return c;
}

ServiceSpec one(std::string_view text) {
  Config c = ok(text);
  REQUIRE(c.services.size() == 1);
  return c.services[0];
}

std::string bad(std::string_view text) {
  Config c;
  ConfigError err;
  UserDb users = fixture_users();
  if (into(parse_config(text, "c.toml", c, users), err)) return "parsed";
  return err.format().c_str();
}

// `[service.s]\ncommand = ["x"]\n` + one more line: errors land on line 3.
std::string bad_key(std::string_view line) {
  return bad("[service.s]\ncommand = [\"x\"]\n" + std::string(line) + "\n");
}
ServiceSpec with(std::string_view line) {
  return one("[service.s]\ncommand = [\"x\"]\n" + std::string(line) + "\n");
}

std::string str(const Str& s) { return s.c_str(); }

}  // namespace

TEST_CASE("schema: the example from the issue") {
  Config c = ok(R"(
[init]
shutdown_timeout = "5s"        # grace for leftover processes
log_timestamps = false

[service.migrate]
type = "oneshot"
command = ["/app/bin/migrate", "--up"]

[service.web]
command = ["nginx", "-g", "daemon off;"]
after = ["migrate"]
restart = "always"
restart_delay = "1s"
restart_delay_max = "30s"
max_restarts = 5
restart_window = "60s"
stop_signal = "SIGQUIT"
stop_timeout = "10s"
critical = true
user = "www-data"
workdir = "/srv"
env = { MODE = "prod" }
env_file = "/run/secrets/web.env"
umask = "022"
rlimits = { nofile = 4096 }
log = "prefix"
instances = 1
reload_signal = "SIGHUP"
)");
  CHECK(c.init.shutdown_timeout == 5000);
  CHECK_FALSE(c.init.log_timestamps);
  REQUIRE(c.services.size() == 2);
  const ServiceSpec& m = c.services[0];
  CHECK(str(m.name) == "migrate");
  CHECK(str(m.file) == "c.toml");
  CHECK(m.line == 6);
  CHECK(m.type == ServiceType::Oneshot);
  CHECK(m.restart == RestartPolicy::Never);
  REQUIRE(m.argv.size() == 2);
  CHECK(str(m.argv[1]) == "--up");
  const ServiceSpec& w = c.services[1];
  CHECK(w.type == ServiceType::Simple);
  REQUIRE(w.argv.size() == 3);
  CHECK(str(w.argv[2]) == "daemon off;");
  REQUIRE(w.after.size() == 1);
  CHECK(str(w.after[0]) == "migrate");
  REQUIRE(w.after_pos.size() == 1);
  CHECK(w.after_pos[0].line == 12);
  CHECK(w.after_pos[0].col == 10);
  CHECK(w.restart == RestartPolicy::Always);
  CHECK(w.restart_delay == 1000);
  CHECK(w.restart_delay_max == 30000);
  CHECK(w.max_restarts == 5);
  CHECK(w.restart_window == 60000);
  CHECK(w.stop_signal == SIGQUIT);
  CHECK(w.stop_timeout == 10000);
  CHECK(w.critical);
  CHECK(w.has_user);
  CHECK(w.uid == 33);
  CHECK(w.has_group);
  CHECK(w.gid == 33);
  CHECK(w.groups == std::vector<gid_t>{33, 50});
  CHECK(str(w.workdir) == "/srv");
  REQUIRE(w.env.size() == 1);
  CHECK(str(w.env[0]) == "MODE=prod");
  CHECK(str(w.env_file) == "/run/secrets/web.env");
  CHECK(w.umask == 022);
  REQUIRE(w.rlimits.size() == 1);
  CHECK(w.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(w.rlimits[0].soft == 4096);
  CHECK(w.rlimits[0].hard == 4096);
  CHECK(w.log == LogMode::Prefix);
  CHECK(w.instances == 1);
  CHECK(w.reload_signal == SIGHUP);
}

TEST_CASE("schema: defaults") {
  ServiceSpec s = one("[service.a]\ncommand = [\"x\"]\n");
  ServiceSpec d;
  CHECK(s.type == ServiceType::Simple);
  CHECK(s.restart == RestartPolicy::Always);
  CHECK(s.restart_delay == d.restart_delay);
  CHECK(s.restart_delay_max == d.restart_delay_max);
  CHECK(s.max_restarts == -1);
  CHECK(s.stop_signal == SIGTERM);
  CHECK(s.stop_timeout == d.stop_timeout);
  CHECK_FALSE(s.critical);
  CHECK_FALSE(s.has_user);
  CHECK_FALSE(s.has_group);
  CHECK(s.groups.empty());
  CHECK(s.umask == -1);
  CHECK(s.log == LogMode::Prefix);
  CHECK(s.instances == 1);
  CHECK(s.reload_signal == 0);  // a service opts in to SIGHUP (issue 13)
  CHECK(s.ready.kind == ProbeSpec::Started);
  CHECK(s.ready_timeout == 90000);
  CHECK(s.health.kind == ProbeSpec::None);
  CHECK(s.health_interval == 10000);
  CHECK(s.health_timeout == 5000);
  CHECK(s.health_retries == 3);
  CHECK(s.health_start_period == 0);
  CHECK(s.on_unhealthy == OnUnhealthy::Restart);
  CHECK(s.watchdog == 0);
  Config c = ok("");
  CHECK(c.services.empty());
  CHECK(c.init.shutdown_timeout == InitSpec().shutdown_timeout);
  CHECK(c.init.shutdown_limit == -1);
  CHECK(c.init.vm == VmMode::Auto);
}

TEST_CASE("schema: service tables can be written in any TOML form") {
  Config c = ok("[service]\nb = { command = [\"y\"] }\n[service.c]\ncommand = 'z'\n");
  REQUIRE(c.services.size() == 2);
  CHECK(str(c.services[0].name) == "b");
  CHECK(str(c.services[1].name) == "c");
  c = ok("service.a.command = \"x\"\n[service.d]\ncommand = 'z'\n");
  REQUIRE(c.services.size() == 2);
  CHECK(str(c.services[0].name) == "a");
  CHECK(str(c.services[1].name) == "d");
}

TEST_CASE("schema: command") {
  ServiceSpec s = one("[service.a]\ncommand = \"echo $HOME | wc\"\n");
  REQUIRE(s.argv.size() == 3);
  CHECK(str(s.argv[0]) == "/bin/sh");
  CHECK(str(s.argv[1]) == "-c");
  CHECK(str(s.argv[2]) == "echo $HOME | wc");
  CHECK(bad("[service.a]\ntype = \"oneshot\"\n") == "c.toml:1:10: service 'a' has no command");
  CHECK(bad("[service.a]\ncommand = []\n") == "c.toml:2:11: command: empty command");
  CHECK(bad("[service.a]\ncommand = \"\"\n") == "c.toml:2:11: command: empty command");
  CHECK(bad("[service.a]\ncommand = [\"\", \"x\"]\n") == "c.toml:2:11: command: empty command");
  CHECK(bad("[service.a]\ncommand = [\"x\", 1]\n") == "c.toml:2:17: command: expected a string, got an integer");
  CHECK(bad("[service.a]\ncommand = 1\n") == "c.toml:2:11: command: expected an array of strings, got an integer");
}

TEST_CASE("schema: unknown keys with suggestions") {
  CHECK(bad_key("stop_timout = 1") ==
        "c.toml:3:1: unknown key \"stop_timout\" in [service.s]; did you mean 'stop_timeout'?");
  CHECK(bad_key("Command2 = 1") == "c.toml:3:1: unknown key \"Command2\" in [service.s]; did you mean 'command'?");
  CHECK(bad_key("usr = \"x\"") == "c.toml:3:1: unknown key \"usr\" in [service.s]; did you mean 'user'?");
  CHECK(bad_key("frobnicate = 1") == "c.toml:3:1: unknown key \"frobnicate\" in [service.s]");
  CHECK(bad("[init]\nshutdown_timout = 1\n") ==
        "c.toml:2:1: unknown key \"shutdown_timout\" in [init]; did you mean 'shutdown_timeout'?");
  CHECK(bad("[services.a]\ncommand = 'x'\n") == "c.toml:1:2: unknown key \"services\"; did you mean 'service'?");
  CHECK(bad("x = 1\n") == "c.toml:1:1: unknown key \"x\"");
  CHECK(bad_key("rlimits = { nofiles = 1 }") ==
        "c.toml:3:13: unknown key \"nofiles\" in rlimits; did you mean 'nofile'?");
}

TEST_CASE("schema: wrong types name the key") {
  CHECK(bad("init = 1\n") == "c.toml:1:8: init: expected a table, got an integer");
  CHECK(bad("service = \"x\"\n") == "c.toml:1:11: service: expected a table, got a string");
  CHECK(bad("[service]\nweb = 1\n") == "c.toml:2:7: web: expected a table, got an integer");
  CHECK(bad_key("critical = \"yes\"") == "c.toml:3:12: critical: expected true or false, got a string");
  CHECK(bad_key("workdir = 1") == "c.toml:3:11: workdir: expected a string, got an integer");
  CHECK(bad_key("workdir = \"srv\"") == "c.toml:3:11: workdir: must be an absolute path, got \"srv\"");
  CHECK(bad_key("workdir = \"\"") == "c.toml:3:11: workdir: must not be empty");
  CHECK(bad_key("env_file = \"x.env\"") == "c.toml:3:12: env_file: must be an absolute path, got \"x.env\"");
  CHECK(bad_key("after = [1]") == "c.toml:3:10: after: expected a string, got an integer");
  CHECK(bad_key("env = [\"A=1\"]") == "c.toml:3:7: env: expected a table of NAME = \"value\", got an array");
  CHECK(bad_key("instances = \"2\"") == "c.toml:3:13: instances: expected an integer, got a string");
}

TEST_CASE("schema: service names") {
  CHECK(bad("[service.\"a b\"]\ncommand = 'x'\n") ==
        "c.toml:1:10: invalid service name \"a b\" (use 1 to 64 letters, digits, '_' or '-')");
  CHECK(bad("[service.\"web.1\"]\ncommand = 'x'\n") ==
        "c.toml:1:10: invalid service name \"web.1\" (use 1 to 64 letters, digits, '_' or '-')");
  CHECK(bad("[service.\"\"]\ncommand = 'x'\n") ==
        "c.toml:1:10: invalid service name \"\" (use 1 to 64 letters, digits, '_' or '-')");
  CHECK(str(one("[service.Web_2-x]\ncommand = 'x'\n").name) == "Web_2-x");
}

TEST_CASE("schema: durations") {
  CHECK(with("stop_timeout = \"250ms\"").stop_timeout == 250);
  CHECK(with("stop_timeout = \"5s\"").stop_timeout == 5000);
  CHECK(with("stop_timeout = \"2m\"").stop_timeout == 120000);
  CHECK(with("stop_timeout = \"1h\"").stop_timeout == 3600000);
  CHECK(with("stop_timeout = \"1.5s\"").stop_timeout == 1500);
  CHECK(with("stop_timeout = \"7\"").stop_timeout == 7000);
  CHECK(with("stop_timeout = 3").stop_timeout == 3000);
  CHECK(with("stop_timeout = 0").stop_timeout == 0);
  CHECK(with("restart_window = \"90s\"").restart_window == 90000);
  CHECK(with("restart_delay = \"250ms\"").restart_delay == 250);
  // A delay above the default maximum raises the maximum with it.
  ServiceSpec s = with("restart_delay = \"1m\"");
  CHECK(s.restart_delay_max == 60000);
  const char* msg = ": expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of seconds), got ";
  CHECK(bad_key("stop_timeout = \"5x\"") == std::string("c.toml:3:16: stop_timeout") + msg + "\"5x\"");
  CHECK(bad_key("stop_timeout = \"\"") == std::string("c.toml:3:16: stop_timeout") + msg + "\"\"");
  CHECK(bad_key("stop_timeout = \"-1s\"") == std::string("c.toml:3:16: stop_timeout") + msg + "\"-1s\"");
  CHECK(bad_key("stop_timeout = true") == std::string("c.toml:3:16: stop_timeout") + msg + "a boolean");
  CHECK(bad_key("stop_timeout = -1") == "c.toml:3:16: stop_timeout: must be between 0 and 1000000000 seconds");
  CHECK(bad("[init]\nshutdown_timeout = \"soon\"\n") ==
        std::string("c.toml:2:20: shutdown_timeout") + msg + "\"soon\"");
}

TEST_CASE("schema: signals") {
  CHECK(with("stop_signal = \"SIGQUIT\"").stop_signal == SIGQUIT);
  CHECK(with("stop_signal = \"INT\"").stop_signal == SIGINT);
  CHECK(with("stop_signal = 9").stop_signal == SIGKILL);
  CHECK(with("stop_signal = \"10\"").stop_signal == 10);
  CHECK(with("stop_signal = \"SIGRTMIN+2\"").stop_signal == SIGRTMIN + 2);
  CHECK(with("reload_signal = \"USR1\"").reload_signal == SIGUSR1);
  CHECK(with("reload_signal = \"none\"").reload_signal == 0);
  CHECK(with("reload_signal = 0").reload_signal == 0);
  const char* msg = "expected a signal (\"SIGTERM\", \"TERM\" or 1 to 64), got ";
  CHECK(bad_key("stop_signal = \"SIGFOO\"") == std::string("c.toml:3:15: stop_signal: ") + msg + "\"SIGFOO\"");
  CHECK(bad_key("stop_signal = 0") == std::string("c.toml:3:15: stop_signal: ") + msg + "\"0\"");
  CHECK(bad_key("stop_signal = 65") == std::string("c.toml:3:15: stop_signal: ") + msg + "\"65\"");
  CHECK(bad_key("stop_signal = \"none\"") == std::string("c.toml:3:15: stop_signal: ") + msg + "\"none\"");
  CHECK(bad_key("stop_signal = [15]") == std::string("c.toml:3:15: stop_signal: ") + msg + "an array");
  CHECK(bad_key("reload_signal = \"HUPP\"") ==
        "c.toml:3:17: reload_signal: expected a signal (\"SIGTERM\", \"TERM\" or 1 to 64, or \"none\"), got \"HUPP\"");
}

TEST_CASE("schema: restart policy, type, log") {
  CHECK(with("restart = \"on-failure\"").restart == RestartPolicy::OnFailure);
  CHECK(with("restart = \"never\"").restart == RestartPolicy::Never);
  CHECK(with("type = \"oneshot\"\nrestart = \"on-failure\"").restart == RestartPolicy::OnFailure);
  CHECK(with("restart = \"never\"\ntype = \"oneshot\"").type == ServiceType::Oneshot);
  CHECK(bad_key("restart = \"on_failure\"") ==
        "c.toml:3:11: restart: expected \"always\", \"on-failure\" or \"never\", got \"on_failure\"; "
        "did you mean 'on-failure'?");
  CHECK(bad_key("restart = 1") == "c.toml:3:11: restart: expected \"always\", \"on-failure\" or \"never\", got an integer");
  CHECK(bad_key("type = \"oneshot\"\nrestart = \"always\"") ==
        "c.toml:4:11: restart: a oneshot cannot use \"always\" (use \"on-failure\" or \"never\")");
  CHECK(bad_key("type = \"forking\"") == "c.toml:3:8: type: expected \"simple\" or \"oneshot\", got \"forking\"");
  CHECK(with("log = \"inherit\"").log == LogMode::Inherit);
  CHECK(with("log = \"null\"").log == LogMode::Null);
  CHECK(bad_key("log = \"prefx\"") ==
        "c.toml:3:7: log: expected \"prefix\", \"inherit\" or \"null\", got \"prefx\"; did you mean 'prefix'?");
}

TEST_CASE("schema: numbers") {
  CHECK(with("max_restarts = 0").max_restarts == 0);
  CHECK(with("max_restarts = -1").max_restarts == -1);
  CHECK(with("max_restarts = \"unlimited\"").max_restarts == -1);
  CHECK(bad_key("max_restarts = -2") == "c.toml:3:16: max_restarts: must be between -1 and 1000000");
  CHECK(with("instances = 3").instances == 3);
  CHECK(bad_key("instances = 0") == "c.toml:3:13: instances: must be between 1 and 1000");
  CHECK(bad_key("instances = 1001") == "c.toml:3:13: instances: must be between 1 and 1000");
}

TEST_CASE("schema: numbers cannot wrap (issue 11)") {
  // uid 2^64 + 1 ran as uid 1, 2^64 as root.
  CHECK(bad_key("user = \"18446744073709551617\"") == "c.toml:3:8: user: invalid user id \"18446744073709551617\"");
  CHECK(bad_key("user = \"18446744073709551616\"") == "c.toml:3:8: user: invalid user id \"18446744073709551616\"");
  CHECK(bad_key("user = \"4294967295\"") == "c.toml:3:8: user: invalid user id \"4294967295\"");
  CHECK(bad_key("user = \"4294967296\"") == "c.toml:3:8: user: invalid user id \"4294967296\"");
  CHECK(with("user = \"4294967294\"").uid == 4294967294u);
  CHECK(with("user = 4294967294").uid == 4294967294u);
  CHECK(bad_key("user = 4294967295") == "c.toml:3:8: user: must be between 0 and 4294967294");
  CHECK(bad_key("user = 18446744073709551617") == "c.toml:3:8: user: integer out of range: \"18446744073709551617\"");
  CHECK(bad_key("group = \"18446744073709551617\"") == "c.toml:3:9: group: invalid group id \"18446744073709551617\"");
  CHECK(bad_key("group = 9223372036854775807") == "c.toml:3:9: group: must be between 0 and 4294967294");
  // A 20-digit stop_signal was SIGTERM.
  const char* sig = "expected a signal (\"SIGTERM\", \"TERM\" or 1 to 64), got ";
  CHECK(bad_key("stop_signal = \"18446744073709551631\"") ==
        std::string("c.toml:3:15: stop_signal: ") + sig + "\"18446744073709551631\"");
  CHECK(bad_key("stop_signal = 99999999999999999999") ==
        "c.toml:3:15: stop_signal: integer out of range: \"99999999999999999999\"");
  CHECK(bad_key("stop_signal = 9223372036854775807") ==
        std::string("c.toml:3:15: stop_signal: ") + sig + "\"9223372036854775807\"");
  CHECK(bad_key("stop_signal = -9223372036854775808") ==
        std::string("c.toml:3:15: stop_signal: ") + sig + "\"-9223372036854775808\"");
  CHECK(bad_key("stop_signal = 4294967311") == std::string("c.toml:3:15: stop_signal: ") + sig + "\"4294967311\"");
  CHECK(bad_key("stop_signal = \"SIGRTMIN+18446744073709551617\"") ==
        std::string("c.toml:3:15: stop_signal: ") + sig + "\"SIGRTMIN+18446744073709551617\"");
  CHECK(with("stop_signal = \"64\"").stop_signal == 64);
  CHECK(with("stop_signal = 0x40").stop_signal == 64);
  // Durations: integers of seconds up to 10^9, strings likewise.
  CHECK(with("stop_timeout = 1000000000").stop_timeout == kMaxDuration);
  CHECK(with("stop_timeout = \"1000000000s\"").stop_timeout == kMaxDuration);
  CHECK(bad_key("stop_timeout = 1000000001") == "c.toml:3:16: stop_timeout: must be between 0 and 1000000000 seconds");
  CHECK(bad_key("stop_timeout = 9223372036854775807") ==
        "c.toml:3:16: stop_timeout: must be between 0 and 1000000000 seconds");
  CHECK(bad_key("stop_timeout = 0x7fffffffffffffff") ==
        "c.toml:3:16: stop_timeout: must be between 0 and 1000000000 seconds");
  CHECK(bad_key("stop_timeout = -9223372036854775808") ==
        "c.toml:3:16: stop_timeout: must be between 0 and 1000000000 seconds");
  const char* dur = ": expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of seconds), got ";
  for (const char* v : {"18446744073709551617", "18446744073709551617ms", "1000000001s", "5124095576030432h"}) {
    CAPTURE(v);
    CHECK(bad_key("stop_timeout = \"" + std::string(v) + "\"") ==
          std::string("c.toml:3:16: stop_timeout") + dur + "\"" + v + "\"");
  }
  // max_restarts, instances, health_retries at and past their ends.
  CHECK(with("max_restarts = 1000000").max_restarts == 1000000);
  CHECK(bad_key("max_restarts = 1000001") == "c.toml:3:16: max_restarts: must be between -1 and 1000000");
  CHECK(bad_key("max_restarts = 4294967296") == "c.toml:3:16: max_restarts: must be between -1 and 1000000");
  CHECK(bad_key("max_restarts = -9223372036854775808") == "c.toml:3:16: max_restarts: must be between -1 and 1000000");
  CHECK(bad_key("instances = 4294967297") == "c.toml:3:13: instances: must be between 1 and 1000");
  CHECK(bad_key("health_retries = 4294967299") == "c.toml:3:18: health_retries: must be between 1 and 1000");
  // umask: the number as written, never wrapped into range.
  const char* um = "c.toml:3:9: umask: expected an octal mode such as \"022\", got ";
  CHECK(bad_key("umask = 0x100000000") == std::string(um) + "\"0x100000000\"");
  CHECK(bad_key("umask = 0o7777777777777777777777") == "c.toml:3:9: umask: integer out of range: \"0o7777777777777777777777\"");
  CHECK(bad_key("umask = 0b1000000000") == std::string(um) + "\"0b1000000000\"");
  CHECK(with("umask = 0b111111111").umask == 0777);
  CHECK(bad_key("umask = 7777") == std::string(um) + "\"7777\"");
  CHECK(bad_key("umask = 18446744073709551615") == "c.toml:3:9: umask: integer out of range: \"18446744073709551615\"");
  // rlimits: any non-negative int64 fits rlim_t; past it, TOML says so.
  CHECK(with("rlimits = { nofile = 9223372036854775807 }").rlimits[0].soft == 9223372036854775807ULL);
  CHECK(bad_key("rlimits = { nofile = 18446744073709551615 }") ==
        "c.toml:3:22: nofile: integer out of range: \"18446744073709551615\"");
  CHECK(bad_key("rlimits = { nofile = -9223372036854775808 }") ==
        "c.toml:3:22: rlimits: nofile: expected an integer, \"unlimited\" or [soft, hard], got \"-9223372036854775808\"");
  // Probe ports and fds.
  CHECK(bad_key("ready = \"tcp://127.0.0.1:18446744073709551617\"").find("PORT 1 to 65535") != std::string::npos);
  CHECK(bad_key("ready = \"fd:18446744073709551619\"") ==
        "c.toml:3:9: ready: expected fd:N with N from 3 to 1023, got \"fd:18446744073709551619\"");
}

TEST_CASE("schema: umask") {
  CHECK(with("umask = \"022\"").umask == 022);
  CHECK(with("umask = \"0027\"").umask == 027);
  CHECK(with("umask = \"0\"").umask == 0);
  CHECK(with("umask = \"777\"").umask == 0777);
  CHECK(with("umask = 0o022").umask == 022);
  CHECK(with("umask = 22").umask == 022);  // decimal digits are read as octal
  CHECK(with("umask = 0").umask == 0);
  const char* msg = "c.toml:3:9: umask: expected an octal mode such as \"022\", got ";
  CHECK(bad_key("umask = \"8\"") == std::string(msg) + "\"8\"");
  CHECK(bad_key("umask = \"1000\"") == std::string(msg) + "\"1000\"");
  CHECK(bad_key("umask = \"\"") == std::string(msg) + "\"\"");
  CHECK(bad_key("umask = \"u=rwx\"") == std::string(msg) + "\"u=rwx\"");
  CHECK(bad_key("umask = 0o1000") == std::string(msg) + "\"0o1000\"");
  CHECK(bad_key("umask = 29") == std::string(msg) + "\"29\"");
  CHECK(bad_key("umask = -1") == std::string(msg) + "\"-1\"");
  CHECK(bad_key("umask = true") == std::string(msg) + "a boolean");
}

TEST_CASE("schema: rlimits") {
  ServiceSpec s = with("rlimits = { nofile = 4096, core = \"unlimited\", nproc = [10, 20], as = [1, \"unlimited\"] }");
  REQUIRE(s.rlimits.size() == 4);
  CHECK(s.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(s.rlimits[1].resource == RLIMIT_CORE);
  CHECK(s.rlimits[1].soft == RLIM_INFINITY);
  CHECK(s.rlimits[1].hard == RLIM_INFINITY);
  CHECK(s.rlimits[2].soft == 10);
  CHECK(s.rlimits[2].hard == 20);
  CHECK(s.rlimits[3].resource == RLIMIT_AS);
  CHECK(s.rlimits[3].hard == RLIM_INFINITY);
  CHECK(with("[service.s.rlimits]\nstack = 8388608").rlimits[0].resource == RLIMIT_STACK);
  for (const char* name : {"cpu", "fsize", "data", "memlock", "locks", "msgqueue", "nice", "rss", "rtprio",
                           "rttime", "sigpending"}) {
    CHECK(with("rlimits = { " + std::string(name) + " = 1 }").rlimits.size() == 1);
  }
  CHECK(bad_key("rlimits = { nofile = [20, 10] }") == "c.toml:3:22: rlimits: nofile: soft limit above the hard limit");
  CHECK(bad_key("rlimits = { nofile = [20] }") == "c.toml:3:22: rlimits: nofile: expected [soft, hard]");
  CHECK(bad_key("rlimits = { nofile = -1 }") ==
        "c.toml:3:22: rlimits: nofile: expected an integer, \"unlimited\" or [soft, hard], got \"-1\"");
  CHECK(bad_key("rlimits = { nofile = [1, \"lots\"] }") ==
        "c.toml:3:26: rlimits: nofile: expected an integer, \"unlimited\" or [soft, hard], got \"lots\"");
  CHECK(bad_key("rlimits = 5") == "c.toml:3:11: rlimits: expected a table such as { nofile = 4096 }, got an integer");
}

TEST_CASE("schema: privileges and scheduling (issue 15)") {
  ServiceSpec d = with("");
  CHECK_FALSE(d.no_new_privs);
  CHECK_FALSE(d.has_caps);
  CHECK(d.oom_score_adj == kUnset);
  CHECK(d.nice == kUnset);
  CHECK(d.cpus.empty());
  CHECK(with("no_new_privs = true").no_new_privs);
  ServiceSpec s = with("capabilities = [\"CAP_NET_BIND_SERVICE\", \"cap_chown\", \"SYS_ADMIN\", \"CAP_CHECKPOINT_RESTORE\"]");
  CHECK(s.has_caps);
  CHECK(s.caps == ((1ULL << 10) | (1ULL << 0) | (1ULL << 21) | (1ULL << 40)));
  ServiceSpec none = with("capabilities = []");
  CHECK(none.has_caps);
  CHECK(none.caps == 0);
  CHECK(with("capabilities = \"CAP_KILL\"").caps == (1ULL << 5));
  CHECK(bad_key("capabilities = [\"CAP_NET_BIND_SERVIC\"]") ==
        "c.toml:3:17: capabilities: unknown capability \"CAP_NET_BIND_SERVIC\" (see capabilities(7))");
  CHECK(bad_key("capabilities = [\"CAP_\"]") == "c.toml:3:17: capabilities: unknown capability \"CAP_\" (see capabilities(7))");
  CHECK(bad_key("capabilities = [\"\"]") == "c.toml:3:17: capabilities: unknown capability \"\" (see capabilities(7))");
  CHECK(with("capabilities = [\"CAP_CHOWN\", \"CAP_CHECKPOINT_RESTORE\", \"BPF\"]").caps ==
        ((1ULL << 0) | (1ULL << 40) | (1ULL << 39)));
  CHECK(bad_key("capabilities = [1]") == "c.toml:3:17: capabilities: expected a string, got an integer");
  CHECK(with("oom_score_adj = -1000").oom_score_adj == -1000);
  CHECK(with("oom_score_adj = 1000").oom_score_adj == 1000);
  CHECK(bad_key("oom_score_adj = 1001") == "c.toml:3:17: oom_score_adj: must be between -1000 and 1000");
  CHECK(with("nice = -20").nice == -20);
  CHECK(with("nice = 19").nice == 19);
  CHECK(bad_key("nice = 20") == "c.toml:3:8: nice: must be between -20 and 19");
  CHECK(bad_key("nice = \"5\"") == "c.toml:3:8: nice: expected an integer, got a string");
  auto word = [](const ServiceSpec& x, size_t k) {
    unsigned long w = 0;
    if ((k + 1) * sizeof w <= x.cpus.size()) std::memcpy(&w, x.cpus.c_str() + k * sizeof w, sizeof w);
    return w;
  };
  ServiceSpec c = with("cpu_affinity = [0, \"2-3\", \"70\"]");
  constexpr size_t kBits = 8 * sizeof(unsigned long);
  CHECK(c.cpus.size() == (70 / kBits + 1) * sizeof(unsigned long));
  CHECK(word(c, 0) == (kBits == 64 ? 0xdUL : 0xdUL));
  CHECK(word(c, 70 / kBits) == 1UL << (70 % kBits));
  CHECK(with("cpu_affinity = \"1\"").cpus.size() == sizeof(unsigned long));
  CHECK(with("cpu_affinity = [1023]").cpus.size() == 1024 / 8);
  const char* cpu_msg = "cpu_affinity: expected CPU numbers (0 to 1023) or ranges such as \"0-3\", got ";
  CHECK(bad_key("cpu_affinity = [1024]") == std::string("c.toml:3:17: ") + cpu_msg + "\"1024\"");
  CHECK(bad_key("cpu_affinity = [\"3-1\"]") == std::string("c.toml:3:17: ") + cpu_msg + "\"3-1\"");
  CHECK(bad_key("cpu_affinity = [\"-1\"]") == std::string("c.toml:3:17: ") + cpu_msg + "\"-1\"");
  CHECK(bad_key("cpu_affinity = [-1]") == std::string("c.toml:3:17: ") + cpu_msg + "\"-1\"");
  CHECK(bad_key("cpu_affinity = [true]") == std::string("c.toml:3:17: ") + cpu_msg + "a boolean");
  CHECK(bad_key("cpu_affinity = []") ==
        "c.toml:3:16: cpu_affinity: empty list (leave the key out to keep every CPU)");
}

TEST_CASE("schema: cgroup limits (issue 15)") {
  ServiceSpec d = with("");
  CHECK(d.memory_max == kNoLimit);
  CHECK(d.memory_high == kNoLimit);
  CHECK(d.memory_swap_max == kNoLimit);
  CHECK(d.cpu_quota == 0);
  CHECK(d.cpu_weight == kUnset);
  CHECK(d.io_weight == kUnset);
  CHECK(d.pids_max == kUnset);
  CHECK(with("memory_max = \"256M\"").memory_max == 256ULL << 20);
  CHECK(with("memory_max = \"1G\"").memory_max == 1ULL << 30);
  CHECK(with("memory_max = \"512MiB\"").memory_max == 512ULL << 20);
  CHECK(with("memory_max = \"64k\"").memory_max == 64ULL << 10);
  CHECK(with("memory_max = \"2TB\"").memory_max == 2ULL << 40);
  CHECK(with("memory_max = \"4096\"").memory_max == 4096);
  CHECK(with("memory_max = 1_000_000").memory_max == 1000000);
  CHECK(with("memory_high = \"100M\"").memory_high == 100ULL << 20);
  CHECK(with("memory_swap_max = 0").memory_swap_max == 0);
  // A fraction with a unit, rounded down to a byte (systemd, Docker).
  CHECK(with("memory_max = \"1.5G\"").memory_max == 3ULL << 29);
  CHECK(with("memory_max = \"0.5K\"").memory_max == 512);
  CHECK(with("memory_max = \"1.3G\"").memory_max == 1395864371);  // 1.3 * 2^30 = 1395864371.2
  CHECK(with("memory_max = \"2.25TiB\"").memory_max == 9ULL << 38);
  CHECK(with("memory_max = \"16777215.5T\"").memory_max == ~0ULL - (1ULL << 39) + 1);  // the largest with a fraction
  // "max" (cgroup v2) or "infinity" (systemd): no limit, as if not set.
  CHECK(with("memory_max = \"max\"").memory_max == kNoLimit);
  CHECK(with("memory_high = \"infinity\"").memory_high == kNoLimit);
  CHECK(with("memory_swap_max = \"max\"").memory_swap_max == kNoLimit);
  CHECK(with("pids_max = \"max\"").pids_max == kUnset);
  CHECK(bad_key("log_max_size = \"max\"") ==
        "c.toml:3:16: log_max_size: expected a size (\"512K\", \"256M\", \"1G\", \"1GiB\" or an integer of bytes), got \"max\"");
  const char* size_msg =
      "memory_max: expected a size (\"512K\", \"256M\", \"1G\", \"1GiB\", \"max\" or an integer of bytes), got ";
  for (const char* b : {"\"256X\"", "\"M\"", "\"1.5\"", "\"1.G\"", "\".5G\"", "\"1.5.5G\"", "\"1.0000000001G\"",
                        "\"256 M\"", "\"1Gi\"", "\"99999999999999999999\"", "\"17179869184G\"",
                        "\"maximum\""}) {
    CAPTURE(b);
    CHECK(bad_key(std::string("memory_max = ") + b) == std::string("c.toml:3:14: ") + size_msg + b);
  }
  CHECK(bad_key("memory_max = -1") == std::string("c.toml:3:14: ") + size_msg + "\"-1\"");
  ServiceSpec c = with("cpu_max = \"50%\"");
  CHECK(c.cpu_quota == 50000);
  CHECK(c.cpu_period == 100000);
  c = with("cpu_max = \"250%\"");
  CHECK(c.cpu_quota == 250000);
  CHECK(with("cpu_max = \"max\"").cpu_quota == 0);  // none, as when not set
  c = with("cpu_max = \"20000 50000\"");
  CHECK(c.cpu_quota == 20000);
  CHECK(c.cpu_period == 50000);
  const char* cpu_msg = "c.toml:3:11: cpu_max: expected a share of one CPU (\"50%\", \"200%\") or \"QUOTA PERIOD\" in "
                        "microseconds (\"50000 100000\"), got ";
  for (const char* b : {"\"0%\"", "\"50\"", "\"%\"", "\"500 100000\"", "\"50000 100\"", "\"50000 2000000\"", "\"x y\""}) {
    CAPTURE(b);
    CHECK(bad_key(std::string("cpu_max = ") + b) == std::string(cpu_msg) + b);
  }
  CHECK(bad_key("cpu_max = 50") == std::string(cpu_msg) + "\"50\"");
  CHECK(with("cpu_weight = 1").cpu_weight == 1);
  CHECK(with("io_weight = 10000").io_weight == 10000);
  CHECK(bad_key("cpu_weight = 0") == "c.toml:3:14: cpu_weight: must be between 1 and 10000");
  CHECK(bad_key("io_weight = 10001") == "c.toml:3:13: io_weight: must be between 1 and 10000");
  CHECK(with("pids_max = 64").pids_max == 64);
  CHECK(bad_key("pids_max = 0") == "c.toml:3:12: pids_max: must be between 1 and 4194304");
  CHECK(ok("[init]\ncgroups = \"on\"").init.cgroups == VmMode::On);
  CHECK(ok("[init]\ncgroups = false").init.cgroups == VmMode::Off);
  CHECK(ok("").init.cgroups == VmMode::Auto);
}

TEST_CASE("schema: env") {
  ServiceSpec s = with("env = { A = \"x y\", N = 1, B = true, \"LC ALL\" = '' }");
  REQUIRE(s.env.size() == 4);
  CHECK(str(s.env[0]) == "A=x y");
  CHECK(str(s.env[1]) == "N=1");
  CHECK(str(s.env[2]) == "B=true");
  CHECK(str(s.env[3]) == "LC ALL=");
  CHECK(bad_key("env = { \"A=B\" = \"x\" }") == "c.toml:3:9: env: invalid variable name \"A=B\"");
  CHECK(bad_key("env = { \"\" = \"x\" }") == "c.toml:3:9: env: invalid variable name \"\"");
  CHECK(bad_key("env = { A = [1] }") == "c.toml:3:13: env: \"A\": expected a string, got an array");
}

TEST_CASE("schema: [init]") {
  Config c = ok("[init]\nshutdown_timeout = 3\nlog_timestamps = true\nvm = true\nfinal_action = \"reboot\"\n"
                "hostname = \"box\"\nmount_cgroup = true\n");
  CHECK(c.init.shutdown_timeout == 3000);
  CHECK(c.init.log_timestamps);
  CHECK(c.init.vm == VmMode::On);
  CHECK(c.init.final_action == FinalAction::Reboot);
  CHECK(str(c.init.hostname) == "box");
  CHECK(c.init.mount_cgroup);
  CHECK(ok("[init]\nvm = false").init.vm == VmMode::Off);
  CHECK(ok("[init]\nvm = \"on\"").init.vm == VmMode::On);
  CHECK(ok("[init]\nvm = \"off\"").init.vm == VmMode::Off);
  CHECK(ok("[init]\nvm = \"auto\"").init.vm == VmMode::Auto);
  CHECK(ok("[init]\nfinal_action = \"halt\"").init.final_action == FinalAction::Halt);
  CHECK(ok("[init]\nfinal_action = \"poweroff\"").init.final_action == FinalAction::Poweroff);
  CHECK(bad("[init]\nvm = \"maybe\"") == "c.toml:2:6: vm: expected \"auto\", \"on\" or \"off\", got \"maybe\"");
  CHECK(bad("[init]\nfinal_action = \"shutdown\"") ==
        "c.toml:2:16: final_action: expected \"poweroff\", \"reboot\" or \"halt\", got \"shutdown\"");
  CHECK(bad("[init]\nhostname = \"" + std::string(65, 'h') + "\"") ==
        "c.toml:2:12: hostname: longer than 64 characters");
  CHECK(bad("[init]\nlog_timestamps = 1") == "c.toml:2:18: log_timestamps: expected true or false, got an integer");
}

TEST_CASE("schema: [init] shutdown_limit") {
  CHECK(ok("[init]\nshutdown_limit = \"45s\"").init.shutdown_limit == 45000);
  CHECK(ok("[init]\nshutdown_limit = 3").init.shutdown_limit == 3000);
  CHECK(ok("[init]\nshutdown_limit = 0").init.shutdown_limit == -1);  // 0: computed by the engine
  CHECK(ok("[init]\nshutdown_limit = \"0s\"").init.shutdown_limit == -1);
  CHECK(bad("[init]\nshutdown_limit = \"soon\"") ==
        "c.toml:2:18: shutdown_limit: expected a duration (\"250ms\", \"5s\", \"2m\", \"1h\" or an integer of "
        "seconds), got \"soon\"");
  CHECK(bad("[init]\nshutdown_limit = -5") == "c.toml:2:18: shutdown_limit: must be between 0 and 1000000000 seconds");
  CHECK(bad("[init]\nshutdown_limt = 5") ==
        "c.toml:2:1: unknown key \"shutdown_limt\" in [init]; did you mean 'shutdown_limit'?");
}

TEST_CASE("schema: [init] microVM keys") {
  Config c = ok("[init]\nmodules = [\"virtio_blk\", \"ext4\"]\ntmp = \"tmpfs\"\nrandom_seed = \"/var/lib/seed\"\n"
                "random_seed_credit = true\nsysctl = { \"net.ipv4.ip_forward\" = 1, \"kernel.x\" = true, "
                "\"a/b.c\" = \"v w\" }\n");
  REQUIRE(c.init.boot.modules.size() == 2);
  CHECK(str(c.init.boot.modules[1]) == "ext4");
  CHECK(c.init.boot.tmp == TmpMode::Tmpfs);
  CHECK(str(c.init.boot.random_seed) == "/var/lib/seed");
  CHECK(c.init.boot.random_seed_credit);
  REQUIRE(c.init.boot.sysctl.size() == 3);
  CHECK(str(c.init.boot.sysctl[0]) == "net.ipv4.ip_forward=1");
  CHECK(str(c.init.boot.sysctl[1]) == "kernel.x=1");
  CHECK(str(c.init.boot.sysctl[2]) == "a/b.c=v w");
  CHECK(ok("[init]\nmodules = \"ext4\"").init.boot.modules.size() == 1);
  CHECK(ok("").init.boot.tmp == TmpMode::None);
  CHECK(bad("[init]\nmodules = [\"\"]") == "c.toml:2:12: modules: must not be empty");
  CHECK(bad("[init]\nmodules = [1]") == "c.toml:2:12: modules: expected a string, got an integer");
  CHECK(bad("[init]\ntmp = \"ramfs\"") == "c.toml:2:7: tmp: expected \"none\" or \"tmpfs\", got \"ramfs\"");
  CHECK(bad("[init]\nrandom_seed = \"seed\"") == "c.toml:2:15: random_seed: must be an absolute path, got \"seed\"");
  CHECK(bad("[init]\nsysctl = { \"/etc/x\" = 1 }") == "c.toml:2:12: sysctl: invalid name \"/etc/x\"");
  CHECK(bad("[init]\nsysctl = { \"a/../b\" = 1 }") == "c.toml:2:12: sysctl: invalid name \"a/../b\"");
  CHECK(bad("[init]\nsysctl = { a = [1] }") == "c.toml:2:16: sysctl: \"a\": expected a string or an integer, got an array");
  CHECK(bad("[init]\nsysctl = 1") == "c.toml:2:10: sysctl: expected a table such as { \"net.ipv4.ip_forward\" = 1 }, got an integer");
}

TEST_CASE("schema: [init] network") {
  Config c = ok("[init.network]\ninterface = \"eth1\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.2.2\"\n"
                "dns = [\"10.0.2.3\", \"1.1.1.1\"]\n");
  CHECK(str(c.init.boot.network.interface) == "eth1");
  CHECK(str(c.init.boot.network.address) == "10.0.2.15/24");
  CHECK(str(c.init.boot.network.gateway) == "10.0.2.2");
  REQUIRE(c.init.boot.network.dns.size() == 2);
  CHECK(str(c.init.boot.network.dns[1]) == "1.1.1.1");
  CHECK(ok("[init]\nnetwork = { address = \"10.0.0.2/8\", dns = \"10.0.0.1\" }").init.boot.network.dns.size() == 1);
  CHECK(bad("[init.network]\naddress = \"10.0.2.15\"") ==
        "c.toml:2:11: address: expected an IPv4 address and prefix length such as \"10.0.2.15/24\", got \"10.0.2.15\"");
  CHECK(bad("[init.network]\naddress = \"10.0.2.15/33\"").find("address: expected") != std::string::npos);
  CHECK(bad("[init.network]\ngateway = \"10.0.2\"") == "c.toml:2:11: gateway: expected an IPv4 address, got \"10.0.2\"");
  CHECK(bad("[init.network]\ndns = [\"10.0.2.3\", \"x\"]") == "c.toml:2:20: dns: expected an IPv4 address, got \"x\"");
  CHECK(bad("[init.network]\nmtu = 1500") == "c.toml:2:1: unknown key \"mtu\" in network");
  CHECK(bad("[init.network]\ninterfce = \"eth0\"") ==
        "c.toml:2:1: unknown key \"interfce\" in network; did you mean 'interface'?");
}

TEST_CASE("schema: [mount.NAME]") {
  Config c = ok("[mount.data]\nsource = \"LABEL=data\"\ntarget = \"/data\"\ntype = \"ext4\"\noptions = \"noatime\"\n"
                "[mount.scratch]\nsource = \"tmpfs\"\ntarget = \"/scratch\"\ntype = \"tmpfs\"\n");
  REQUIRE(c.init.boot.mounts.size() == 2);
  CHECK(str(c.init.boot.mounts[0].name) == "data");
  CHECK(str(c.init.boot.mounts[0].source) == "LABEL=data");
  CHECK(str(c.init.boot.mounts[0].target) == "/data");
  CHECK(str(c.init.boot.mounts[0].type) == "ext4");
  CHECK(str(c.init.boot.mounts[0].options) == "noatime");
  CHECK(str(c.init.boot.mounts[1].name) == "scratch");
  CHECK(c.init.boot.mounts[1].options.empty());
  CHECK(bad("[mount.d]\nsource = \"a\"\ntarget = \"rel\"") == "c.toml:3:10: target: must be an absolute path, got \"rel\"");
  CHECK(bad("[mount.d]\nsource = \"a\"") == "c.toml:1:8: mount 'd' needs a source and a target");
  CHECK(bad("[mount.d]\nsource = \"a\"\ntarget = \"/a\"\nfstype = \"x\"") ==
        "c.toml:4:1: unknown key \"fstype\" in [mount.d]; did you mean 'type'?");
  CHECK(bad("[mount.\"a b\"]\nsource = \"a\"").find("invalid mount name") != std::string::npos);
  CHECK(bad("[mount]\nd = 1") == "c.toml:2:5: d: expected a table, got an integer");
}

TEST_CASE("schema: ready probes") {
  ServiceSpec s = with("ready = \"notify\"");
  CHECK(s.ready.kind == ProbeSpec::Notify);
  CHECK(with("ready = \"started\"").ready.kind == ProbeSpec::Started);
  s = with("ready = \"fd:3\"");
  CHECK(s.ready.kind == ProbeSpec::Fd);
  CHECK(s.ready.fd == 3);
  CHECK(with("ready = \"fd:1023\"").ready.fd == 1023);
  s = with("ready = \"tcp://127.0.0.1:11211\"");
  CHECK(s.ready.kind == ProbeSpec::Tcp);
  CHECK(str(s.ready.host) == "127.0.0.1");
  CHECK(s.ready.port == 11211);
  CHECK(s.ready.family == AF_INET);
  CHECK(std::string(reinterpret_cast<const char*>(s.ready.addr), 4) == std::string("\x7f\0\0\x01", 4));
  s = with("ready = \"tcp://[::1]:5432\"");
  CHECK(s.ready.family == AF_INET6);
  CHECK(str(s.ready.host) == "::1");
  CHECK(s.ready.port == 5432);
  CHECK(s.ready.addr[15] == 1);
  CHECK(s.ready.addr[0] == 0);
  s = with("ready = \"tcp://localhost:65535\"");
  CHECK(str(s.ready.host) == "localhost");
  CHECK(s.ready.family == AF_INET);
  CHECK(s.ready.addr[0] == 127);
  CHECK(s.ready.addr[3] == 1);
  CHECK(s.ready.port == 65535);
  s = with("ready = \"tcp://[fe80:0:0:0:1:2:3:4]:1\"");
  CHECK(s.ready.addr[0] == 0xfe);
  CHECK(s.ready.addr[1] == 0x80);
  CHECK(s.ready.addr[9] == 1);
  CHECK(s.ready.addr[15] == 4);
  s = with("ready = \"tcp://[2001:db8::ff00:42]:80\"");
  CHECK(s.ready.addr[1] == 0x01);
  CHECK(s.ready.addr[3] == 0xb8);
  CHECK(s.ready.addr[12] == 0xff);
  CHECK(s.ready.addr[15] == 0x42);
  CHECK(with("ready = \"tcp://[::]:80\"").ready.family == AF_INET6);
  CHECK(with("ready = \"tcp://[1::]:80\"").ready.addr[1] == 1);
  s = with("ready = \"http://127.0.0.1:8080/healthz?x=1\"");
  CHECK(s.ready.kind == ProbeSpec::Http);
  CHECK(s.ready.port == 8080);
  CHECK(str(s.ready.path_or_cmd) == "/healthz?x=1");
  s = with("ready = \"http://[::1]\"");
  CHECK(s.ready.port == 80);
  CHECK(str(s.ready.path_or_cmd) == "/");
  CHECK(str(with("ready = \"http://localhost:81/\"").ready.path_or_cmd) == "/");
  s = with("ready = \"exec:pg_isready -q\"");
  CHECK(s.ready.kind == ProbeSpec::Exec);
  CHECK(str(s.ready.path_or_cmd) == "pg_isready -q");
  s = with("ready = \"file:/run/app.ready\"");
  CHECK(s.ready.kind == ProbeSpec::File);
  CHECK(str(s.ready.path_or_cmd) == "/run/app.ready");
  CHECK(with("ready = \"notify\"\nready_timeout = \"60s\"").ready_timeout == 60000);

  std::string forms = "c.toml:3:9: ready: expected \"started\", \"notify\", \"fd:N\", \"tcp://HOST:PORT\", "
                      "\"http://HOST:PORT/PATH\", \"exec:COMMAND\" or \"file:PATH\", got ";
  CHECK(bad_key("ready = \"ready\"") == forms + "\"ready\"");
  CHECK(bad_key("ready = \"none\"") == forms + "\"none\"");
  CHECK(bad_key("ready = \"tcp:127.0.0.1:80\"") == forms + "\"tcp:127.0.0.1:80\"");
  CHECK(bad_key("ready = \"https://127.0.0.1/\"") == forms + "\"https://127.0.0.1/\"");
  CHECK(bad_key("ready = \"\"") == "c.toml:3:9: ready: must not be empty");
  CHECK(bad_key("ready = 1") == "c.toml:3:9: ready: expected a string, got an integer");
  std::string fd = "c.toml:3:9: ready: expected fd:N with N from 3 to 1023, got ";
  for (const char* v : {"fd:2", "fd:1024", "fd:", "fd:-4", "fd:+4", "fd:3x", "fd:18446744073709551619"})
    CHECK(bad_key("ready = \"" + std::string(v) + "\"") == fd + "\"" + v + "\"");
  std::string tcp = "c.toml:3:9: ready: expected tcp://HOST:PORT, HOST an IP address (127.0.0.1, [::1]) or "
                    "localhost, PORT 1 to 65535, got ";
  for (const char* v : {"tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:-1",
                        "tcp://127.0.0.1:18446744073709551617", "tcp://127.0.0.1:80:81", "tcp://db:5432",
                        "tcp://::1:80", "tcp://[::1:80", "tcp://[::1]80", "tcp://256.0.0.1:80",
                        "tcp://1.2.3:80", "tcp://1.2.3.4.5:80", "tcp://01.2.3.4:80", "tcp://:80",
                        "tcp://[1::2::3]:80", "tcp://[1:2:3:4:5:6:7]:80", "tcp://[1:2:3:4:5:6:7:8:9]:80",
                        "tcp://[12345::]:80", "tcp://[1:]:80", "tcp://[g::]:80", "tcp://[]:80",
                        "tcp://[::ffff:1.2.3.4]:80", "tcp://LOCALHOST:80"})
    CHECK(bad_key("ready = \"" + std::string(v) + "\"") == tcp + "\"" + v + "\"");
  CHECK(bad_key("ready = \"http://127.0.0.1:80/a b\"") ==
        "c.toml:3:9: ready: expected http://HOST:PORT/PATH, HOST an IP address (127.0.0.1, [::1]) or localhost, "
        "PORT 1 to 65535, no spaces in PATH, got \"http://127.0.0.1:80/a b\"");
  CHECK(bad_key("ready = \"exec: \"") == "c.toml:3:9: ready: expected exec:COMMAND, got \"exec: \"");
  CHECK(bad_key("ready = \"file:run/x\"") == "c.toml:3:9: ready: expected file:/ABSOLUTE/PATH, got \"file:run/x\"");
  CHECK(bad_key("ready_timeout = 0") == "c.toml:3:17: ready_timeout: must be more than 0");
  CHECK(bad_key("ready_timout = 5") ==
        "c.toml:3:1: unknown key \"ready_timout\" in [service.s]; did you mean 'ready_timeout'?");
  CHECK(bad_key("type = \"oneshot\"\nready = \"notify\"") ==
        "c.toml:4:9: ready: a oneshot is ready when it exits with 0 (remove ready)");
}

TEST_CASE("schema: health checks") {
  ServiceSpec s = with("health = \"http://127.0.0.1:8080/healthz\"\nhealth_interval = \"10s\"\n"
                       "health_timeout = \"2s\"\nhealth_retries = 5\nhealth_start_period = \"30s\"\n"
                       "on_unhealthy = \"stop\"");
  CHECK(s.health.kind == ProbeSpec::Http);
  CHECK(s.health.port == 8080);
  CHECK(s.health_interval == 10000);
  CHECK(s.health_timeout == 2000);
  CHECK(s.health_retries == 5);
  CHECK(s.health_start_period == 30000);
  CHECK(s.on_unhealthy == OnUnhealthy::Stop);
  CHECK(with("on_unhealthy = \"ignore\"").on_unhealthy == OnUnhealthy::Ignore);
  CHECK(with("on_unhealthy = \"restart\"").on_unhealthy == OnUnhealthy::Restart);
  CHECK(with("health = \"exec:true\"").health.kind == ProbeSpec::Exec);
  CHECK(with("health = \"tcp://127.0.0.1:1\"").health.kind == ProbeSpec::Tcp);
  CHECK(with("health = \"file:/x\"").health.kind == ProbeSpec::File);
  CHECK(with("health = \"none\"").health.kind == ProbeSpec::None);
  CHECK(with("type = \"oneshot\"\nhealth = \"none\"").health.kind == ProbeSpec::None);
  CHECK(with("health_retries = 1").health_retries == 1);
  CHECK(with("health_retries = 1000").health_retries == 1000);
  for (const char* v : {"notify", "started", "fd:3"})
    CHECK(bad_key("health = \"" + std::string(v) + "\"") ==
          "c.toml:3:10: health: \"" + std::string(v) + "\" is for ready only (health takes tcp://, http://, exec: or file:)");
  CHECK(bad_key("health = \"ping\"") ==
        "c.toml:3:10: health: expected \"tcp://HOST:PORT\", \"http://HOST:PORT/PATH\", \"exec:COMMAND\" or "
        "\"file:PATH\" (or \"none\"), got \"ping\"");
  CHECK(bad_key("health_retries = 0") == "c.toml:3:18: health_retries: must be between 1 and 1000");
  CHECK(bad_key("health_retries = 9223372036854775807") == "c.toml:3:18: health_retries: must be between 1 and 1000");
  CHECK(bad_key("health_retries = \"3\"") == "c.toml:3:18: health_retries: expected an integer, got a string");
  CHECK(bad_key("health_interval = 0") == "c.toml:3:19: health_interval: must be more than 0");
  CHECK(bad_key("health_timeout = \"0ms\"") == "c.toml:3:18: health_timeout: must be more than 0");
  CHECK(with("health_start_period = 0").health_start_period == 0);
  CHECK(bad_key("on_unhealthy = \"restrat\"") ==
        "c.toml:3:16: on_unhealthy: expected \"restart\", \"stop\" or \"ignore\", got \"restrat\"; did you mean "
        "'restart'?");
  CHECK(bad_key("type = \"oneshot\"\nhealth = \"exec:true\"") ==
        "c.toml:4:10: health: a oneshot has no health check (remove health)");
}

TEST_CASE("schema: watchdog") {
  ServiceSpec s = with("ready = \"notify\"\nwatchdog = \"30s\"");
  CHECK(s.watchdog == 30000);
  CHECK(with("watchdog = 0").watchdog == 0);
  CHECK(with("watchdog = \"30s\"\nready = \"notify\"").watchdog == 30000);  // order does not matter
  CHECK(bad_key("watchdog = \"30s\"") ==
        "c.toml:3:12: watchdog: needs ready = \"notify\" (the WATCHDOG=1 pings come through NOTIFY_SOCKET)");
  CHECK(bad_key("ready = \"tcp://127.0.0.1:80\"\nwatchdog = 5") ==
        "c.toml:4:12: watchdog: needs ready = \"notify\" (the WATCHDOG=1 pings come through NOTIFY_SOCKET)");
}

TEST_CASE("schema: users and groups from passwd/group") {
  ServiceSpec s = with("user = \"app\"");
  CHECK(s.has_user);
  CHECK(s.uid == 1000);
  CHECK(s.has_group);
  CHECK(s.gid == 1000);
  CHECK(s.groups == std::vector<gid_t>{1000, 4, 44, 50});
  s = with("user = \"app\"\ngroup = \"staff\"");
  CHECK(s.gid == 50);
  CHECK(s.groups == std::vector<gid_t>{50, 4, 44});
  s = with("user = 33");
  CHECK(s.uid == 33);
  CHECK(s.gid == 33);
  s = with("user = \"1000\"");
  CHECK(s.uid == 1000);
  CHECK(s.gid == 1000);
  s = with("user = 4242");  // not in passwd: accepted, primary group 0 (as docker run --user)
  CHECK(s.uid == 4242);
  CHECK(s.gid == 0);
  CHECK(s.groups == std::vector<gid_t>{0});
  s = with("user = \"nobody\"\ngroup = 65534");
  CHECK(s.uid == 65534);
  CHECK(s.gid == 65534);
  s = with("group = \"nogroup\"");
  CHECK_FALSE(s.has_user);
  CHECK(s.has_group);
  CHECK(s.gid == 65534);
  CHECK(s.groups == std::vector<gid_t>{65534});
  CHECK(bad_key("user = \"ghost\"") == "c.toml:3:8: user: unknown user \"ghost\" (/etc/passwd)");
  CHECK(bad_key("group = \"ghosts\"") == "c.toml:3:9: group: unknown group \"ghosts\" (/etc/group)");
  CHECK(bad_key("user = \"\"") == "c.toml:3:8: user: must not be empty");
  CHECK(bad_key("user = -1") == "c.toml:3:8: user: must be between 0 and 4294967294");
  CHECK(bad_key("user = \"99999999999\"") == "c.toml:3:8: user: invalid user id \"99999999999\"");
  CHECK(bad_key("user = true") == "c.toml:3:8: user: expected a string, got a boolean");
}

TEST_CASE("users: lookup from files under a root") {
  TempDir d;
  d.write("etc/passwd", kPasswd);
  d.write("etc/group", kGroup);
  UserDb db(d.path);
  auto u = db.user("www-data");
  REQUIRE(u.ok());
  CHECK(u->uid == 33);
  CHECK(u->groups == std::vector<gid_t>{33, 50});
  auto g = db.group("video");
  REQUIRE(g.ok());
  CHECK(*g == 44);
  UserDb missing(d.path + "/nowhere");
  auto none = missing.user("www-data");
  CHECK_FALSE(none.ok());
  CHECK(str(none.error()) == "unknown user \"www-data\" (/etc/passwd: No such file or directory)");
  auto num = missing.user("123");  // numbers need no file
  REQUIRE(num.ok());
  CHECK(num->uid == 123);
  auto g7 = missing.group("7");
  REQUIRE(g7.ok());
  CHECK(*g7 == 7);
}

TEST_CASE("schema: the fuzz entry point needs no files") {
  Config c;
  ConfigError err;
  CHECK(into(parse_config_text("[service.a]\ncommand = 'x'\nuser = 5\n", "f.toml", c), err));
  CHECK(c.services[0].uid == 5);
  Config c2;
  CHECK_FALSE(into(parse_config_text("[service.a]\ncommand = 'x'\nuser = \"root\"\n", "f.toml", c2), err));
  CHECK(str(err.format()) == "f.toml:3:8: user: unknown user \"root\" (/etc/passwd)");
}

TEST_CASE("schema: a later file changes keys of a service (drop-ins, issue 13)") {
  Config c;
  ConfigError err;
  UserDb users = fixture_users();
  REQUIRE(into(parse_config("[service.web]\ncommand = ['x', '1']\nafter = ['db']\nstop_timeout = 3\n"
                       "env = { A = '1', B = '2' }\nrlimits = { nofile = 10, core = 0 }\nuser = 'app'\n"
                       "[service.db]\ncommand = 'd'\n",
                       "a.toml", c, users), err));
  REQUIRE(into(parse_config("\n[init]\nshutdown_timeout = 1\n", "b.toml", c, users), err));
  bool merged = into(parse_config("# web again\n\n[service.web]\ncommand = 'y'\nenv = { B = '3', C = '4' }\n"
                             "rlimits = { nofile = 20 }\ngroup = 'staff'\n",
                             "c.toml", c, users), err);
  INFO(err.format().c_str());
  REQUIRE(merged);
  REQUIRE(c.services.size() == 2);
  const ServiceSpec& w = c.services[0];
  // Arrays and scalars replace; tables merge key by key; the rest stays.
  REQUIRE(w.argv.size() == 3);
  CHECK(str(w.argv[2]) == "y");
  REQUIRE(w.after.size() == 1);
  CHECK(w.stop_timeout == 3000);
  REQUIRE(w.env.size() == 3);
  CHECK(str(w.env[0]) == "A=1");
  CHECK(str(w.env[1]) == "B=3");
  CHECK(str(w.env[2]) == "C=4");
  REQUIRE(w.rlimits.size() == 2);
  CHECK(w.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(w.rlimits[0].soft == 20);
  CHECK(w.rlimits[1].resource == RLIMIT_CORE);
  // user stays app; group staff, with app's other groups looked up again
  CHECK(w.uid == 1000);
  CHECK(w.gid == 50);
  REQUIRE(w.groups.size() == 3);
  CHECK(w.groups[0] == 50);
  CHECK(str(w.file) == "a.toml");  // where its `after` is written
  CHECK(c.init.shutdown_timeout == 1000);

  // after from the drop-in: its errors point into the drop-in.
  REQUIRE(into(parse_config("[service.web]\nafter = ['cache']\n", "d.toml", c, users), err));
  CHECK(str(c.services[0].file) == "d.toml");

  // One file defines a service once (the same file twice too).
  CHECK_FALSE(into(parse_config("[service.db]\ncommand = 'z'\n", "a.toml", c, users), err));
  CHECK(str(err.format()) == "a.toml:1:10: service 'db' is already defined at a.toml:8");
  CHECK(bad("[service.a]\ncommand = 'x'\n[service.a]\ncommand = 'y'\n") ==
        "c.toml:3:1: table [service.a] is defined twice (first at 1:1)");
}

TEST_CASE("schema: a drop-in lifts a cgroup limit with \"max\"") {
  Config c;
  ConfigError err;
  UserDb users = fixture_users();
  REQUIRE(into(parse_config("[service.db]\ncommand = 'd'\nmemory_max = '64M'\npids_max = 5\nmemory_high = '32M'\n",
                            "a.toml", c, users), err));
  REQUIRE(into(parse_config("[service.db]\nmemory_max = 'max'\npids_max = 'max'\n", "b.toml", c, users), err));
  REQUIRE(c.services.size() == 1);
  CHECK(c.services[0].memory_max == kNoLimit);
  CHECK(c.services[0].pids_max == kUnset);
  CHECK(c.services[0].memory_high == 32ULL << 20);  // not named: kept
}

TEST_CASE("schema: a drop-in is checked as a whole") {
  Config c;
  ConfigError err;
  UserDb users = fixture_users();
  REQUIRE(into(parse_config("[service.m]\ncommand = 'x'\n", "a.toml", c, users), err));
  // A simple service made a oneshot by a drop-in gets a oneshot's restart default.
  REQUIRE(into(parse_config("[service.m]\ntype = 'oneshot'\n", "b.toml", c, users), err));
  CHECK(c.services[0].restart == RestartPolicy::Never);
  Config d;
  REQUIRE(into(parse_config("[service.m]\ncommand = 'x'\nready = 'notify'\n", "a.toml", d, users), err));
  CHECK_FALSE(into(parse_config("[service.m]\ntype = 'oneshot'\n", "b.toml", d, users), err));
  CHECK(str(err.format()) == "b.toml:1:10: ready: a oneshot is ready when it exits with 0 (remove ready)");
  Config e;
  REQUIRE(into(parse_config("[service.m]\ncommand = 'x'\nready = 'notify'\nwatchdog = '5s'\n", "a.toml", e, users), err));
  CHECK_FALSE(into(parse_config("[service.m]\nready = 'started'\n", "b.toml", e, users), err));
  CHECK(str(err.format()) == "b.toml:1:10: watchdog: needs ready = \"notify\" (the WATCHDOG=1 pings come through NOTIFY_SOCKET)");
}

TEST_CASE("schema: enabled = false") {
  Config c = ok("[service.a]\ncommand = 'x'\nenabled = false\n[service.b]\nenabled = false\n");
  REQUIRE(c.services.size() == 2);
  CHECK_FALSE(c.services[0].enabled);
  CHECK(c.services[1].argv.empty());  // a disabled service needs no command
  CHECK(bad("[service.b]\nenabled = true\n") == "c.toml:1:10: service 'b' has no command");
  CHECK(bad_key("enabled = 0") == "c.toml:3:11: enabled: expected true or false, got an integer");
}

TEST_CASE("schema: logs (issue 13)") {
  ServiceSpec f = with("log = \"file:/var/log/web.log\"\nlog_max_size = \"10M\"\nlog_keep = 3");
  CHECK(f.log == LogMode::File);
  CHECK(str(f.log_file) == "/var/log/web.log");
  CHECK(f.log_max_size == 10u << 20);
  CHECK(f.log_keep == 3);
  ServiceSpec d = with("log = \"null\"");
  CHECK((d.log == LogMode::Null && d.log_file.empty() && d.log_max_size == 1u << 20 && d.log_keep == 5));
  CHECK(with("log_max_size = 4096").log_max_size == 4096);
  CHECK(with("log_max_size = \"64K\"").log_max_size == 65536);
  CHECK(with("log_max_size = \"1G\"").log_max_size == 1u << 30);
  CHECK(with("log_max_size = \"1024G\"").log_max_size == uint64_t{1} << 40);
  CHECK(with("log_keep = 0").log_keep == 0);
  CHECK(bad_key("log = \"file:var/log\"") == "c.toml:3:7: log: expected \"file:/ABSOLUTE/PATH\", got \"file:var/log\"");
  CHECK(bad_key("log = \"files\"") ==
        "c.toml:3:7: log: expected \"prefix\", \"inherit\" or \"null\", got \"files\"");
  std::string size_err = "expected a size (\"512K\", \"256M\", \"1G\", \"1GiB\" or an integer of bytes), got ";
  CHECK(bad_key("log_max_size = \"10Q\"") == "c.toml:3:16: log_max_size: " + size_err + "\"10Q\"");
  CHECK(bad_key("log_max_size = -1") == "c.toml:3:16: log_max_size: " + size_err + "\"-1\"");
  CHECK(bad_key("log_max_size = \"K\"") == "c.toml:3:16: log_max_size: " + size_err + "\"K\"");
  CHECK(bad_key("log_keep = 1001") == "c.toml:3:12: log_keep: must be between 0 and 1000");

  Config c = ok("[init]\nlog_format = \"json\"\nlog_buffer = \"1M\"\ncontrol_socket = \"/tmp/x.sock\"\n");
  CHECK(c.init.log_format == LogFormat::Json);
  CHECK(c.init.log_buffer == 1u << 20);
  CHECK(str(c.init.control_socket) == "/tmp/x.sock");
  CHECK(str(ok("[init]\ncontrol_socket = \"none\"\n").init.control_socket) == "none");
  CHECK(ok("").init.log_format == LogFormat::Text);
  CHECK(ok("").init.log_buffer == 16384);
  CHECK(bad("[init]\nlog_buffer = \"2G\"\n") == "c.toml:2:14: log_buffer: expected a size (\"512K\", \"256M\", \"1G\", "
                                                 "\"1GiB\" or an integer of bytes; at most 1G), got \"2G\"");
  CHECK(bad("[init]\ncontrol_socket = \"run/x\"\n") ==
        "c.toml:2:18: control_socket: must be an absolute path, got \"run/x\"");
  CHECK(bad("[init]\nlog_format = \"yaml\"\n") == "c.toml:2:14: log_format: expected \"text\" or \"json\", got \"yaml\"");
}

TEST_CASE("load_config: files, errors, empty files") {
  TempDir d;
  std::string a = d.write("a.toml", "[init]\nshutdown_timeout = \"3s\"\n[service.a]\ncommand = 'x'\n");
  std::string b = d.write("b.toml", "[init]\nshutdown_timeout = \"4s\"\n[service.b]\ncommand = 'y'\nafter = ['a']\n");
  std::string empty = d.write("empty.toml", "");
  Config c;
  ConfigError err;
  REQUIRE(into(load_config({Str(a.c_str()), Str(empty.c_str()), Str(b.c_str())}, c), err));
  REQUIRE(c.services.size() == 2);
  CHECK(str(c.services[1].file) == b);
  CHECK(c.init.shutdown_timeout == 4000);  // later files override [init] keys

  Config none;
  CHECK(into(load_config({}, none), err));
  CHECK(none.services.empty());

  Config c2;
  std::string nofile = d.path + "/missing.toml";
  CHECK_FALSE(into(load_config({Str(nofile.c_str())}, c2), err));
  CHECK(str(err.format()) == nofile + ": unable to read: No such file or directory");
  CHECK_FALSE(into(load_config({Str(d.path.c_str())}, c2), err));
  CHECK(str(err.format()) == d.path + ": unable to read: Is a directory");

  Config c3;
  std::string dup = d.write("dup.toml", "[service.a]\ncommand = 'z'\n");
  REQUIRE(into(load_config({Str(a.c_str()), Str(dup.c_str())}, c3), err));  // a drop-in
  CHECK(str(c3.services[0].argv[2]) == "z");
  CHECK_FALSE(into(load_config({Str(a.c_str()), Str(a.c_str())}, c3), err));
  CHECK(str(err.format()) == a + ":3:10: service 'a' is already defined at " + a + ":3");

  Config c4;
  std::string syntax = d.write("syntax.toml", "[service.a]\ncommand = ['x'\n");
  CHECK_FALSE(into(load_config({Str(syntax.c_str())}, c4), err));
  CHECK(str(err.format()) == syntax + ":3:1: unexpected end of file, expected ',' or ']' in the array");

  Config c5;
  std::string big = d.write("big.toml", std::string(2 << 20, '#'));
  CHECK_FALSE(into(load_config({Str(big.c_str())}, c5), err));
  CHECK(str(err.format()) == big + ": file too large (the limit is 1 MiB)");

  // Users come from the given root.
  d.write("etc/passwd", kPasswd);
  d.write("etc/group", kGroup);
  std::string u = d.write("u.toml", "[service.u]\ncommand = 'x'\nuser = 'app'\n");
  Config c6;
  REQUIRE(into(load_config({Str(u.c_str())}, c6, d.path), err));
  CHECK(c6.services[0].uid == 1000);
}

TEST_CASE("unreadable_env_files: env files as the image at root sees them") {
  TempDir d;
  d.write("img/etc/app.env", "A=1\n");
  d.write("img/etc/big.env", std::string((1 << 20) + 1, '#'));
  std::string cfg = d.write("c.toml",
                            "[service.ok]\ncommand = 'x'\nenv_file = '/etc/app.env'\n"
                            "[service.gone]\ncommand = 'x'\nenv_file = '/etc/missing.env'\ninstances = 3\n"
                            "[service.big]\ncommand = 'x'\nenv_file = '/etc/big.env'\n"
                            "[service.none]\ncommand = 'x'\n");
  Config c;
  ConfigError err;
  REQUIRE(into(load_config({Str(cfg.c_str())}, c), err));
  Plan plan;
  REQUIRE(into(make_plan(c, plan), err));
  std::string root = d.path + "/img";
  std::vector<Str> w = unreadable_env_files(plan.services, root);
  REQUIRE(w.size() == 2);  // gone once, not once per instance
  CHECK(str(w[0]) == cfg + ":4: service 'gone.0': env_file /etc/missing.env: No such file or directory under " + root);
  CHECK(str(w[1]) == cfg + ":8: service 'big': env_file /etc/big.env: larger than 1 MiB under " + root);
  // Without a root, the real / (where /etc/app.env is most likely absent).
  std::vector<Str> host = unreadable_env_files(plan.services, "");
  CHECK(host.size() >= 2);
  CHECK(str(host[0]).find("under") == std::string::npos);
}

TEST_CASE("default_config_files: oxinit.toml then oxinit.d/*.toml by name") {
  TempDir d;
  CHECK(default_config_files(d.path).empty());
  d.write("etc/oxinit.d/20-web.toml", "");
  d.write("etc/oxinit.d/10-db.toml", "");
  d.write("etc/oxinit.d/.hidden.toml", "");
  d.write("etc/oxinit.d/notes.txt", "");
  d.write("etc/oxinit.d/sub.toml/x", "");
  d.write("etc/oxinit.d/a.toml.bak", "");
  std::vector<Str> f = default_config_files(d.path);
  REQUIRE(f.size() == 2);
  CHECK(str(f[0]) == d.path + "/etc/oxinit.d/10-db.toml");
  CHECK(str(f[1]) == d.path + "/etc/oxinit.d/20-web.toml");
  d.write("etc/oxinit.toml", "");
  REQUIRE(symlink("10-db.toml", (d.path + "/etc/oxinit.d/15-link.toml").c_str()) == 0);
  f = default_config_files(d.path + "/");
  REQUIRE(f.size() == 4);
  CHECK(str(f[0]) == d.path + "/etc/oxinit.toml");
  CHECK(str(f[2]) == d.path + "/etc/oxinit.d/15-link.toml");
}

TEST_CASE("edit_distance") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("stop_timout", "stop_timeout") == 1);
  CHECK(edit_distance("user", "usre") == 1);  // a swap of neighbours is one edit
  CHECK(edit_distance("ab", "ba") == 1);
  CHECK(edit_distance("ca", "abc") == 3);  // optimal string alignment, not full Damerau
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(bad_key("stpo_signal = 1") ==
        "c.toml:3:1: unknown key \"stpo_signal\" in [service.s]; did you mean 'stop_signal'?");
}
