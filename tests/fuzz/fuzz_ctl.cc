// libFuzzer target: the control socket's request parser, the answer head
// the client reads, and the JSON string writer, with what each promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ctl/protocol.h"

using namespace oxinit;
using namespace oxinit::ctl;

namespace {
// A JSON string as json_string writes it: quoted, no raw control character,
// every backslash starts a known escape.
void check_json(std::string_view j) {
  if (j.size() < 2 || j.front() != '"' || j.back() != '"') abort();
  for (size_t i = 1; i + 1 < j.size(); i++) {
    unsigned char c = static_cast<unsigned char>(j[i]);
    if (c < 0x20 || c == 0x7f || c == '"') abort();
    if (c != '\\') continue;
    char e = j[++i];
    if (e == 'u') {
      i += 4;
      if (i + 1 >= j.size()) abort();
    } else if (e != '"' && e != '\\' && e != 'n' && e != 't') {
      abort();
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  Request rq;
  Str err;
  if (parse_request(s, rq, err)) {
    if (!err.empty()) abort();
    if (rq.count > kMaxWords || rq.lines > kMaxLines || rq.action < -1 || rq.action > 2) abort();
    for (size_t k = 0; k < rq.count; k++) {
      if (!valid_name(rq.names[k])) abort();
      // Every name points into the line.
      if (rq.names[k].data() < s.data() || rq.names[k].data() + rq.names[k].size() > s.data() + s.size()) abort();
    }
    if (rq.verb == Verb::Signal && (rq.count != 1 || rq.signal <= 0 || rq.signal > 64)) abort();
    if ((rq.verb == Verb::Health || rq.verb == Verb::Reload || rq.verb == Verb::Shutdown) && rq.count) abort();
  } else if (err.empty()) {
    abort();  // a refusal always says why
  }
  int code = -1;
  int h = parse_answer_head(s, code);
  if (h > 0 && (code < 0 || code > 255 || static_cast<size_t>(h) > s.size() || s[static_cast<size_t>(h) - 1] != '\n'))
    abort();
  Str j;
  json_string(j, s);
  check_json(j);
  return 0;
}
