// Config -> Plan: instances, dependencies, start order, cycles, the main command.
#include <doctest/doctest.h>

#include "into.h"

#include <string>

#include "config/schema.h"
#include "plan.h"

using namespace oxinit;

namespace {

Plan plan_of(std::string_view text) {
  Config c;
  ConfigError err;
  bool parsed = into(parse_config_text(text, "p.toml", c), err);
  std::string msg = err.format().c_str();
  INFO(msg);
  REQUIRE(parsed);
  drop_disabled(c);  // as load_config does
  Plan p;
  bool planned = into(make_plan(c, p), err);
  msg = err.format().c_str();
  INFO(msg);
  CHECK(planned);
  return p;
}

std::string plan_error(std::string_view text) {
  Config c;
  ConfigError err;
  REQUIRE(into(parse_config_text(text, "p.toml", c), err));
  Plan p;
  if (into(make_plan(c, p), err)) return "planned";
  CHECK(p.services.empty());
  return err.format().c_str();
}

std::string order(const Plan& p) {
  std::string s;
  for (int i : p.order) s += std::string(s.empty() ? "" : " ") + p.services[i].name.c_str();
  return s;
}

std::string svc(std::string_view name, std::string_view after = "") {
  std::string s = "[service." + std::string(name) + "]\ncommand = 'x'\n";
  if (!after.empty()) s += "after = " + std::string(after) + "\n";
  return s;
}

}  // namespace

TEST_CASE("ConfigError::format") {
  CHECK(std::string(ConfigError{"f.toml", 3, 7, "bad"}.format().c_str()) == "f.toml:3:7: bad");
  CHECK(std::string(ConfigError{"f.toml", 3, 0, "bad"}.format().c_str()) == "f.toml:3: bad");
  CHECK(std::string(ConfigError{"f.toml", 0, 0, "unable to read"}.format().c_str()) == "f.toml: unable to read");
  CHECK(std::string(ConfigError{"", 0, 0, "bare"}.format().c_str()) == "bare");
}

TEST_CASE("plan: no dependencies keeps file order") {
  Plan p = plan_of(svc("c") + svc("a") + svc("b"));
  CHECK(order(p) == "c a b");
  CHECK(p.deps.size() == 3);
}

TEST_CASE("plan: dependency order is stable") {
  Plan p = plan_of(svc("web", "['db', 'cache']") + svc("worker", "['db']") + svc("db", "['migrate']") +
                   svc("cache") + svc("migrate"));
  CHECK(order(p) == "cache migrate db web worker");
  REQUIRE(p.deps[0].size() == 2);
  CHECK(p.deps[0][0] == 2);
  CHECK(p.deps[0][1] == 3);
  // Every service comes after its dependencies.
  std::vector<int> rank(p.services.size());
  for (size_t k = 0; k < p.order.size(); k++) rank[p.order[k]] = static_cast<int>(k);
  for (size_t i = 0; i < p.deps.size(); i++)
    for (int d : p.deps[i]) CHECK(rank[d] < rank[i]);
}

TEST_CASE("plan: after may be a string; duplicates collapse") {
  Plan p = plan_of(svc("b", "'a'") + svc("c", "['a', 'a']") + svc("a"));
  CHECK(order(p) == "a b c");
  CHECK(p.deps[1].size() == 1);
}

TEST_CASE("plan: unknown service in after, at the value's position") {
  CHECK(plan_error(svc("web", "['db', 'frobnicator']") + svc("db")) ==
        "p.toml:3:16: service 'web': after names an unknown service \"frobnicator\"");
}

TEST_CASE("plan: a misspelt name in after gets a suggestion") {
  CHECK(plan_error(svc("web", "['db', 'cahce']") + svc("db") + svc("cache")) ==
        "p.toml:3:16: service 'web': after names an unknown service \"cahce\"; did you mean 'cache'?");
  CHECK(plan_error(svc("web", "'postgress'") + svc("postgres")) ==
        "p.toml:3:9: service 'web': after names an unknown service \"postgress\"; did you mean 'postgres'?");
  // An instance's full name is a candidate too.
  CHECK(plan_error(svc("a", "['wroker.1']") + "[service.worker]\ncommand = 'x'\ninstances = 2\n") ==
        "p.toml:3:10: service 'a': after names an unknown service \"wroker.1\"; did you mean 'worker.1'?");
  // Nothing close: no suggestion; never the service itself.
  CHECK(plan_error(svc("web", "'x'") + svc("db")) == "p.toml:3:9: service 'web': after names an unknown service \"x\"");
}

