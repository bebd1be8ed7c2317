#include "reap.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string_view>

#include "sys/format.h"
#include "sys/str.h"

namespace oxinit {

int status_to_code(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1;
}

bool no_children_left() {
  siginfo_t info;
  info.si_pid = 0;
  // WNOWAIT: look without reaping, so the reaper still sees the exit.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

bool group_alive(pid_t pgid) { return pgid > 0 && (kill(-pgid, 0) == 0 || errno == EPERM); }

void sweep_leftovers(int sig, bool am_pid1) {
  if (am_pid1) {
    kill(-1, sig);
    if (sig != SIGKILL) kill(-1, SIGCONT);
    return;
  }
  char path[64];
  format(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(getpid()));  // main thread
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  pid_t self_pgrp = getpgrp();
  std::string_view rest(buf, static_cast<size_t>(n));
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    int64_t pid = 0;
    bool ok = parse_int(rest.substr(0, sp), pid);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (!ok || pid <= 0) continue;
    pid_t pg = getpgid(static_cast<pid_t>(pid));
    pid_t target = pg > 0 && pg != self_pgrp ? -pg : static_cast<pid_t>(pid);
    kill(target, sig);
    if (sig != SIGKILL) kill(target, SIGCONT);
  }
}

}  // namespace oxinit
