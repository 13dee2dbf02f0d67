#include "CKernels.h"

// The copies around the tap GEMMs of a 3×3, stride-1, padding-1 convolution of 2×2 planes
// (`Tensors/Tensor+Taps.swift`): plain loops, and `LOAD_TAPS` and `STORE_TAPS` for the
// filters. Each instruction-set level (AVX-512, AVX2, baseline) gets a clone, picked at run
// time. They only move and add floats, in the same order at every level.
#pragma clang fp contract(off)

#include "WinogradVectors.h"

KERNEL
void bayesagg_taps_pack_weights(
    const float *restrict w, float *restrict packed, size_t begin, size_t end,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    const float *filter = w + 9 * in_channels * o;
    float *row = packed + 9 * in_channels * o;
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      lanes taps[9];
      LOAD_TAPS(taps, filter + 9 * c, count);
      for (size_t t = 0; t < 9; t++) STORE_FIRST(row + t * in_channels + c, taps[t], count);
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
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      lanes taps[9];
      for (size_t t = 0; t < 9; t++) LOAD_FIRST(taps[t], row + t * in_channels + c, count);
      STORE_TAPS(filter + 9 * c, taps, count);
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
