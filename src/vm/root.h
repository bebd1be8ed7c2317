// The root switch: from the initramfs to the disk the kernel command line
// names (root=), as util-linux switch_root(8) does, then the disk's init.
#pragma once
#include <signal.h>

#include <string_view>


namespace oxinit::vm {

// What the kernel command line says about the root (views into its text).
struct RootArgs {
  std::string_view root;    // root=: /dev/vda, UUID=..., LABEL=...; "" for none
  std::string_view fstype;  // rootfstype=: a comma-separated list; "" to try them all
  std::string_view flags;   // rootflags=
  std::string_view init;    // init=; "" for /sbin/oxinit
  bool rw = false;          // the kernel mounts the root read-only unless `rw`
  bool rootwait = false;
};

// /proc/cmdline's words up to "--" (double quotes group, as the kernel's
// next_arg() does). Pure.
void parse_cmdline(std::string_view cmdline, RootArgs& out);

// The next type of a rootfstype= list ("ext4,xfs") or of /proc/filesystems
// ("nodev\tsysfs\n\text4\n": only types that need a device), taken off
// types; "" at the end. Pure.
std::string_view next_fstype(std::string_view& types);

// When oxinit runs from an initramfs and the command line names root=: waits
// for the device (bounded), mounts it, moves /dev /proc /sys /run over,
// deletes the initramfs's files, chroots, restores `mask` and executes the
// new root's init with argv[1..]. Returns true when there is nothing to
// switch (no root=, or / is a disk already); false, after a FATAL line, when
// the switch failed (the caller powers off).
bool switch_root(char** argv, const sigset_t& mask);

}  // namespace oxinit::vm
