// Mounts in a microVM: the API filesystems at boot, tmp and [mount.NAME]
// entries, and at the end every mount undone (unmounted, or remounted
// read-only) with swap turned off, so the disks are clean when power goes.
#pragma once
#include <string_view>

#include "spec.h"
#include "sys/str.h"

namespace oxinit::vm {

// detect() (vm/boot.cc) mounted /proc, or dropped it again: finish()
// unmounts what boot mounted.
void note_proc_mounted(bool mounted);

// proc, sysfs, devtmpfs, devpts, /dev/shm, /run (and cgroup2 with `cgroup`),
// each skipped when already mounted.
void mount_api(bool cgroup);

// [init] tmp and the [mount.NAME] entries, in order. Failures are WARN lines.
void mount_configured(const InitSpec& init);

// Mounts source (a path, UUID=, LABEL=, or a name such as "tmpfs") on
// target. A device source is waited for (up to wait_ms, through uevents).
// Returns 0 or the errno; *what says which step failed.
int mount_one(std::string_view source, const char* target, const char* type, std::string_view options,
              Millis wait_ms, const char** what);

// The end: swap turned off, then every mount in /proc/self/mountinfo (also
// those a service made) unmounted in reverse order or else remounted
// read-only. whole_machine = false (a forced --vm inside a container): only
// what mount_api() mounted, nothing of the host's.
void unmount_all(bool whole_machine);

// A block device for "/dev/vda", "UUID=..." or "LABEL=..." (ext2/3/4
// superblocks read directly: no udev, no /dev/disk/by-*), waiting up to
// wait_ms for it to appear. "" when there is none.
Str find_device(std::string_view spec, Millis wait_ms);

// Pure helpers, unit-tested:
// "ro,noatime,size=64m" -> MS_RDONLY | MS_NOATIME, data "size=64m".
void mount_options(std::string_view opts, unsigned long& flags, Str& data);
// A mountinfo/swaps path with its \ooo escapes undone (proc(5)).
Str unescape_octal(std::string_view s);
// Whether an ext2/3/4 superblock (the 1024 bytes at offset 1024) has the
// UUID or LABEL of spec ("UUID=..." or "LABEL=...").
bool ext_matches(const unsigned char* sb, std::string_view spec);

}  // namespace oxinit::vm
