#include <doctest/doctest.h>

#include "reap.h"
#include "spawn.h"
#include "supervisor.h"

using namespace oxinit;

TEST_CASE("backoff doubles per consecutive failure up to the cap") {
  ServiceSpec s;
  s.restart_delay = 1000;
  s.restart_delay_max = 30000;
  CHECK(backoff_delay(s, 1) == 1000);
  CHECK(backoff_delay(s, 2) == 2000);
  CHECK(backoff_delay(s, 3) == 4000);
  CHECK(backoff_delay(s, 5) == 16000);
  CHECK(backoff_delay(s, 6) == 30000);
  CHECK(backoff_delay(s, 1000) == 30000);
  s.restart_delay = 0;  // never a busy loop
  CHECK(backoff_delay(s, 1) > 0);
  s.restart_delay = 5000;
  s.restart_delay_max = 1000;  // a cap below the delay: the delay wins
  CHECK(backoff_delay(s, 3) == 5000);
}

TEST_CASE("restart policies") {
  ServiceSpec s;
  s.restart = RestartPolicy::Always;
  CHECK(wants_restart(s, 0));
  CHECK(wants_restart(s, 1));
  s.restart = RestartPolicy::OnFailure;
  CHECK_FALSE(wants_restart(s, 0));
  CHECK(wants_restart(s, 143));
  s.restart = RestartPolicy::Never;
  CHECK_FALSE(wants_restart(s, 1));
}

TEST_CASE("status mapping") {
  CHECK(status_to_code(3 << 8) == 3);
  CHECK(status_to_code(SIGTERM) == 143);
  CHECK(status_to_code(SIGKILL) == 137);
  CHECK(exec_failure_status(ENOENT) == 127);
  CHECK(exec_failure_status(EACCES) == 126);
  CHECK(exec_failure_status(ENOTDIR) == 1);
  CHECK(std::string_view(state_name(State::Backoff)) == "backoff");
}

TEST_CASE("spawn reports exec errno and the child's status") {
  sigset_t mask;
  sigemptyset(&mask);
  const char* argv[] = {"/nonexistent/oxinit-test", nullptr};
  const char* envp[] = {nullptr};
  SpawnRequest r;
  r.argv = const_cast<char* const*>(argv);
  r.envp = const_cast<char* const*>(envp);
  r.mask = &mask;
  r.new_session = true;
  auto res = spawn(r);
  REQUIRE(res.ok());
  ExecFailure f = read_exec_report(res->report.get());
  CHECK(f.err == ENOENT);
  CHECK(std::string_view(f.step) == "exec");
  int status = 0;
  REQUIRE(waitpid(res->pid, &status, 0) == res->pid);
  CHECK(status_to_code(status) == 127);

  const char* ok_argv[] = {"sh", "-c", "exit 7", nullptr};
  r.argv = const_cast<char* const*>(ok_argv);
  auto ok = spawn(r);
  REQUIRE(ok.ok());
  CHECK(read_exec_report(ok->report.get()).err == 0);
  REQUIRE(waitpid(ok->pid, &status, 0) == ok->pid);
  CHECK(status_to_code(status) == 7);
}
