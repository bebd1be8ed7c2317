// cgroup.h without a cgroup2 mount: sizes as messages print them, which
// controllers a service's limits need, and setup's refusal on a machine
// without a writable cgroup2 /sys/fs/cgroup.
#include <doctest/doctest.h>
#include <sys/statfs.h>

#include <string>

#include "cgroup.h"

using namespace oxinit;

TEST_CASE("cgroup: format_size picks the largest unit that divides exactly") {
  char b[24];
  CHECK(std::string(format_size(b, sizeof b, 256ULL << 20)) == "256M");
  CHECK(std::string(format_size(b, sizeof b, 1ULL << 30)) == "1G");
  CHECK(std::string(format_size(b, sizeof b, 3ULL << 40)) == "3T");
  CHECK(std::string(format_size(b, sizeof b, 5ULL << 50)) == "5120T");
  CHECK(std::string(format_size(b, sizeof b, 1536ULL << 10)) == "1536K");
  CHECK(std::string(format_size(b, sizeof b, 1000)) == "1000");
  CHECK(std::string(format_size(b, sizeof b, 0)) == "0");
  CHECK(std::string(format_size(b, sizeof b, 4097)) == "4097");
}

TEST_CASE("cgroup: needs() names the controllers a service's limits use") {
  ServiceSpec s;
  CHECK(Cgroups::needs(s) == 0);
  s.memory_high = 1;
  CHECK(Cgroups::needs(s) == kCgMemory);
  s = ServiceSpec();
  s.memory_swap_max = 0;
  CHECK(Cgroups::needs(s) == kCgMemory);
  s = ServiceSpec();
  s.cpu_quota = 50000;
  CHECK(Cgroups::needs(s) == kCgCpu);
  s.cpu_quota = 0;
  s.cpu_weight = 10;
  CHECK(Cgroups::needs(s) == kCgCpu);
  s.io_weight = 10;
  s.pids_max = 5;
  s.memory_max = 1 << 20;
  CHECK(Cgroups::needs(s) == (kCgMemory | kCgCpu | kCgIo | kCgPids));
  CHECK(std::string(Cgroups::controller_name(kCgPids | kCgIo)) == "io");
  CHECK(std::string(Cgroups::controller_name(kCgMemory)) == "memory");
  CHECK(std::string(Cgroups::controller_name(kCgPids)) == "pids");
}

TEST_CASE("cgroup: setup refuses where /sys/fs/cgroup is not cgroup2") {
  struct statfs st;
  if (statfs("/sys/fs/cgroup", &st) == 0 && static_cast<unsigned long>(st.f_type) == 0x63677270) {
    MESSAGE("/sys/fs/cgroup is cgroup2 here: the refusal is tested by the integration suite");
    return;
  }
  Cgroups cg;
  Result<void> r = cg.setup(kCgMemory);
  REQUIRE_FALSE(r.ok());
  CHECK(std::string(r.error().what) == "/sys/fs/cgroup is not a cgroup2 mount");
  CHECK_FALSE(cg.active());
  CHECK(cg.enabled() == 0);
}
