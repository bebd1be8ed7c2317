// EINTR helpers: retry a syscall that a signal interrupted, keep errno.
#pragma once
#include <cerrno>

namespace oxinit {

template <class F>
auto retry_eintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace oxinit
