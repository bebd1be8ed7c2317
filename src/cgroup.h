// cgroup v2, one group per service (Documentation/admin-guide/cgroup-v2.rst):
// the group a service's processes cannot leave, its limits, its whole-tree
// kill and its OOM kills. Used in service mode only; exec mode never gets
// here (the tini drop-in's child stays where the engine put it).
#pragma once
#include <cstdint>
#include <string_view>

#include "spec.h"
#include "sys/fd.h"
#include "sys/result.h"

namespace oxinit {

// Controllers, as bits: what a service's limits need, what oxinit enabled.
enum : unsigned { kCgMemory = 1, kCgCpu = 2, kCgIo = 4, kCgPids = 8 };

class Cgroups {
 public:
  // Once, before any service starts: oxinit's own group (from
  // /proc/self/cgroup, under a cgroup2 /sys/fs/cgroup) becomes the parent
  // of the services' groups. oxinit moves into the leaf init.scope first
  // (the "no internal processes" rule), then enables the controllers in
  // `want` that the group offers. An Error says why cgroups cannot be used.
  Result<void> setup(unsigned want);
  // Enables what of `want` is not yet enabled and the group offers;
  // returns every controller enabled.
  unsigned enable(unsigned want);
  bool active() const { return base_.valid(); }
  unsigned enabled() const { return enabled_; }

  // The controllers spec's limits need (0: none asked for).
  static unsigned needs(const ServiceSpec& spec);
  // The name of the first controller in bits, for messages.
  static const char* controller_name(unsigned bits);

  // Makes the service's group (if missing) and writes its limits; returns
  // the group's directory, for the child to start in (spawn.h). EOPNOTSUPP:
  // a controller its limits need cannot be enabled.
  Result<UniqueFd> prepare(const ServiceSpec& spec);
  // sig to every process in the group; false when the group is unreadable.
  bool signal(std::string_view name, int sig);
  // Everything in the group, at once: cgroup.kill (Linux 5.14), else
  // SIGKILL to each process listed while the group is frozen.
  bool kill(std::string_view name);
  // 1 while any process is in the group, 0 when empty, -1 unreadable.
  int populated(std::string_view name);
  // memory.events' oom_kill: how many processes the OOM killer ended there.
  uint64_t oom_kills(std::string_view name) const;
  // The number after `key` in the group's `file` (key "\n": a file that is
  // one number, such as memory.current); false when either is missing.
  bool number(std::string_view name, const char* file, const char* key, uint64_t& out) const;

 private:
  UniqueFd base_;  // oxinit's own group: the services' groups are its children
  unsigned enabled_ = 0;
};

// 268435456 -> "256M": the largest of K, M, G, T that divides it exactly.
const char* format_size(char* buf, size_t cap, uint64_t bytes);

}  // namespace oxinit
