// The plan's data model: what the config files (or the command line) ask for.
// Plain data; the parser fills it, the supervisor runs it.
#pragma once
#include <sys/resource.h>
#include <sys/types.h>

#include <climits>
#include <cstddef>
#include <csignal>
#include <cstdint>
#include <vector>

#include "sys/str.h"

namespace oxinit {

using Millis = int64_t;

// An integer key that was not given (oom_score_adj, nice, weights, pids_max).
constexpr int kUnset = INT_MIN;
// A size key that was not given (memory_max, ...): the cgroup's "max".
constexpr uint64_t kNoLimit = ~uint64_t{0};

enum class ServiceType { Simple, Oneshot };
enum class RestartPolicy { Never, OnFailure, Always };
enum class LogMode { Prefix, Inherit, Null, File };
enum class VmMode { Auto, On, Off };
enum class FinalAction { Poweroff, Reboot, Halt };
enum class TmpMode { None, Tmpfs };
enum class OnUnhealthy { Restart, Stop, Ignore };
enum class LogFormat { Text, Json };

// Where something was written in a config file, for error messages.
struct SrcPos {
  int line = 0;
  int col = 0;
};

struct RlimitSpec {
  int resource = 0;  // RLIMIT_*
  rlim_t soft = 0;
  rlim_t hard = 0;
};

// A readiness or health probe, as written in `ready` / `health`.
struct ProbeSpec {
  enum Kind : uint8_t {
    None,     // health: no check
    Started,  // ready: spawned is ready (the default)
    Notify,   // ready: READY=1 through NOTIFY_SOCKET
    Fd,       // ready: a newline on fd (s6 notification fd)
    Tcp,      // a TCP connect to host:port succeeds
    Http,     // GET path from host:port answers 2xx or 3xx
    Exec,     // /bin/sh -c path_or_cmd exits 0
    File,     // path_or_cmd exists
  };
  Kind kind = None;
  uint8_t family = 0;   // Tcp, Http: AF_INET or AF_INET6
  uint16_t port = 0;    // Tcp, Http (1..65535; Http defaults to 80)
  uint8_t addr[16] = {};  // Tcp, Http: the address, network order (IPv4 in the first 4 bytes)
  int fd = -1;          // Fd: 3..1023
  Str host;             // Tcp, Http: as written, without brackets ("localhost" is 127.0.0.1)
  Str path_or_cmd;    // Http: the request path ("/" when none); Exec: the command; File: the path
};

// An empty base that zero-fills the whole object before its members are
// initialized: a default constructor then stores only the non-zero defaults
// (~300 bytes of code for a ServiceSpec, not ~750).
struct ZeroFilled {
  explicit ZeroFilled(size_t size) { __builtin_memset(static_cast<void*>(this), 0, size); }
};

struct ServiceSpec : ZeroFilled {
  // Defined once in plan.cc: the copies and moves start from an empty spec
  // and use a table of the owning members (member-wise, ~1 KB of code each).
  ServiceSpec();
  ServiceSpec(const ServiceSpec&);
  ServiceSpec(ServiceSpec&&) noexcept;
  ServiceSpec& operator=(const ServiceSpec&);
  ServiceSpec& operator=(ServiceSpec&&) noexcept;
  ~ServiceSpec();

  Str name;
  Str file;      // where it was defined, for messages ("" for the main command)
  int line = 0;
  ServiceType type = ServiceType::Simple;
  std::vector<Str> argv;            // a string command becomes {"/bin/sh", "-c", s}
  std::vector<Str> after;           // names of services this one waits for
  std::vector<SrcPos> after_pos;    // where each `after` entry was written
  RestartPolicy restart = RestartPolicy::Always;  // oneshot default: Never
  Millis restart_delay = 1000;      // doubles per consecutive failure ...
  Millis restart_delay_max = 30000; // ... up to this
  int max_restarts = -1;            // -1: unlimited; restarts allowed per window
  Millis restart_window = 60000;
  int stop_signal = SIGTERM;
  Millis stop_timeout = 10000;      // then SIGKILL to the whole process group
  bool critical = false;
  bool has_user = false;            // credentials, resolved from /etc/passwd, /etc/group
  uid_t uid = 0;
  bool has_group = false;
  gid_t gid = 0;
  std::vector<gid_t> groups;        // supplementary groups
  Str user_name, user_home, user_shell;  // from /etc/passwd: USER, HOME, SHELL
  Str workdir;
  std::vector<Str> env;             // "NAME=value", added to oxinit's environment
  Str env_file;                     // read before each start
  int umask = -1;                   // -1: inherit
  std::vector<RlimitSpec> rlimits;
  LogMode log = LogMode::Prefix;
  Str log_file;                     // File: "file:PATH" -> PATH
  uint64_t log_max_size = 1 << 20;  // File: rotate past this many bytes ...
  int log_keep = 5;                 // ... keeping PATH.1 .. PATH.N
  bool enabled = true;              // false: left out of the plan (a drop-in may say so)
  int instances = 1;
  int reload_signal = 0;            // 0: a SIGHUP to oxinit sends it nothing

