#include "CRuntimeSupport.h"

#include <malloc.h>

void keep_large_allocations_in_heap(void) {
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

size_t heap_bytes_in_use(void) {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

void release_free_heap_pages(void) {
  malloc_trim(0);
}
