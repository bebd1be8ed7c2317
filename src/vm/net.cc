#include "vm/net.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "sys/eintr.h"
#include "sys/fd.h"
#include "sys/format.h"
#include "sys/text.h"
#include "vm/boot.h"
#include "vm/kernel.h"

namespace oxinit::vm {

bool parse_cidr(std::string_view s, uint8_t* addr, int& prefix) {
  size_t slash = s.find('/');
  uint64_t p = 0;
  prefix = 0;
  if (slash == std::string_view::npos || !parse_uint(s.substr(slash + 1), 32, p)) return false;
  prefix = static_cast<int>(p);
  return parse_ipv4(s.substr(0, slash), addr);
}

namespace {

void add_nameserver(Str& resolv, std::string_view ip) {
  uint8_t a[4];
  if (!parse_ipv4(ip, a)) return;
  resolv += "nameserver ";
  resolv += ip;
  resolv += '\n';
}

}  // namespace

bool parse_ip_arg(std::string_view arg, NetConfig& out, const char** why) {
  std::string_view f[10];
  size_t n = 0;
  for (std::string_view s = arg; n < 10;) {
    size_t c = s.find(':');
    f[n++] = s.substr(0, c);
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  // A lone word is the autoconf method ("ip=off", "ip=dhcp").
  std::string_view autoconf = n > 6 ? f[6] : n == 1 && !parse_ipv4(f[0], out.addr) ? f[0] : "";
  bool off = autoconf == "off" || autoconf == "none";
  *why = off ? "off" : "needs a DHCP client, which oxinit does not have: use a static ip= or [init] network";
  if ((off && n == 1) || (!off && !autoconf.empty())) return false;
  *why = "no client address";
  if (!parse_ipv4(f[0], out.addr)) return false;
  uint8_t mask[4];
  if (n > 3 && parse_ipv4(f[3], mask)) {
    out.prefix = 0;  // a netmask is contiguous: its ones are the prefix
    for (int bit = 0; bit < 32; bit++) out.prefix += mask[bit / 8] >> (bit % 8) & 1;
  } else {  // classful, as the kernel's ipconfig does without a netmask
    out.prefix = out.addr[0] < 128 ? 8 : out.addr[0] < 192 ? 16 : 24;
  }
  if (n > 2) parse_ipv4(f[2], out.gateway);
  if (n > 4) out.hostname += f[4];  // out is fresh: appends, not temporaries
  if (n > 5) out.device += f[5];
  for (size_t k = 7; k < n && k < 9; k++) add_nameserver(out.resolv, f[k]);
  return true;
}

namespace {

// One rtnetlink request and its acknowledgement (rtnetlink(7), netlink(7)):
// the fixed part (ifinfomsg, ifaddrmsg or rtmsg, each a multiple of 4
// bytes), then, with the types a[0] and a[1], the 4-byte attributes v0 and
// v1. 0, or the kernel's errno.
int request(int nl, uint16_t type, uint16_t flags, const void* body, uint32_t n, const uint16_t* a = nullptr,
            const void* v0 = nullptr, const void* v1 = nullptr) {
  alignas(k::nlmsghdr) char buf[64] = {};
  auto* h = reinterpret_cast<k::nlmsghdr*>(buf);
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(flags | k::NLM_F_REQUEST | k::NLM_F_ACK);
  h->nlmsg_seq = 1;
  memcpy(h + 1, body, n);
  n += sizeof(k::nlmsghdr);
  const void* v[] = {v0, v1};
  for (int i = 0; a && i < 2; i++, n += 8) {
    auto* at = reinterpret_cast<k::rtattr*>(buf + n);
    at->rta_len = 8;
    at->rta_type = a[i];
    memcpy(at + 1, v[i], 4);
  }
  h->nlmsg_len = n;
  k::sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl, buf, n, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
  alignas(k::nlmsghdr) char ack[512] = {};
  ssize_t got = retry_eintr([&] { return ::recv(nl, ack, sizeof ack, 0); });
  if (got < 0) return errno;
  auto* r = reinterpret_cast<k::nlmsghdr*>(ack);
  if (got < static_cast<ssize_t>(sizeof(k::nlmsghdr) + sizeof(k::nlmsgerr)) || r->nlmsg_type != k::NLMSG_ERROR)
    return EPROTO;
  return -reinterpret_cast<k::nlmsgerr*>(r + 1)->error;
}

int link_up(int nl, unsigned idx) {
  k::ifinfomsg ifi{};
  ifi.ifi_index = static_cast<int>(idx);
  ifi.ifi_flags = ifi.ifi_change = IFF_UP;
  return request(nl, k::RTM_NEWLINK, 0, &ifi, sizeof ifi);
}

// An interface's index (0: none), asked with SIOCGIFINDEX (netdevice(7)) on
// any socket, the netlink one too. With an empty name, the first interface
// by name that is not lo ("eth0"), which then goes into name.
unsigned if_index(int fd, Str& name) {
  if (name.empty()) {
    DIR* d = ::opendir("/sys/class/net");
    while (dirent* e = d ? ::readdir(d) : nullptr) {
      std::string_view n = e->d_name;
      if (n[0] != '.' && n != "lo" && (name.empty() || n < name.view())) name = n;
    }
    if (d) ::closedir(d);
  }
  ifreq ifr{};
  if (name.size() >= sizeof ifr.ifr_name) return 0;
  memcpy(ifr.ifr_name, name.c_str(), name.size());
  return ::ioctl(fd, SIOCGIFINDEX, &ifr) < 0 ? 0 : static_cast<unsigned>(ifr.ifr_ifindex);
}

void apply(int nl, NetConfig& c) {
  unsigned idx = if_index(nl, c.device);
  int e = ENODEV;
  const char* step = "no such interface";
  if (idx && !(e = link_up(nl, idx))) {
    static constexpr uint16_t kAddr[] = {k::IFA_LOCAL, k::IFA_ADDRESS};
    k::ifaddrmsg ifa{AF_INET, static_cast<uint8_t>(c.prefix), 0, 0, idx};
    step = "address";
    e = c.addr[0] ? request(nl, k::RTM_NEWADDR, k::NLM_F_CREATE | k::NLM_F_REPLACE, &ifa, sizeof ifa, kAddr, c.addr,
                            c.addr)
                  : 0;
  }
  if (!e && c.gateway[0]) {
    static constexpr uint16_t kRoute[] = {k::RTA_GATEWAY, k::RTA_OIF};
    k::rtmsg rt{};
    rt.rtm_family = AF_INET;
    rt.rtm_table = k::RT_TABLE_MAIN;
    rt.rtm_protocol = k::RTPROT_BOOT;
    rt.rtm_type = k::RTN_UNICAST;
    step = "default route";
    e = request(nl, k::RTM_NEWROUTE, k::NLM_F_CREATE | k::NLM_F_REPLACE, &rt, sizeof rt, kRoute, c.gateway, &idx);
  }
  if (e) log_err(Level::Warn, e, "network: %s: %s", c.device.c_str(), step);
  if (c.resolv.empty()) return;
  // Only when /etc is writable (a read-only root keeps its own file).
  UniqueFd fd(::open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if ((fd.valid() || errno != EROFS) &&
      (!fd.valid() || ::write(fd.get(), c.resolv.c_str(), c.resolv.size()) != static_cast<ssize_t>(c.resolv.size())))
    log_err(Level::Warn, 0, "network: unable to write /etc/resolv.conf");
}

}  // namespace

Str configure_network(const NetworkSpec& spec) {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, k::kNetlinkRoute));
  Str lo = "lo";
  // The kernel gives lo 127.0.0.1/8 and ::1 when it comes up.
  if (int e = nl.valid() ? link_up(nl.get(), if_index(nl.get(), lo)) : errno) {
    log_err(Level::Warn, e, "unable to bring lo up");
    return {};
  }
  NetConfig c;
  const char* why = nullptr;
  if (const char* ip = ::getenv("ip")) {
    // With CONFIG_IP_PNP the kernel has done it and init never sees ip=.
    if (!parse_ip_arg(ip, c, &why)) {
      if (strcmp(why, "off") != 0) OX_WARN("vm: network: ip=%s: %s", ip, why);
      return {};
    }
  } else if (!spec.address.empty() || !spec.interface.empty()) {
    c.device = spec.interface;
    parse_cidr(spec.address, c.addr, c.prefix);  // checked by the schema
    parse_ipv4(spec.gateway, c.gateway);
    for (const Str& d : spec.dns) add_nameserver(c.resolv, d);
  } else {
    return {};
  }
  apply(nl.get(), c);
  return c.hostname;
}

}  // namespace oxinit::vm
