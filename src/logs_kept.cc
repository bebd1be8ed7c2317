// What Logs keeps of a service's output besides writing it out: the ring
// of its last lines (`oxinit ctl logs`) and its log file with rotation
// (log = "file:PATH"). Service mode only, so in the features' mapping
// (build-aux/layout.ld).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "ctl/protocol.h"
#include "log.h"
#include "logs.h"
#include "sys/format.h"

namespace oxinit {

void Logs::configure(bool timestamps, bool json, uint32_t ring_bytes) {
  timestamps_ = timestamps;
  json_ = json;
  ring_cap_ = ring_bytes;
  if (!ring_bytes) {
    for (Channel& c : channels_) c.ring = Str();
  }
}

// A stream's channel (made at its service's first stream), set up for its
// log file when the service has one.
uint32_t Logs::bind_channel(std::string_view name, const ServiceSpec* spec) {
  int ch = channel(name, true);
  Channel& c = channels_[static_cast<size_t>(ch)];
  std::string_view path = spec && spec->log == LogMode::File ? spec->log_file.view() : std::string_view();
  if (c.path.view() != path) {
    c.path = path;
    c.file.reset();
    c.file_failed = false;
  }
  if (spec) {
    c.max_size = spec->log_max_size;
    c.keep = spec->log_keep;
  }
  return static_cast<uint32_t>(ch);
}

// What is kept of a line: the ring, a follower (`ctl logs -f`), the log
// file. True when the file took it (it goes nowhere else).
bool Logs::keep(Stream& s, std::string_view line) {
  Channel& c = channels_[s.channel];
  if (ring_cap_) {
    Str& r = c.ring;
    r += line;
    r += '\n';
    // Down to the newest ring_cap_ bytes of whole lines once twice that is
    // held: each byte is moved at most once on average.
    if (r.size() > 2 * size_t{ring_cap_}) {
      size_t cut = r.size() - ring_cap_;
      while (r[cut - 1] != '\n') cut++;
      drop_front(r, cut);
    }
  }
  if (tap_) tap_(tap_ctx_, s.channel, line);
  return !c.path.empty() && write_file(c, line, s.is_stderr);
}

// One of oxinit's own lines as JSON: its text without the "[WARN  oxinit
// (1)] " tag, and its level.
void Logs::own_json(int level, std::string_view line, size_t head) {
  static const char* const kLevels[] = {"fatal", "warn", "info", "debug", "trace"};
  line.remove_suffix(!line.empty() && line.back() == '\n');
  line.remove_prefix(head < line.size() ? head : line.size());
  format_line({}, kLevels[level < 4 ? level : 4], line, true);
}

// log_format = "json": {"time":...,"service":...,"stream"|"level":...,"line":...}.
void Logs::json_line(std::string_view stamp, std::string_view name, const char* kv, std::string_view line) {
  char b[96];  // the stamp's 24 bytes, or a level's or stream's name and the keys
  line_ += std::string_view(
      b, format(b, sizeof b, "{\"time\":\"%.*s\",\"service\":", static_cast<int>(stamp.size()), stamp.data()));
  ctl::json_string(line_, name.empty() ? "oxinit" : name);
  line_ += std::string_view(b, format(b, sizeof b, ",\"%s\":\"%s\",\"line\":", name.empty() ? "level" : "stream", kv));
  ctl::json_string(line_, line);
  line_ += "}\n";
}

int Logs::channel(std::string_view name, bool make) {
  for (size_t i = 0; i < channels_.size(); i++) {
    if (channels_[i].name.view() == name) return static_cast<int>(i);
  }
  if (!make) return -1;
  channels_.add().name = name;
  return static_cast<int>(channels_.size() - 1);
}

std::string_view Logs::tail(int channel, uint32_t n) const {
  if (channel < 0 || static_cast<size_t>(channel) >= channels_.size()) return {};
  std::string_view r = channels_[static_cast<size_t>(channel)].ring;
  size_t at = r.size();
  for (uint32_t k = 0; k < n && at > 0; k++) {
    at--;  // past this line's '\n', then back to the end of the one before
    while (at > 0 && r[at - 1] != '\n') at--;
  }
  return r.substr(at);
}

// PATH.<k-1> -> PATH.<k> for k = keep .. 1, PATH itself last; keep 0:
// PATH goes. Its own frame: the names' buffers take stack pages only while
// it runs. They fit: PATH was opened, so it is shorter than PATH_MAX.
[[gnu::noinline]] static void rotate(const char* path, int keep) {
  char from[PATH_MAX + 16], to[sizeof from];
  for (int k = keep; k >= 1; k--) {
    format(from, sizeof from, "%s.%d", path, k - 1);
    format(to, sizeof to, "%s.%d", path, k);
    (void)rename(k > 1 ? from : path, to);  // a missing older file is fine
  }
  if (keep == 0) unlink(path);
}

// log = "file:PATH": appended, and rotated once it would pass log_max_size
// (PATH -> PATH.1 -> ... -> PATH.<log_keep>, as s6-log keeps a count of
// archives). A regular file: the write does not wait for a reader.
bool Logs::write_file(Channel& c, std::string_view line, bool is_stderr) {
  if (c.file_failed) return false;
  const char* path = c.path.c_str();
  format_line({}, is_stderr ? "stderr" : "stdout", line, false);
  if (c.file.valid() && c.size > 0 && c.size + line_.size() > c.max_size) {
    c.file.reset();
    rotate(path, c.keep);
  }
  if (!c.file.valid()) {
    c.file.reset(open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
    struct stat st;
    if (!c.file.valid() || fstat(c.file.get(), &st) < 0) {
      c.file_failed = true;
      OX_WARN("service %s: unable to open its log file %s: %s; its lines go to oxinit's output", c.name.c_str(), path,
              strerror(errno));
      return false;
    }
    c.size = static_cast<uint64_t>(st.st_size);
  }
  std::string_view rest = line_;
  while (!rest.empty()) {
    ssize_t w = write(c.file.get(), rest.data(), rest.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // a full disk: the line is lost, the service goes on
    rest.remove_prefix(static_cast<size_t>(w));
  }
  c.size += line_.size() - rest.size();
  return true;
}

}  // namespace oxinit
