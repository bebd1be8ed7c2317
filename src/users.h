// Users and groups from /etc/passwd and /etc/group, read directly: a static
// musl binary has no NSS, and containers rarely have more than these files.
#pragma once
#include <sys/types.h>

#include <string_view>
#include <vector>

#include "sys/result.h"
#include "sys/str.h"

namespace oxinit {

// The two files, read once on first use below `root` ("" for the real /etc),
// or given as text (tests, fuzzing).
class UserDb {
 public:
  explicit UserDb(std::string_view root) : root_(root) {}
  UserDb(std::string_view passwd, std::string_view group)
      : loaded_(true), passwd_(passwd), group_(group) {}

  struct User {
    uid_t uid = 0;
    gid_t gid = 0;               // primary group
    std::vector<gid_t> groups;   // primary first, then every group listing the user
    Str name, home, shell;       // passwd fields 1, 6, 7 ("" for a number not in passwd)
  };

  // Name or decimal number. A number not in passwd is still accepted (as
  // `docker run --user 1000` does) with primary group 0. The error is the
  // reason: an unknown name or a bad number.
  Result<User, Str> user(std::string_view name);
  Result<gid_t, Str> group(std::string_view name);

 private:
  void load();
  Str root_;
  bool loaded_ = false;
  int passwd_err_ = 0, group_err_ = 0;
  Str passwd_, group_;
};

}  // namespace oxinit
