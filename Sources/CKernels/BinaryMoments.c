#include "CKernels.h"
#include "FastExp.h"

#include <stdint.h>

#pragma clang fp contract(off)

// Register tiles for the Monte-Carlo moments (MonteCarloMoments.swift): the draws with their
// shift and squares; a binary output's logits with their residuals; and its sums against the
// draws and their squares. They read their operands where they lie, where BLAS would first
// copy each into packed panels. AVX-512 only (`bayesagg_binary_tiles_supported`); elsewhere
// the caller uses BLAS. Products are explicit fused multiply-adds; nothing else is contracted.

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

typedef float lanes __attribute__((vector_size(64)));
typedef uint32_t bits_lanes __attribute__((vector_size(64)));
typedef int32_t mask_lanes __attribute__((vector_size(64)));
typedef float unaligned_lanes __attribute__((vector_size(64), aligned(4), may_alias));

enum {
  LANES = 16,
  LOGIT_ROWS = 8,
  LOGIT_VECTORS = 2,
  MOMENT_COLUMNS = 7,
  MOMENT_VECTORS = 2,
  DRAW_ROWS = 8,
  DRAW_VECTORS = 2
};

#define LOAD(p) (*(const unaligned_lanes *)(p))
#define STORE(p, v) (*(unaligned_lanes *)(p) = (v))
#define FMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))
/// The vector of 16 copies of `x` (adding `x` to a zero vector would not do: 0 + (−0) is +0,
/// so the compiler must keep the addition).
#define SPLAT(x) ((lanes){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})

/// `fast_exp` of FloatMath.h lane by lane: the same operations in the same order.
static inline __attribute__((always_inline)) lanes exp_lanes(lanes x) {
  x = __builtin_elementwise_max(x, SPLAT(-87.0f));
  x = __builtin_elementwise_min(x, SPLAT(87.0f));
  lanes shifted = x * 1.44269504f + 12582912.0f;
  lanes n = shifted - 12582912.0f;
  bits_lanes bits = ((bits_lanes)shifted - 0x4B400000u + 127u) << 23;
  lanes power = (lanes)bits;
  lanes r = x - n * 0.693359375f + n * 2.1219444e-4f;
  lanes p = SPLAT(FAST_EXP_LEADING);
  FAST_EXP_POLYNOMIAL(p, r);
  return (p * r * r + r + 1.0f) * power;
}

/// `σ(logit) − target` as `bayesagg_binary_residuals` computes it, and 0 where the target is
/// NaN (a missing label).
static inline __attribute__((always_inline)) lanes residual_lanes(lanes logit, lanes target) {
  lanes residual = 1.0f / (1.0f + exp_lanes(-logit)) - target;
  mask_lanes present = target == target;
  return (lanes)((mask_lanes)residual & present);
}

/// One tile of `rows` samples by 32 data of `bayesagg_binary_logit_residuals`. Called with a
/// constant `rows` for the full tiles, so that the sums stay in registers.
static inline __attribute__((always_inline)) void logit_tile(
    size_t rows, const float *restrict weights, size_t weight_stride,
    const float *restrict features, size_t batch_stride, size_t width,
    const float *restrict targets, float *restrict residuals, float *restrict squares) {
  lanes sums[LOGIT_ROWS][LOGIT_VECTORS] = {};
  for (size_t k = 0; k < width; k++) {
    lanes feature[LOGIT_VECTORS];
    for (size_t v = 0; v < LOGIT_VECTORS; v++) {
      feature[v] = LOAD(features + k * batch_stride + v * LANES);
    }
    for (size_t i = 0; i < rows; i++) {
      lanes weight = SPLAT(weights[i * weight_stride + k]);
      for (size_t v = 0; v < LOGIT_VECTORS; v++) sums[i][v] = FMA(weight, feature[v], sums[i][v]);
    }
  }
  for (size_t v = 0; v < LOGIT_VECTORS; v++) {
    lanes target = LOAD(targets + v * LANES);
    for (size_t i = 0; i < rows; i++) {
      lanes residual = residual_lanes(sums[i][v], target);
      STORE(residuals + i * batch_stride + v * LANES, residual);
      STORE(squares + i * batch_stride + v * LANES, residual * residual);
    }
  }
}

