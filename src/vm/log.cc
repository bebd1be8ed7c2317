// The vm rooms' "unable to ..." lines (vm/boot.h, log_err): a file of its
// own so that what links vm/net.cc alone (the fuzz targets, for the schema's
// parse_cidr) links this too, and in the features' mapping, since only a
// microVM's boot calls it.
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"
#include "sys/format.h"
#include "vm/boot.h"

namespace oxinit::vm {

OX_NO_FLOAT_ARGS void log_err(Level l, int err, const char* fmt, ...) {
  if (!err) err = errno;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log(l, "vm: %s: %s", msg, strerror(err));
}

}  // namespace oxinit::vm
