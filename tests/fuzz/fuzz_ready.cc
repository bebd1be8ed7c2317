// libFuzzer target: the readiness parsers that read what other processes
// wrote: an HTTP answer's status line, sd_notify datagrams (from services
// under any uid), /proc/PID/stat, and probe addresses from the config. The
// first byte picks the parser; the rest is the text. (Probe addresses are
// the schema's: fuzz-config.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "notify.h"
#include "probe.h"

using namespace oxinit;

namespace {

void check_http(std::string_view s) {
  HttpStatus full = parse_http_status(s);
  if (full.kind == HttpStatus::Ok ? full.code < 200 || full.code > 599 : full.code != 0) abort();
  // More bytes never change a verdict already reached: an answer read in
  // pieces gives the same result as one read whole.
  if (s.size() > 512) return;
  for (size_t k = 0; k < s.size(); k++) {
    HttpStatus p = parse_http_status(s.substr(0, k));
    if (p.kind == HttpStatus::Incomplete) continue;
    if (p.kind != full.kind || p.code != full.code) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_http(s);
      break;
    case 1: {
      NotifyMessage m;
      parse_notify(s, m);
      if (m.flags >= 32) abort();
      if (m.has_status && (m.status.data() < s.data() || m.status.data() + m.status.size() > s.data() + s.size())) {
        abort();
      }
      if (!m.has_status && !m.status.empty()) abort();
      break;
    }
    default: {
      ProcIds ids;
      if (parse_proc_stat(s, ids) && (ids.ppid < 0 || ids.pgrp < 0 || ids.session < 0)) abort();
      break;
    }
  }
  return 0;
}
