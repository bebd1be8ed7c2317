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

// An assignment as the destructor, then the constructor from o.
template <class T, class U>
void rebuild(T& self, U&& o) {
  self.~T();
  new (&self) T(static_cast<U&&>(o));
}

}  // namespace

#define OWNED(table) (table), sizeof(table) / sizeof *(table)
ServiceSpec::ServiceSpec() : ZeroFilled(sizeof(ServiceSpec)) {}
ServiceSpec::ServiceSpec(const ServiceSpec& o) : ServiceSpec() {
  copy_spec(this, &o, sizeof o, OWNED(kServiceOwned));
}
ServiceSpec::ServiceSpec(ServiceSpec&& o) noexcept : ServiceSpec() { swap_bytes(this, &o, sizeof o); }
ServiceSpec& ServiceSpec::operator=(const ServiceSpec& o) {
  if (this != &o) rebuild(*this, o);
  return *this;
}
ServiceSpec& ServiceSpec::operator=(ServiceSpec&& o) noexcept {
  if (this != &o) rebuild(*this, static_cast<ServiceSpec&&>(o));
  return *this;
}
ServiceSpec::~ServiceSpec() = default;

InitSpec::InitSpec(const InitSpec& o) : InitSpec() { copy_spec(this, &o, sizeof o, OWNED(kInitOwned)); }
InitSpec::InitSpec(InitSpec&& o) noexcept : InitSpec() { swap_bytes(this, &o, sizeof o); }
InitSpec& InitSpec::operator=(const InitSpec& o) {
  if (this != &o) rebuild(*this, o);
  return *this;
}
InitSpec& InitSpec::operator=(InitSpec&& o) noexcept {
  if (this != &o) rebuild(*this, static_cast<InitSpec&&>(o));
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

// A fresh plan in place (cheaper in code than assigning a Plan()).
void reset(Plan& p) {
  p.~Plan();
  new (&p) Plan();
}

[[gnu::cold, gnu::noinline]] bool plan_error(Plan& out, ConfigError& err, const Str& file, SrcPos at, Str message) {
  err.file = file;
  err.line = at.line;
  err.col = at.col;
  err.message = static_cast<Str&&>(message);
  reset(out);
  return false;
}

}  // namespace

// Whether `after` entry `name` names plan entry `entry`: the same name, or
// entry is an instance of it ("web" names "web.0"; names have no dots).
static bool names_entry(std::string_view name, std::string_view entry) {
  return entry.substr(0, name.size()) == name && (entry.size() == name.size() || entry[name.size()] == '.');
}

