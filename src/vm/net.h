// Networking without ip(8) or a DHCP client: rtnetlink(7) requests for the
// kernel's ip= argument (which a kernel without CONFIG_IP_PNP, such as
// Debian's, hands to init in its environment) or [init] network. IPv4.
#pragma once
#include <cstdint>
#include <string_view>

#include "spec.h"
#include "sys/str.h"

namespace oxinit::vm {

// One interface's static set-up.
struct NetConfig {
  Str device;              // "": the first interface that is not lo
  uint8_t addr[4] = {};    // 0.0.0.0: no address
  int prefix = 0;
  uint8_t gateway[4] = {}; // 0.0.0.0: no default route
  Str resolv;              // "nameserver A\n...": /etc/resolv.conf
  Str hostname;            // from ip=
};

// ip=<client>:<server>:<gateway>:<netmask>:<hostname>:<device>:<autoconf>:
// <dns0>:<dns1>:<ntp0> (Documentation/admin-guide/nfs/nfsroot.rst). False
// with *why set when there is nothing static to apply (off, dhcp, junk). out
// is a fresh NetConfig. Pure.
bool parse_ip_arg(std::string_view arg, NetConfig& out, const char** why);

// "10.0.2.15/24" (parse_ipv4 in sys/str.h for the address alone). Pure.
bool parse_cidr(std::string_view s, uint8_t* addr, int& prefix);

// Brings lo up, then applies ip= from the environment or else
// [init] network. Failures are WARN lines. Returns ip='s hostname field.
Str configure_network(const NetworkSpec& spec);

}  // namespace oxinit::vm
