#include "sys/lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "sys/eintr.h"

namespace oxinit {

// cppcheck-suppress uninitMemberVar ; buf_ is filled by read() before use
LineReader::LineReader(const char* path)
    : fd_(retry_eintr([&] { return ::open(path, O_RDONLY | O_CLOEXEC); })) {}

bool LineReader::next(std::string_view& line) {
  bool skipping = false;
  for (;;) {
    if (const void* nl = memchr(buf_ + start_, '\n', end_ - start_)) {
      size_t at = static_cast<size_t>(static_cast<const char*>(nl) - buf_);
      line = std::string_view(buf_ + start_, at - start_);
      start_ = at + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      return true;
    }
    if (eof_ || !fd_.valid()) {
      // A last line without '\n'.
      if (start_ == end_ || skipping) return false;
      line = std::string_view(buf_ + start_, end_ - start_);
      start_ = end_;
      return true;
    }
    if (start_ == 0 && end_ == sizeof buf_) {  // one line fills the buffer
      skipping = true;
      end_ = 0;
    }
    memmove(buf_, buf_ + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
    ssize_t n = retry_eintr([&] { return ::read(fd_.get(), buf_ + end_, sizeof buf_ - end_); });
    if (n <= 0) eof_ = true;
    else end_ += static_cast<size_t>(n);
  }
}

std::string_view next_word(std::string_view& s) {
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) b++;
  size_t e = b;
  while (e < s.size() && s[e] != ' ' && s[e] != '\t') e++;
  std::string_view w = s.substr(b, e - b);
  s.remove_prefix(e);
  return w;
}

}  // namespace oxinit