void bayesagg_binary_logit_residuals(const float *weights, size_t weight_stride, size_t samples,
                                     size_t width, const float *features, size_t batch_stride,
                                     const float *targets, float *residuals, float *squares) {
  size_t block = LOGIT_VECTORS * LANES;  // `batch_stride` is a multiple of it
  for (size_t s = 0; s < samples; s += LOGIT_ROWS) {
    size_t rows = samples - s < LOGIT_ROWS ? samples - s : LOGIT_ROWS;
    const float *w = weights + s * weight_stride;
    float *r = residuals + s * batch_stride, *q = squares + s * batch_stride;
    for (size_t b = 0; b < batch_stride; b += block) {
      if (rows == LOGIT_ROWS) {
        logit_tile(LOGIT_ROWS, w, weight_stride, features + b, batch_stride, width, targets + b,
                   r + b, q + b);
      } else {
        logit_tile(rows, w, weight_stride, features + b, batch_stride, width, targets + b,
                   r + b, q + b);
      }
    }
  }
}

/// The sums of `bayesagg_binary_gradient_moments` for the 32 data and `MOMENT_COLUMNS`
/// columns from the pointers passed; the first `rows` data and `columns` columns are stored.
/// The data lie along the vectors, where the residuals are contiguous, and each column's draw
/// and square are broadcast: per sample, four vector loads and fourteen broadcasts feed 28
/// multiply-adds (a tile along the columns would load one broadcast per multiply-add).
static inline __attribute__((always_inline)) void moment_tile(
    size_t rows, size_t columns, const float *restrict residuals, const float *restrict squares,
    size_t batch_stride, size_t samples, const float *restrict weights, size_t weight_stride,
    const float *restrict weight_squares, size_t square_stride, float scale,
    float *restrict mean, float *restrict second, size_t out_stride) {
  lanes first_sums[MOMENT_COLUMNS][MOMENT_VECTORS] = {};
  lanes second_sums[MOMENT_COLUMNS][MOMENT_VECTORS] = {};
  for (size_t s = 0; s < samples; s++) {
    lanes residual[MOMENT_VECTORS], square[MOMENT_VECTORS];
    for (size_t v = 0; v < MOMENT_VECTORS; v++) {
      residual[v] = LOAD(residuals + s * batch_stride + v * LANES);
      square[v] = LOAD(squares + s * batch_stride + v * LANES);
    }
    const float *w = weights + s * weight_stride, *w2 = weight_squares + s * square_stride;
    for (size_t j = 0; j < MOMENT_COLUMNS; j++) {
      lanes weight = SPLAT(w[j]), weight_square = SPLAT(w2[j]);
      for (size_t v = 0; v < MOMENT_VECTORS; v++) {
        first_sums[j][v] = FMA(residual[v], weight, first_sums[j][v]);
        second_sums[j][v] = FMA(square[v], weight_square, second_sums[j][v]);
      }
    }
  }
  // Transposed on the way out: `mean` and `second` are `[B, d]`.
  for (size_t j = 0; j < columns; j++) {
    for (size_t v = 0; v < MOMENT_VECTORS; v++) {
      lanes m = first_sums[j][v] * scale, q = second_sums[j][v] * scale;
      for (size_t l = 0; l < LANES && v * LANES + l < rows; l++) {
        mean[(v * LANES + l) * out_stride + j] = m[l];
        second[(v * LANES + l) * out_stride + j] = q[l];
      }
    }
  }
}

