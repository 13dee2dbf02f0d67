#ifndef BAYESAGG_WINOGRAD_VECTORS_H
#define BAYESAGG_WINOGRAD_VECTORS_H

// The vectors and kernel attributes shared by the Winograd kernels (`Winograd.c`,
// `Winograd4x4.c`) and the tap kernels (`Taps.c`): 64-byte clang vectors of 16 floats, one
// clone of each kernel per instruction-set level, no contraction into fused multiply-adds so
// that every level rounds alike.
#pragma clang fp contract(off)

typedef float lanes __attribute__((vector_size(64)));
/// The same vector at any float's alignment, allowed to alias floats, for loads and stores.
typedef float unaligned_lanes __attribute__((vector_size(64), aligned(4), may_alias));

enum { LANES = 16 };

// Macros rather than functions: vectors are never passed by value, which would tie the
// baseline clone to an AVX-512 calling convention.
#define LOAD(p) (*(const unaligned_lanes *)(p))
#define STORE(p, v) (*(unaligned_lanes *)(p) = (v))
#define ADD(p, v) (*(unaligned_lanes *)(p) += (v))
/// Stores the first `count` lanes of `v` at `p`: one vector store when `count` is all of them.
#define STORE_FIRST(p, v, count)                                       \
  do {                                                                 \
    if ((count) == LANES) {                                            \
      STORE(p, v);                                                     \
    } else {                                                           \
      for (size_t l_ = 0; l_ < (count); l_++) (p)[l_] = (v)[l_];       \
    }                                                                  \
  } while (0)
/// Sets `v` to the `count` floats at `p` followed by zeros: one vector load when `count` is all.
#define LOAD_FIRST(v, p, count)                                        \
  do {                                                                 \
    if ((count) == LANES) {                                            \
      (v) = LOAD(p);                                                   \
    } else {                                                           \
      float padded_[LANES] = {0};                                      \
      for (size_t l_ = 0; l_ < (count); l_++) padded_[l_] = (p)[l_];   \
      (v) = LOAD(padded_);                                             \
    }                                                                  \
  } while (0)

#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))

#endif