TEST_CASE("plan: cycles are named") {
  CHECK(plan_error(svc("a", "['a']")) == "p.toml:3:10: dependency cycle: a -> a");
  CHECK(plan_error(svc("a", "['b']") + svc("b", "['a']")) == "p.toml:3:10: dependency cycle: a -> b -> a");
  CHECK(plan_error(svc("x") + svc("a", "['x', 'c']") + svc("b", "['a']") + svc("c", "['b']")) ==
        "p.toml:5:15: dependency cycle: a -> c -> b -> a");
  // A service that waits on a cycle is not part of it.
  CHECK(plan_error(svc("top", "['a']") + svc("a", "['b']") + svc("b", "['a']")) ==
        "p.toml:6:10: dependency cycle: a -> b -> a");
}

TEST_CASE("plan: instances") {
  Plan p = plan_of("[service.w]\ncommand = 'x'\ninstances = 3\nenv = { A = '1' }\n" + svc("web", "['w']") +
                   svc("solo"));
  CHECK(order(p) == "w.0 w.1 w.2 web solo");
  REQUIRE(p.services.size() == 5);
  for (int i = 0; i < 3; i++) {
    const ServiceSpec& s = p.services[i];
    CHECK(s.instances == 1);
    REQUIRE(s.env.size() == 2);
    CHECK(std::string(s.env[0].c_str()) == "A=1");
    CHECK(std::string(s.env[1].c_str()) == "OXINIT_INSTANCE=" + std::to_string(i));
  }
  CHECK(p.deps[3] == std::vector<int>{0, 1, 2});  // an instanced name stands for all instances
  CHECK(p.services[4].env.empty());               // a single service gets no OXINIT_INSTANCE
}

TEST_CASE("plan: one instance by name, and instances that wait") {
  Plan p = plan_of(svc("first", "['w.1']") + "[service.w]\ncommand = 'x'\ninstances = 2\nafter = ['db']\n" +
                   svc("db"));
  CHECK(order(p) == "db w.0 w.1 first");
  CHECK(p.deps[0] == std::vector<int>{2});
  CHECK(p.deps[1] == std::vector<int>{3});
  CHECK(p.deps[2] == std::vector<int>{3});
  CHECK(plan_error(svc("a", "['w.2']") + "[service.w]\ncommand = 'x'\ninstances = 2\n") ==
        "p.toml:3:10: service 'a': after names an unknown service \"w.2\"; did you mean 'w.0'?");
  CHECK(plan_error("[service.w]\ncommand = 'x'\ninstances = 2\nafter = ['w']\n") ==
        "p.toml:4:10: dependency cycle: w.0 -> w.0");
}

TEST_CASE("plan: many services") {
  std::string text;
  for (int i = 0; i < 300; i++) text += svc("s" + std::to_string(i), i ? "['s" + std::to_string(i - 1) + "']" : "");
  Plan p = plan_of(text);
  REQUIRE(p.order.size() == 300);
  for (int i = 0; i < 300; i++) CHECK(p.order[i] == i);
  Plan q = plan_of("[service.w]\ncommand = 'x'\ninstances = 1000\n" + svc("after_all", "['w']"));
  CHECK(q.services.size() == 1001);
  CHECK(q.deps[1000].size() == 1000);
  CHECK(std::string(q.services[999].name.c_str()) == "w.999");
}

TEST_CASE("plan: the number of services after expansion is bounded") {
  std::string text;
  for (int i = 0; i < 5; i++) text += svc("s" + std::to_string(i)) + "instances = 1000\n";
  CHECK(plan_error(text) == "p.toml:13: too many services after expanding instances (the limit is 4096)");
}

TEST_CASE("plan: the main command comes last and waits for every service") {
  Plan p = plan_of(svc("b", "['a']") + svc("a"));
  std::vector<Str> argv = {"sleep", "1"};
  add_main_command(p, argv);
  REQUIRE(p.services.size() == 3);
  const ServiceSpec& m = p.services[2];
  CHECK(m.is_main);
  CHECK(m.critical);
  CHECK(m.restart == RestartPolicy::Never);
  CHECK(m.log == LogMode::Inherit);
  CHECK(m.argv.size() == 2);
  CHECK(p.deps[2] == std::vector<int>{0, 1});
  CHECK(order(p) == "a b main");

  Plan empty;
  ConfigError err;
  Config none;
  REQUIRE(into(make_plan(none, empty), err));
  add_main_command(empty, argv);
  CHECK(empty.order == std::vector<int>{0});
  CHECK(empty.deps[0].empty());
}

