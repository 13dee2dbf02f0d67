#include "CKernels.h"

// The copies around the tap GEMMs of a 3×3, stride-1, padding-1 convolution of 2×2 planes
// (`Tensors/Tensor+Taps.swift`): plain loops, and 16-float vector shuffles for the filters.
// Each instruction-set level (AVX-512, AVX2, baseline) gets a clone, picked at run time. They
// only move and add floats, in the same order at every level.
#pragma clang fp contract(off)

#include "WinogradVectors.h"

#define SHUFFLE __builtin_shufflevector

// Sixteen channels of a filter, `[16, 9]`, are nine vectors; tap-major, `[9, 16]`, nine
// others. Tap `t = 3u + v` of channel `i` sits at `9i + t = 3(3i + u) + v`, so the transpose is
// two de-interleavings by 3: first the 144 floats into three streams by `v`, then each stream
// into three by `u`. Each takes three vectors to three with two two-source shuffles apiece.

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

KERNEL
void bayesagg_taps_pack_weights(
    const float *restrict w, float *restrict packed, size_t begin, size_t end,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    const float *filter = w + 9 * in_channels * o;
    float *row = packed + 9 * in_channels * o;
    size_t c = 0;
    for (; c + LANES <= in_channels; c += LANES) {
      // by_v[v][q] holds floats 16q… of the stream of taps (·, v), in order 3i + u.
      const float *block = filter + 9 * c;
      lanes by_v[3][3];
      for (size_t q = 0; q < 3; q++) {
        lanes x = LOAD(block + 48 * q), y = LOAD(block + 48 * q + 16);
        lanes z = LOAD(block + 48 * q + 32);
        DEINTERLEAVE3(by_v[0][q], by_v[1][q], by_v[2][q], x, y, z);
      }
      for (size_t v = 0; v < 3; v++) {
        lanes u0, u1, u2;
        DEINTERLEAVE3(u0, u1, u2, by_v[v][0], by_v[v][1], by_v[v][2]);
        STORE(row + v * in_channels + c, u0);
        STORE(row + (3 + v) * in_channels + c, u1);
        STORE(row + (6 + v) * in_channels + c, u2);
      }
    }
    for (; c < in_channels; c++) {
      for (size_t t = 0; t < 9; t++) row[t * in_channels + c] = filter[9 * c + t];
    }
  }
}

KERNEL
void bayesagg_taps_unpack_weights(
    const float *restrict packed, float *restrict w, size_t begin, size_t end,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    const float *row = packed + 9 * in_channels * o;
    float *filter = w + 9 * in_channels * o;
    size_t c = 0;
    for (; c + LANES <= in_channels; c += LANES) {
      // The steps of `bayesagg_taps_pack_weights` undone in reverse order.
      float *block = filter + 9 * c;
      lanes by_v[3][3];
      for (size_t v = 0; v < 3; v++) {
        lanes u0 = LOAD(row + v * in_channels + c), u1 = LOAD(row + (3 + v) * in_channels + c);
        lanes u2 = LOAD(row + (6 + v) * in_channels + c);
        INTERLEAVE3(by_v[v][0], by_v[v][1], by_v[v][2], u0, u1, u2);
      }
      for (size_t q = 0; q < 3; q++) {
        lanes x, y, z;
        INTERLEAVE3(x, y, z, by_v[0][q], by_v[1][q], by_v[2][q]);
        STORE(block + 48 * q, x);
        STORE(block + 48 * q + 16, y);
        STORE(block + 48 * q + 32, z);
      }
    }
    for (; c < in_channels; c++) {
      for (size_t t = 0; t < 9; t++) filter[9 * c + t] = row[t * in_channels + c];
    }
  }
}

KERNEL
void bayesagg_taps_pack_planes(
    const float *restrict x, float *restrict rows, float *restrict columns, size_t images,
    size_t channels) {
  for (size_t c = 0; c < channels; c++) {
    for (size_t s = 0; s < 4; s++) {
      // Slot `s = 2i + j` of the row order is slot `2j + i` of the column order.
      float *row = rows + (4 * c + s) * images;
      float *column = columns + (4 * c + ((s & 1) << 1 | s >> 1)) * images;
      for (size_t n = 0; n < images; n++) {
        float value = x[(n * channels + c) * 4 + s];
        row[n] = value;
        column[n] = value;
      }
    }
  }
}

KERNEL
void bayesagg_taps_unpack_planes(
    const float *restrict rows, const float *restrict columns, const float *restrict bias,
    float *restrict y, size_t images, size_t channels) {
  for (size_t c = 0; c < channels; c++) {
    float b = bias ? bias[c] : 0;
    for (size_t s = 0; s < 4; s++) {
      const float *row = rows + (4 * c + s) * images;
      const float *column = columns + (4 * c + ((s & 1) << 1 | s >> 1)) * images;
      for (size_t n = 0; n < images; n++) {
        y[(n * channels + c) * 4 + s] = bias ? (row[n] + column[n]) + b : row[n] + column[n];
      }
    }
  }
}
