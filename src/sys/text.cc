#include "sys/text.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/format.h"

namespace oxinit {

Str quote(std::string_view s) {
  Str q("\"");
  size_t k = 0;
  for (; k < s.size() && k < 64; k++) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    if (c == '"' || c == '\\') {
      q += '\\';
      q += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char b[5] = {'\\', 'x', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15], 0};
      q += std::string_view(b, 4);
    } else {
      q += static_cast<char>(c);
    }
  }
  if (k < s.size()) q += "...";
  q += '"';
  return q;
}

Str vfmt(const char* fmt, va_list ap) {
  char small[512];
  char* buf = small;
  for (size_t cap = sizeof small;; cap *= 4) {
    va_list aq;
    va_copy(aq, ap);
    size_t n = vformat(buf, cap, fmt, aq);
    va_end(aq);
    if (n + 1 < cap) {  // not cut short
      Str s(std::string_view(buf, n));
      if (buf != small) delete[] buf;
      return s;
    }
    if (buf != small) delete[] buf;
    buf = new char[cap * 4];
  }
}

OX_NO_FLOAT_ARGS Str fmt(const char* f, ...) {
  va_list ap;
  va_start(ap, f);
  Str s = vfmt(f, ap);
  va_end(ap);
  return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: insertions, deletions, substitutions and
  // swaps of two neighbours ("cahce" is one edit from "cache"), over three
  // rows on the stack: b counts up to 64 bytes (as Suggestion cuts it).
  b = b.substr(0, 64);
  size_t w = b.size() + 1;
  size_t rows[3 * 65];
  size_t *prev2 = rows, *prev = prev2 + w, *row = prev + w;
  for (size_t j = 0; j < w; j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    row[0] = i;
    for (size_t j = 1; j < w; j++) {
      size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < d) d = prev[j] + 1;
      if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d) d = prev2[j - 2] + 1;
      row[j] = d;
    }
    size_t* t = prev2;
    prev2 = prev;
    prev = row;
    row = t;
  }
  return prev[b.size()];
}

void Suggestion::consider(std::string_view candidate) {
  size_t len = candidate.size() > word.size() ? candidate.size() : word.size();
  size_t d = edit_distance(word.substr(0, 64), candidate);
  if (d < best_d && d * 3 <= len) {
    best = candidate;
    best_d = d;
  }
}

Str Suggestion::text() const {
  if (best.empty()) return Str();
  Str s("; did you mean '");
  s += best;
  s += "'?";
  return s;
}

bool has_prefix(std::string_view s, const char* prefix) {
  size_t n = strlen(prefix);
  return s.size() >= n && memcmp(s.data(), prefix, n) == 0;
}

// A dotted quad into a[0..3] (no leading zeros: "010" is octal to inet_aton).
bool parse_ipv4(std::string_view s, uint8_t* a) {
  for (int k = 0; k < 4; k++) {
    size_t dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    uint64_t n = 0;
    if ((k < 3) == (dot == std::string_view::npos) || !parse_uint(part, 255, n) || (part.size() > 1 && part[0] == '0'))
      return false;
    a[k] = static_cast<uint8_t>(n);
    s.remove_prefix(k < 3 ? dot + 1 : s.size());
  }
  return true;
}

int read_file(const char* path, size_t cap, Str& out) {
  out.clear();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[4096];
  int err = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > cap) {
      err = EFBIG;
      break;
    }
    out.append(std::string_view(buf, static_cast<size_t>(n)));
  }
  close(fd);
  return err;
}

}  // namespace oxinit
