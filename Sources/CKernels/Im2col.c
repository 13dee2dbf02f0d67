// The unfolding (im2col) of stride-2 convolutions and its adjoint, for
// `Tensors/Tensor+Convolution.swift`: every other float of a padded row, sixteen at a time from
// two overlapping vector loads that stay within the floats the row uses. Each instruction-set
// level (AVX-512, AVX2, baseline) gets a clone, picked at run time; they only move and add
// floats, in the same order at every level.
#include "CKernels.h"
#include "WinogradVectors.h"

/// Eight floats, for rows too short for `lanes`.
typedef float half_lanes __attribute__((vector_size(32)));
typedef float unaligned_half_lanes __attribute__((vector_size(32), aligned(4), may_alias));

/// `to[j] = from[2j]` for `j < count`: sixteen at a time from `from[2j…2j + 15]` and
/// `from[2j + 15…2j + 30]`, so that nothing past `from[2(count − 1)]` is read; then eight at a
/// time likewise.
static inline void gather_even(const float *restrict from, float *restrict to, size_t count) {
  size_t j = 0;
  for (; j + LANES <= count; j += LANES) {
    lanes low = LOAD(from + 2 * j), high = LOAD(from + 2 * j + LANES - 1);
    STORE(to + j, SHUFFLE(low, high, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29,
                          31));
  }
  for (; j + 8 <= count; j += 8) {
    half_lanes low = *(const unaligned_half_lanes *)(from + 2 * j);
    half_lanes high = *(const unaligned_half_lanes *)(from + 2 * j + 7);
    *(unaligned_half_lanes *)(to + j) = SHUFFLE(low, high, 0, 2, 4, 6, 9, 11, 13, 15);
  }
  for (; j < count; j++) to[j] = from[2 * j];
}

/// `to[2j] += from[j]` for `j < count`, the adjoint of `gather_even`: the sums in the same
/// order as one at a time.
static inline void scatter_add_even(
    const float *restrict from, float *restrict to, size_t count) {
  size_t j = 0;
  for (; j + LANES <= count; j += LANES) {
    // Each vector of targets gets the values on its even (`low`) or odd (`high`) lanes and
    // −0 between them, which leaves every float, ±0 included, as it was.
    lanes values = LOAD(from + j), keep = {0};
    keep = -keep;
    lanes low = LOAD(to + 2 * j);
    low += SHUFFLE(values, keep, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    STORE(to + 2 * j, low);
    lanes high = LOAD(to + 2 * j + LANES - 1);
    high += SHUFFLE(values, keep, 16, 8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15);
    STORE(to + 2 * j + LANES - 1, high);
  }
  for (; j < count; j++) to[2 * j] += from[j];
}

KERNEL
void bayesagg_unfold_stride2(
    const float *restrict image, size_t channels, size_t padded_height, size_t padded_width,
    size_t kernel_height, size_t kernel_width, size_t out_height, size_t out_width,
    float *restrict columns, size_t pitch) {
  size_t row = 0;
  for (size_t c = 0; c < channels; c++) {
    for (size_t u = 0; u < kernel_height; u++) {
      for (size_t v = 0; v < kernel_width; v++, row++) {
        const float *source = image + (c * padded_height + u) * padded_width + v;
        float *target = columns + row * pitch;
        for (size_t i = 0; i < out_height; i++) {
          gather_even(source + 2 * i * padded_width, target + i * out_width, out_width);
        }
      }
    }
  }
}

KERNEL
void bayesagg_fold_stride2(
    const float *restrict columns, size_t pitch, size_t channels, size_t padded_height,
    size_t padded_width, size_t kernel_height, size_t kernel_width, size_t out_height,
    size_t out_width, float *restrict image) {
  size_t row = 0;
  for (size_t c = 0; c < channels; c++) {
    for (size_t u = 0; u < kernel_height; u++) {
      for (size_t v = 0; v < kernel_width; v++, row++) {
        const float *source = columns + row * pitch;
        float *target = image + (c * padded_height + u) * padded_width + v;
        for (size_t i = 0; i < out_height; i++) {
          scatter_add_even(source + i * out_width, target + 2 * i * padded_width, out_width);
        }
      }
    }
  }
}
