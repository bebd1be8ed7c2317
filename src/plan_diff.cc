// The difference of two plans, for a reload (plan.h): pure, and in the
// features' mapping (build-aux/layout.ld), since exec mode never reloads.
#include <cstring>

#include "plan.h"

namespace oxinit {

bool same_process(const ServiceSpec& a, const ServiceSpec& b) {
  auto same_probe = [](const ProbeSpec& x, const ProbeSpec& y) {
    return x.kind == y.kind && x.fd == y.fd;  // what the child gets: NOTIFY_SOCKET, an fd
  };
  if (a.rlimits.size() != b.rlimits.size()) return false;
  for (size_t k = 0; k < a.rlimits.size(); k++) {
    if (std::memcmp(&a.rlimits[k], &b.rlimits[k], sizeof a.rlimits[k]) != 0) return false;
  }
  return a.type == b.type && a.argv == b.argv && a.has_user == b.has_user && a.uid == b.uid &&
         a.has_group == b.has_group && a.gid == b.gid && a.groups == b.groups && a.workdir.view() == b.workdir.view() &&
         a.env == b.env && a.env_file.view() == b.env_file.view() && a.umask == b.umask && a.log == b.log &&
         a.log_file.view() == b.log_file.view() && a.log_max_size == b.log_max_size && a.log_keep == b.log_keep &&
         a.is_main == b.is_main && same_probe(a.ready, b.ready);
}

PlanDiff diff_plans(const Plan& old, const Plan& next) {
  PlanDiff d;
  size_t n = old.services.size();
  std::vector<char> kept(n);
  for (size_t j = 0; j < next.services.size(); j++) {
    const ServiceSpec& s = next.services[j];
    // A reload mostly keeps the order: try the same place first, then the
    // next one, then every one (1,000 services: a few ms at worst).
    int from = -1;
    for (size_t k = 0; k < n && from < 0; k++) {
      size_t i = (j + k) % n;
      if (!kept[i] && old.services[i].name.view() == s.name.view()) from = int(i);
    }
    d.from.push_back(from);
    d.changed.push_back(from >= 0 && !same_process(old.services[from], s));
    if (from >= 0) kept[from] = 1;
  }
  return d;
}

}  // namespace oxinit
