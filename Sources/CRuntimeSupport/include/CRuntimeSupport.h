#ifndef BAYESAGG_CRUNTIMESUPPORT_H
#define BAYESAGG_CRUNTIMESUPPORT_H

#include <stddef.h>

/// Instruction-set levels that both the processor and the operating system support.
/// Read with the cpuid instruction (which valgrind and other emulators answer for the
/// emulated processor) and xgetbv (which says whether the kernel saves the wide registers).
typedef struct {
  int avx2;     ///< AVX2 and FMA, with YMM state enabled.
  int avx512;   ///< AVX-512 F, DQ, CD, BW and VL, with ZMM state enabled.
} CPUFeatureLevels;

CPUFeatureLevels cpu_feature_levels(void);

/// Keeps large blocks in the heap instead of mapping and unmapping them on every malloc and
/// free (glibc's default above 128 KiB), so that buffers reallocated every training step do
/// not fault their pages in again.
void keep_large_allocations_in_heap(void);

/// The bytes malloc has handed out and not yet had back, over every arena and mapped block
/// (glibc's `mallinfo2`: `uordblks + hblkhd`). Walks the arenas' free lists under their locks.
size_t heap_bytes_in_use(void);

/// Returns the pages of every arena's free blocks to the system (glibc's `malloc_trim(0)`),
/// which `keep_large_allocations_in_heap` otherwise keeps resident.
void release_free_heap_pages(void);

#endif
