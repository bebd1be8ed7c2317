// microVM mode: oxinit is the kernel's PID 1. The boot steps it owes its
// services, in order, and the end (seed, unmounts, sync, reboot). Only vm/*
// mounts, loads modules or reboots.
#pragma once
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spec.h"
#include "sys/text.h"

namespace oxinit::vm {

// include/linux/proc_ns.h: the initial PID namespace's nsfs inode number,
// fixed since Linux 3.8 (systemd's namespace-util.h uses the same constant).
constexpr ino_t kProcPidInitIno = 0xEFFFFFFCU;

// PID 1 of the initial PID namespace, for a PID 1 that has no
// /proc/self/ns/pid to look at: mounts /proc to look (and keeps it then).
bool initial_pid1();

// True when oxinit should act as a VM init: forced by `mode`, else when it is
// PID 1 of the initial PID namespace. Inline, and answered here when /proc is
// there (a container's PID 1), so exec mode never faults in the VM code
// (build-aux/layout.ld).
inline bool detect(VmMode mode) {
  if (mode != VmMode::Auto) return mode == VmMode::On;
  if (::getpid() != 1) return false;
  struct stat st;
  if (::stat("/proc/self/ns/pid", &st) == 0) return st.st_ino == kProcPidInitIno;
  return initial_pid1();
}

// The boot, each step skipped when already done, none fatal but the root
// switch (a failure is a WARN or ERROR line): the API mounts; fds 0/1/2 on
// /dev/console; PATH; [init] modules; the switch to root= (execs the new
// root's init with argv[1..] and `mask`); [init] tmp and [mount.NAME];
// lo, ip= or [init] network; hostname; sysctl; the random seed;
// Ctrl-Alt-Del as SIGINT. Keeps `init` for finish(). A forced --vm inside a
// PID namespace (tests) loads no module and switches no root. Returns false
// when the root switch failed: the caller powers off.
bool boot(const InitSpec& init, char** argv, const sigset_t& mask);

// "vm: " + the message + ": " + strerror(err) (err 0: errno's), a line of
// level l: the vm rooms' "unable to" lines through one call each, not a
// level check and a strerror() at every site.
[[gnu::cold]] OX_NO_FLOAT_ARGS void log_err(Level l, int err, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// The end: the random seed replaced, swap off, every mount unmounted or
// remounted read-only, sync(), reboot() with `action`. Never returns.
[[noreturn]] void finish(FinalAction action);

}  // namespace oxinit::vm
