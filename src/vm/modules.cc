#include "vm/modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"
#include "sys/eintr.h"
#include "sys/format.h"
#include "sys/lines.h"
#include "vm/boot.h"

namespace oxinit::vm {

Str module_name(std::string_view p) {
  p = p.substr(p.rfind('/') + 1);  // npos + 1 == 0
  Str out;
  for (char c : p.substr(0, p.find(".ko"))) out += c == '-' ? '_' : c;
  return out;
}

namespace {

// include/uapi/linux/module.h; a compressed module is only accepted with
// CONFIG_MODULE_DECOMPRESS (Linux 5.17+), which Debian 12's 6.1 lacks.
constexpr unsigned kCompressedFile = 4;  // MODULE_INIT_COMPRESSED_FILE
constexpr int kMaxDepth = 12;            // modules.dep chains are a few deep

class Modules {
 public:
  explicit Modules(const char* dir) : dir_(dir) {}

  // required: a failure is an ERROR line (a listed module and its
  // dependencies); else best effort, a DEBUG line (softdeps, alias candidates).
  bool load(std::string_view want, bool required, int depth) {
    Str name = module_name(want);
    char path[512];
    // /sys/module/NAME: loaded, or built in with parameters (sysfs-module(5)).
    format(path, sizeof path, "/sys/module/%s", name.c_str());
    if (depth > kMaxDepth || ::access(path, F_OK) == 0) return depth <= kMaxDepth;
    Str dep = find("modules.dep", 0, name, 0);
    if (dep.empty()) {
      if (!find("modules.builtin", 0, name, 0).empty()) return true;
      // "alias crypto-crc32c crc32c_intel", "... crc32c_generic": one of the
      // candidates loading is enough (under QEMU TCG only the generic one
      // does). Exact names only, no wildcard patterns.
      for (int nth = 0; nth < 8; nth++) {
        Str line = find("modules.alias", 1, name, nth);
        std::string_view rest = line;
        if (line.empty()) break;
        next_word(rest);
        next_word(rest);
        if (load(next_word(rest), false, depth + 1)) return true;
      }
      return fail(name, required, "not in modules.dep, modules.builtin or modules.alias", 0);
    }
    // "softdep ext4 pre: crypto-crc32c post: ...": best effort, first.
    Str soft = find("modules.softdep", 1, name, 0);
    std::string_view s = soft;
    next_word(s);
    next_word(s);
    for (std::string_view w = next_word(s); !w.empty() && w != "post:"; w = next_word(s))
      if (w != "pre:") load(w, false, depth + 1);
    // "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko ...": modprobe loads the
    // dependencies from the end of the list.
    std::string_view rest = dep;
    std::string_view ko = next_word(rest);
    ko.remove_suffix(1);
    std::string_view deps[32];
    size_t n = 0;
    for (std::string_view w = next_word(rest); !w.empty() && n < 32; w = next_word(rest)) deps[n++] = w;
    while (n > 0)
      if (!load(deps[--n], required, depth + 1)) return fail(name, required, "a dependency failed", 0);
    format(path, sizeof path, "%s/%.*s", dir_, static_cast<int>(ko.size()), ko.data());
    UniqueFd fd(retry_eintr([&] { return ::open(path, O_RDONLY | O_CLOEXEC); }));
    bool compressed = ko.substr(ko.size() - 3) != ".ko";
    if (!fd.valid()) return fail(name, required, path, errno);
    if (::syscall(SYS_finit_module, fd.get(), "", compressed ? kCompressedFile : 0) < 0 && errno != EEXIST) {
      bool why = compressed && (errno == EINVAL || errno == EOPNOTSUPP);
      return fail(name, required, why ? "compressed, and this kernel cannot decompress modules" : "finit_module", errno);
    }
    OX_DEBUG("vm: loaded module %s", name.c_str());
    return true;
  }

 private:
  const char* dir_;

  [[gnu::cold]] bool fail(const Str& name, bool required, const char* why, int err) {
    Level l = required ? Level::Error : Level::Debug;
    if (err) log_err(l, err, "unable to load module %s: %s", name.c_str(), why);
    else OX_LOG_AT(l, "vm: unable to load module %s: %s", name.c_str(), why);
    return false;
  }

  // The nth line of dir/file whose word number `word` names `name` (a path
  // such as "kernel/fs/ext4/ext4.ko:" counts by its module name).
  Str find(const char* file, int word, const Str& name, int nth) {
    char p[512];
    format(p, sizeof p, "%s/%s", dir_, file);
    LineReader r(p);
    std::string_view line;
    while (r.next(line)) {
      std::string_view rest = line;
      for (int k = 0; k < word; k++) next_word(rest);
      if (module_name(next_word(rest)).view() == name.view() && nth-- == 0) return line;
    }
    return {};
  }
};

}  // namespace

int load_modules(const std::vector<Str>& names, const char* dir) {
  char d[300];
  utsname u;
  ::uname(&u);
  format(d, sizeof d, "%s/modules.dep", dir ? dir : "/lib/modules/");
  if (!dir) format(d, sizeof d, "/lib/modules/%s/modules.dep", u.release);
  int failed = 0;
  for (const Str& n : names) {
    // depmod(8) writes modules.dep; a kernel package may ship without one.
    if (::access(d, R_OK) < 0) {
      log_err(Level::Error, 0, "unable to load module %s: %s", n.c_str(), d);
      failed++;
    }
  }
  if (failed) return failed;
  d[strlen(d) - 12] = 0;  // the directory
  Modules m(d);
  for (const Str& n : names) failed += !m.load(n, true, 0);
  return failed;
}

}  // namespace oxinit::vm
