#include "plan.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>

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

// kStrs: a vector whose elements are Strs (Str, MountSpec); kPlain: a
// vector of trivially copyable elements.
enum OwnedKind : uint8_t { kStr, kStrs, kPlain };
struct Owned {
  uint16_t at;
  OwnedKind kind;
};

#define OWN(T, field, kind) {offsetof(T, field), kind}
constexpr Owned kServiceOwned[] = {
    OWN(ServiceSpec, name, kStr),       OWN(ServiceSpec, file, kStr),
    OWN(ServiceSpec, argv, kStrs),      OWN(ServiceSpec, after, kStrs),
    OWN(ServiceSpec, after_pos, kPlain), OWN(ServiceSpec, groups, kPlain),
    OWN(ServiceSpec, user_name, kStr),  OWN(ServiceSpec, user_home, kStr),
    OWN(ServiceSpec, user_shell, kStr), OWN(ServiceSpec, workdir, kStr),
    OWN(ServiceSpec, env, kStrs),       OWN(ServiceSpec, env_file, kStr),
    OWN(ServiceSpec, rlimits, kPlain), OWN(ServiceSpec, log_file, kStr),
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
    OWN(InitSpec, boot.mounts, kStrs),
    OWN(InitSpec, control_socket, kStr),
};
#undef OWN
// A new member that owns memory belongs in a table above: these sizes are
// here to make whoever adds a member look (amd64; i386 is not checked).
static_assert(sizeof(void*) != 8 || sizeof(ServiceSpec) == 640, "a new ServiceSpec member: is it in kServiceOwned?");
static_assert(sizeof(void*) != 8 || sizeof(InitSpec) == 264, "a new InitSpec member: is it in kInitOwned?");

static_assert(sizeof(MountSpec) == 5 * sizeof(Str) && alignof(MountSpec) == alignof(Str));
static_assert(std::is_trivially_copyable_v<SrcPos> && std::is_trivially_copyable_v<gid_t> &&
              std::is_trivially_copyable_v<RlimitSpec>);

// A vector as libstdc++ lays it out: begin, end, end of storage (its
// allocator is ::operator new, sized ::operator delete).
struct RawVec {
  char* begin;
  char* end;
  char* cap;
};
static_assert(sizeof(RawVec) == sizeof(std::vector<Str>));

// dst is an empty spec: takes src's bytes, then copies src's owning members
// (a vector's copy holds just its elements, as std::vector's does).
[[gnu::noinline]] void copy_spec(void* dst, const void* src, size_t size, const Owned* t, size_t n) {
  std::memcpy(dst, src, size);  // overwrites empty members, which own nothing
  for (const Owned* o = t; o < t + n; o++) {
    void* d = static_cast<char*>(dst) + o->at;
    const void* s = static_cast<const char*>(src) + o->at;
    if (o->kind == kStr) {
      new (d) Str(*static_cast<const Str*>(s));
      continue;
    }
    const RawVec& from = *static_cast<const RawVec*>(s);
    RawVec& to = *static_cast<RawVec*>(d);
    size_t bytes = size_t(from.end - from.begin);
    to = {};
    if (bytes == 0) continue;
    to.begin = static_cast<char*>(::operator new(bytes));
    to.end = to.cap = to.begin + bytes;
    if (o->kind == kPlain) {
      std::memcpy(to.begin, from.begin, bytes);
    } else {
      for (size_t k = 0; k < bytes; k += sizeof(Str))
        new (to.begin + k) Str(*reinterpret_cast<const Str*>(from.begin + k));
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

// A fresh plan in place (cheaper in code than assigning a Plan()).
void reset(Plan& p) {
  p.~Plan();
  new (&p) Plan();
}

// The error (made first: file may be a spec's, which reset destroys) and an
// empty plan.
[[gnu::cold, gnu::noinline]] Result<void, ConfigError> plan_error(Plan& out, const Str& file, SrcPos at, Str message) {
  ConfigError err{file, at.line, at.col, static_cast<Str&&>(message)};
  reset(out);
  return err;
}

}  // namespace

// Whether `after` entry `name` names plan entry `entry`: the same name, or
// entry is an instance of it ("web" names "web.0"; names have no dots).
static bool names_entry(std::string_view name, std::string_view entry) {
  return entry.substr(0, name.size()) == name && (entry.size() == name.size() || entry[name.size()] == '.');
}

Result<void, ConfigError> make_plan(Config& config, Plan& out) {
  reset(out);
  size_t n = 0;
  for (const ServiceSpec& s : config.services) {
    n += static_cast<size_t>(s.instances > 1 ? s.instances : 1);
    if (n > kMaxPlanServices)
      return plan_error(out, s.file, {s.line, 0}, "too many services after expanding instances (the limit is 4096)");
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
      const Str var(buf);
      c.env.push_back(var);  // by reference: one out-of-line push_back for the file
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
        return plan_error(out, s.file, at,
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
      for (int d : deps) out.deps[f].push_back(int{d});  // the rvalue push_back, as above
    }
  }

  // The order: again and again the lowest-numbered service whose deps are
  // all placed (what Kahn's algorithm with a min-heap gives: ties keep file
  // order). mark[i]: how many of deps[i] are known to be placed, -1 once i
  // is. Each pass starts at the first one not placed, so a file in a valid
  // order costs O(n + deps).
  for (int& m : mark) m = 0;
  size_t first = 0;
  for (size_t i = 0; i < n;) {
    const std::vector<int>& d = out.deps[i];
    int& seen = mark[i];
    if (seen >= 0) {
      while (size_t(seen) < d.size() && mark[size_t(d[size_t(seen)])] < 0) seen++;
      if (size_t(seen) == d.size()) {
        seen = -1;
        out.order.push_back(int(i));
        while (first < n && mark[first] < 0) first++;
        i = first;
        continue;
      }
    }
    i++;
  }
  if (out.order.size() == n) return {};

  // A cycle: from the first service not placed, follow the first dependency
  // not placed (every such service has one) until a service repeats; it is
  // on the cycle, and following on from it walks the cycle. mark: -1 placed,
  // -2 not placed, -3 walked.
  for (int& m : mark) m = m < 0 ? -1 : -2;
  auto next = [&](size_t at) {
    size_t d = 0;
    for (int x : out.deps[at]) {
      d = size_t(x);
      if (mark[d] != -1) break;
    }
    return d;
  };
  size_t at = first;
  while (mark[at] == -2) {
    mark[at] = -3;
    at = next(at);
  }
  Str names = "dependency cycle: ";
  size_t c = at;
  do {
    names += plan[c].name;
    names += " -> ";
    c = next(c);
  } while (c != at);
  names += plan[at].name;
  // Point at the `after` entry of the first service of the cycle that names
  // the next one (itself, in a cycle of one).
  const ServiceSpec& s = plan[at];
  std::string_view following = plan[next(at)].name;
  SrcPos pos{s.line, 0};
  for (size_t a = 0; a < s.after.size() && a < s.after_pos.size(); a++) {
    if (names_entry(s.after[a], following)) {
      pos = s.after_pos[a];
      break;
    }
  }
  return plan_error(out, s.file, pos, static_cast<Str&&>(names));
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
