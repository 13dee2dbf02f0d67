#include "CKernels.h"

/// Whether element `index` of a window, holding `value`, takes over from the best so far: a
/// NaN over any number, a greater number, and among equals (or NaNs) the lower index. Bitwise
/// rather than branching, so that the loops over windows compile to selects.
static inline int beats(float value, int index, float best, int best_index) {
  int value_nan = value != value, best_nan = best != best, earlier = index < best_index;
  int greater = (value > best) | ((value == best) & earlier);
  return (value_nan & ((!best_nan) | earlier)) | ((!value_nan) & (!best_nan) & greater);
}

/// The maximum down each of `width` columns over window rows `first…last`, row `first` at
/// `top` and the others `width` floats apart, and the row it sits in: the rows come in
/// row-major order, so only a greater value, or a first NaN, takes over. Whole rows keep the
/// vector loops free of short remainders.
static inline void column_maxima(
    const float *restrict top, size_t width, int32_t first, int32_t last,
    float *restrict column_max, int32_t *restrict column_row) {
  for (size_t c = 0; c < width; c++) {
    column_max[c] = top[c];
    column_row[c] = first;
  }
  for (int32_t u = first + 1; u <= last; u++) {
    const float *row = top + (size_t)(u - first) * width;
// No predication: masked stores are microcoded on AMD's processors, and made this loop the
// slowest part of the CIFAR-MTL step there.
#pragma clang loop vectorize(enable)
    for (size_t c = 0; c < width; c++) {
      float value = row[c], best = column_max[c];
      int takes = (value > best) | ((value != value) & (best == best));
      column_max[c] = takes ? value : best;
      column_row[c] = takes ? u : column_row[c];
    }
  }
}

/// `column_maxima` over rows `0…k − 1`, with `k` a constant the caller passes: each column's
/// maximum and row stay in registers down the `k` rows, and are stored once.
static inline __attribute__((always_inline)) void column_maxima_unrolled(
    const float *restrict top, size_t width, int32_t k, float *restrict column_max,
    int32_t *restrict column_row) {
  for (size_t c = 0; c < width; c++) {
    float best = top[c];
    int32_t row = 0;
    for (int32_t u = 1; u < k; u++) {
      float value = top[(size_t)u * width + c];
      int takes = (value > best) | ((value != value) & (best == best));
      best = takes ? value : best;
      row = takes ? u : row;
    }
    column_max[c] = best;
    column_row[c] = row;
  }
}

/// The best of columns `c…c + k − 1` of the column maxima for every `c ≤ span − k`, as a value
/// and its offset `u·k + v` in the window starting at column `c`: a sliding window over whole
/// vectors, of which the caller keeps every `k`-th (the windows that tile the row). `k` times
/// the comparisons of the tiling windows alone, but in vectors rather than one window at a
/// time; `beats` is a strict order, so folding the columns left to right gives the same choice.
static inline __attribute__((always_inline)) void sliding_window_maxima(
    const float *restrict column_max, const int32_t *restrict column_row, size_t span,
    size_t k, float *restrict window_max, int32_t *restrict window_index) {
#pragma clang loop vectorize(enable)
  for (size_t c = 0; c + k <= span; c++) {
    float best = column_max[c];
    int32_t best_index = column_row[c] * (int32_t)k;
    for (size_t v = 1; v < k; v++) {
      float value = column_max[c + v];
      int32_t index = column_row[c + v] * (int32_t)k + (int32_t)v;
      int takes = beats(value, index, best, best_index);
      best = takes ? value : best;
      best_index = takes ? index : best_index;
    }
    window_max[c] = best;
    window_index[c] = best_index;
  }
}

