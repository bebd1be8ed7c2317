// libFuzzer target: config text -> Config -> Plan, the path every config
// file takes before anything runs. parse_config_text never touches the
// filesystem (users resolve against empty passwd/group texts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/schema.h"
#include "config/toml.h"
#include "plan.h"

using namespace oxinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Config config;
  ConfigError err;
  if (!parse_config_text(text, "fuzz.toml", config, err)) {
    // An error always says where and what.
    Str msg = err.format();
    if (err.message.empty() || msg.empty()) abort();
    return 0;
  }
  Plan plan;
  if (!make_plan(config, plan, err)) {
    if (err.message.empty()) abort();
    return 0;
  }
  // A plan's order is a permutation that puts every service after its deps.
  if (plan.order.size() != plan.services.size() || plan.deps.size() != plan.services.size()) abort();
  std::vector<int> pos(plan.services.size(), -1);
  for (size_t k = 0; k < plan.order.size(); k++) {
    int i = plan.order[k];
    if (i < 0 || static_cast<size_t>(i) >= pos.size() || pos[static_cast<size_t>(i)] >= 0) abort();
    pos[static_cast<size_t>(i)] = static_cast<int>(k);
  }
  for (size_t i = 0; i < plan.deps.size(); i++) {
    for (int d : plan.deps[i]) {
      if (d < 0 || static_cast<size_t>(d) >= pos.size() || pos[static_cast<size_t>(d)] >= pos[i]) abort();
    }
  }
  for (const ServiceSpec& s : plan.services) {
    if (s.argv.empty() || s.name.empty()) abort();
  }
  return 0;
}