TEST_CASE("plan: init settings are carried over") {
  Plan p = plan_of("[init]\nshutdown_timeout = '7s'\n");
  CHECK(p.init.shutdown_timeout == 7000);
  CHECK(p.services.empty());
  CHECK(p.order.empty());
}

TEST_CASE("plan: a disabled service is left out; after it is satisfied") {
  Plan p = plan_of(svc("db") + "enabled = false\n" + svc("web", "['db', 'cache']") + svc("cache") +
                   "[service.w]\ncommand = 'x'\ninstances = 2\nenabled = false\n" + svc("x", "['w.1']"));
  CHECK(order(p) == "cache web x");
  REQUIRE(p.disabled.size() == 2);
  CHECK(std::string(p.disabled[0].c_str()) == "db");
  CHECK(std::string(p.disabled[1].c_str()) == "w");
  REQUIRE(p.deps[0].size() == 1);  // web waits for cache only
  CHECK(p.deps[0][0] == 1);
  CHECK(p.deps[2].empty());
  CHECK(plan_error(svc("a", "['nope']") + svc("b") + "enabled = false\n") ==
        "p.toml:3:10: service 'a': after names an unknown service \"nope\"");
}

TEST_CASE("plan: the diff of two plans (reload)") {
  Plan a = plan_of(svc("keep") + svc("gone") + svc("change") + "[service.w]\ncommand = 'w'\ninstances = 3\n");
  Plan b = plan_of(svc("new") + svc("keep") + "stop_timeout = 99\nafter = ['new']\n" +
                   "[service.change]\ncommand = 'other'\n[service.w]\ncommand = 'w'\ninstances = 2\n");
  PlanDiff d = diff_plans(a, b);
  REQUIRE(d.from.size() == 5);  // new keep change w.0 w.1
  CHECK(d.from[0] == -1);
  CHECK(d.from[1] == 0);
  CHECK_FALSE(d.changed[1]);  // stop_timeout and after apply without a restart
  CHECK(d.from[2] == 2);
  CHECK(d.changed[2]);
  CHECK(d.from[3] == 3);
  CHECK(d.from[4] == 4);
  CHECK_FALSE(d.changed[3]);
  // gone (1) and w.2 (5) are named by no `from`: removed.
}

TEST_CASE("plan: which keys restart a service on reload") {
  Plan base = plan_of(svc("s"));
  const char* process_keys[] = {
      "type = 'oneshot'", "command = 'y'", "user = 0", "group = 0", "workdir = '/tmp'", "env = { A = '1' }",
      "env_file = '/e'", "umask = '077'", "rlimits = { nofile = 5 }", "log = 'null'", "log = 'file:/l'",
      "log_max_size = 5", "log_keep = 1", "ready = 'notify'", "no_new_privs = true", "capabilities = []",
      "capabilities = ['CAP_NET_BIND_SERVICE']", "oom_score_adj = 5", "nice = 3", "cpu_affinity = [0]",
      "memory_max = '64M'", "memory_high = '32M'", "memory_swap_max = 0", "cpu_max = '50%'",
      "cpu_weight = 5", "io_weight = 5", "pids_max = 9",
  };
  for (const char* k : process_keys) {
    INFO(k);
    std::string key = k;
    Plan p = plan_of(key.substr(0, 7) == "command" ? "[service.s]\n" + key + "\n" : svc("s") + key + "\n");
    CHECK_FALSE(same_process(base.services[0], p.services[0]));
  }
  const char* other_keys[] = {
      "restart = 'never'", "restart_delay = 5", "restart_delay_max = 9", "max_restarts = 2", "restart_window = 9",
      "stop_signal = 'INT'", "stop_timeout = 1", "critical = true", "reload_signal = 'HUP'",
      "ready_timeout = 3", "health = 'tcp://127.0.0.1:1'", "health_interval = 1", "on_unhealthy = 'stop'",
  };
  for (const char* k : other_keys) {
    INFO(k);
    Plan p = plan_of(svc("s") + k + "\n");
    CHECK(same_process(base.services[0], p.services[0]));
  }
}
