// oxinit: argv + env -> Options; Options + config files -> Plan; run().
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "cli.h"
#include "config/schema.h"
#include "ctl/client.h"
#include "ctl/server.h"
#include "log.h"
#include "sys/format.h"
#include "plan.h"
#include "signals.h"
#include "supervisor.h"
#include "vm/boot.h"

namespace oxinit {
namespace {

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = write(fd, s.data(), s.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s.remove_prefix(static_cast<size_t>(w));
  }
}

const char* base_name(const char* a0) {
  if (!a0) return "oxinit";
  const char* slash = std::strrchr(a0, '/');
  return slash ? slash + 1 : a0;
}

// MicroVM mode mounts, sets the hostname and ends in reboot(): on a process
// that is not PID 1 it would power off the host of whoever tried a VM
// config with sudo.
[[gnu::cold, gnu::noinline]] int not_pid1(const char* what) {
  OX_FATAL("%s needs oxinit to be PID 1 (of the machine, or of a PID namespace); it is pid %d", what,
           static_cast<int>(getpid()));
  return 1;
}

// The usage (on stderr after an error, then its line first); the exit code.
[[gnu::noinline]] int usage(bool error, const char* name, std::string_view line = {}) {
  Str out;
  if (!line.empty()) {
    out += line;
    out += "\n";
  }
  out += usage_text(name);
  write_all(error ? STDERR_FILENO : STDOUT_FILENO, out);
  return error;
}

// Loads the config files (given, or the defaults when they exist) into a plan.
Result<void, ConfigError> read_plan(const Options& o, Plan& plan) {
  std::vector<Str> defaults;
  if (!o.config_given) defaults = default_config_files(o.root);
  const std::vector<Str>& files = o.config_given ? o.config_files : defaults;
  Config config{};
  if (!files.empty()) {
    if (auto r = load_config(files, config, o.root); !r) return r;
  }
  if (auto r = make_plan(config, plan); !r) return r;
  // -G (or OXINIT_GRACE) overrides the config's shutdown_timeout.
  if (o.grace_set) plan.init.shutdown_timeout = o.grace;
  if (o.vm != VmMode::Auto) plan.init.vm = o.vm;
  // The rest of the command line the engine needs, so it never reads Options.
  plan.run.kill_timeout = o.kill_timeout;
  plan.run.kill_group = o.kill_group;
  plan.run.warn_reap = o.warn_reap;
  plan.run.rewrite = o.rewrite;
  return {};
}

bool load_plan(const Options& o, Plan& plan) {
  auto r = read_plan(o, plan);
  if (!r) OX_FATAL("%s", r.error().format().c_str());
  return r.ok();
}

// A reload (`oxinit ctl reload`, SIGHUP): the same files, the same command line.
Result<void, ConfigError> reload_plan(void* ctx, Plan& plan) {
  const Options& o = *static_cast<const Options*>(ctx);
  auto r = read_plan(o, plan);
  if (r && !o.command.empty()) add_main_command(plan, o.command);
  return r;
}

void print_order(const Plan& plan) {
  Str out;
  for (int i : plan.order) {
    const ServiceSpec& s = plan.services[static_cast<size_t>(i)];
    out += s.name;
    if (s.type == ServiceType::Oneshot) out += " (oneshot)";
    const char* sep = " after ";
    for (int d : plan.deps[static_cast<size_t>(i)]) {
      out += sep;
      out += plan.services[static_cast<size_t>(d)].name;
      sep = " ";
    }
    out += "\n";
  }
  for (const Str& d : plan.disabled) {
    out += d;
    out += " (disabled: `after` it is satisfied)\n";
  }
  write_all(STDOUT_FILENO, out);
}

int run(int argc, char** argv) {
  const char* name = base_name(argc > 0 ? argv[0] : nullptr);
  // The control client: `oxinitctl ...` or `oxinit ctl ...` (tini would run
  // a program named ctl: `oxinit -- ctl` does).
  if (!std::strcmp(name, "oxinitctl")) return ctl::client_main(argc - 1, argv + 1, environ);
  if (argc > 1 && !std::strcmp(argv[1], "ctl")) return ctl::client_main(argc - 2, argv + 2, environ);
  CliOutcome cli = parse_cli(argc, argv, environ);
  Options& o = cli.options;
  if (cli.action == CliAction::ValueError) {
    OX_FATAL("%s", cli.message.c_str());
    return 1;
  }
  if (cli.action == CliAction::Version || cli.action == CliAction::License) {
    write_all(STDOUT_FILENO, cli.action == CliAction::Version ? kVersionLine : kLicenseText);
    return 0;
  }
  if (cli.action == CliAction::Help) return usage(false, name);
  if (cli.action == CliAction::UsageError) return usage(true, name, cli.message);
  set_verbosity(o.verbosity);

  // Forced VM mode: refuse before touching anything.
  if (cli.action == CliAction::Run && o.vm == VmMode::On && getpid() != 1) return not_pid1("--vm");
  // Detect the VM case first: detect() mounts /proc if the kernel left none.
  // The config files need nothing else mounted (they are in the image's root).
  bool vm_mode = cli.action == CliAction::Run && vm::detect(o.vm);

  Plan plan{};
  if (!load_plan(o, plan)) {
    if (vm_mode) vm::finish(FinalAction::Poweroff);
    return 1;
  }
  if (cli.action == CliAction::Check) {
    for (const Str& w : unreadable_env_files(plan.services, o.root)) OX_WARN("%s", w.c_str());
    print_order(plan);
    return 0;
  }
  // `[init] vm` decides when the command line did not (detect() has mounted
  // /proc if it had to; boot() mounts the rest either way).
  if (o.vm == VmMode::Auto && plan.init.vm != VmMode::Auto) vm_mode = plan.init.vm == VmMode::On;
  if (vm_mode && getpid() != 1) return not_pid1("[init] vm = \"on\"");
  // A VM's initramfs may have nothing to run but a root to switch to: it is
  // checked after the boot.
  if (o.command.empty() && plan.services.empty() && !vm_mode) return usage(true, name);
  // Service mode: oxinit's own NOTIFY_SOCKET is for oxinit (READY=1 once
  // its services are), never for a service, which would say "ready" for the
  // whole container too early. Exec mode passes it through, as tini does.
  if (!plan.services.empty()) {
    if (const char* ns = getenv("NOTIFY_SOCKET")) {
      plan.run.notify_socket = ns;
      unsetenv("NOTIFY_SOCKET");
    }
  }
  if (!o.command.empty()) add_main_command(plan, o.command);

  SignalSetup signals{};
  if (auto r = setup_signals(signals); !r) {
    OX_FATAL("unable to set up signals: %s: %s", r.error().what, strerror(r.error().err));
    if (vm_mode) vm::finish(FinalAction::Poweroff);  // a VM's PID 1 must not exit
    return 1;
  }
  if (o.pdeath_signal && prctl(PR_SET_PDEATHSIG, o.pdeath_signal) < 0) {
    OX_FATAL("Failed to set up parent death signal");
    return 1;
  }
  // Not PID 1: become a subreaper by ourselves, so orphans are re-parented
  // to oxinit and reaped (prctl(2), PR_SET_CHILD_SUBREAPER).
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    if (o.subreaper) {
      OX_FATAL("Failed to register as child subreaper: %s", strerror(errno));
      return 1;
    }
    OX_WARN("unable to register as a child subreaper: %s; orphans will not be reaped",
            strerror(errno));
  }
  if (vm_mode) {
    bool booted = vm::boot(plan.init, argv, signals.original_mask);  // may exec the disk's init
    if (booted && plan.services.empty()) OX_FATAL("nothing to run: no command and no services in /etc/oxinit.toml");
    if (!booted || plan.services.empty()) vm::finish(FinalAction::Poweroff);
  }

  Supervisor sup(plan, signals, vm_mode);
  sup.set_loader(reload_plan, &o);
  // The control socket: in service mode, or where [init] control_socket
  // names one; never in plain exec mode (tini's job needs none).
  const Str& where = plan.init.control_socket;
  bool services = plan.services.size() > (o.command.empty() ? 0 : 1);
  ctl::Server* server = nullptr;
  if (where != "none" && (services || !where.empty())) {
    server = new ctl::Server(sup, where);
    sup.set_source(server);
  }
  RunOutcome out = sup.run();
  delete server;
  int code = final_exit_code(o, out.exit_code);
  if (vm_mode) {
    char line[96];
    size_t n = format(line, sizeof line, "oxinit: %s exited with status %d\n",
                     o.command.empty() ? "services" : "main command", out.exit_code);
    write_all(STDERR_FILENO, std::string_view(line, n));
    vm::finish(out.action);
  }
  return code;
}

}  // namespace
}  // namespace oxinit

int main(int argc, char** argv) { return oxinit::run(argc, argv); }
