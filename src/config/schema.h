// Value tree -> Config: every key checked against the schema, with the
// position of the offending key or value in each message.
#pragma once
#include <string_view>
#include <vector>

#include "config/error.h"
#include "spec.h"
#include "sys/str.h"
#include "config/files.h"
#include "sys/result.h"
#include "sys/text.h"  // edit_distance
#include "users.h"

namespace oxinit {

// Parses one file's text and adds it to out: its services are appended
// (a name already in out is an error naming both places), its [init] keys
// replace earlier values. User and group names are looked up in users.
Result<void, ConfigError> parse_config(std::string_view text, std::string_view file, Config& out,
                                       UserDb& users);

// The same without the filesystem, for fuzzing: user and group names resolve
// against empty passwd/group files (numbers still work).
Result<void, ConfigError> parse_config_text(std::string_view text, std::string_view file, Config& out);

// Reads and parses files in order into out (an empty list or an empty file is
// an empty config). Users come from users_root + /etc/passwd and /etc/group.
// enabled = false: such a service leaves `services` for `disabled`, and an
// `after` naming it is satisfied (the name is dropped). load_config does it
// once every file is read (a drop-in may disable a service).
void drop_disabled(Config& c);

Result<void, ConfigError> load_config(const std::vector<Str>& files, Config& out,
                                      std::string_view users_root = "");

// For --check: each service's env_file as the image at root sees it ("" for
// the real /), read as a start would read it. One line per file that cannot
// be read: "FILE:LINE: service 'web': env_file PATH: reason". Warnings, not
// errors: a file may be mounted only at run time (a secret).
std::vector<Str> unreadable_env_files(const std::vector<ServiceSpec>& services, std::string_view root);

}  // namespace oxinit
