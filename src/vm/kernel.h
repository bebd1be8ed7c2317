// The few kernel ABI definitions vm/* needs, copied from the uapi headers
// (linux/netlink.h, rtnetlink.h, if_addr.h, input.h, random.h): the musl
// build has no linux/ headers, and these are stable ABI.
#pragma once
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>

namespace oxinit::vm::k {

// netlink(7)
constexpr int kNetlinkRoute = 0;          // NETLINK_ROUTE
constexpr int kNetlinkUevent = 15;        // NETLINK_KOBJECT_UEVENT
struct sockaddr_nl {
  sa_family_t nl_family;
  unsigned short nl_pad;
  uint32_t nl_pid;
  uint32_t nl_groups;
};
struct nlmsghdr {
  uint32_t nlmsg_len;
  uint16_t nlmsg_type;
  uint16_t nlmsg_flags;
  uint32_t nlmsg_seq;
  uint32_t nlmsg_pid;
};
struct nlmsgerr {
  int error;
  nlmsghdr msg;
};
constexpr uint16_t NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_REPLACE = 0x100, NLM_F_CREATE = 0x400;
constexpr uint16_t NLMSG_ERROR = 2;
constexpr uint32_t nl_align(uint32_t n) { return (n + 3) & ~3u; }

// rtnetlink(7)
constexpr uint16_t RTM_NEWLINK = 16, RTM_NEWADDR = 20, RTM_NEWROUTE = 24;
struct rtattr {
  uint16_t rta_len;
  uint16_t rta_type;
};
struct ifinfomsg {
  unsigned char ifi_family;
  unsigned char pad;
  unsigned short ifi_type;
  int ifi_index;
  unsigned ifi_flags;
  unsigned ifi_change;
};
struct ifaddrmsg {
  uint8_t ifa_family;
  uint8_t ifa_prefixlen;
  uint8_t ifa_flags;
  uint8_t ifa_scope;
  uint32_t ifa_index;
};
struct rtmsg {
  unsigned char rtm_family, rtm_dst_len, rtm_src_len, rtm_tos;
  unsigned char rtm_table, rtm_protocol, rtm_scope, rtm_type;
  unsigned rtm_flags;
};
constexpr uint16_t IFA_ADDRESS = 1, IFA_LOCAL = 2;
constexpr uint16_t RTA_OIF = 4, RTA_GATEWAY = 5;
constexpr unsigned char RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RTN_UNICAST = 1;

// input: struct input_event (64-bit time), the key bits ioctl.
struct input_event {
  struct timeval time;
  uint16_t type;
  uint16_t code;
  int32_t value;
};
constexpr uint16_t EV_KEY = 1, KEY_POWER = 116;
constexpr unsigned KEY_MAX = 0x2ff;
// Requests as int: musl's ioctl() takes an int, glibc's an unsigned long;
// the kernel reads 32 bits either way.
constexpr int eviocgbit(unsigned ev, unsigned len) { return static_cast<int>(_IOC(_IOC_READ, 'E', 0x20 + ev, len)); }

// random(4)
constexpr int RNDADDENTROPY = static_cast<int>(_IOW('R', 0x03, int[2]));

static_assert(sizeof(nlmsghdr) == 16 && sizeof(ifinfomsg) == 16 && sizeof(ifaddrmsg) == 8 &&
              sizeof(rtmsg) == 12 && sizeof(sockaddr_nl) == 12);

}  // namespace oxinit::vm::k
