// oxinit's allocator (alloc.cc): the musl build's malloc, free, realloc,
// calloc, aligned_alloc and malloc_usable_size. The glibc test build makes a
// second copy under ox_* names (OXINIT_ALLOC_PREFIX) for the unit tests.
#pragma once
#include <cstddef>

#ifdef OXINIT_ALLOC_PREFIX
#define OX_ALLOC(name) ox_##name
extern "C" {
void* ox_malloc(size_t n);
void ox_free(void* p);
void* ox_realloc(void* p, size_t n);
void* ox_calloc(size_t a, size_t b);
void* ox_aligned_alloc(size_t align, size_t n);
size_t ox_malloc_usable_size(void* p);
void ox_alloc_scratch(int on);
void ox_alloc_scratch_release();
}
#else
#define OX_ALLOC(name) name
#endif

// Scratch blocks, for what lives only while a service list is read (its
// parse tree): while alloc_scratch(1) is on, small blocks come from arenas
// of their own, their free() does nothing, and alloc_scratch_release() unmaps
// those arenas at once. Freed into the free lists instead, a list of 1,000
// services would leave about 500 bytes each of blocks that stay resident.
// The caller guarantees that no scratch block is in use at the release.
// Builds on libc's malloc (tests, sanitizers) make both calls no-ops.
#ifdef OXINIT_OWN_ALLOC
extern "C" {
void alloc_scratch(int on);
void alloc_scratch_release();
}
#else
inline void alloc_scratch(int) {}
inline void alloc_scratch_release() {}
#endif
