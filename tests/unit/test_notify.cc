#include <dirent.h>
#include <fcntl.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "notify.h"
#include "spawn.h"

using namespace oxinit;

TEST_CASE("sd_notify datagrams") {
  using M = NotifyMessage;
  NotifyMessage m;
  parse_notify("READY=1\nSTATUS=Processing requests...\nMAINPID=4242\n", m);
  CHECK(m.flags == M::kReady);
  CHECK(m.has_status);
  CHECK(m.status == "Processing requests...");

  parse_notify("STOPPING=1", m);
  CHECK(m.flags == M::kStopping);  // each datagram starts afresh
  CHECK_FALSE(m.has_status);
  parse_notify("WATCHDOG=1\nRELOADING=1\nMONOTONIC_USEC=123", m);
  CHECK(m.flags == (M::kWatchdog | M::kReloading));
  parse_notify("WATCHDOG=trigger", m);
  CHECK(m.flags == M::kWatchdogTrigger);

  // Junk is skipped line by line, as systemd does.
  parse_notify("READY=0\nREADY\n=1\nREADY=1 \n READY=1\nX=Y\n\n\n", m);
  CHECK(m.flags == 0);
  CHECK_FALSE(m.has_status);
  parse_notify("garbage\nREADY=1", m);
  CHECK(m.flags == M::kReady);
  parse_notify("STATUS=", m);
  CHECK(m.has_status);
  CHECK(m.status.empty());
  parse_notify("STATUS=a\nSTATUS=b", m);
  CHECK(m.status == "b");
  parse_notify(std::string_view("READY=1\0junk", 12), m);
  CHECK(m.flags == 0);  // "1\0junk" is not "1"
  parse_notify("", m);
  CHECK(m.flags == 0);
}

TEST_CASE("/proc/PID/stat fields") {
  ProcIds ids;
  REQUIRE(parse_proc_stat("123 (sh) S 1 123 120 0 -1 4194560 ...", ids));
  CHECK(ids.ppid == 1);
  CHECK(ids.pgrp == 123);
  CHECK(ids.session == 120);
  REQUIRE(parse_proc_stat("77 (a) b (c) R 5 6 7 8", ids));  // a name with ") "
  CHECK(ids.ppid == 5);
  CHECK(ids.session == 7);
  CHECK_FALSE(parse_proc_stat("77 (a) R 5 6", ids));
  CHECK_FALSE(parse_proc_stat("77 a R 5 6 7 8", ids));
  CHECK_FALSE(parse_proc_stat("77 (a) R x 6 7 8", ids));
  CHECK_FALSE(parse_proc_stat("", ids));
  CHECK_FALSE(parse_proc_stat("1 (a) S 1 99999999999 3 4", ids));  // past pid_t (fuzz)
  REQUIRE(read_proc_ids(getpid(), ids));
  CHECK(ids.ppid == getppid());
  CHECK(ids.pgrp == getpgrp());
  CHECK(ids.session == getsid(0));
  CHECK_FALSE(read_proc_ids(0x3fffffff, ids));
}

namespace {

bool wait_readable(int fd, int ms = 2000) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

int count_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

}  // namespace

TEST_CASE("notify socket: sender pid, any uid, passed fds, bounds") {
  NotifySocket s;
  REQUIRE(s.open());
  std::string addr = s.address();
  CHECK(addr.size() == 6);  // "@" and the five hex digits of autobind
  CHECK(addr[0] == '@');

  pid_t sender = 0;
  NotifyMessage m;
  CHECK_FALSE(s.receive(sender, m));  // nothing yet: no blocking
  REQUIRE(notify_send(s.address(), "READY=1\nSTATUS=up"));
  REQUIRE(wait_readable(s.fd()));
  REQUIRE(s.receive(sender, m));
  CHECK(sender == getpid());
  CHECK(m.uid == getuid());  // SCM_CREDENTIALS' uid, kept past parse_notify
  CHECK(m.flags == NotifyMessage::kReady);
  CHECK(m.status == "up");

  // A child under another uid (services run as any `user`).
  pid_t child = fork();
  if (child == 0) {
    if (geteuid() == 0 && syscall(SYS_setuid, 65534) < 0) _exit(3);
    _exit(notify_send(addr.c_str(), "READY=1").ok() ? 0 : 4);
  }
  int status;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(wait_readable(s.fd()));
  REQUIRE(s.receive(sender, m));
  CHECK(sender == child);
  CHECK(m.flags == NotifyMessage::kReady);

  // A descriptor passed along (FDSTORE=1) is closed, not kept.
  int before = count_fds();
  {
    int sv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, addr.data() + 1, addr.size() - 1);
    int passed = STDIN_FILENO;
    union {
      cmsghdr align;
      char buf[CMSG_SPACE(sizeof(int))];
    } ctl{};
    char text[] = "FDSTORE=1";
    iovec iov{text, sizeof text - 1};
    msghdr mh{};
    mh.msg_name = &a;
    mh.msg_namelen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr.size());
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passed, sizeof passed);
    REQUIRE(sendmsg(sv, &mh, 0) > 0);
    close(sv);
  }
  REQUIRE(wait_readable(s.fd()));
  REQUIRE(s.receive(sender, m));
  CHECK(m.flags == 0);
  CHECK(count_fds() == before);

  // A datagram larger than the buffer is dropped whole, the next one read.
  std::string big = "READY=1\nSTATUS=" + std::string(5000, 'x');
  REQUIRE(notify_send(s.address(), big));
  REQUIRE(notify_send(s.address(), "STOPPING=1"));
  REQUIRE(wait_readable(s.fd()));
  REQUIRE(s.receive(sender, m));
  CHECK(m.flags == NotifyMessage::kStopping);
  CHECK_FALSE(s.receive(sender, m));
}

