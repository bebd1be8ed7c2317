// libFuzzer target: parse_cli with a synthetic argv and envp. The input is
// split at NUL bytes into strings; the first byte says how many of them (mod
// the count + 1) form the environment, the rest follow argv[0].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "cli.h"

using namespace oxinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  unsigned env_pick = data[0];
  // One owned, NUL-terminated copy, so each piece is a C string.
  std::vector<char> buf(reinterpret_cast<const char*>(data) + 1,
                        reinterpret_cast<const char*>(data) + size);
  buf.push_back('\0');
  std::vector<const char*> pieces;
  size_t start = 0;
  for (size_t i = 0; i < buf.size(); i++) {
    if (buf[i] == '\0') {
      pieces.push_back(buf.data() + start);
      start = i + 1;
    }
  }
  size_t n_env = env_pick % (pieces.size() + 1);
  std::vector<const char*> envp(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(n_env));
  envp.push_back(nullptr);
  std::vector<const char*> argv;
  argv.push_back("oxinit");
  argv.insert(argv.end(), pieces.begin() + static_cast<std::ptrdiff_t>(n_env), pieces.end());
  int argc = static_cast<int>(argv.size());
  argv.push_back(nullptr);

  CliOutcome out = parse_cli(argc, argv.data(), envp.data());
  const Options& o = out.options;
  switch (out.action) {
    case CliAction::UsageError:
    case CliAction::ValueError:
      if (out.message.empty()) abort();
      break;
    case CliAction::Run:
    case CliAction::Check:
      if (o.pdeath_signal < 0 || o.pdeath_signal >= kMaxSignal) abort();
      for (int s = 0; s < kMaxSignal; s++) {
        if (o.rewrite.map[s] < 0 || o.rewrite.map[s] >= kMaxSignal) abort();
      }
      if (o.grace < 0 || o.kill_timeout < -1) abort();
      break;
    default:
      break;
  }
  for (int code = 0; code < 256; code++) {
    int f = final_exit_code(o, code);
    if (f != 0 && f != code) abort();
  }
  Str u = usage_text(argv[0]);
  if (u.empty()) abort();
  return 0;
}
