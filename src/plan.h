// Config -> Plan: instances expanded, dependencies resolved to indices, and a
// start order (a topological sort; a cycle is an error naming the services).
#pragma once
#include <vector>

#include "config/error.h"
#include "signals.h"
#include "spec.h"
#include "sys/result.h"
#include "sys/str.h"

namespace oxinit {

// What the command line asks of a run beyond the config (tini's -t, -g, -w,
// -r): folded into the plan by main.cc, so the engine never reads Options.
struct RunSpec {
  Millis kill_timeout = -1;  // -t: SIGKILL the main command this long after a stop signal
  bool kill_group = false;   // -g: forward to the main command's process group
  bool warn_reap = false;    // -w: a WARN line per reaped orphan
  SignalRewrite rewrite;     // -r SRC:DST
  // Service mode: oxinit's own $NOTIFY_SOCKET, taken out of the environment
  // so no service inherits it; READY=1 and STOPPING=1 go there.
  Str notify_socket;
};

struct Plan {
  InitSpec init;
  RunSpec run;
  // Services after instance expansion: `web` with instances = 3 becomes
  // web.0, web.1, web.2, each with OXINIT_INSTANCE=i in its env. The main
  // command, when there is one, is added by main.cc as the last entry.
  std::vector<ServiceSpec> services;
  // deps[i]: indices of the services i waits for (`after`, with an instanced
  // name standing for all of its instances).
  std::vector<std::vector<int>> deps;
  // A valid start order (every service after its deps); ties keep file order.
  std::vector<int> order;
  // Services with enabled = false: left out; `after` one of them is satisfied.
  std::vector<Str> disabled;
};

// Expands instances, resolves `after`, detects unknown names and cycles.
// Takes config's services (moved when no service has instances > 1), so
// config is spent either way.
Result<void, ConfigError> make_plan(Config& config, Plan& out);

// What a reload changes, services matched by name: each service of `next`
// is added (from = -1), changed (a key that affects its process differs:
// same_process) or unchanged; the services of `old` no `from` names are
// removed.
struct PlanDiff {
  std::vector<int> from;      // per service of next: its index in old, or -1
  std::vector<char> changed;  // per service of next
};
PlanDiff diff_plans(const Plan& old, const Plan& next);

// Whether two specs start the same process: command, credentials,
// environment, directory, limits, log and readiness wiring. The other keys
// (restart policy, stop signal, after, health, ...) apply without a restart.
bool same_process(const ServiceSpec& a, const ServiceSpec& b);

// Appends the main command (exec mode / `-- CMD` with a config) to the plan.
void add_main_command(Plan& plan, const std::vector<Str>& argv);

}  // namespace oxinit
