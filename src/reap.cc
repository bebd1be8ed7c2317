#include "reap.h"

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

}  // namespace oxinit
