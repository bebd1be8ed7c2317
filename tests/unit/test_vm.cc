// microVM helpers that need no kernel: the parsers behind modules, ip=, the
// root switch, mount options, ext superblocks, uevents and line reading.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "sys/lines.h"
#include "vm/modules.h"
#include "vm/mounts.h"
#include "vm/net.h"
#include "vm/root.h"
#include "vm/uevent.h"

using namespace oxinit;
using namespace oxinit::vm;

TEST_CASE("module names: path or name, suffixes cut, dashes are underscores") {
  CHECK(module_name("kernel/fs/ext4/ext4.ko").view() == "ext4");
  CHECK(module_name("kernel/fs/ext4/ext4.ko:").view() == "ext4");
  CHECK(module_name("arch/x86/crypto/crc32c-intel.ko.xz").view() == "crc32c_intel");
  CHECK(module_name("crypto-crc32c").view() == "crypto_crc32c");
  CHECK(module_name("virtio_blk").view() == "virtio_blk");
}

TEST_CASE("modules: a missing modules.dep is an error per listed module") {
  char dir[] = "/tmp/oxinit-mod-XXXXXX";
  REQUIRE(mkdtemp(dir));
  CHECK(load_modules({"a", "b"}, dir) == 2);
  CHECK(load_modules({}, dir) == 0);
  std::string dep = std::string(dir) + "/modules.dep";
  FILE* f = fopen(dep.c_str(), "w");
  REQUIRE(f);
  fputs("kernel/x/other.ko:\n", f);
  fclose(f);
  for (const char* name : {"modules.builtin", "modules.alias", "modules.softdep"}) {
    std::string p = std::string(dir) + "/" + name;
    FILE* g = fopen(p.c_str(), "w");
    REQUIRE(g);
    fclose(g);
  }
  // Not in any index: nothing is loaded, the failure is counted.
  CHECK(load_modules({"no_such_module_oxinit"}, dir) == 1);
  for (const char* name : {"modules.dep", "modules.builtin", "modules.alias", "modules.softdep"})
    unlink((std::string(dir) + "/" + name).c_str());
  rmdir(dir);
}

TEST_CASE("ip=: every field, the classful default, off and dhcp") {
  NetConfig c;
  const char* why = nullptr;
  REQUIRE(parse_ip_arg("10.0.2.15::10.0.2.2:255.255.255.0:vmhost:eth0:off:10.0.2.3:1.1.1.1:", c, &why));
  CHECK(c.addr[0] == 10);
  CHECK(c.addr[3] == 15);
  CHECK(c.prefix == 24);
  CHECK(c.gateway[0] == 10);
  CHECK(c.gateway[3] == 2);
  CHECK(c.hostname.view() == "vmhost");
  CHECK(c.device.view() == "eth0");
  CHECK(c.resolv.view() == "nameserver 10.0.2.3\nnameserver 1.1.1.1\n");

  NetConfig d;
  REQUIRE(parse_ip_arg("192.168.1.9", d, &why));
  CHECK(d.prefix == 24);
  CHECK(d.gateway[0] == 0);
  CHECK(d.device.empty());
  NetConfig e;
  REQUIRE(parse_ip_arg("10.1.2.3:::255.255.0.0", e, &why));
  CHECK(e.prefix == 16);

  NetConfig x;
  CHECK_FALSE(parse_ip_arg("off", x, &why));
  CHECK(std::string(why) == "off");
  CHECK_FALSE(parse_ip_arg("dhcp", x, &why));
  CHECK(std::string(why).find("DHCP") != std::string::npos);
  CHECK_FALSE(parse_ip_arg("::::::dhcp", x, &why));
  CHECK_FALSE(parse_ip_arg("10.0.2.15:::::eth0:dhcp", x, &why));
  CHECK_FALSE(parse_ip_arg("not-an-address::", x, &why));
  CHECK(std::string(why) == "no client address");
}

TEST_CASE("IPv4 CIDR") {
  uint8_t a[4];
  int p = 0;
  CHECK(parse_cidr("10.0.2.15/24", a, p));
  CHECK(p == 24);
  CHECK(parse_cidr("10.0.2.15/0", a, p));
  for (const char* bad : {"10.0.2.15", "10.0.2.15/33", "10.0.2.15/", "10.0.2.15/x", "/24", "fd00::1/64"})
    CHECK_MESSAGE(!parse_cidr(bad, a, p), bad);
}

TEST_CASE("kernel command line: root words up to --, quotes, ro/rw") {
  RootArgs a;
  parse_cmdline("console=ttyS0 root=UUID=3b8a rootfstype=ext4,xfs rootflags=noatime rw rootwait "
                "init=/sbin/init quiet -- root=/dev/other ro\n",
                a);
  CHECK(a.root == "UUID=3b8a");
  CHECK(a.fstype == "ext4,xfs");
  CHECK(a.flags == "noatime");
  CHECK(a.init == "/sbin/init");
  CHECK(a.rw);
  CHECK(a.rootwait);
  RootArgs b;
  parse_cmdline("root=\"LABEL=my disk\" rw ro", b);
  CHECK(b.root == "LABEL=my disk");
  CHECK_FALSE(b.rw);
  CHECK_FALSE(b.rootwait);
  RootArgs c;
  parse_cmdline("rootwaitx root rootfstype", c);
  CHECK(c.root.empty());
  CHECK_FALSE(c.rootwait);
}

