#include "users.h"

#include <cstring>

#include "sys/text.h"

namespace oxinit {

namespace {

constexpr size_t kMaxDbSize = 4 << 20;

// Field k (0-based) of a colon-separated line.
std::string_view field(std::string_view line, int k) {
  for (; k > 0; k--) {
    size_t c = line.find(':');
    if (c == std::string_view::npos) return {};
    line.remove_prefix(c + 1);
  }
  return line.substr(0, line.find(':'));
}

// Calls f(line) for each line until f returns true.
template <class F>
bool each_line(std::string_view text, F f) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line[0] != '#' && line[0] != '+' && line[0] != '-' && f(line)) return true;
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

}  // namespace

void UserDb::load() {
  if (loaded_) return;
  loaded_ = true;
  passwd_err_ = read_file((root_ + "/etc/passwd").c_str(), kMaxDbSize, passwd_);
  group_err_ = read_file((root_ + "/etc/group").c_str(), kMaxDbSize, group_);
}

Result<UserDb::User, Str> UserDb::user(std::string_view name) {
  User out;
  bool numeric = is_number(name);
  uint32_t id = 0;
  if (numeric && !parse_id(name, id)) return fmt("invalid user id %s", quote(name).c_str());
  load();
  std::string_view login;
  bool found = each_line(passwd_, [&](std::string_view line) {
    uint32_t uid = 0, gid = 0;
    if (!parse_id(field(line, 2), uid) || !parse_id(field(line, 3), gid)) return false;
    if (numeric ? uid != id : field(line, 0) != name) return false;
    login = field(line, 0);
    out.uid = uid;
    out.gid = gid;
    out.name = login;
    out.home = field(line, 5);
    out.shell = field(line, 6);
    return true;
  });
  if (!found) {
    if (!numeric) return unknown("user", name, "/etc/passwd", passwd_err_);
    out.uid = id;
    out.gid = 0;
  }
  out.groups.push_back(out.gid);
  if (login.empty()) return out;
  each_line(group_, [&](std::string_view line) {
    uint32_t gid = 0;
    if (!parse_id(field(line, 2), gid)) return false;
    std::string_view members = field(line, 3);
    while (!members.empty()) {
      size_t c = members.find(',');
      if (members.substr(0, c) == login) {
        bool dup = false;
        for (gid_t g : out.groups) dup = dup || g == gid;
        if (!dup) out.groups.push_back(gid);
        break;
      }
      members.remove_prefix(c == std::string_view::npos ? members.size() : c + 1);
    }
    return false;
  });
  return out;
}

Result<gid_t, Str> UserDb::group(std::string_view name) {
  bool numeric = is_number(name);
  uint32_t id = 0;
  if (numeric) {
    if (!parse_id(name, id)) return fmt("invalid group id %s", quote(name).c_str());
    return static_cast<gid_t>(id);
  }
  load();
  bool found = each_line(group_, [&](std::string_view line) {
    return field(line, 0) == name && parse_id(field(line, 2), id);
  });
  if (!found) return unknown("group", name, "/etc/group", group_err_);
  return static_cast<gid_t>(id);
}

}  // namespace oxinit
