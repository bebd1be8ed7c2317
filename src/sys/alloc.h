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
}
#else
#define OX_ALLOC(name) name
#endif
