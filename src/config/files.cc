#include "config/files.h"

#include <dirent.h>
#include <sys/stat.h>

#include <utility>

namespace oxinit {

std::vector<Str> default_config_files(std::string_view root) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  std::vector<Str> files;
  struct stat st;
  Str main = root + "/etc/oxinit.toml";
  if (stat(main.c_str(), &st) == 0) files.push_back(std::move(main));
  Str dir = root + "/etc/oxinit.d";
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  size_t first = files.size();
  while (dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= 5 || name.substr(name.size() - 5) != ".toml") continue;
    Str p = dir + "/";
    p += name;
    if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // Insertion sort: a directory holds a handful of files.
    files.push_back(std::move(p));
    for (size_t k = files.size() - 1; k > first && files[k] < files[k - 1]; k--) std::swap(files[k], files[k - 1]);
  }
  closedir(d);
  return files;
}

}  // namespace oxinit
