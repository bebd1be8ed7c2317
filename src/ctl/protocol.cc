#include "ctl/protocol.h"

#include "signals.h"
#include "sys/format.h"
#include "sys/text.h"

namespace oxinit::ctl {

namespace {

// Per verb: how many names it takes, which options it knows.
enum Flag : uint8_t { kJson = 1, kFollow = 2, kLines = 4, kAction = 8 };
struct VerbInfo {
  char name[9];
  uint8_t min_names, max_names;
  uint8_t flags;
};
constexpr VerbInfo kVerbs[] = {
    {"status", 0, kMaxWords, kJson}, {"start", 1, kMaxWords, 0}, {"stop", 1, kMaxWords, 0},
    {"restart", 1, kMaxWords, 0},    {"signal", 2, 2, 0},        {"health", 0, 0, 0},
    {"logs", 1, 1, kFollow | kLines}, {"shutdown", 0, 0, kAction}, {"reload", 0, 0, 0},
};
static_assert(sizeof kVerbs / sizeof kVerbs[0] == static_cast<size_t>(Verb::Reload) + 1);

}  // namespace

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxName) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  }
  return true;
}

// What is wrong with the request, nullptr when nothing; `bad` is the word
// that is (shown quoted after the message), empty when none is.
static const char* parse(std::string_view line, Request& out, std::string_view& bad) {
  int v = -1;
  const VerbInfo* info = nullptr;
  size_t i = 0;
  bool want_lines = false;
  while (i < line.size()) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == ' ') {
      i++;
      continue;
    }
    size_t e = line.find(' ', i);
    std::string_view w = line.substr(i, e - i);
    i = e == std::string_view::npos ? line.size() : e;
    for (char ch : w) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
        bad = {};
        return "control characters in the request";
      }
    }
    bad = w;
    if (want_lines) {
      uint64_t n = 0;
      if (!parse_uint(w, kMaxLines, n)) return "-n: expected a number of lines up to 100000, got ";
      out.lines = static_cast<uint32_t>(n);
      want_lines = false;
      continue;
    }
    if (v < 0) {
      for (int k = 0; k < static_cast<int>(sizeof kVerbs / sizeof kVerbs[0]); k++) {
        if (w == kVerbs[k].name) v = k;
      }
      if (v < 0) return "unknown command ";
      info = &kVerbs[v];
      out.verb = static_cast<Verb>(v);
      continue;
    }
    // The options: which flag each sets (the actions in FinalAction's
    // order: Poweroff, Reboot, Halt).
    static constexpr struct {
      char name[11];
      uint8_t flag;
    } kOptions[] = {{"--json", kJson},      {"-f", kFollow},      {"--follow", kFollow}, {"-n", kLines},
                    {"--poweroff", kAction}, {"--reboot", kAction}, {"--halt", kAction}};
    int k = 0;
    while (k < 7 && w != kOptions[k].name) k++;
    uint8_t flag = k < 7 ? kOptions[k].flag : 0;
    if (flag) {
      out.json |= flag == kJson;
      out.follow |= flag == kFollow;
      want_lines = flag == kLines;
      if (flag == kAction) out.action = k - 4;
    } else if (w[0] == '-') {
      return "unknown option ";
    } else if (out.count == info->max_names) {
      return "too many arguments: ";
    } else if (out.verb == Verb::Signal && out.count == 1) {
      out.signal = signal_by_name(w, true, true);
      if (out.signal <= 0) return "not a signal: ";
      out.count = 2;  // counted, dropped below
      continue;
    } else {
      if (!valid_name(w)) return "not a service name: ";
      out.names[out.count++] = w;
      continue;
    }
    if (!(info->flags & flag)) return "option not known to this command: ";
  }
  bad = {};
  if (v < 0) return "no command given";
  if (want_lines) return "-n: expected a number of lines";
  if (out.count < info->min_names) return out.verb == Verb::Signal ? "usage: signal NAME SIGNAL" : "name a service";
  if (out.verb == Verb::Signal) out.count = 1;
  return nullptr;
}

bool parse_request(std::string_view line, Request& out, Str& err) {
  out = Request{};
  std::string_view bad;
  const char* why = parse(line, out, bad);
  if (!why) return true;
  err = why;
  if (!bad.empty()) err += quote(bad);
  return false;
}

int parse_answer_head(std::string_view data, int& code) {
  size_t nl = data.find('\n');
  if (nl == std::string_view::npos) return data.size() > 3 ? -1 : 0;
  uint64_t c = 0;
  if (!parse_uint(data.substr(0, nl), 255, c)) return -1;
  code = static_cast<int>(c);
  return static_cast<int>(nl + 1);
}

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
static size_t utf8_length(std::string_view s, size_t i) {
  unsigned char b[4] = {};  // s[i..], zeros past its end
  for (size_t k = 0; k < 4 && i + k < s.size(); k++) b[k] = static_cast<unsigned char>(s[i + k]);
  unsigned c = b[0];
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
  if (c < 0xc2 || c > 0xf4) return 0;
  unsigned lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c == 0xe0) lo = 0xa0;
  if (c == 0xed) hi = 0x9f;
  if (c == 0xf0) lo = 0x90;
  if (c == 0xf4) hi = 0x8f;
  if (b[1] < lo || b[1] > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    if ((b[k] & 0xc0) != 0x80) return 0;
  }
  return n;
}

void json_string(Str& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // start of the bytes that need no escape
  for (size_t i = 0; i < s.size();) {
    unsigned c = static_cast<unsigned char>(s[i]);
    size_t len = c >= 0x80 ? utf8_length(s, i) : 1;
    char u[8];
    const char* esc = u;
    if (!len) {
      esc = "\\ufffd";
      len = 1;
    } else if (c == '"' || c == '\\') {
      u[0] = '\\';
      u[1] = static_cast<char>(c);
      u[2] = 0;  // cppcheck-suppress unreadVariable ; read through esc, which points at u
    } else if (c == '\n') {
      esc = "\\n";
    } else if (c == '\t') {
      esc = "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      format(u, sizeof u, "\\u%04x", c);
    } else {
      esc = nullptr;
    }
    if (esc) {
      out += std::string_view(s.data() + run, i - run);
      out += esc;
      run = i + len;
    }
    i += len;
  }
  out += std::string_view(s.data() + run, s.size() - run);
  out += '"';
}

}  // namespace oxinit::ctl
