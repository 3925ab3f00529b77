// Counts heap allocations made anywhere in the process, so a test can prove that a training step
// allocates nothing. The definitions below interpose glibc's allocator for the executable that links
// this target (the test bundle) and forward to glibc's own entry points.
#define _GNU_SOURCE
#include "CHeapStats.h"
#include <malloc.h>
#include <stdatomic.h>
#include <errno.h>
#include <dlfcn.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_size_t allocationCount;
static atomic_size_t blasAllocationCount;
static atomic_int classifying;

// While classifying, an allocation whose caller lies in libopenblas is also counted apart. OpenBLAS
// allocates inside some sgemm calls: the threaded driver's job array, and on AVX-512 cores (SkylakeX,
// Cooperlake) the small-matrix kernel sgemm_small_kernel_b0_*, which mallocs a buffer per call. That
// is the library's business, not the schedule's; only classified regions pay for dladdr.
static inline void count(void *caller) {
    atomic_fetch_add_explicit(&allocationCount, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&classifying, memory_order_relaxed)) return;
    Dl_info info;
    if (dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libopenblas"))
        atomic_fetch_add_explicit(&blasAllocationCount, 1, memory_order_relaxed);
}
#define COUNT() count(__builtin_return_address(0))

void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    COUNT();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

size_t svgnet_allocation_count(void) { return atomic_load_explicit(&allocationCount, memory_order_relaxed); }
size_t svgnet_blas_allocation_count(void) { return atomic_load_explicit(&blasAllocationCount, memory_order_relaxed); }
void svgnet_classify_allocations(int on) { atomic_store_explicit(&classifying, on, memory_order_relaxed); }

size_t svgnet_heap_bytes_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