// make_plan's work; false with err filled on an error.
static bool plan_into(Config& config, Plan& out, ConfigError& err) {
  reset(out);
  size_t n = 0;
  for (const ServiceSpec& s : config.services) {
    n += static_cast<size_t>(s.instances > 1 ? s.instances : 1);
    if (n > kMaxPlanServices)
      return plan_error(out, err, s.file, {s.line, 0}, "too many services after expanding instances (the limit is 4096)");
  }
  out.init = config.init;
  for (const Str& d : config.disabled) out.disabled.push_back(d);
  // Each service once (the usual case): the specs move into the plan (a
  // reload of 1,000 services spent a sixth of its time copying ~750 KB into
  // fresh pages). Otherwise one copy per instance, renamed.
  if (n == config.services.size()) out.services.swap(config.services);
  for (const ServiceSpec& s : config.services) {
    for (int i = 0; i < s.instances || i == 0; i++) {
      out.services.push_back(ServiceSpec(s));
      if (s.instances <= 1) continue;
      ServiceSpec& c = out.services.back();
      char buf[40] = "OXINIT_INSTANCE=";
      format_int(buf + 16, i);
      c.name += '.';
      c.name += buf + 16;
      c.env.push_back(buf);
      c.instances = 1;
    }
  }
  const ServiceSpec* plan = out.services.data();
  const std::vector<ServiceSpec>& specs = config.services.empty() ? out.services : config.services;

  out.deps.resize(n);
  // mark[p] == f: plan entry p is already a dependency of the config
  // service whose first plan entry is f.
  std::vector<int> mark(n, -1);
  size_t f = 0;
  for (const ServiceSpec& s : specs) {
    for (size_t a = 0; a < s.after.size(); a++) {
      // A name is a service (all its instances) or one instance ("web.1").
      std::string_view name = s.after[a];
      bool found = false;
      for (size_t p = 0; p < n; p++) {
        if (names_entry(name, plan[p].name)) {
          mark[p] = int(f);
          found = true;
        }
      }
      if (!found) {
        SrcPos at = a < s.after_pos.size() ? s.after_pos[a] : SrcPos{s.line, 0};
        Suggestion near{name};
        for (const ServiceSpec& o : specs) near.consider(o.name);
        for (size_t p = 0; p < n; p++) near.consider(plan[p].name);  // "web.1" for "web.l"
        return plan_error(out, err, s.file, at,
                          fmt("service '%s': after names an unknown service %s%s", s.name.c_str(),
                              quote(name).c_str(), near.text().c_str()));
      }
    }
    // In index order; made for the first instance, copied to the others.
    std::vector<int>& deps = out.deps[f];
    for (size_t p = 0; p < n; p++) {
      if (mark[p] == int(f)) deps.push_back(int(p));
    }
    size_t end = f + static_cast<size_t>(s.instances > 1 ? s.instances : 1);
    while (++f < end) {
      for (int d : deps) out.deps[f].push_back(d);
    }
  }

  // Kahn's algorithm; the ready set is a min-heap so ties keep file order.
  std::vector<int> missing(n, 0);
  std::vector<std::vector<int>> users(n);
  std::vector<int> ready;
  for (size_t i = 0; i < n; i++) {
    missing[i] = int(out.deps[i].size());
    for (int d : out.deps[i]) users[d].push_back(int(i));
    if (missing[i] == 0) heap_push(ready, int(i));
  }
  while (!ready.empty()) {
    int i = heap_pop(ready);
    out.order.push_back(i);
    for (int u : users[i]) {
      if (--missing[u] == 0) heap_push(ready, u);
    }
  }
  if (out.order.size() == n) return true;

  // A cycle: walk unfinished dependencies from an unfinished service until a
  // service repeats; that stretch of the walk is the cycle. mark[p]: p's
  // step in the walk, or -1.
  int at = 0;
  while (missing[at] == 0) at++;
  std::vector<int> walk;
  for (int& m : mark) m = -1;
  while (mark[at] < 0) {
    mark[at] = int(walk.size());
    walk.push_back(at);
    for (int d : out.deps[at]) {
      if (missing[d] > 0) {
        at = d;
        break;
      }
    }
  }
  Str names = "dependency cycle: ";
  for (size_t k = size_t(mark[at]); k < walk.size(); k++) {
    names += plan[walk[k]].name;
    names += " -> ";
  }
  names += plan[at].name;
  // Point at the `after` entry of the first service of the cycle that names
  // the next one (itself, in a cycle of one).
  size_t k = size_t(mark[at]);
  const ServiceSpec& s = plan[walk[k]];
  std::string_view next = plan[k + 1 < walk.size() ? walk[k + 1] : walk[k]].name;
  SrcPos pos{s.line, 0};
  for (size_t a = 0; a < s.after.size() && a < s.after_pos.size(); a++) {
    if (names_entry(s.after[a], next)) {
      pos = s.after_pos[a];
      break;
    }
  }
  return plan_error(out, err, s.file, pos, static_cast<Str&&>(names));
}

Result<void, ConfigError> make_plan(Config& config, Plan& out) {
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
  for (const Str& a : argv) m.argv.push_back(a);
  m.is_main = true;
  m.critical = true;
  m.restart = RestartPolicy::Never;
  m.log = LogMode::Inherit;
  plan.services.push_back(static_cast<ServiceSpec&&>(m));
}

}  // namespace oxinit