/// The column maxima of one row of windows, then their sliding maxima, for a constant `k`.
static inline __attribute__((always_inline)) void row_window_maxima(
    const float *restrict top, size_t width, size_t span, int32_t k, float *restrict column_max,
    int32_t *restrict column_row, float *restrict window_max, int32_t *restrict window_index) {
  column_maxima_unrolled(top, width, k, column_max, column_row);
  sliding_window_maxima(column_max, column_row, span, (size_t)k, window_max, window_index);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_max_pool_tiles(
    const float *restrict x, size_t planes, size_t height, size_t width, size_t k,
    float *restrict pooled, uint8_t *restrict choices, float *restrict column_max,
    int32_t *restrict column_row) {
  const size_t out_height = height / k, out_width = width / k, span = out_width * k;
  if (out_width == 0) return;
  float window_max[span];
  int32_t window_index[span];
  for (size_t plane = 0; plane < planes; plane++) {
    const float *image = x + plane * height * width;
    float *y = pooled + plane * out_height * out_width;
    uint8_t *chosen = choices + plane * out_height * out_width;
    for (size_t i = 0; i < out_height; i++) {
      const float *top = image + i * k * width;
      if (span >= 16 && (k == 2 || k == 3)) {
        // Rows of several vectors, with a window size LLVM can unroll: the column maxima in
        // one pass, then the sliding maxima.
        if (k == 3) {
          row_window_maxima(top, width, span, 3, column_max, column_row, window_max, window_index);
        } else {
          row_window_maxima(top, width, span, 2, column_max, column_row, window_max, window_index);
        }
        for (size_t j = 0; j < out_width; j++) {
          y[i * out_width + j] = window_max[j * k];
          chosen[i * out_width + j] = (uint8_t)window_index[j * k];
        }
        continue;
      }
      // Short rows (where vectors would be mostly set-up) and other sizes: window by window.
      // Whole rows (`width` ≥ `span` columns) keep the vector loops free of short remainders.
      column_maxima(top, width, 0, (int32_t)k - 1, column_max, column_row);
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

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_max_pool_3x3_stride2(
    const float *restrict x, size_t planes, size_t height, size_t width, float *restrict pooled,
    uint8_t *restrict choices, float *restrict column_max, int32_t *restrict column_row) {
  const size_t out_height = (height - 1) / 2 + 1, out_width = (width - 1) / 2 + 1;
  for (size_t plane = 0; plane < planes; plane++) {
    const float *image = x + plane * height * width;
    float *y = pooled + plane * out_height * out_width;
    uint8_t *chosen = choices + plane * out_height * out_width;
    for (size_t i = 0; i < out_height; i++) {
      // Window rows 2i − 1 + u for u = 0, 1, 2 that lie in the plane; the first one starts
      // each column's search.
      const size_t first = i == 0 ? 1 : 0, last = 2 * i + 1 < height ? 2 : 1;
      column_maxima(
          image + (2 * i - 1 + first) * width, width, (int32_t)first, (int32_t)last, column_max,
          column_row);
      // Across the window's columns 2j − 1 + v: the middle one (always in the plane), then
      // the left and right ones, laid out one per window so that the loop over windows runs
      // on vectors. `beats` is a strict order, so the order of the comparisons does not
      // matter; a column outside the plane is −∞ at an index past the window's, which never
      // wins.
      float left[out_width], right[out_width];
      int left_index[out_width], right_index[out_width];
      for (size_t j = 0; j < out_width; j++) {
        left[j] = j > 0 ? column_max[2 * j - 1] : -__builtin_inff();
        left_index[j] = j > 0 ? column_row[2 * j - 1] * 3 : 9;
        right[j] = 2 * j + 1 < width ? column_max[2 * j + 1] : -__builtin_inff();
        right_index[j] = 2 * j + 1 < width ? column_row[2 * j + 1] * 3 + 2 : 9;
      }
#pragma clang loop vectorize(enable)
      for (size_t j = 0; j < out_width; j++) {
        float best = column_max[2 * j];
        int best_index = column_row[2 * j] * 3 + 1;
        int takes = beats(left[j], left_index[j], best, best_index);
        best = takes ? left[j] : best;
        best_index = takes ? left_index[j] : best_index;
        takes = beats(right[j], right_index[j], best, best_index);
        best = takes ? right[j] : best;
        best_index = takes ? right_index[j] : best_index;
        y[i * out_width + j] = best;
        chosen[i * out_width + j] = (uint8_t)best_index;
      }
    }
  }
}
