// `oxinit ctl [-s SOCKET] COMMAND [ARGS]` (also `oxinitctl COMMAND`): sends
// one request to a running oxinit's control socket and prints the answer.
#pragma once

namespace oxinit::ctl {

// argv: what follows `ctl` (or `oxinitctl`). Returns the exit code: the
// answer's, or 1 when oxinit cannot be reached, 2 for a usage error.
int client_main(int argc, const char* const* argv, const char* const* envp);

}  // namespace oxinit::ctl
