#include "users.h"

#include <cstring>

#include "sys/text.h"

namespace oxinit {

namespace {

constexpr size_t kMaxDbSize = 4 << 20;

// The first n fields of a colon-separated line; missing ones are empty.
void split(std::string_view line, std::string_view* f, int n) {
  for (int k = 0; k < n; k++) {
    size_t c = line.find(':');
    f[k] = line.substr(0, c);
    line.remove_prefix(c == std::string_view::npos ? line.size() : c + 1);
    if (c == std::string_view::npos) line = {};
  }
}

// The next line of text that is not a comment or a NIS entry ('+', '-'):
// its first n fields into f. false at the end.
bool next_entry(std::string_view& text, std::string_view* f, int n) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
    split(line, f, n);
    return true;
  }
  return false;
}

// An id: decimal, below the invalid (uid_t)-1.
bool parse_id(std::string_view s, uint32_t& out) {
  uint64_t v = 0;
  if (!parse_uint(s, 0xfffffffe, v)) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool is_number(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

[[gnu::cold, gnu::noinline]] Str unknown(const char* what, std::string_view name, const char* file, int err) {
  return fmt("unknown %s %s (%s%s%s)", what, quote(name).c_str(), file, err ? ": " : "",
                   err ? strerror(err) : "");
}

[[gnu::cold, gnu::noinline]] Str invalid_id(const char* what, std::string_view name) {
  return fmt("invalid %s id %s", what, quote(name).c_str());
}

}  // namespace

void UserDb::load() {
  if (loaded_) return;
  loaded_ = true;
  passwd_err_ = read_file((root_ + "/etc/passwd").c_str(), kMaxDbSize, passwd_);
  group_err_ = read_file((root_ + "/etc/group").c_str(), kMaxDbSize, group_);
}

Result<UserDb::User, Str> UserDb::user(std::string_view name) {
  User out{};
  bool numeric = is_number(name);
  uint32_t id = 0, uid = 0, gid = 0;
  if (numeric && !parse_id(name, id)) return invalid_id("user", name);
  load();
  std::string_view f[7], text = passwd_;
  bool found = false;
  while (!found && next_entry(text, f, 7)) {
    found = parse_id(f[2], uid) && parse_id(f[3], gid) && (numeric ? uid == id : f[0] == name);
  }
  if (!found) {
    if (!numeric) return unknown("user", name, "/etc/passwd", passwd_err_);
    uid = id;
    gid = 0;
    for (auto& x : f) x = {};  // a number not in passwd: no name, home or shell
  }
  out.uid = uid;
  out.gid = gid;
  out.groups.push_back(gid);
  std::string_view login = f[0];
  out.name += login;  // appended to the empty strings: one call each
  out.home += f[5];
  out.shell += f[6];
  if (login.empty()) return out;
  text = group_;
  while (next_entry(text, f, 4)) {
    if (!parse_id(f[2], gid)) continue;
    for (std::string_view members = f[3]; !members.empty();) {
      size_t c = members.find(',');
      if (members.substr(0, c) == login) {
        bool dup = false;
        for (gid_t g : out.groups) dup = dup || g == gid;
        if (!dup) out.groups.push_back(gid);
        break;
      }
      members.remove_prefix(c == std::string_view::npos ? members.size() : c + 1);
    }
  }
  return out;
}

Result<gid_t, Str> UserDb::group(std::string_view name) {
  uint32_t id = 0;
  if (is_number(name)) {
    if (!parse_id(name, id)) return invalid_id("group", name);
    return static_cast<gid_t>(id);
  }
  load();
  std::string_view f[3], text = group_;
  while (next_entry(text, f, 3)) {
    if (f[0] == name && parse_id(f[2], id)) return static_cast<gid_t>(id);
  }
  return unknown("group", name, "/etc/group", group_err_);
}

}  // namespace oxinit
