// The one shape of a config error, shared by the reader (toml), the schema
// and the plan: FILE:LINE:COL: message, reported before anything runs.
#pragma once
#include "sys/str.h"

namespace oxinit {

struct ConfigError {
  Str file;
  int line = 0;
  int col = 0;
  Str message;
  Str format() const;  // "FILE:LINE:COL: message" (or "FILE: message" when line is 0)
};

}  // namespace oxinit
