#include "vm/power.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "log.h"
#include "sys/eintr.h"
#include "sys/format.h"
#include "sys/text.h"
#include "vm/boot.h"
#include "vm/kernel.h"
#include "vm/uevent.h"

namespace oxinit::vm {

void Power::attach(Loop& loop, uint64_t token) {
  loop_ = &loop;
  token_ = token;
  // The socket before the scan: a device that appears in between is seen
  // twice at worst (watch() skips it the second time), never missed.
  uevent_ = uevent_socket();
  if (uevent_.valid()) add(uevent_.get());
  scan();
}

void Power::add(int fd) {
  if (auto r = loop_->add(fd, EPOLLIN, token_ | static_cast<uint32_t>(fd)); !r)
    log_err(Level::Warn, r.error().err, "unable to watch for the power button");
}

void Power::scan() {
  DIR* d = ::opendir("/sys/class/input");
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    if (strncmp(e->d_name, "event", 5) == 0) watch("/dev/input/", e->d_name);
  }
  ::closedir(d);
}

void Power::watch(const char* dir, std::string_view name) {
  char path[300];
  format(path, sizeof path, "%s%.*s", dir, static_cast<int>(name.size()), name.data());
  UniqueFd fd(::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) < 0 || n_ == kMax) return;
  for (int i = 0; i < n_; i++)
    if (devs_[i] == st.st_rdev) return;
  // EVIOCGBIT(EV_KEY): which keys the device has (input-event-codes.h).
  unsigned char keys[k::KEY_MAX / 8 + 1] = {};
  if (::ioctl(fd.get(), k::eviocgbit(k::EV_KEY, sizeof keys), keys) < 0 ||
      !(keys[k::KEY_POWER / 8] & (1 << (k::KEY_POWER % 8))))
    return;
  OX_DEBUG("vm: watching %s for the power button", path);
  devs_[n_] = st.st_rdev;
  fds_[n_++] = fd.get();
  add(fd.release());
}

bool Power::on_readable(int fd) {
  if (fd == uevent_.get()) {
    char msg[2048];
    long n;
    while ((n = uevent_read(fd, msg, sizeof msg)) != 0) {
      if (n < 0) {
        scan();  // events were lost
        continue;
      }
      std::string_view m(msg, static_cast<size_t>(n));
      std::string_view dev = uevent_get(m, "DEVNAME");
      if (uevent_get(m, "ACTION") == "add" && has_prefix(dev, "input/event"))
        watch("/dev/", dev);
    }
    return false;
  }
  bool pressed = false;
  k::input_event ev[16];
  ssize_t n;
  while ((n = retry_eintr([&] { return ::read(fd, ev, sizeof ev); })) > 0) {
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof ev[0]; i++)
      pressed = pressed || (ev[i].type == k::EV_KEY && ev[i].code == k::KEY_POWER && ev[i].value == 1);
  }
  if (n < 0 && errno == ENODEV) {  // unplugged
    loop_->remove(fd);
    for (int i = 0; i < n_; i++) {
      if (fds_[i] != fd) continue;
      fds_[i] = fds_[--n_];
      devs_[i] = devs_[n_];
      ::close(fd);
      break;
    }
  }
  return pressed;
}

void disable_cad() {
  if (::reboot(RB_DISABLE_CAD) < 0) log_err(Level::Warn, 0, "unable to disable Ctrl-Alt-Del");
}

void power_off(FinalAction action) {
  ::sync();
  int cmd = static_cast<int>(action == FinalAction::Reboot ? RB_AUTOBOOT
                             : action == FinalAction::Halt ? RB_HALT_SYSTEM
                                                           : RB_POWER_OFF);
  ::reboot(cmd);
  OX_FATAL("vm: unable to %s: %s; staying alive",
           action == FinalAction::Reboot ? "reboot" : action == FinalAction::Halt ? "halt" : "power off",
           strerror(errno));
  // PID 1 must not exit (the kernel panics), so wait for signals forever and
  // keep reaping what gets reparented to us.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&all, &si) == SIGCHLD)
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
  }
}

}  // namespace oxinit::vm
