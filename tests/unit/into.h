// Tests check config errors field by field: into() runs a
// Result<void, ConfigError> call and hands the error to a ConfigError.
#pragma once
#include "config/error.h"
#include "sys/result.h"

namespace oxinit {
inline bool into(const Result<void, ConfigError>& r, ConfigError& err) {
  if (!r) err = r.error();
  return r.ok();
}
}  // namespace oxinit