void bayesagg_binary_gradient_moments(const float *residuals, const float *squares,
                                      size_t batch_stride, size_t batch, size_t samples,
                                      const float *weights, size_t weight_stride,
                                      const float *weight_squares, size_t square_stride,
                                      size_t d, float scale, float *mean, float *second) {
  // A block of 32 data's residuals and squares (256 KB for 1024 samples) stays in the core's
  // cache while every block of columns passes over it. The last blocks read residuals past
  // `batch` (within `batch_stride`, a multiple of 32) and draws past column `d` (up to
  // `MOMENT_COLUMNS − 1` floats past the last row), and store only their own data and columns.
  size_t block = MOMENT_VECTORS * LANES;
  for (size_t b = 0; b < batch; b += block) {
    size_t rows = batch - b < block ? batch - b : block;
    for (size_t j = 0; j < d; j += MOMENT_COLUMNS) {
      size_t columns = d - j < MOMENT_COLUMNS ? d - j : MOMENT_COLUMNS;
      moment_tile(rows, columns, residuals + b, squares + b, batch_stride, samples, weights + j,
                  weight_stride, weight_squares + j, square_stride, scale, mean + b * d + j,
                  second + b * d + j, d);
    }
  }
}

/// One tile of `bayesagg_draw_rows`: `rows` samples by the 32 columns from `j0`. Each
/// element of `z` is broadcast once for both vectors of columns.
static inline __attribute__((always_inline)) void draw_tile(
    size_t rows, float *restrict z, size_t n, size_t j0, const float *restrict inverse,
    const float *restrict mean, float *restrict squares, size_t square_width) {
  lanes sums[DRAW_ROWS][DRAW_VECTORS] = {};
  // Row k of L⁻¹ is zero past column k, so columns from j0 take only k ≥ j0: in increasing
  // k, as BLAS's triangular product sums them, which makes the draws equal to its bit for bit.
  // The second vector's columns also take the zeros of rows j0 ..< j0 + 16, which leave its
  // sums at +0 (+0 plus ±0 is +0) until its own rows begin.
  for (size_t k = j0; k < n; k++) {
    lanes x[DRAW_VECTORS];
    for (size_t v = 0; v < DRAW_VECTORS; v++) x[v] = LOAD(inverse + k * n + j0 + v * LANES);
    for (size_t i = 0; i < rows; i++) {
      lanes factor = SPLAT(z[i * n + k]);
      for (size_t v = 0; v < DRAW_VECTORS; v++) sums[i][v] = FMA(factor, x[v], sums[i][v]);
    }
  }
  for (size_t v = 0; v < DRAW_VECTORS && j0 + v * LANES < n; v++) {
    size_t c = j0 + v * LANES;
    lanes shift = LOAD(mean + c);
    size_t count = n - c < LANES ? n - c : LANES;
    size_t square_count = c >= square_width ? 0 : square_width - c;
    square_count = square_count < count ? square_count : count;
    for (size_t i = 0; i < rows; i++) {
      lanes w = sums[i][v] + shift;
      float *row = z + i * n + c;
      if (count == LANES) {
        STORE(row, w);
      } else {
        for (size_t l = 0; l < count; l++) row[l] = w[l];
      }
      if (squares == NULL) continue;
      lanes square = w * w;
      float *out = squares + i * square_width + c;
      if (square_count == LANES) {
        STORE(out, square);
      } else {
        for (size_t l = 0; l < square_count; l++) out[l] = square[l];
      }
    }
  }
}

void bayesagg_draw_rows(float *rows, size_t samples, size_t n, const float *inverse,
                        const float *mean, float *squares, size_t square_width) {
  for (size_t s = 0; s < samples; s += DRAW_ROWS) {
    size_t count = samples - s < DRAW_ROWS ? samples - s : DRAW_ROWS;
    float *z = rows + s * n;
    float *q = squares == NULL ? NULL : squares + s * square_width;
    // Column blocks in increasing order, in place: each block overwrites only columns that
    // the later blocks do not read.
    for (size_t j0 = 0; j0 < n; j0 += DRAW_VECTORS * LANES) {
      if (count == DRAW_ROWS) {
        draw_tile(DRAW_ROWS, z, n, j0, inverse, mean, q, square_width);
      } else {
        draw_tile(count, z, n, j0, inverse, mean, q, square_width);
      }
    }
  }
}

#pragma clang attribute pop

int bayesagg_binary_tiles_supported(void) { return __builtin_cpu_supports("avx512f"); }
