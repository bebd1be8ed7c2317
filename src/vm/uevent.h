// The kernel's device events (NETLINK_KOBJECT_UEVENT, the socket udev reads):
// how oxinit learns that a device appeared without polling for it.
#pragma once
#include <cstddef>
#include <string_view>

#include "sys/fd.h"

namespace oxinit::vm {

// A non-blocking socket on the kernel's uevent group (invalid on error).
UniqueFd uevent_socket();

// One message from the kernel into buf: "add@/devices/...\0ACTION=add\0
// SUBSYSTEM=input\0DEVNAME=input/event3\0...". Returns its length; 0 when
// nothing is pending; -1 when messages were lost (ENOBUFS): rescan.
long uevent_read(int fd, char* buf, size_t cap);

// The value of KEY in such a message ("" when absent). Pure.
std::string_view uevent_get(std::string_view msg, const char* key);

}  // namespace oxinit::vm
