#include "ctl/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ctl/protocol.h"
#include "ctl/server.h"
#include "sys/str.h"

namespace oxinit::ctl {

namespace {

void put(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = write(fd, s.data(), s.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s.remove_prefix(static_cast<size_t>(w));
  }
}

// To stderr (a message in pieces: the same bytes as one write).
[[gnu::noinline]] void say(const char* s) { put(2, s); }

const char kUsageText[] =
    "usage: oxinit ctl [-s SOCKET] COMMAND (or oxinitctl COMMAND)\n"
    "  status [NAME...] [--json] | start NAME... | stop NAME... | restart NAME...\n"
    "  signal NAME SIGNAL | health | logs NAME [-n N] [-f] | reload\n"
    "  shutdown [--reboot|--halt|--poweroff]\n"
    "SOCKET: -s, $OXINIT_CONTROL_SOCKET or /run/oxinit/control.sock\n";

}  // namespace

int client_main(int argc, const char* const* argv, const char* const*) {
  const char* path = getenv("OXINIT_CONTROL_SOCKET");
  if (!path || !*path) path = kDefaultSocket;
  int i = 0;
  if (i < argc && !strncmp(argv[i], "-s", 2)) {
    path = argv[i][2] || i + 1 == argc ? argv[i] + 2 : argv[++i];
    i++;
  }
  if (i == argc || argv[i][0] == '-') {
    put(i == argc ? 2 : 1, kUsageText);
    return i == argc ? kUsage : kOk;
  }
  // The words, one line; a word is never empty and holds no blank (names,
  // signals, options), so the line says exactly what argv said.
  Str req;
  const char* why = nullptr;
  bool follow = false;
  for (; i < argc; i++) {
    std::string_view a = argv[i];
    follow |= !strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow");
    for (char c : a) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) why = "an argument with a blank";
    }
    req += a;
    req += i + 1 < argc ? " " : "\n";
  }
  if (req.size() > kMaxRequest) why = "too many arguments";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  int fd = -1;
  if (!why && len < sizeof addr.sun_path) {
    std::memcpy(addr.sun_path, path, len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fd = -1;
  }
  // An oxinit that never answers (stopped) does not hang us; `logs -f` waits.
  timeval tv = {30, 0};
  if (fd >= 0 && !follow) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // A refusal may come before the request is read: the answer tells.
  if (fd >= 0) send(fd, req.c_str(), req.size(), MSG_NOSIGNAL);
  if (fd < 0) {
    const char* err = strerror(errno);
    say("oxinit ctl: ");
    if (why) {
      say(why);
    } else {
      say("no oxinit answers on ");
      say(path);
      say(": ");
      say(err);
    }
    say("\n");
    return why ? kUsage : kFailed;
  }
  char buf[4096];
  size_t have = 0;
  int code = -1;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    size_t at = 0;
    if (code < 0) {
      int h = parse_answer_head(std::string_view(buf, have), code);
      if (h < 0) break;
      if (h == 0) continue;
      at = static_cast<size_t>(h);
    }
    put(code ? 2 : 1, std::string_view(buf + at, have - at));
    have = 0;
  }
  if (code >= 0) return code;
  say("oxinit ctl: no answer from oxinit\n");
  return kFailed;
}

}  // namespace oxinit::ctl
