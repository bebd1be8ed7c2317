#include "plan.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "config/toml.h"

namespace oxinit {

namespace {

// Bounds the work a config can ask for: deps are at most n * n entries.
constexpr size_t kMaxPlanServices = 4096;

Str num(int64_t v) {
  char b[24];
  return Str(std::string_view(b, format_int(b, v)));
}

}  // namespace

Str ConfigError::format() const {
  Str s;
  if (!file.empty()) {
    s += file;
    if (line > 0) {
      s += ':';
      s += num(line);
      if (col > 0) {
        s += ':';
        s += num(col);
      }
    }
    s += ": ";
  }
  s += message;
  return s;
}

bool make_plan(const Config& config, Plan& out, ConfigError& err) {
  out = Plan();
  out.init = config.init;
  size_t total = 0;
  for (const ServiceSpec& s : config.services) {
    total += static_cast<size_t>(s.instances > 1 ? s.instances : 1);
    if (total > kMaxPlanServices) {
      err = ConfigError{s.file, s.line, 0, "too many services after expanding instances (the limit is 4096)"};
      return false;
    }
  }
  // first[k]..first[k+1]: the plan entries of config service k.
  std::vector<int> first;
  for (const ServiceSpec& s : config.services) {
    first.push_back(static_cast<int>(out.services.size()));
    if (s.instances <= 1) {
      out.services.push_back(s);
      continue;
    }
    for (int i = 0; i < s.instances; i++) {
      ServiceSpec c = s;
      c.name = s.name + "." + num(i);
      c.env.push_back("OXINIT_INSTANCE=" + num(i));
      c.instances = 1;
      out.services.push_back(static_cast<ServiceSpec&&>(c));
    }
  }
  first.push_back(static_cast<int>(out.services.size()));

  size_t n = out.services.size();
  out.deps.assign(n, {});
  for (size_t k = 0; k < config.services.size(); k++) {
    const ServiceSpec& s = config.services[k];
    std::vector<int> deps;
    for (size_t a = 0; a < s.after.size(); a++) {
      // A name is a service (all its instances) or one instance ("web.1").
      std::string_view name = s.after[a];
      std::string_view base = name.substr(0, name.find('.'));
      size_t before = deps.size();
      for (size_t j = 0; j < config.services.size(); j++) {
        if (config.services[j].name.view() != base) continue;
        for (int p = first[j]; p < first[j + 1]; p++) {
          if (base.size() == name.size() || out.services[p].name.view() == name) deps.push_back(p);
        }
        break;
      }
      if (deps.size() == before) {
        SrcPos at = a < s.after_pos.size() ? s.after_pos[a] : SrcPos{s.line, 0};
        err = ConfigError{s.file, at.line, at.col,
                          toml::cat({"service '", s.name, "': after names an unknown service ", toml::quote(s.after[a])})};
        out = Plan();
        return false;
      }
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    for (int p = first[k]; p < first[k + 1]; p++) out.deps[p] = deps;
  }

  // Kahn's algorithm; the ready set is a min-heap so ties keep file order.
  std::vector<int> missing(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; i++) {
    missing[i] = static_cast<int>(out.deps[i].size());
    for (int d : out.deps[i]) users[d].push_back(static_cast<int>(i));
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; i++) {
    if (missing[i] == 0) ready.push(static_cast<int>(i));
  }
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    out.order.push_back(i);
    for (int u : users[i]) {
      if (--missing[u] == 0) ready.push(u);
    }
  }
  if (out.order.size() == n) return true;

  // A cycle: walk unfinished dependencies from an unfinished service until a
  // service repeats; that stretch of the walk is the cycle.
  int at = 0;
  while (missing[at] == 0) at++;
  std::vector<int> walk;
  std::vector<int> seen(n, -1);
  while (seen[at] < 0) {
    seen[at] = static_cast<int>(walk.size());
    walk.push_back(at);
    for (int d : out.deps[at]) {
      if (missing[d] > 0) {
        at = d;
        break;
      }
    }
  }
  Str names;
  for (size_t k = static_cast<size_t>(seen[at]); k < walk.size(); k++) {
    names += out.services[walk[k]].name;
    names += " -> ";
  }
  names += out.services[at].name;
  // Point at the `after` entry of the first service of the cycle that names
  // the next one.
  const ServiceSpec& s = out.services[walk[seen[at]]];
  const ServiceSpec& next = walk.size() > static_cast<size_t>(seen[at]) + 1
                                ? out.services[walk[seen[at] + 1]]
                                : s;
  SrcPos pos{s.line, 0};
  for (size_t a = 0; a < s.after.size() && a < s.after_pos.size(); a++) {
    std::string_view name = s.after[a];
    std::string_view nv = next.name;
    if (nv == name || (nv.size() > name.size() && nv.substr(0, name.size()) == name &&
                       nv[name.size()] == '.')) {
      pos = s.after_pos[a];
      break;
    }
  }
  err = ConfigError{s.file, pos.line, pos.col, "dependency cycle: " + names};
  out = Plan();
  return false;
}

void add_main_command(Plan& plan, const std::vector<Str>& argv) {
  ServiceSpec m;
  m.name = "main";
  m.argv = argv;
  m.is_main = true;
  m.critical = true;
  m.restart = RestartPolicy::Never;
  m.log = LogMode::Inherit;
  // The main command starts last: after every service has started (and
  // every oneshot has succeeded), like the application after its helpers.
  std::vector<int> deps;
  for (size_t i = 0; i < plan.services.size(); i++) deps.push_back(static_cast<int>(i));
  plan.services.push_back(static_cast<ServiceSpec&&>(m));
  plan.deps.push_back(static_cast<std::vector<int>&&>(deps));
  plan.order.push_back(static_cast<int>(plan.services.size() - 1));
}

}  // namespace oxinit
