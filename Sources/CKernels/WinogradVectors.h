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

#define SHUFFLE __builtin_shufflevector


/// `(p0, p1, p2)[i] = (x | y | z)[3i + r]` for `r = 0, 1, 2`, `i < 16`: every third float of
/// the 48 that `x`, `y` and `z` hold, from the `r`-th.
#define DEINTERLEAVE3(p0, p1, p2, x, y, z)                                                     \
  do {                                                                                        \
    lanes s0_ = SHUFFLE(x, y, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, -1, -1, -1, -1, -1);    \
    lanes s1_ = SHUFFLE(x, y, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, -1, -1, -1, -1, -1);   \
    lanes s2_ = SHUFFLE(x, y, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, -1, -1, -1, -1, -1, -1);   \
    (p0) = SHUFFLE(s0_, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29);             \
    (p1) = SHUFFLE(s1_, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30);             \
    (p2) = SHUFFLE(s2_, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31);             \
  } while (0)

/// The inverse of `DEINTERLEAVE3`: `(x | y | z)[3i + r] = p_r[i]`.
#define INTERLEAVE3(x, y, z, p0, p1, p2)                                                       \
  do {                                                                                        \
    lanes t0_ = SHUFFLE(p0, p1, 0, 16, -1, 1, 17, -1, 2, 18, -1, 3, 19, -1, 4, 20, -1, 5);    \
    lanes t1_ = SHUFFLE(p0, p1, 21, -1, 6, 22, -1, 7, 23, -1, 8, 24, -1, 9, 25, -1, 10, 26);  \
    lanes t2_ =                                                                               \
        SHUFFLE(p0, p1, -1, 11, 27, -1, 12, 28, -1, 13, 29, -1, 14, 30, -1, 15, 31, -1);      \
    (x) = SHUFFLE(t0_, p2, 0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15);          \
    (y) = SHUFFLE(t1_, p2, 0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15);          \
    (z) = SHUFFLE(t2_, p2, 26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31);         \
  } while (0)

// Sixteen consecutive 3×3 filters, `[16, 9]`, are nine vectors; by tap, `[9, 16]`, nine others.
// Tap `k = 3u + v` of filter `i` sits at `9i + k = 3(3i + u) + v`, so the transpose is two
// de-interleavings by 3: first the 144 floats into three streams by `v`, then each stream into
// three by `u`; each takes three vectors to three with two two-source shuffles apiece.

/// Sets `taps[k]` (`lanes taps[9]`) to tap `k` of the `count` ≤ 16 consecutive filters of
/// nine floats at `w`, followed by zeros: vector loads and shuffles when `count` is all lanes.
#define LOAD_TAPS(taps, w, count)                                                              \
  do {                                                                                        \
    if ((count) == LANES) {                                                                   \
      lanes by_v_[3][3];                                                                      \
      for (int q_ = 0; q_ < 3; q_++) {                                                        \
        lanes x_ = LOAD((w) + 48 * q_), y_ = LOAD((w) + 48 * q_ + 16);                        \
        lanes z_ = LOAD((w) + 48 * q_ + 32);                                                  \
        DEINTERLEAVE3(by_v_[0][q_], by_v_[1][q_], by_v_[2][q_], x_, y_, z_);                  \
      }                                                                                       \
      for (int v_ = 0; v_ < 3; v_++) {                                                        \
        DEINTERLEAVE3((taps)[v_], (taps)[3 + v_], (taps)[6 + v_], by_v_[v_][0], by_v_[v_][1], \
                      by_v_[v_][2]);                                                          \
      }                                                                                       \
    } else {                                                                                  \
      float by_tap_[9][LANES] = {{0}};                                                        \
      for (size_t l_ = 0; l_ < (count); l_++) {                                               \
        for (int k_ = 0; k_ < 9; k_++) by_tap_[k_][l_] = (w)[9 * l_ + k_];                    \
      }                                                                                       \
      for (int k_ = 0; k_ < 9; k_++) (taps)[k_] = LOAD(by_tap_[k_]);                          \
    }                                                                                         \
  } while (0)

/// The inverse of `LOAD_TAPS`: stores the first `count` lanes of `taps[k]` as tap `k` of the
/// `count` consecutive filters of nine floats at `w`.
#define STORE_TAPS(w, taps, count)                                                             \
  do {                                                                                        \
    if ((count) == LANES) {                                                                   \
      lanes by_v_[3][3];                                                                      \
      for (int v_ = 0; v_ < 3; v_++) {                                                        \
        INTERLEAVE3(by_v_[v_][0], by_v_[v_][1], by_v_[v_][2], (taps)[v_], (taps)[3 + v_],     \
                    (taps)[6 + v_]);                                                          \
      }                                                                                       \
      for (int q_ = 0; q_ < 3; q_++) {                                                        \
        lanes x_, y_, z_;                                                                     \
        INTERLEAVE3(x_, y_, z_, by_v_[0][q_], by_v_[1][q_], by_v_[2][q_]);                    \
        STORE((w) + 48 * q_, x_);                                                             \
        STORE((w) + 48 * q_ + 16, y_);                                                        \
        STORE((w) + 48 * q_ + 32, z_);                                                        \
      }                                                                                       \
    } else {                                                                                  \
      float by_tap_[9][LANES];                                                                \
      for (int k_ = 0; k_ < 9; k_++) STORE(by_tap_[k_], (taps)[k_]);                          \
      for (size_t l_ = 0; l_ < (count); l_++) {                                               \
        for (int k_ = 0; k_ < 9; k_++) (w)[9 * l_ + k_] = by_tap_[k_][l_];                    \
      }                                                                                       \
    }                                                                                         \
  } while (0)

#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))

#endif