TEST_CASE("root filesystem types: rootfstype= lists and /proc/filesystems") {
  std::string_view list = "ext4,xfs";
  CHECK(next_fstype(list) == "ext4");
  CHECK(next_fstype(list) == "xfs");
  CHECK(next_fstype(list).empty());
  std::string_view procfs = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text2\nnodev\tproc\n\text4\n";
  std::string got;
  for (std::string_view t = next_fstype(procfs); !t.empty(); t = next_fstype(procfs)) got += std::string(t) + " ";
  CHECK(got == "ext3 ext2 ext4 ");
  std::string_view none = "nodev\tsysfs\n";
  CHECK(next_fstype(none).empty());
}

TEST_CASE("mount options: flags the kernel knows, the rest as data") {
  unsigned long flags = 0;
  Str data;
  mount_options("ro,noatime,size=64m,nosuid,,mode=1777", flags, data);
  CHECK(flags == (MS_RDONLY | MS_NOATIME | MS_NOSUID));
  CHECK(data.view() == "size=64m,mode=1777");
  flags = MS_RDONLY;
  data = "";
  mount_options("rw,defaults,rbind", flags, data);
  CHECK(flags == (MS_BIND | MS_REC));
  CHECK(data.empty());
}

TEST_CASE("mountinfo and /proc/swaps escapes") {
  CHECK(unescape_octal("/mnt/my\\040disk").view() == "/mnt/my disk");
  CHECK(unescape_octal("/a\\011b\\134c").view() == "/a\tb\\c");
  CHECK(unescape_octal("/plain").view() == "/plain");
  CHECK(unescape_octal("/end\\04").view() == "/end\\04");
}

TEST_CASE("ext superblocks: UUID (any case) and LABEL") {
  unsigned char sb[1024] = {};
  const unsigned char uuid[16] = {0x3b, 0x8a, 0x0a, 0x9e, 0x6a, 0x3c, 0x4b, 0x7e,
                                  0x9a, 0x55, 0x0c, 0x8d, 0x2f, 0x6f, 0x1a, 0x01};
  memcpy(sb + 0x68, uuid, 16);
  memcpy(sb + 0x78, "oxroot", 6);
  CHECK_FALSE(ext_matches(sb, "LABEL=oxroot"));  // no magic yet
  sb[0x38] = 0x53;
  sb[0x39] = 0xEF;
  CHECK(ext_matches(sb, "LABEL=oxroot"));
  CHECK_FALSE(ext_matches(sb, "LABEL=oxroo"));
  CHECK_FALSE(ext_matches(sb, "LABEL=oxroot2"));
  CHECK(ext_matches(sb, "UUID=3b8a0a9e-6a3c-4b7e-9a55-0c8d2f6f1a01"));
  CHECK(ext_matches(sb, "UUID=3B8A0A9E-6A3C-4B7E-9A55-0C8D2F6F1A01"));
  CHECK_FALSE(ext_matches(sb, "UUID=3b8a0a9e-6a3c-4b7e-9a55-0c8d2f6f1a02"));
  CHECK_FALSE(ext_matches(sb, "UUID=3b8a0a9e-6a3c-4b7e-9a55-0c8d2f6f1a"));
  CHECK_FALSE(ext_matches(sb, "UUID=3b8a0a9e-6a3c-4b7e-9a55-0c8d2f6f1a0100"));
  CHECK_FALSE(ext_matches(sb, "PARTUUID=3b8a0a9e"));
  memcpy(sb + 0x78, "sixteen-chars-xx", 16);  // s_volume_name has no NUL when full
  CHECK(ext_matches(sb, "LABEL=sixteen-chars-xx"));
}

TEST_CASE("uevent fields") {
  const char msg[] = "add@/devices/input3/event3\0ACTION=add\0SUBSYSTEM=input\0DEVNAME=input/event3\0SEQNUM=9";
  std::string_view m(msg, sizeof msg - 1);
  CHECK(uevent_get(m, "ACTION") == "add");
  CHECK(uevent_get(m, "DEVNAME") == "input/event3");
  CHECK(uevent_get(m, "SEQNUM") == "9");
  CHECK(uevent_get(m, "DEV").empty());
  CHECK(uevent_get(m, "MAJOR").empty());
}

TEST_CASE("line reader: lines, a last line without newline, an overlong line skipped") {
  char path[] = "/tmp/oxinit-lines-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text = "one\n\ntwo words\n" + std::string(20000, 'x') + "\nthree\nfour";
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  LineReader r(path);
  REQUIRE(r.ok());
  std::string_view line;
  std::string got;
  while (r.next(line)) got += std::string(line) + "|";
  CHECK(got == "one||two words|three|four|");
  std::string_view s = "  a\tbb  c ";
  CHECK(next_word(s) == "a");
  CHECK(next_word(s) == "bb");
  CHECK(next_word(s) == "c");
  CHECK(next_word(s).empty());
  unlink(path);
  CHECK_FALSE(LineReader(path).ok());
}
