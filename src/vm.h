// microVM mode: oxinit is the kernel's PID 1. Only this file mounts or reboots.
#pragma once
#include "spec.h"
#include "sys/result.h"

namespace oxinit::vm {

// True when oxinit should act as a VM init: forced by `mode`, else when it is
// PID 1 of the initial PID namespace (checked after /proc is mounted).
bool detect(VmMode mode);

// Boot steps, each skipped when already done, none fatal (a failure is logged):
// mount proc, sysfs, devtmpfs on /dev, devpts, /dev/shm, /run (cgroup2 when
// init.mount_cgroup); make sure fds 0/1/2 are open on /dev/console; set PATH
// if the kernel passed none; set the hostname; bring lo up;
// reboot(RB_DISABLE_CAD) so Ctrl-Alt-Del arrives as SIGINT.
void boot(const InitSpec& init);

// Final step: unmount (or remount read-only) what boot mounted, sync(), then
// reboot() with `action`. Never returns: if reboot() fails it logs and waits
// forever, still reaping zombies (PID 1 must not exit: the kernel would panic).
[[noreturn]] void finish(FinalAction action);

}  // namespace oxinit::vm
