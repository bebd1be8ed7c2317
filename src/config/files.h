// Which config files a run reads when -c names none. Apart from the parser:
// exec mode calls it on every start and must not fault in the parser's code
// (build-aux/layout.ld).
#pragma once
#include <string_view>
#include <vector>

#include "sys/str.h"

namespace oxinit {

// root/etc/oxinit.toml if it exists, then root/etc/oxinit.d/*.toml in name
// order (regular files, or symlinks to them; dot files skipped).
std::vector<Str> default_config_files(std::string_view root);

}  // namespace oxinit
