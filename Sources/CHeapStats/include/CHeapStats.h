// Heap statistics for the allocation tests.
#ifndef SVGNET_CHEAPSTATS_H
#define SVGNET_CHEAPSTATS_H
#include <stddef.h>
/// Calls to malloc, calloc, realloc and the aligned allocators since the process started.
size_t svgnet_allocation_count(void);
/// Of those, the ones made while classifying (below) whose caller lies in libopenblas.
size_t svgnet_blas_allocation_count(void);
/// Turns the attribution of allocations to OpenBLAS on (non-zero) or off; off, counting costs one add.
void svgnet_classify_allocations(int on);
/// Bytes malloc currently has handed out (glibc mallinfo2: in-use chunks plus mmapped blocks).
size_t svgnet_heap_bytes_in_use(void);
#endif
