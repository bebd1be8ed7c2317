// Kernel modules for a microVM: finit_module(2) from /lib/modules/$(uname -r)
// with what modprobe would also load (modules.dep dependencies, modules.softdep
// "pre:" entries, modules.alias names), without modprobe.
#pragma once
#include <string_view>
#include <vector>

#include "sys/str.h"

namespace oxinit::vm {

// Loads each of names (a module name or an alias) and what it needs. A module
// already loaded or built in is skipped. A name that fails is an ERROR line
// naming it; the others are still loaded. Returns the number that failed.
int load_modules(const std::vector<Str>& names, const char* dir = nullptr);

// "kernel/fs/ext4/ext4.ko" -> "ext4", "crc32c-intel.ko.xz" -> "crc32c_intel":
// the name the kernel uses ('-' and '_' are the same to it). Pure.
Str module_name(std::string_view path_or_name);

}  // namespace oxinit::vm
