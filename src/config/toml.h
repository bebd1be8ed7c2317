// A TOML subset, parsed by our own code: text -> a tree of values, each value
// and each key with its line:col so that later checks can point at it.
// Supported: comments, bare/quoted/dotted keys, basic and literal strings
// (also multi-line), integers (decimal with _ and sign, 0x/0o/0b), booleans,
// arrays, inline tables (newlines and a trailing comma allowed, as in TOML
// 1.1), [table] headers. Not supported (reported as errors): floats, dates,
// arrays of tables ([[x]]), NUL characters in strings.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "config/error.h"
#include "spec.h"
#include "sys/result.h"
#include "sys/str.h"

namespace oxinit::toml {

enum class Type : uint8_t { String, Integer, Boolean, Array, Table };

struct Member;

struct Value {
  Type type = Type::Table;
  uint8_t flags = 0;            // tables: how they were defined (toml.cc)
  SrcPos pos;                   // where the value (or the table header) starts
  Str str;                      // String; for Integer, the literal as written
  int64_t integer = 0;
  bool boolean = false;
  std::vector<Value> items;     // Array
  std::vector<Member> members;  // Table, in file order

  const Value* find(std::string_view key) const;
  const Member* find_member(std::string_view key) const;
};

struct Member {
  Str key;
  SrcPos pos;  // where the key is written
  Value value;
};

// Limits that keep a hostile or broken file from costing much: the largest
// file we read, the deepest nesting, the most keys in one table.
constexpr size_t kMaxFileSize = 1 << 20;
constexpr int kMaxDepth = 32;
constexpr size_t kMaxKeys = 1000;

// Parses text (named file in messages) into root, a table; the error says
// file, line, col and message. Never touches the filesystem.
Result<void, ConfigError> parse(std::string_view text, std::string_view file, Value& root);

// "string", "integer", ... for messages.
const char* type_name(Type t);

}  // namespace oxinit::toml
