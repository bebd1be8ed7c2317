// libFuzzer target: config text -> Config -> Plan, the path every config
// file takes before anything runs. parse_config_text never touches the
// filesystem (users resolve against empty passwd/group texts).
// Values must round-trip, not only land in range (issue 11): each TOML
// integer equals its literal evaluated in 128 bits, and every number a
// service got, written back out as a config, parses to the same spec.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/schema.h"
#include "config/toml.h"
#include "plan.h"
#include "../unit/into.h"

using namespace oxinit;

namespace {

// The value of a TOML integer literal (sign, 0x/0o/0b, '_'), in 128 bits.
__int128 literal(std::string_view t) {
  bool neg = !t.empty() && t[0] == '-';
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
  int base = 10;
  if (t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
    base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
    t.remove_prefix(2);
  }
  __int128 v = 0;
  for (char c : t) {
    if (c == '_') continue;
    int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (v < (static_cast<__int128>(1) << 100)) v = v * base + d;
  }
  return neg ? -v : v;
}

void check_integers(const toml::Value& v) {
  if (v.type == toml::Type::Integer && literal(v.str) != v.integer) abort();
  for (const toml::Value& i : v.items) check_integers(i);
  for (const toml::Member& m : v.members) check_integers(m.value);
}

std::string n(int64_t v) { return std::to_string(v); }
std::string ms(Millis v) { return "\"" + std::to_string(v) + "ms\""; }

std::string probe(const ProbeSpec& p) {
  std::string host = p.family == AF_INET6 ? "[" + std::string(p.host.view()) + "]" : std::string(p.host.view());
  switch (p.kind) {
    case ProbeSpec::None: return "\"none\"";
    case ProbeSpec::Started: return "\"started\"";
    case ProbeSpec::Notify: return "\"notify\"";
    case ProbeSpec::Fd: return "\"fd:" + n(p.fd) + "\"";
    case ProbeSpec::Tcp: return "'tcp://" + host + ":" + n(p.port) + "'";
    case ProbeSpec::Http: return "'http://" + host + ":" + n(p.port) + std::string(p.path_or_cmd.view()) + "'";
    case ProbeSpec::Exec: return "'exec:" + std::string(p.path_or_cmd.view()) + "'";
    case ProbeSpec::File: return "'file:" + std::string(p.path_or_cmd.view()) + "'";
  }
  return "";
}

bool same(const ProbeSpec& a, const ProbeSpec& b) {
  return a.kind == b.kind && a.port == b.port && a.fd == b.fd && a.family == b.family &&
         std::string_view(reinterpret_cast<const char*>(a.addr), 16) ==
             std::string_view(reinterpret_cast<const char*>(b.addr), 16) &&
         a.path_or_cmd.view() == b.path_or_cmd.view();
}

// A string a literal TOML string can hold (no quote, no control character).
bool literal_safe(std::string_view s) {
  for (char c : s) {
    if (c == '\'' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// The numbers (and probes) of s written out again, parsed, compared.
void round_trip(const ServiceSpec& s) {
  bool probes = literal_safe(s.ready.path_or_cmd) && literal_safe(s.health.path_or_cmd) &&
                literal_safe(s.ready.host) && literal_safe(s.health.host);
  std::string t = "[service.x]\ncommand = 'x'\nstop_signal = " + n(s.stop_signal) +
                  "\nreload_signal = " + n(s.reload_signal) + "\nstop_timeout = " + ms(s.stop_timeout) +
                  "\nrestart_delay = " + ms(s.restart_delay) + "\nrestart_delay_max = " + ms(s.restart_delay_max) +
                  "\nrestart_window = " + ms(s.restart_window) + "\nmax_restarts = " + n(s.max_restarts) +
                  "\ninstances = " + n(s.instances) + "\nready_timeout = " + ms(s.ready_timeout) +
                  "\nhealth_interval = " + ms(s.health_interval) + "\nhealth_timeout = " + ms(s.health_timeout) +
                  "\nhealth_retries = " + n(s.health_retries) + "\nhealth_start_period = " +
                  ms(s.health_start_period) + "\n";
  if (s.umask >= 0) t += "umask = 0o" + std::to_string((s.umask >> 6) * 100 + (s.umask >> 3 & 7) * 10 + (s.umask & 7)) + "\n";
  if (s.has_user) t += "user = " + n(s.uid) + "\n";
  if (s.has_group) t += "group = " + n(s.gid) + "\n";
  if (probes) t += "ready = " + probe(s.ready) + "\nhealth = " + probe(s.health) + "\nwatchdog = " + ms(s.watchdog) + "\n";
  Config c;
  ConfigError err;
  if (!into(parse_config_text(t, "again.toml", c), err) || c.services.size() != 1) abort();
  const ServiceSpec& r = c.services[0];
  if (r.stop_signal != s.stop_signal || r.reload_signal != s.reload_signal || r.stop_timeout != s.stop_timeout ||
      r.restart_delay != s.restart_delay || r.restart_delay_max != s.restart_delay_max ||
      r.restart_window != s.restart_window || r.max_restarts != s.max_restarts || r.instances != s.instances ||
      r.ready_timeout != s.ready_timeout || r.health_interval != s.health_interval ||
      r.health_timeout != s.health_timeout || r.health_retries != s.health_retries ||
      r.health_start_period != s.health_start_period || r.umask != s.umask || r.uid != s.uid ||
      (s.has_group && r.gid != s.gid))
    abort();
  if (probes && (!same(r.ready, s.ready) || !same(r.health, s.health) || r.watchdog != s.watchdog)) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  toml::Value root;
  ConfigError terr;
  if (into(toml::parse(text, "fuzz.toml", root), terr)) check_integers(root);
  Config config;
  ConfigError err;
  if (!into(parse_config_text(text, "fuzz.toml", config), err)) {
    // An error always says where and what.
    Str msg = err.format();
    if (err.message.empty() || msg.empty()) abort();
    return 0;
  }
  for (const ServiceSpec& s : config.services) {
    if (s.type == ServiceType::Simple) round_trip(s);
  }
  Plan plan;
  if (!into(make_plan(config, plan), err)) {
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
