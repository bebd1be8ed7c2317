#include "env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace oxinit {

namespace {

// "KEY=" (with its '=') and a value into env, replacing an entry with the
// same key.
void put(std::vector<Str>& env, std::string_view key, std::string_view value) {
  Str kv(key);
  kv += value;
  for (Str& e : env) {
    if (e.view().substr(0, key.size()) == key) {
      e = static_cast<Str&&>(kv);
      return;
    }
  }
  env.push_back(static_cast<Str&&>(kv));
}

}  // namespace

void set_env(std::vector<Str>& env, std::string_view kv) {
  size_t eq = kv.find('=');
  if (eq != std::string_view::npos) put(env, kv.substr(0, eq + 1), kv.substr(eq + 1));
}

const char* find_env(const std::vector<Str>& env, std::string_view key) {
  for (const Str& e : env) {
    std::string_view v = e.view();
    if (v.size() > key.size() && v[key.size()] == '=' && v.substr(0, key.size()) == key) {
      return e.c_str() + key.size() + 1;
    }
  }
  return nullptr;
}

int read_env_file(const char* path, std::vector<Str>& env) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  Str text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) {
    text.append(std::string_view(buf, static_cast<size_t>(n)));
  }
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err) return err;
  for (std::string_view t = text.view(); !t.empty();) {
    size_t nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t.remove_prefix(nl == std::string_view::npos ? t.size() : nl + 1);
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, 7) == "export ") line.remove_prefix(7);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view v = line.substr(eq + 1);
    if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) v = v.substr(1, v.size() - 2);
    put(env, line.substr(0, eq + 1), v);
  }
  return 0;
}

int build_env(const ServiceSpec& spec, const char* const* base, std::vector<Str>& out) {
  out.clear();
  for (const char* const* e = base; e && *e; e++) out.push_back(*e);
  if (spec.has_user) {
    // As gosu, su-exec and systemd's User= do: the user's own HOME, USER,
    // LOGNAME and SHELL, not oxinit's (root's); `env` may still set them.
    static constexpr char kNames[][9] = {"HOME=", "USER=", "LOGNAME=", "SHELL="};
    const Str* values[] = {&spec.user_home, &spec.user_name, &spec.user_name, &spec.user_shell};
    for (int i = 0; i < 4; i++) {
      if (!values[i]->empty()) put(out, kNames[i], *values[i]);
    }
  }
  for (const Str& kv : spec.env) set_env(out, kv);
  if (!spec.env_file.empty()) return read_env_file(spec.env_file.c_str(), out);
  return 0;
}

}  // namespace oxinit
