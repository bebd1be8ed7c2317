#include "vm/uevent.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "sys/eintr.h"
#include "vm/kernel.h"

namespace oxinit::vm {

UniqueFd uevent_socket() {
  UniqueFd s(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, k::kNetlinkUevent));
  k::sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = 1;  // the kernel's own group (udev re-broadcasts on 2)
  if (s.valid() && ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) s.reset();
  return s;
}

long uevent_read(int fd, char* buf, size_t cap) {
  for (;;) {
    k::sockaddr_nl from{};
    socklen_t len = sizeof from;
    ssize_t n = retry_eintr(
        [&] { return ::recvfrom(fd, buf, cap - 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len); });
    if (n < 0) return errno == ENOBUFS ? -1 : 0;
    // Only the kernel (port 0) speaks for devices; anything else is ignored.
    if (from.nl_pid != 0 || n == 0) continue;
    buf[n] = 0;
    return n;
  }
}

std::string_view uevent_get(std::string_view msg, const char* key) {
  size_t n = strlen(key);
  while (!msg.empty()) {
    size_t end = msg.find('\0');
    std::string_view field = msg.substr(0, end);
    if (field.size() > n && field[n] == '=' && memcmp(field.data(), key, n) == 0) return field.substr(n + 1);
    if (end == std::string_view::npos) break;
    msg.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace oxinit::vm
