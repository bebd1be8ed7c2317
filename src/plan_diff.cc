// The difference of two plans, for a reload (plan.h): pure, and in the
// features' mapping (build-aux/layout.ld), since exec mode never reloads.
#include <cstddef>
#include <cstring>

#include "plan.h"

namespace oxinit {

namespace {

// The keys that make a different process, as a table: plain ones compared
// as bytes (field by field, so padding never counts), strings as text,
// vectors element by element.
enum : uint8_t { kText = 0, kTexts = 254, kItems = 255 };
struct Field {
  uint16_t at;
  uint8_t size;  // a plain key's bytes, or kText (a Str), kTexts (Strs), kItems (plain values, as bytes)
};
#define PLAIN(f) {offsetof(ServiceSpec, f), sizeof ServiceSpec::f}
#define KEY(f, kind) {offsetof(ServiceSpec, f), kind}
constexpr Field kProcessKeys[] = {
    KEY(argv, kTexts), KEY(env, kTexts), KEY(groups, kItems), KEY(rlimits, kItems),
    PLAIN(type), PLAIN(has_user), PLAIN(uid), PLAIN(has_group), PLAIN(gid), KEY(workdir, kText),
    KEY(env_file, kText), PLAIN(umask), PLAIN(log), KEY(log_file, kText), PLAIN(log_max_size),
    PLAIN(log_keep), PLAIN(is_main),
    // What the child gets of its readiness: NOTIFY_SOCKET, an fd.
    PLAIN(ready.kind), PLAIN(ready.fd),
    // Privileges and the cgroup's limits, set as the process starts.
    PLAIN(no_new_privs), PLAIN(has_caps), PLAIN(caps), PLAIN(oom_score_adj), PLAIN(nice), KEY(cpus, kText),
    PLAIN(memory_max), PLAIN(memory_high), PLAIN(memory_swap_max), PLAIN(cpu_quota), PLAIN(cpu_period),
    PLAIN(cpu_weight), PLAIN(io_weight), PLAIN(pids_max),
};
#undef PLAIN
#undef KEY

std::string_view text(const char* p) { return reinterpret_cast<const Str*>(p)->view(); }

}  // namespace

bool same_process(const ServiceSpec& a, const ServiceSpec& b) {
  for (const Field& f : kProcessKeys) {
    const char* x = reinterpret_cast<const char*>(&a) + f.at;
    const char* y = reinterpret_cast<const char*>(&b) + f.at;
    if (f.size == kText) {
      if (text(x) != text(y)) return false;
    } else if (f.size < kTexts) {
      if (std::memcmp(x, y, f.size) != 0) return false;
    } else {
      // A vector: begin and end (libstdc++'s layout, as plan.cc's copies).
      const char* const* u = reinterpret_cast<const char* const*>(x);
      const char* const* v = reinterpret_cast<const char* const*>(y);
      size_t n = size_t(u[1] - u[0]);
      if (n != size_t(v[1] - v[0])) return false;
      if (f.size == kItems) {
        if (n && std::memcmp(u[0], v[0], n) != 0) return false;
      } else {
        for (size_t k = 0; k < n; k += sizeof(Str))
          if (text(u[0] + k) != text(v[0] + k)) return false;
      }
    }
  }
  return true;
}

PlanDiff diff_plans(const Plan& old, const Plan& next) {
  size_t n = old.services.size(), m = next.services.size();
  const ServiceSpec* was = old.services.data();
  PlanDiff d{std::vector<int>(m, -1), std::vector<char>(m)};
  std::vector<char> kept(n);
  for (size_t j = 0; j < m; j++) {
    const ServiceSpec& s = next.services[j];
    // A reload mostly keeps the order: try the same place first, then the
    // next one, then every one (1,000 services: a few ms at worst).
    for (size_t k = 0, i = n ? j % n : 0; k < n; k++, i = i + 1 < n ? i + 1 : 0) {
      if (!kept[i] && was[i].name.view() == s.name.view()) {
        kept[i] = 1;
        d.from[j] = int(i);
        d.changed[j] = static_cast<char>(!same_process(was[i], s));
        break;
      }
    }
  }
  return d;
}

}  // namespace oxinit
