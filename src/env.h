// A service's environment, built before fork: oxinit's own, then the user's
// HOME/USER/LOGNAME/SHELL, then `env`, then `env_file` (read at every start).
#pragma once
#include <string_view>
#include <vector>

#include "spec.h"
#include "sys/str.h"

namespace oxinit {

// "KEY=VALUE" into env, replacing an entry with the same KEY.
void set_env(std::vector<Str>& env, std::string_view kv);

// The value of KEY in env, or nullptr when it is not set.
const char* find_env(const std::vector<Str>& env, std::string_view key);

// env_file: KEY=VALUE lines; blank lines, '#' comments and "export " allowed,
// one level of matching quotes around the value stripped. 0 or an errno value.
int read_env_file(const char* path, std::vector<Str>& env);

// The environment for one start of `spec`, from `base` (oxinit's environ).
// 0, or the errno value of an env_file that could not be read.
int build_env(const ServiceSpec& spec, const char* const* base, std::vector<Str>& out);

}  // namespace oxinit
