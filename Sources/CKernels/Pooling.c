#include "CKernels.h"

/// Whether element `index` of a window, holding `value`, takes over from the best so far: a
/// NaN over any number, a greater number, and among equals (or NaNs) the lower index. Bitwise
/// rather than branching, so that the loops over windows compile to selects.
static inline int beats(float value, int index, float best, int best_index) {
  int value_nan = value != value, best_nan = best != best, earlier = index < best_index;
  int greater = (value > best) | ((value == best) & earlier);
  return (value_nan & ((!best_nan) | earlier)) | ((!value_nan) & (!best_nan) & greater);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_max_pool_tiles(
    const float *restrict x, size_t planes, size_t height, size_t width, size_t k,
    float *restrict pooled, uint8_t *restrict choices, float *restrict column_max,
    int32_t *restrict column_row) {
  const size_t out_height = height / k, out_width = width / k;
  for (size_t plane = 0; plane < planes; plane++) {
    const float *image = x + plane * height * width;
    float *y = pooled + plane * out_height * out_width;
    uint8_t *chosen = choices + plane * out_height * out_width;
    for (size_t i = 0; i < out_height; i++) {
      const float *top = image + i * k * width;
      // Whole rows (`width` ≥ `span` columns) keep the vector loops free of short remainders.
      for (size_t c = 0; c < width; c++) {
        column_max[c] = top[c];
        column_row[c] = 0;
      }
      // Down a column the rows come in row-major order: only a greater value, or a first NaN,
      // takes over.
      for (size_t u = 1; u < k; u++) {
        const float *row = top + u * width;
#pragma clang loop vectorize(enable) vectorize_predicate(enable)
        for (size_t c = 0; c < width; c++) {
          float value = row[c], best = column_max[c];
          int takes = (value > best) | ((value != value) & (best == best));
          column_max[c] = takes ? value : best;
          column_row[c] = takes ? (int32_t)u : column_row[c];
        }
      }
      for (size_t j = 0; j < out_width; j++) {
        float best = column_max[j * k];
        int best_index = column_row[j * k] * (int)k;
        for (size_t v = 1; v < k; v++) {
          float value = column_max[j * k + v];
          int index = column_row[j * k + v] * (int)k + (int)v;
          int takes = beats(value, index, best, best_index);
          best = takes ? value : best;
          best_index = takes ? index : best_index;
        }
        y[i * out_width + j] = best;
        chosen[i * out_width + j] = (uint8_t)best_index;
      }
    }
  }
}
