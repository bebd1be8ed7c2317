// The few pieces of the C++ runtime that header-only templates need, so the
// binary links against musl's libc alone (-nodefaultlibs, no libstdc++).
// Built into the musl binary only; the glibc test build uses libstdc++.
#include <cstdlib>
#include <new>

void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) std::abort();  // no exceptions: out of memory is fatal
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace std {
[[noreturn]] void __throw_length_error(const char*) { abort(); }
[[noreturn]] void __throw_bad_alloc() { abort(); }
[[noreturn]] void __throw_bad_array_new_length() { abort(); }
[[noreturn]] void __throw_logic_error(const char*) { abort(); }
[[noreturn]] void __throw_out_of_range_fmt(const char*, ...) { abort(); }
}  // namespace std

// Pure virtual calls and static-init guards are not used; keep the linker
// from pulling libsupc++ for them.
extern "C" void __cxa_pure_virtual() { abort(); }
