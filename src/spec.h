// The plan's data model: what the config files (or the command line) ask for.
// Plain data; the parser fills it, the supervisor runs it.
#pragma once
#include <sys/resource.h>
#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <vector>

#include "sys/str.h"

namespace oxinit {

using Millis = int64_t;

enum class ServiceType { Simple, Oneshot };
enum class RestartPolicy { Never, OnFailure, Always };
enum class LogMode { Prefix, Inherit, Null };
enum class VmMode { Auto, On, Off };
enum class FinalAction { Poweroff, Reboot, Halt };
enum class TmpMode { None, Tmpfs };

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

struct ServiceSpec {
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
  Str workdir;
  std::vector<Str> env;             // "NAME=value", added to oxinit's environment
  Str env_file;                     // read before each start
  int umask = -1;                   // -1: inherit
  std::vector<RlimitSpec> rlimits;
  LogMode log = LogMode::Prefix;
  int instances = 1;
  int reload_signal = SIGHUP;

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

struct InitSpec {
  Millis shutdown_timeout = 2000;  // grace for leftovers after the services stopped
  bool log_timestamps = false;
  VmMode vm = VmMode::Auto;
  FinalAction final_action = FinalAction::Poweroff;
  Str hostname;
  bool mount_cgroup = false;
  // microVM mode only (vm/*):
  std::vector<Str> modules;     // loaded at boot, with their dependencies
  NetworkSpec network;
  std::vector<Str> sysctl;      // "net.ipv4.ip_forward=1": written under /proc/sys
  TmpMode tmp = TmpMode::None;  // "tmpfs": a tmpfs on /tmp
  Str random_seed;              // mixed into the pool at boot, replaced at shutdown
  bool random_seed_credit = false;
  std::vector<MountSpec> mounts;
};

struct Config {
  InitSpec init;
  std::vector<ServiceSpec> services;
};

}  // namespace oxinit