  // Readiness and health (the engine acts on them; the parser only checks).
  // (Ordered for packing: 4-byte fields in pairs.)
  int health_retries = 3;           // consecutive failures before unhealthy
  ProbeSpec ready{.kind = ProbeSpec::Started};
  ProbeSpec health;                 // None: no health check
  Millis ready_timeout = 90000;     // not ready by then: a failed run
  Millis health_interval = 10000;
  Millis health_timeout = 5000;
  Millis health_start_period = 0;   // failures in this period after a start do not count
  Millis watchdog = 0;              // 0: off; else WATCHDOG=1 at least this often (ready = notify)
  OnUnhealthy on_unhealthy = OnUnhealthy::Restart;

  // Privileges and scheduling, applied in the child before exec (spawn.cc).
  bool no_new_privs = false;
  bool has_caps = false;            // `capabilities` given: every set reduced to caps
  uint64_t caps = 0;                // bit N: capability N (capabilities(7))
  int oom_score_adj = kUnset;       // -1000..1000
  int nice = kUnset;                // -20..19
  Str cpus;                         // cpu_affinity: sched_setaffinity's mask, its bytes; empty: inherit

  // cgroup v2 limits (cgroup.cc); kNoLimit / kUnset: not asked for.
  uint64_t memory_max = kNoLimit;
  uint64_t memory_high = kNoLimit;
  uint64_t memory_swap_max = kNoLimit;
  uint32_t cpu_quota = 0;           // cpu_max in µs per cpu_period; 0: not asked for
  uint32_t cpu_period = 100000;
  int cpu_weight = kUnset;          // 1..10000
  int io_weight = kUnset;           // 1..10000
  int pids_max = kUnset;

  // Set only for the main command (`oxinit -- CMD`): it keeps oxinit's stdio
  // and terminal, receives forwarded signals and ends everything when it exits.
  bool is_main = false;
};

// [mount.NAME]: mounted at boot in file order (microVM mode).
struct MountSpec {
  Str name;
  Str source;   // "/dev/vdb", "UUID=...", "LABEL=...", or a name ("tmpfs")
  Str target;   // absolute; created when missing
  Str type;     // "ext4", "tmpfs", ...
  Str options;  // "noatime,size=64m": flags the kernel knows, the rest as data
};

// [init] network: the same as the kernel's ip= without the command line.
struct NetworkSpec {
  Str interface;         // empty: the first one that is not lo
  Str address;           // CIDR: "10.0.2.15/24" or "fd00::2/64"
  Str gateway;
  std::vector<Str> dns;  // written to /etc/resolv.conf when /etc is writable
};

// What a microVM's boot does besides the basics (vm/boot.*).
struct BootSpec {
  std::vector<Str> modules;     // loaded at boot, with their dependencies
  NetworkSpec network;
  std::vector<Str> sysctl;      // "net.ipv4.ip_forward=1": written under /proc/sys
  TmpMode tmp = TmpMode::None;  // "tmpfs": a tmpfs on /tmp
  Str random_seed;              // mixed into the pool at boot, replaced at shutdown
  bool random_seed_credit = false;
  std::vector<MountSpec> mounts;
};

struct InitSpec : ZeroFilled {
  // As ServiceSpec's (plan.cc).
  InitSpec() : ZeroFilled(sizeof(InitSpec)) {}
  InitSpec(const InitSpec&);
  InitSpec(InitSpec&&) noexcept;
  InitSpec& operator=(const InitSpec&);
  InitSpec& operator=(InitSpec&&) noexcept;
  ~InitSpec();

  Millis shutdown_timeout = 2000;  // grace for leftovers after the services stopped
  Millis shutdown_limit = -1;      // bound on the whole shutdown; -1 (or 0 in the file): computed
  bool log_timestamps = false;
  VmMode vm = VmMode::Auto;
  FinalAction final_action = FinalAction::Poweroff;
  Str hostname;
  bool mount_cgroup = false;
  // cgroup v2 per service: auto (when /sys/fs/cgroup is a writable cgroup2),
  // on (an error at start when it is not), off. The words of `vm`.
  VmMode cgroups = VmMode::Auto;
  BootSpec boot;                // microVM mode only (vm/*)
  Str control_socket;              // "" the default path, "none" no socket
  LogFormat log_format = LogFormat::Text;
  uint64_t log_buffer = 16384;     // bytes of each service's last lines, for `ctl logs`
};

struct Config {
  InitSpec init;
  std::vector<ServiceSpec> services;
  std::vector<Str> disabled;  // enabled = false, taken out by drop_disabled (config/schema.h)
};

}  // namespace oxinit
