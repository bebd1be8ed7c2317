// The control socket's protocol. A request is one line of words separated
// by blanks, as the client's argv after `ctl` ("logs web -n 50 -f\n"); the
// answer is a first line holding the client's exit code ("0\n"), then text
// for the client to print (to stdout after 0, else to stderr) until oxinit
// closes the connection (`logs -f`: until the client goes). Pure: no
// syscalls, so the parser is unit-tested and fuzzed on its own.
#pragma once
#include <cstdint>
#include <string_view>

#include "sys/str.h"

namespace oxinit::ctl {

constexpr size_t kMaxRequest = 4096;  // a request line, its '\n' included
constexpr size_t kMaxWords = 64;
constexpr size_t kMaxName = 80;       // service names are at most 64, "web.999" and some slack
constexpr uint32_t kMaxLines = 100000;  // logs -n

enum class Verb : uint8_t { Status, Start, Stop, Restart, Signal, Health, Logs, Shutdown, Reload };

// Exit codes the answer carries.
constexpr int kOk = 0, kFailed = 1, kUsage = 2;

struct Request {
  Verb verb = Verb::Status;
  size_t count = 0;                     // service names, pointing into the line
  std::string_view names[kMaxWords];
  int signal = 0;                       // signal NAME SIGNAL
  bool json = false;                    // status --json
  bool follow = false;                  // logs -f
  uint32_t lines = 20;                  // logs -n N
  int action = -1;                      // shutdown: FinalAction, -1 when not given
};

// Parses one request line (without its '\n'). On error returns false and
// sets err to a message for the client (code kUsage).
bool parse_request(std::string_view line, Request& out, Str& err);

// The head of an answer: "CODE\n" with CODE 0..255. Returns the number of
// bytes it takes, 0 when data does not hold a whole head yet, -1 when it is
// not one.
int parse_answer_head(std::string_view data, int& code);

// s as a JSON string, quotes included: control characters and invalid
// UTF-8 escaped (the latter as U+FFFD), so any output line is valid JSON.
void json_string(Str& out, std::string_view s);

// Whether s may be a service name in a request: letters, digits, '_', '-', '.'.
bool valid_name(std::string_view s);

}  // namespace oxinit::ctl
