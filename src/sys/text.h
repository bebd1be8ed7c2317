// Text helpers on top of Str: messages of any length, quoting of untrusted
// text for messages, whole small files.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sys/str.h"

namespace oxinit {

// s in double quotes, non-printable bytes escaped, cut at 64 bytes: safe to
// print whatever a config file contained.
Str quote(std::string_view s);

// For variadic functions: on x86-64 and arm64 the prologue saves every
// vector argument register (8 x 16 bytes) in case floats were passed;
// oxinit's formats take none, so no vector register is used at all.
#if !defined(__clang__) && (defined(__x86_64__) || defined(__aarch64__))
#define OX_NO_FLOAT_ARGS __attribute__((target("general-regs-only")))
#else
#define OX_NO_FLOAT_ARGS
#endif

// A message, printf-style (oxinit::format's subset), of any length.
Str vfmt(const char* fmt, va_list ap) __attribute__((format(printf, 1, 0)));
OX_NO_FLOAT_ARGS Str fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Levenshtein distance (for "did you mean" suggestions) over b's first 64 bytes.
size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'x'?" for the candidate closest to word, if it is close
// enough to be a likely typo (at most 2 edits, and a third of the length).
struct Suggestion {
  std::string_view word;
  std::string_view best = {};
  size_t best_d = 3;
  void consider(std::string_view candidate);
  Str text() const;  // "" when nothing was close
};
// Whether s starts with prefix (one call, not a substr and a compare inline).
bool has_prefix(std::string_view s, const char* prefix);

// A dotted quad into a[0..3] (no leading zeros: "010" is octal to inet_aton).
bool parse_ipv4(std::string_view s, uint8_t* a);

// Reads a whole file of at most cap bytes. Returns 0 or an errno value
// (EFBIG when the file is larger than cap).
int read_file(const char* path, size_t cap, Str& out);

}  // namespace oxinit
