// The difference of two plans, for a reload (plan.h): pure, and in the
// features' mapping (build-aux/layout.ld), since exec mode never reloads.
#include <cstddef>
#include <cstring>

#include "plan.h"

namespace oxinit {

namespace {

// The keys that make a different process, as a table: plain ones compared
// as bytes (field by field, so padding never counts), strings as text.
struct Field {
  uint16_t at;
  uint8_t size;  // 0: a Str
};
#define PLAIN(f) {offsetof(ServiceSpec, f), sizeof ServiceSpec::f}
#define TEXT(f) {offsetof(ServiceSpec, f), 0}
constexpr Field kProcessKeys[] = {
    PLAIN(type), PLAIN(has_user), PLAIN(uid), PLAIN(has_group), PLAIN(gid), TEXT(workdir), TEXT(env_file),
    PLAIN(umask), PLAIN(log), TEXT(log_file), PLAIN(log_max_size), PLAIN(log_keep), PLAIN(is_main),
    // What the child gets of its readiness: NOTIFY_SOCKET, an fd.
    PLAIN(ready.kind), PLAIN(ready.fd),
    // Privileges and the cgroup's limits, set as the process starts.
    PLAIN(no_new_privs), PLAIN(has_caps), PLAIN(caps), PLAIN(oom_score_adj), PLAIN(nice), TEXT(cpus),
    PLAIN(memory_max), PLAIN(memory_high), PLAIN(memory_swap_max), PLAIN(cpu_quota), PLAIN(cpu_period),
    PLAIN(cpu_weight), PLAIN(io_weight), PLAIN(pids_max),
};
#undef PLAIN
#undef TEXT

// Two vectors of plain values hold the same bytes.
bool same_items(const void* a, const void* a_end, const void* b, const void* b_end) {
  size_t n = static_cast<size_t>(static_cast<const char*>(a_end) - static_cast<const char*>(a));
  return n == static_cast<size_t>(static_cast<const char*>(b_end) - static_cast<const char*>(b)) &&
         (n == 0 || std::memcmp(a, b, n) == 0);
}

}  // namespace

bool same_process(const ServiceSpec& a, const ServiceSpec& b) {
  for (const Field& f : kProcessKeys) {
    const char* x = reinterpret_cast<const char*>(&a) + f.at;
    const char* y = reinterpret_cast<const char*>(&b) + f.at;
    if (f.size ? std::memcmp(x, y, f.size) != 0
               : reinterpret_cast<const Str*>(x)->view() != reinterpret_cast<const Str*>(y)->view())
      return false;
  }
  return a.argv == b.argv && a.env == b.env &&
         same_items(a.groups.data(), a.groups.data() + a.groups.size(), b.groups.data(),
                    b.groups.data() + b.groups.size()) &&
         same_items(a.rlimits.data(), a.rlimits.data() + a.rlimits.size(), b.rlimits.data(),
                    b.rlimits.data() + b.rlimits.size());
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