TEST_CASE("notify_send: a path, an abstract name, junk") {
  char dir[] = "/tmp/oxinit-notify-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/sock";
  for (bool abstract : {false, true}) {
    int r = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string name = abstract ? "@oxinit-unit-" + std::to_string(getpid()) : path;
    memcpy(a.sun_path, name.data(), name.size());
    if (abstract) a.sun_path[0] = 0;
    REQUIRE(bind(r, reinterpret_cast<sockaddr*>(&a),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
    REQUIRE(notify_send(name.c_str(), "READY=1"));
    char buf[64];
    ssize_t n = recv(r, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(std::string(buf, n > 0 ? size_t(n) : 0) == "READY=1");
    close(r);
  }
  unlink(path.c_str());
  rmdir(dir);
  CHECK_FALSE(notify_send("relative/path", "READY=1"));
  CHECK_FALSE(notify_send("", "READY=1"));
  CHECK_FALSE(notify_send("@", "READY=1"));
  CHECK_FALSE(notify_send(("/" + std::string(200, 'a')).c_str(), "READY=1"));
  CHECK_FALSE(notify_send("/nonexistent/oxinit.sock", "READY=1"));
}

namespace {

// Spawns sh -c SCRIPT with the pipe's write end as fd `target`; returns the
// read end's final state once the child has exited.
FdReady run_with_ready_fd(const char* script, int target, bool write_end_on_target = false) {
  UniqueFd rd, wr;
  REQUIRE(ready_pipe(rd, wr) == 0);
  int w = wr.get();
  if (write_end_on_target) {
    REQUIRE(dup3(w, target, O_CLOEXEC) == target);
    w = target;
  }
  sigset_t mask;
  sigemptyset(&mask);
  const char* argv[] = {"/bin/sh", "-c", script, nullptr};
  const char* envp[] = {"PATH=/usr/bin:/bin", nullptr};
  SpawnRequest r;
  r.argv = const_cast<char* const*>(argv);
  r.envp = const_cast<char* const*>(envp);
  r.mask = &mask;
  r.new_session = true;
  r.ready_fd = w;
  r.ready_fd_target = target;
  auto res = spawn(r);
  REQUIRE(res.ok());
  wr.reset();
  if (write_end_on_target) close(target);
  int status;
  REQUIRE(waitpid(res->pid, &status, 0) == res->pid);
  CHECK(WEXITSTATUS(status) == 0);
  FdReady last = FdReady::Pending;
  for (int i = 0; i < 10 && last == FdReady::Pending; i++) last = read_ready_fd(rd.get());
  return last;
}

}  // namespace

TEST_CASE("s6 notification fd") {
  UniqueFd rd, wr;
  REQUIRE(ready_pipe(rd, wr) == 0);
  CHECK(read_ready_fd(rd.get()) == FdReady::Pending);  // never blocks
  CHECK(run_with_ready_fd("echo >&5", 5) == FdReady::Ready);
  CHECK(run_with_ready_fd("printf 'almost' >&5", 5) == FdReady::Closed);
  CHECK(run_with_ready_fd("printf 'up\\n' >&3", 3) == FdReady::Ready);
  CHECK(run_with_ready_fd("echo >&9", 9, true) == FdReady::Ready);  // no CLOEXEC left
  CHECK(run_with_ready_fd("true", 9) == FdReady::Closed);
}
