// Line-by-line reading of kernel and index files (/proc/self/mountinfo,
// modules.dep, ...) through one fixed buffer: a 1 MB modules.alias costs
// 8 KB of memory, not 1 MB.
#pragma once
#include <cstddef>
#include <string_view>

#include "sys/fd.h"

namespace oxinit {

class LineReader {
 public:
  explicit LineReader(const char* path);
  bool ok() const { return fd_.valid(); }
  // The next line without its '\n'; false at the end (or on a read error).
  // A line longer than the buffer is skipped.
  bool next(std::string_view& line);

 private:
  UniqueFd fd_;
  size_t start_ = 0, end_ = 0;
  bool eof_ = false;
  char buf_[8192];
};

// The next space- or tab-separated word of s, removed from s ("" at the end).
std::string_view next_word(std::string_view& s);

}  // namespace oxinit
