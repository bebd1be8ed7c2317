// fork/exec of one process. argv, envp and credentials are prepared by the
// caller before fork; the child makes only async-signal-safe calls, then exec.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <vector>

#include "spec.h"
#include "sys/fd.h"
#include "sys/result.h"

namespace oxinit {

struct SpawnRequest {
  char* const* argv = nullptr;  // argv[0] is searched in `path` (execvp rules)
  char* const* envp = nullptr;
  const char* path = nullptr;   // the PATH to search: the child's own, not oxinit's
  // {"/bin/sh", nullptr, argv[1..], nullptr}: for a file without a #! line
  // (ENOEXEC), run as execvp(3) does; the child fills in slot 1.
  const char** sh_argv = nullptr;
  int stdin_fd = -1;            // -1: inherit oxinit's
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool new_session = false;     // services: setsid(); main: setpgid(0, 0)
  bool take_terminal = false;   // main: tcsetpgrp(stdin) when it is a tty
  // With new_session: stdin (a VM's console) becomes the session's
  // controlling terminal (TIOCSCTTY), so a shell gets job control and ^C.
  bool controlling_tty = false;
  const sigset_t* mask = nullptr;  // restored in the child (oxinit's original)
  // Services start clean: no signal blocked or ignored, whatever oxinit
  // inherited (a shell's `&` ignores SIGINT and SIGQUIT, and a service must
  // still obey its stop_signal). The main command keeps what oxinit inherited.
  bool clean_signals = false;
  // vfork-style (see spawn.cc): cheapest for one start, but oxinit waits for
  // the exec; a burst of starts is quicker with fork, which does not wait,
  // unless fork itself proves slow here: then every start is vfork-style.
  bool share_memory = false;
  bool sigchld_was_ignored = false;
  // The directory of the service's cgroup (cgroup.h), -1 for none: the child
  // starts in it (clone3's CLONE_INTO_CGROUP, Linux 5.7; else it moves itself
  // before anything else). Such a child is never vfork-style: a move takes a
  // lock that may wait for an RCU grace period, and oxinit would wait too
  // (measured in the VM: 200 starts into groups with limits took longer so).
  int cgroup_fd = -1;
  // The s6 notification fd (notify.h ReadyPipe): ready_fd becomes fd
  // ready_fd_target (>= 3) in the child.
  int ready_fd = -1;
  int ready_fd_target = -1;
  // Credentials and limits (services only; the main command gets none).
  const ServiceSpec* spec = nullptr;
};

struct ExecFailure {
  int err = 0;                        // 0: the exec succeeded
  const char* step = nullptr;         // "exec", "chdir", "setuid", ...
};

struct SpawnResult {
  pid_t pid = -1;
  // After a fork: closes (EOF) when the child has exec'd, or carries the
  // errno and the failed step when it could not (the child then exits
  // 127/126/1). The caller reads it once readable, so starting many services
  // never waits for each exec in turn.
  UniqueFd report;
  // After a vfork-style start the outcome is known at once: `report` is
  // closed and this says whether the exec failed.
  ExecFailure failure;
};

// Returns the child's pid (also when exec failed: the status arrives through
// SIGCHLD as for any exit), or an Error when fork itself failed.
Result<SpawnResult> spawn(const SpawnRequest& req);

// Reads the report of a child (blocks until it exec'd or failed, which is at
// once when the fd is readable or the child has exited).
ExecFailure read_exec_report(int report_fd);

// tini's rule: ENOENT -> 127, EACCES -> 126, anything else -> 1.
int exec_failure_status(int err);

}  // namespace oxinit
