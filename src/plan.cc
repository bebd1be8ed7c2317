#include "plan.h"

#include <cstddef>
#include <cstring>
#include <new>

#include "sys/format.h"
#include "sys/text.h"

namespace oxinit {

// The specs' copies and moves. The member-wise ones are ~1 KB of code each;
// these make an empty spec (one call), then swap its bytes with the source
// (a move) or take the source's bytes and copy its owning members (Str,
// vectors) from a table. Both rely on what libstdc++ and Str guarantee in
// practice: a Str or vector is three words that may be moved as bytes, and
// an empty one owns nothing. The moved-from spec is an empty one.
namespace {

enum OwnedKind : uint8_t { kStr, kStrs, kPositions, kGids, kLimits, kMounts };
struct Owned {
  uint16_t at;
  OwnedKind kind;
};

#define OWN(T, field, kind) {offsetof(T, field), kind}
constexpr Owned kServiceOwned[] = {
    OWN(ServiceSpec, name, kStr),       OWN(ServiceSpec, file, kStr),
    OWN(ServiceSpec, argv, kStrs),      OWN(ServiceSpec, after, kStrs),
    OWN(ServiceSpec, after_pos, kPositions), OWN(ServiceSpec, groups, kGids),
    OWN(ServiceSpec, user_name, kStr),  OWN(ServiceSpec, user_home, kStr),
    OWN(ServiceSpec, user_shell, kStr), OWN(ServiceSpec, workdir, kStr),
    OWN(ServiceSpec, env, kStrs),       OWN(ServiceSpec, env_file, kStr),
    OWN(ServiceSpec, rlimits, kLimits), OWN(ServiceSpec, log_file, kStr),
    OWN(ServiceSpec, ready.host, kStr), OWN(ServiceSpec, ready.path_or_cmd, kStr),
    OWN(ServiceSpec, health.host, kStr), OWN(ServiceSpec, health.path_or_cmd, kStr),
    OWN(ServiceSpec, cpus, kStr),
};
constexpr Owned kInitOwned[] = {
    OWN(InitSpec, hostname, kStr),
    OWN(InitSpec, boot.modules, kStrs),
    OWN(InitSpec, boot.network.interface, kStr),
    OWN(InitSpec, boot.network.address, kStr),
    OWN(InitSpec, boot.network.gateway, kStr),
    OWN(InitSpec, boot.network.dns, kStrs),
    OWN(InitSpec, boot.sysctl, kStrs),
    OWN(InitSpec, boot.random_seed, kStr),
    OWN(InitSpec, boot.mounts, kMounts),
    OWN(InitSpec, control_socket, kStr),
};
#undef OWN
// A new member that owns memory belongs in a table above: these sizes are
// here to make whoever adds a member look (amd64; i386 is not checked).
static_assert(sizeof(void*) != 8 || sizeof(ServiceSpec) == 744, "a new ServiceSpec member: is it in kServiceOwned?");
static_assert(sizeof(void*) != 8 || sizeof(InitSpec) == 312, "a new InitSpec member: is it in kInitOwned?");

template <class T>
using Vec = std::vector<T>;

// dst is an empty spec: takes src's bytes, then copies src's owning members.
[[gnu::noinline]] void copy_spec(void* dst, const void* src, size_t size, const Owned* t, size_t n) {
  std::memcpy(dst, src, size);  // overwrites empty members, which own nothing
  for (const Owned* o = t; o < t + n; o++) {
    void* d = static_cast<char*>(dst) + o->at;
    const void* s = static_cast<const char*>(src) + o->at;
    switch (o->kind) {
      case kStr: new (d) Str(*static_cast<const Str*>(s)); break;
      case kStrs: new (d) Vec<Str>(*static_cast<const Vec<Str>*>(s)); break;
      case kPositions: new (d) Vec<SrcPos>(*static_cast<const Vec<SrcPos>*>(s)); break;
      case kGids: new (d) Vec<gid_t>(*static_cast<const Vec<gid_t>*>(s)); break;
      case kLimits: new (d) Vec<RlimitSpec>(*static_cast<const Vec<RlimitSpec>*>(s)); break;
      case kMounts: new (d) Vec<MountSpec>(*static_cast<const Vec<MountSpec>*>(s)); break;
    }
  }
}

[[gnu::noinline]] void swap_bytes(void* a, void* b, size_t n) {
  auto* p = static_cast<unsigned char*>(a);
  auto* q = static_cast<unsigned char*>(b);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    p[i] = q[i];
    q[i] = c;
  }
}

}  // namespace

