#include "CKernels.h"
#include "FastExp.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

/// eˣ in Float for x clamped to [−87, 87]: Cody–Waite reduction x = n·ln2 + r and the Cephes
/// `expf` polynomial, with 2ⁿ built in the exponent bits. The same operations in the same
/// order as the Swift `fastExp` in MonteCarloMoments.swift, so the results are equal bitwise.
static inline float fast_exp(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 87.0f ? x : 87.0f;
  float shifted = x * 1.44269504f + 12582912.0f;
  float n = shifted - 12582912.0f;
  uint32_t bits;
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;
  float power;
  memcpy(&power, &bits, sizeof power);
  float r = x - n * 0.693359375f + n * 2.1219444e-4f;
  float p = FAST_EXP_LEADING;
  FAST_EXP_POLYNOMIAL(p, r);
  return (p * r * r + r + 1.0f) * power;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_binary_residuals(float *restrict logits, float *restrict squares, size_t count,
                               float target) {
  for (size_t i = 0; i < count; i++) {
    float residual = 1.0f / (1.0f + fast_exp(-logits[i])) - target;
    logits[i] = residual;
    squares[i] = residual * residual;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_shift_rows(float *restrict rows, const float *restrict shift, size_t count,
                         size_t width, float *restrict squares, size_t squareWidth) {
  for (size_t s = 0; s < count; s++) {
    float *row = rows + s * width;
    for (size_t i = 0; i < width; i++) row[i] += shift[i];
    if (squares == NULL) continue;
    float *square = squares + s * squareWidth;
    for (size_t i = 0; i < squareWidth; i++) square[i] = row[i] * row[i];
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_store_moments(const float *restrict mean, const float *restrict second,
                            size_t count, double *restrict meanOut,
                            double *restrict varianceOut) {
  for (size_t i = 0; i < count; i++) {
    double mu = (double)mean[i];
    meanOut[i] = mu;
    varianceOut[i] = (double)second[i] - mu * mu;
  }
}
