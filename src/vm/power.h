// How a microVM is told to stop, and how it ends: Ctrl-Alt-Del as SIGINT, the
// ACPI power button (QMP system_powerdown, libvirt's shutdown, Cloud
// Hypervisor's power button) as a KEY_POWER press on an input device, and
// the final sync() + reboot().
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "loop.h"
#include "spec.h"
#include "sys/fd.h"

namespace oxinit::vm {

// Power-button presses, as event sources of the supervisor's loop: the
// evdev devices (/dev/input/eventN, found through /sys/class/input) whose
// key bits include KEY_POWER, and the kernel's uevent socket, which
// announces devices that appear later (a `button` or `evdev` module loaded
// by the disk's config, a hotplugged device). No thread, no polling.
class Power {
 public:
  // Opens what there is now and adds each fd to loop with token | fd.
  void attach(Loop& loop, uint64_t token);
  // One of our fds is readable: true when the power button was pressed
  // (the caller then shuts down in order, as for Ctrl-Alt-Del).
  bool on_readable(int fd);

 private:
  void scan();
  void watch(const char* dir, std::string_view name);  // the device dir + name
  void add(int fd);

  Loop* loop_ = nullptr;
  uint64_t token_ = 0;
  UniqueFd uevent_;
  static constexpr int kMax = 16;
  int fds_[kMax] = {};
  dev_t devs_[kMax] = {};
  int n_ = 0;
};

// reboot(RB_DISABLE_CAD): Ctrl-Alt-Del then arrives as SIGINT (reboot(2)).
void disable_cad();

// sync(), then reboot() with action. Never returns: if reboot() fails it
// logs and stays alive, reaping (a PID 1 that exits panics the kernel).
[[noreturn]] void power_off(FinalAction action);

}  // namespace oxinit::vm