#define OWNED(table) table, sizeof table / sizeof *table
ServiceSpec::ServiceSpec() = default;
ServiceSpec::ServiceSpec(const ServiceSpec& o) : ServiceSpec() {
  copy_spec(this, &o, sizeof o, OWNED(kServiceOwned));
}
ServiceSpec::ServiceSpec(ServiceSpec&& o) noexcept : ServiceSpec() { swap_bytes(this, &o, sizeof o); }
ServiceSpec& ServiceSpec::operator=(const ServiceSpec& o) {
  if (this != &o) {
    this->~ServiceSpec();
    new (this) ServiceSpec(o);
  }
  return *this;
}
ServiceSpec& ServiceSpec::operator=(ServiceSpec&& o) noexcept {
  if (this != &o) {
    this->~ServiceSpec();
    new (this) ServiceSpec(static_cast<ServiceSpec&&>(o));
  }
  return *this;
}
ServiceSpec::~ServiceSpec() = default;

InitSpec::InitSpec(const InitSpec& o) : InitSpec() { copy_spec(this, &o, sizeof o, OWNED(kInitOwned)); }
InitSpec::InitSpec(InitSpec&& o) noexcept : InitSpec() { swap_bytes(this, &o, sizeof o); }
InitSpec& InitSpec::operator=(const InitSpec& o) {
  if (this != &o) {
    this->~InitSpec();
    new (this) InitSpec(o);
  }
  return *this;
}
InitSpec& InitSpec::operator=(InitSpec&& o) noexcept {
  if (this != &o) {
    this->~InitSpec();
    new (this) InitSpec(static_cast<InitSpec&&>(o));
  }
  return *this;
}
InitSpec::~InitSpec() = default;
#undef OWNED

namespace {

// Bounds the work a config can ask for: deps are at most n * n entries.
constexpr size_t kMaxPlanServices = 4096;

// A min-heap of ints (ready services: the lowest index starts first).
void heap_push(std::vector<int>& h, int v) {
  size_t i = h.size();
  h.push_back(int(v));
  for (size_t up; i > 0 && h[up = (i - 1) / 2] > v; i = up) h[i] = h[up];
  h[i] = v;
}

int heap_pop(std::vector<int>& h) {
  int top = h[0];
  int v = h.back();
  h.pop_back();
  size_t n = h.size(), i = 0;
  for (size_t c; (c = 2 * i + 1) < n; i = c) {
    if (c + 1 < n && h[c + 1] < h[c]) c++;
    if (h[c] >= v) break;
    h[i] = h[c];
  }
  if (n) h[i] = v;
  return top;
}

// Config services, each repeated once per instance.
struct Expand {
  using iterator_category = std::forward_iterator_tag;
  using value_type = ServiceSpec;
  using difference_type = std::ptrdiff_t;
  using pointer = const ServiceSpec*;
  using reference = const ServiceSpec&;
  const ServiceSpec* s;
  int i;
  reference operator*() const { return *s; }
  Expand& operator++() {
    if (++i >= s->instances) {
      s++;
      i = 0;
    }
    return *this;
  }
  Expand operator++(int) {
    Expand t = *this;
    ++*this;
    return t;
  }
  bool operator==(const Expand& o) const { return s == o.s && i == o.i; }
};

[[gnu::cold, gnu::noinline]] bool plan_error(Plan& out, ConfigError& err, const Str& file, SrcPos at, Str message) {
  err.file = file;
  err.line = at.line;
  err.col = at.col;
  err.message = static_cast<Str&&>(message);
  out = Plan();
  return false;
}

}  // namespace

