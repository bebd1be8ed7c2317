// The musl build's allocator (src/sys/alloc.cc), linked here as ox_malloc &
// co. beside glibc's: sizes at each class boundary, alignment, reuse,
// realloc growth and shrink, calloc, failures. In the ASan build freed
// blocks are poisoned, so a use after free in the allocator's users shows.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sys/alloc.h"

namespace {

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Every byte of p[0..n) holds v.
bool filled(const void* p, size_t n, unsigned char v) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) {
    if (c[i] != v) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("alloc: every size class, aligned, usable, writable") {
  std::vector<size_t> sizes = {0, 1, 15, 16, 17, 31, 32, 33, 48, 111, 112, 113, 4080, 4081, 65504, 65505, 65536,
                               65537, 100000, 1 << 20};
  for (int s = 5; s <= 17; s++) {
    size_t b = size_t{1} << s;
    for (size_t n : {b - 17, b - 16, b - 15}) sizes.push_back(n);
  }
  for (size_t n : sizes) {
    CAPTURE(n);
    void* p = ox_malloc(n);
    REQUIRE(p);
    CHECK(aligned16(p));
    CHECK(ox_malloc_usable_size(p) >= n);
    CHECK(ox_malloc_usable_size(p) <= (n + 16 <= 65536 ? 2 * n + 32 : n + 4096));
    std::memset(p, 0xa5, ox_malloc_usable_size(p));
    ox_free(p);
  }
  ox_free(nullptr);
  CHECK(ox_malloc_usable_size(nullptr) == 0);
}

TEST_CASE("alloc: blocks do not overlap, and a freed block is reused") {
  std::vector<unsigned char*> ps;
  uint32_t st = 7;
  for (int i = 0; i < 2000; i++) {
    st = st * 1103515245 + 12345;
    size_t n = (st >> 16) % 3000;
    auto* p = static_cast<unsigned char*>(ox_malloc(n + 1));
    REQUIRE(p);
    p[0] = static_cast<unsigned char>(i);
    std::memset(p, i & 0xff, n + 1);
    ps.push_back(p);
  }
  for (size_t i = 0; i < ps.size(); i++) {
    CAPTURE(i);
    CHECK(ps[i][0] == static_cast<unsigned char>(i));
    CHECK(filled(ps[i], ox_malloc_usable_size(ps[i]) < 1 ? 0 : 1, static_cast<unsigned char>(i)));
  }
  for (unsigned char* p : ps) ox_free(p);
  void* a = ox_malloc(100);
  ox_free(a);
  void* b = ox_malloc(100);  // same class: the block just freed
  CHECK(a == b);
  ox_free(b);
}

TEST_CASE("alloc: realloc grows and shrinks, keeping the contents") {
  auto* p = static_cast<unsigned char*>(ox_realloc(nullptr, 10));
  REQUIRE(p);
  std::memset(p, 1, 10);
  size_t n = 10;
  for (size_t next : {size_t{20}, size_t{100}, size_t{5000}, size_t{70000}, size_t{300000}}) {
    auto* q = static_cast<unsigned char*>(ox_realloc(p, next));
    REQUIRE(q);
    CHECK(aligned16(q));
    CHECK(filled(q, n, 1));
    std::memset(q, 1, next);
    p = q;
    n = next;
  }
  // A small shrink keeps the block; a large one moves to a smaller class.
  void* same = ox_realloc(p, n - 1000);
  CHECK(same == p);
  auto* small = static_cast<unsigned char*>(ox_realloc(same, 50));
  REQUIRE(small);
  CHECK(filled(small, 50, 1));
  CHECK(ox_malloc_usable_size(small) == 112);  // 50 + the header: the 128-byte class
  void* zero = ox_realloc(small, 0);  // like malloc(0): a valid, freeable block
  REQUIRE(zero);
  ox_free(zero);
}

TEST_CASE("alloc: calloc, aligned_alloc and failures") {
  auto* z = static_cast<unsigned char*>(ox_calloc(100, 40));
  REQUIRE(z);
  CHECK(filled(z, 4000, 0));
  std::memset(z, 9, 4000);
  ox_free(z);
  z = static_cast<unsigned char*>(ox_calloc(100, 40));  // the same, dirty block comes back zeroed
  CHECK(filled(z, 4000, 0));
  ox_free(z);
  errno = 0;
  CHECK(ox_calloc(SIZE_MAX / 2, 3) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(ox_malloc(SIZE_MAX) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(ox_malloc(SIZE_MAX / 2 + 1) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(ox_malloc(SIZE_MAX - 4096) == nullptr);  // the page rounding must not wrap
  CHECK(errno == ENOMEM);
  void* keep = ox_malloc(64);
  REQUIRE(keep);
  CHECK(ox_realloc(keep, SIZE_MAX) == nullptr);  // a failed realloc keeps the old block
  std::memset(keep, 0, 64);
  ox_free(keep);
  void* a = ox_aligned_alloc(16, 48);
  CHECK(aligned16(a));
  ox_free(a);
  a = ox_aligned_alloc(8, 8);
  CHECK(a);
  ox_free(a);
  errno = 0;
  CHECK(ox_aligned_alloc(32, 64) == nullptr);
  CHECK(errno == EINVAL);
}

TEST_CASE("alloc: scratch blocks go at the release, the others stay") {
  auto* kept = static_cast<unsigned char*>(ox_malloc(100));
  REQUIRE(kept);
  std::memset(kept, 0x11, 100);
  ox_alloc_scratch(1);
  std::vector<unsigned char*> scratch;
  for (int i = 0; i < 3000; i++) {  // more than one 64 KiB arena
    size_t n = static_cast<size_t>(i % 97) + 1;
    auto* p = static_cast<unsigned char*>(ox_malloc(n));
    REQUIRE(p);
    CHECK(aligned16(p));
    CHECK(ox_malloc_usable_size(p) >= n);
    CHECK(ox_malloc_usable_size(p) < n + 16);  // 16-byte granules, not powers of two
    std::memset(p, i & 0xff, n);
    scratch.push_back(p);
  }
  auto* big = static_cast<unsigned char*>(ox_malloc(100000));  // a mapping of its own, as always
  REQUIRE(big);
  ox_free(big);
  // realloc: a scratch block grows into another scratch block, contents kept.
  auto* grown = static_cast<unsigned char*>(ox_realloc(scratch[5], 500));
  REQUIRE(grown);
  CHECK(filled(grown, 6, 5));
  ox_free(scratch[7]);  // a no-op: the block stays as it was
  CHECK(filled(scratch[7], 8, 7));
  ox_alloc_scratch(0);
  // Out of scratch: a copy of a scratch block is an ordinary block.
  auto* copy = static_cast<unsigned char*>(ox_realloc(grown, 5000));
  REQUIRE(copy);
  CHECK(filled(copy, 6, 5));
  CHECK(ox_malloc_usable_size(copy) >= 5000);
  unsigned char* first = scratch[0];
  ox_alloc_scratch_release();
  // The arenas are unmapped: mincore(2) says ENOMEM for an address not mapped.
  unsigned char vec = 0;
  void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(first) & ~uintptr_t{4095});
  errno = 0;
  CHECK(mincore(page, 4096, &vec) == -1);
  CHECK(errno == ENOMEM);
  // What was allocated outside scratch is untouched, and allocation goes on.
  CHECK(filled(kept, 100, 0x11));
  CHECK(filled(copy, 6, 5));
  ox_free(copy);
  ox_free(kept);
  void* again = ox_malloc(40);
  CHECK(again);
  ox_free(again);
  ox_alloc_scratch_release();  // nothing left: a no-op
}
