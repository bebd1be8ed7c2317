#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "reap.h"
#include "sys/format.h"
#include "spawn.h"
#include "supervisor.h"

using namespace oxinit;

TEST_CASE("kDefaultLogBuffer is InitSpec's default log_buffer") { CHECK(InitSpec().log_buffer == kDefaultLogBuffer); }

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

// A start that did not ask to share memory forks, and reports through the
// pipe; once a fork has proven slow in this process, it is vfork-style too
// (spawn.cc, g_fork_is_slow) and the outcome comes with the result.
static ExecFailure outcome(const SpawnResult& r) {
  return r.report.valid() ? read_exec_report(r.report.get()) : r.failure;
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
  ExecFailure f = outcome(*res);
  CHECK(f.err == ENOENT);
  CHECK(std::string_view(f.step) == "exec");
  int status = 0;
  REQUIRE(waitpid(res->pid, &status, 0) == res->pid);
  CHECK(status_to_code(status) == 127);

  const char* ok_argv[] = {"sh", "-c", "exit 7", nullptr};
  r.argv = const_cast<char* const*>(ok_argv);
  auto ok = spawn(r);
  REQUIRE(ok.ok());
  CHECK(outcome(*ok).err == 0);
  REQUIRE(waitpid(ok->pid, &status, 0) == ok->pid);
  CHECK(status_to_code(status) == 7);
}

// The vfork-style path (CLONE_VM | CLONE_VFORK) that starts the main command
// and every restart: the outcome is known when spawn() returns.
// Sanitized builds always fork (spawn.cc, kSanitized): there the failure
// comes through the report pipe, which the fork-path tests cover.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kForkOnly = true;
#else
constexpr bool kForkOnly = false;
#endif
TEST_CASE("spawn sharing memory: exec failure known at once, status through waitpid" * doctest::skip(kForkOnly)) {
  sigset_t mask;
  sigemptyset(&mask);
  const char* envp[] = {nullptr};
  SpawnRequest r;
  r.envp = const_cast<char* const*>(envp);
  r.mask = &mask;
  r.share_memory = true;
  const char* bad[] = {"/nonexistent/oxinit-test", nullptr};
  r.argv = const_cast<char* const*>(bad);
  auto res = spawn(r);
  REQUIRE(res.ok());
  CHECK_FALSE(res->report.valid());
  CHECK(res->failure.err == ENOENT);
  int status = 0;
  REQUIRE(waitpid(res->pid, &status, 0) == res->pid);
  CHECK(status_to_code(status) == 127);

  const char* ok_argv[] = {"sh", "-c", "exit 9", nullptr};
  r.argv = const_cast<char* const*>(ok_argv);
  r.path = "/nonexistent:/usr/bin:/bin";
  auto ok = spawn(r);
  REQUIRE(ok.ok());
  CHECK(ok->failure.err == 0);
  REQUIRE(waitpid(ok->pid, &status, 0) == ok->pid);
  CHECK(status_to_code(status) == 9);
}

TEST_CASE("spawn searches the given PATH, not oxinit's, and runs a script without #! with /bin/sh") {
  char dir[] = "/tmp/oxinit-unit-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string script = std::string(dir) + "/only-here";
  FILE* f = fopen(script.c_str(), "w");
  REQUIRE(f);
  fputs("exit 42\n", f);  // no #!: execve says ENOEXEC
  fclose(f);
  chmod(script.c_str(), 0755);
  sigset_t mask;
  sigemptyset(&mask);
  const char* envp[] = {nullptr};
  const char* argv[] = {"only-here", nullptr};
  const char* sh_argv[] = {"/bin/sh", nullptr, nullptr};
  std::string path = std::string("/nonexistent:") + dir;
  for (bool shared : {false, true}) {
    SpawnRequest r;
    r.argv = const_cast<char* const*>(argv);
    r.envp = const_cast<char* const*>(envp);
    r.mask = &mask;
    r.path = path.c_str();
    r.sh_argv = sh_argv;
    r.share_memory = shared;
    auto res = spawn(r);
    REQUIRE(res.ok());
    int status = 0;
    REQUIRE(waitpid(res->pid, &status, 0) == res->pid);
    CHECK(status_to_code(status) == 42);
    r.path = "/nonexistent";  // not found there: 127, whatever oxinit's own PATH has
    auto miss = spawn(r);
    REQUIRE(miss.ok());
    REQUIRE(waitpid(miss->pid, &status, 0) == miss->pid);
    CHECK(status_to_code(status) == 127);
    r.path = path.c_str();
  }
  unlink(script.c_str());
  rmdir(dir);
}

TEST_CASE("durations print as a person writes them") {
  char b[24];
  CHECK(std::string_view(format_duration(b, 0)) == "0ms");
  CHECK(std::string_view(format_duration(b, 250)) == "250ms");
  CHECK(std::string_view(format_duration(b, 1000)) == "1s");
  CHECK(std::string_view(format_duration(b, 1500)) == "1.5s");
  CHECK(std::string_view(format_duration(b, 1050)) == "1.05s");
  CHECK(std::string_view(format_duration(b, 1001)) == "1.001s");
  CHECK(std::string_view(format_duration(b, 60000)) == "60s");
  CHECK(std::string_view(format_duration(b, 90000)) == "90s");
}

TEST_CASE("signal meaning: a stop signal is a shutdown unless a running main command takes it") {
  SignalContext svc;
  CHECK(signal_meaning(SIGTERM, svc) == SignalMeaning::Shutdown);
  CHECK(signal_meaning(SIGHUP, svc) == SignalMeaning::Reload);
  CHECK(signal_meaning(SIGUSR1, svc) == SignalMeaning::ForwardAll);
  CHECK(signal_meaning(SIGCHLD, svc) == SignalMeaning::Reap);
  SignalContext waiting;
  waiting.has_main = true;
  CHECK(signal_meaning(SIGTERM, waiting) == SignalMeaning::Shutdown);
  CHECK(signal_meaning(SIGINT, waiting) == SignalMeaning::Shutdown);
  CHECK(signal_meaning(SIGUSR1, waiting) == SignalMeaning::Unrouted);
  SignalContext running = waiting;
  running.main_running = true;
  CHECK(signal_meaning(SIGTERM, running) == SignalMeaning::ForwardMain);
  CHECK(signal_meaning(SIGHUP, running) == SignalMeaning::ForwardMain);
  SignalContext vm = running;
  vm.vm = true;
  CHECK(signal_meaning(SIGTERM, vm) == SignalMeaning::Shutdown);
  CHECK(signal_meaning(SIGUSR2, vm) == SignalMeaning::Shutdown);
  CHECK(signal_meaning(SIGWINCH, vm) == SignalMeaning::ForwardMain);
}