// make_plan's work; false with err filled on an error.
static bool plan_into(const Config& config, Plan& out, ConfigError& err) {
  out = Plan();
  size_t total = 0;
  for (const ServiceSpec& s : config.services) {
    total += static_cast<size_t>(s.instances > 1 ? s.instances : 1);
    if (total > kMaxPlanServices) {
      plan_error(out, err, s.file, {s.line, 0}, "too many services after expanding instances (the limit is 4096)");
      out.init = config.init;
      return false;
    }
  }
  out.init = config.init;
  out.disabled = config.disabled;
  // first[k]..first[k+1]: the plan entries of config service k.
  std::vector<int> first;
  // One copy per instance, made in one go (no regrowth code), then renamed.
  const ServiceSpec* b = config.services.data();
  out.services = std::vector<ServiceSpec>(Expand{b, 0}, Expand{b + config.services.size(), 0});
  size_t entry = 0;
  for (const ServiceSpec& s : config.services) {
    first.push_back(int(entry));
    for (int i = 0; i < s.instances || i == 0; i++, entry++) {
      if (s.instances <= 1) continue;
      ServiceSpec& c = out.services[entry];
      char buf[48];
      format(buf, sizeof buf, ".%d", i);
      c.name += buf;
      format(buf, sizeof buf, "OXINIT_INSTANCE=%d", i);
      c.env.push_back(buf);
      c.instances = 1;
    }
  }
  first.push_back(int(out.services.size()));

  size_t n = out.services.size();
  out.deps.resize(n);
  // mark[p] == k: plan entry p is already a dependency of config service k.
  std::vector<int> mark(n, -1);
  std::vector<int> deps;
  for (size_t k = 0; k < config.services.size(); k++) {
    const ServiceSpec& s = config.services[k];
    deps.clear();
    int lo = int(n), hi = -1;
    for (size_t a = 0; a < s.after.size(); a++) {
      // A name is a service (all its instances) or one instance ("web.1").
      std::string_view name = s.after[a];
      std::string_view base = name.substr(0, name.find('.'));
      bool found = false;
      for (size_t j = 0; j < config.services.size(); j++) {
        if (config.services[j].name.view() != base) continue;
        for (int p = first[j]; p < first[j + 1]; p++) {
          if (base.size() != name.size() && out.services[p].name.view() != name) continue;
          found = true;
          if (mark[p] == int(k)) continue;
          mark[p] = int(k);
          deps.push_back(int(p));
          if (p < lo) lo = p;
          if (p > hi) hi = p;
        }
        break;
      }
      if (!found) {
        SrcPos at = a < s.after_pos.size() ? s.after_pos[a] : SrcPos{s.line, 0};
        Suggestion near{name};
        for (const ServiceSpec& o : config.services) near.consider(o.name);
        for (const ServiceSpec& o : out.services) near.consider(o.name);  // "web.1" for "web.l"
        return plan_error(out, err, s.file, at,
                          fmt("service '%s': after names an unknown service %s%s", s.name.c_str(),
                              quote(s.after[a]).c_str(), near.text().c_str()));
      }
    }
    // In index order: a scan of the marked range (at most n per service).
    if (deps.size() > 1) {
      deps.clear();
      for (int p = lo; p <= hi; p++) {
        if (mark[p] == int(k)) deps.push_back(int(p));
      }
    }
    for (int p = first[k]; p < first[k + 1]; p++) out.deps[p] = deps;
  }

  // Kahn's algorithm; the ready set is a min-heap so ties keep file order.
  std::vector<int> missing(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; i++) {
    missing[i] = int(out.deps[i].size());
    for (int d : out.deps[i]) users[d].push_back(int(i));
  }
  std::vector<int> ready;
  for (size_t i = 0; i < n; i++) {
    if (missing[i] == 0) heap_push(ready, int(i));
  }
  while (!ready.empty()) {
    int i = heap_pop(ready);
    out.order.push_back(int(i));
    for (int u : users[i]) {
      if (--missing[u] == 0) heap_push(ready, u);
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
    seen[at] = int(walk.size());
    walk.push_back(int(at));
    for (int d : out.deps[at]) {
      if (missing[d] > 0) {
        at = d;
        break;
      }
    }
  }
  Str names = "dependency cycle: ";
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
  return plan_error(out, err, s.file, pos, static_cast<Str&&>(names));
}

Result<void, ConfigError> make_plan(const Config& config, Plan& out) {
  ConfigError err;
  if (!plan_into(config, out, err)) return err;
  return {};
}

void add_main_command(Plan& plan, const std::vector<Str>& argv) {
  // The main command starts last: after every service has started (and
  // every oneshot has succeeded), like the application after its helpers.
  size_t n = plan.services.size();
  plan.deps.resize(n + 1);
  for (size_t i = 0; i < n; i++) plan.deps[n].push_back(int(i));
  plan.order.push_back(int(n));
  ServiceSpec m;
  m.name = "main";
  m.argv = argv;
  m.is_main = true;
  m.critical = true;
  m.restart = RestartPolicy::Never;
  m.log = LogMode::Inherit;
  plan.services.push_back(static_cast<ServiceSpec&&>(m));
}

}  // namespace oxinit
