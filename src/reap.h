// Draining exited children: SIGCHLDs merge, so one signal may stand for many
// exits; waitpid(-1, WNOHANG) runs until nothing is left (bubblewrap's
// monitor_child comment).
#pragma once
#include <sys/types.h>

namespace oxinit {

struct ChildExit {
  pid_t pid;
  int status;  // as from waitpid
};

// Calls on_exit(ctx, exit) for every child that has exited; returns how many.
// Stops at 0 (children remain, none exited) or ECHILD (no children at all).
template <class F>
int reap_all(F on_exit);

// 128+N for a signal death, the exit status otherwise.
int status_to_code(int status);

// True when oxinit has no children left at all (waitpid says ECHILD).
bool no_children_left();

// True while any process is left in process group pgid.
bool group_alive(pid_t pgid);

// The sweep of leftovers once the services are down, with sig (then SIGCONT
// unless it is SIGKILL): as PID 1 everyone in the namespace (kill(-1) spares
// the caller: kill(2)); as a subreaper, the groups of our remaining children.
void sweep_leftovers(int sig, bool am_pid1);

}  // namespace oxinit

#include <sys/wait.h>

#include <cerrno>

namespace oxinit {
template <class F>
int reap_all(F on_exit) {
  int n = 0;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      n++;
      on_exit(ChildExit{pid, status});
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    return n;  // 0: none ready; ECHILD: none at all (any other error: same)
  }
}
}  // namespace oxinit
