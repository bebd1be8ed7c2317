#include "sys/text.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

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

Str fmt(const char* f, ...) {
  va_list ap;
  va_start(ap, f);
  Str s = vfmt(f, ap);
  va_end(ap);
  return s;
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
