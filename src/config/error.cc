#include "config/error.h"

#include "sys/format.h"

namespace oxinit {

Str ConfigError::format() const {
  if (file.empty()) return message;
  char b[48];
  size_t n = 0;
  if (line > 0) n = col > 0 ? oxinit::format(b, sizeof b, ":%d:%d", line, col) : oxinit::format(b, sizeof b, ":%d", line);
  Str s = file;
  s += std::string_view(b, n);
  s += ": ";
  s += message;
  return s;
}

}  // namespace oxinit
