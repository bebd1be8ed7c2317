// A small allocator for the musl build, in place of musl's mallocng (~10 KB
// of code and some metadata pages): oxinit allocates little, mostly at
// start-up, and never from more than one thread.
//
// Blocks come in power-of-two size classes (32 B .. 64 KiB) carved from
// 64 KiB mmap'd arenas and recycled through one free list per class; larger
// requests get their own mapping. Each block carries a 16-byte header with
// its class, so free() and realloc() need no lookup.
//
// The glibc test build compiles this file once more with OXINIT_ALLOC_PREFIX:
// ox_malloc, ox_free, ... beside libc's, so the unit tests (and the ASan
// build, which then also poisons freed blocks) exercise it.
#include "sys/alloc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(OXINIT_ALLOC_PREFIX) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define OX_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define OX_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define OX_POISON(p, n) ((void)(p), (void)(n))
#define OX_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace {

constexpr size_t kHeader = 16;
constexpr int kMinShift = 5;   // 32 bytes
constexpr int kMaxShift = 16;  // 64 KiB
constexpr size_t kArena = size_t{64} * 1024;
constexpr uint32_t kBigClass = 0xff;
constexpr uint32_t kScratchClass = 0xfe;  // size: the block's, header included

// 16 bytes on 32-bit targets too (uint64_t, not size_t), so every block
// stays 16-byte aligned as malloc promises.
struct Header {
  uint32_t cls;   // size class shift, kBigClass or kScratchClass
  uint32_t pad;
  uint64_t size;  // mapping length for big blocks, block length for scratch
};
static_assert(sizeof(Header) == kHeader);

struct FreeBlock {
  FreeBlock* next;
};

FreeBlock* g_free[kMaxShift + 1];
char* g_arena_next = nullptr;
char* g_arena_end = nullptr;

// Scratch arenas (alloc.h): each starts with the link to the one before.
bool g_scratch = false;
void* g_scratch_arenas = nullptr;
char* g_scratch_next = nullptr;
char* g_scratch_end = nullptr;

void* map(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

int class_for(size_t n) {
  size_t total = n + kHeader;
  int s = kMinShift;
  while ((size_t{1} << s) < total) s++;
  return s;
}

void* take(int cls) {
  if (FreeBlock* b = g_free[cls]) {
    g_free[cls] = b->next;
    OX_UNPOISON(b, size_t{1} << cls);
    return b;
  }
  size_t size = size_t{1} << cls;
  if (static_cast<size_t>(g_arena_end - g_arena_next) < size) {
    // The tail of the old arena is not wasted: split it into the free lists.
    for (int c = kMaxShift; c >= kMinShift; c--) {
      while (static_cast<size_t>(g_arena_end - g_arena_next) >= (size_t{1} << c)) {
        auto* f = reinterpret_cast<FreeBlock*>(g_arena_next);
        f->next = g_free[c];
        g_free[c] = f;
        g_arena_next += size_t{1} << c;
      }
    }
    char* a = static_cast<char*>(map(kArena));
    if (!a) return nullptr;
    g_arena_next = a;
    g_arena_end = a + kArena;
  }
  void* p = g_arena_next;
  g_arena_next += size;
  return p;
}

}  // namespace

extern "C" {

void* OX_ALLOC(malloc)(size_t n) {
  if (n > (size_t{1} << kMaxShift) - kHeader) {
    if (n > SIZE_MAX / 2) {
      errno = ENOMEM;
      return nullptr;
    }
    size_t len = (n + kHeader + 4095) & ~size_t{4095};
    auto* h = static_cast<Header*>(map(len));
    if (!h) {
      errno = ENOMEM;
      return nullptr;
    }
    h->cls = kBigClass;
    h->size = len;
    return reinterpret_cast<char*>(h) + kHeader;
  }
  if (g_scratch) {
    // Bump allocation, 16-byte granules: nothing is freed before the release.
    size_t size = (n + kHeader + 15) & ~size_t{15};
    if (static_cast<size_t>(g_scratch_end - g_scratch_next) < size) {
      char* a = static_cast<char*>(map(kArena));
      if (!a) {
        errno = ENOMEM;
        return nullptr;
      }
      *reinterpret_cast<void**>(a) = g_scratch_arenas;
      g_scratch_arenas = a;
      g_scratch_next = a + kHeader;
      g_scratch_end = a + kArena;
    }
    auto* h = reinterpret_cast<Header*>(g_scratch_next);
    g_scratch_next += size;
    h->cls = kScratchClass;
    h->size = size;
    return reinterpret_cast<char*>(h) + kHeader;
  }
  int cls = class_for(n);
  auto* h = static_cast<Header*>(take(cls));
  if (!h) {
    errno = ENOMEM;
    return nullptr;
  }
  h->cls = static_cast<uint32_t>(cls);
  return reinterpret_cast<char*>(h) + kHeader;
}

void OX_ALLOC(free)(void* p) {
  if (!p) return;
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader);
  if (h->cls == kBigClass) {
    munmap(h, static_cast<size_t>(h->size));
    return;
  }
  if (h->cls == kScratchClass) return;  // goes with its arena
  uint32_t cls = h->cls;
  auto* f = reinterpret_cast<FreeBlock*>(h);
  f->next = g_free[cls];
  g_free[cls] = f;
  OX_POISON(p, (size_t{1} << cls) - kHeader);  // a use after free is an ASan report
}

size_t OX_ALLOC(malloc_usable_size)(void* p) {
  if (!p) return 0;
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader);
  return (h->cls <= kMaxShift ? size_t{1} << h->cls : static_cast<size_t>(h->size)) - kHeader;
}

void* OX_ALLOC(realloc)(void* p, size_t n) {
  if (!p) return OX_ALLOC(malloc)(n);
  size_t have = OX_ALLOC(malloc_usable_size)(p);
  if (n <= have && n >= have / 4) return p;
  void* q = OX_ALLOC(malloc)(n);
  if (!q) return nullptr;
  memcpy(q, p, n < have ? n : have);
  OX_ALLOC(free)(p);
  return q;
}

void* OX_ALLOC(calloc)(size_t a, size_t b) {
  if (b && a > SIZE_MAX / b) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = OX_ALLOC(malloc)(a * b);
  if (p) memset(p, 0, a * b);
  return p;
}

void* OX_ALLOC(aligned_alloc)(size_t align, size_t n) {
  // Every block is 16-byte aligned; oxinit asks for no more.
  if (align > 16) {
    errno = EINVAL;
    return nullptr;
  }
  return OX_ALLOC(malloc)(n);
}

void OX_ALLOC(alloc_scratch)(int on) { g_scratch = on != 0; }

void OX_ALLOC(alloc_scratch_release)() {
  while (void* a = g_scratch_arenas) {
    g_scratch_arenas = *static_cast<void**>(a);
    munmap(a, kArena);
  }
  g_scratch_next = g_scratch_end = nullptr;
}

}  // extern "C"
