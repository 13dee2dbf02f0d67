#include "CKernels.h"
#include "FloatMath.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

/// σ(x) − target and its square for each logit, with e⁻ˣ by `fast_exp_fused` (`fused`) or
/// `fast_exp`. Compiled once per instruction-set level below.
static inline __attribute__((always_inline)) void binary_residuals_pass(
    float *restrict logits, float *restrict squares, size_t count, float target, int fused) {
  for (size_t i = 0; i < count; i++) {
    float e = fused ? fast_exp_fused(-logits[i]) : fast_exp(-logits[i]);
    float residual = 1.0f / (1.0f + e) - target;
    logits[i] = residual;
    squares[i] = residual * residual;
  }
}

/// AVX-512 keeps `fast_exp`: its processors take the register tiles, whose residuals
/// (BinaryMoments.c) equal these bit for bit.
__attribute__((target("avx512f"))) static void binary_residuals_avx512(
    float *restrict logits, float *restrict squares, size_t count, float target) {
  binary_residuals_pass(logits, squares, count, target, 0);
}

__attribute__((target("avx2,fma"))) static void binary_residuals_avx2(
    float *restrict logits, float *restrict squares, size_t count, float target) {
  binary_residuals_pass(logits, squares, count, target, 1);
}

static void binary_residuals_baseline(float *restrict logits, float *restrict squares,
                                      size_t count, float target) {
  binary_residuals_pass(logits, squares, count, target, 0);
}

int bayesagg_binary_residuals_fused(void) {
  return !bayesagg_binary_tiles_supported() && __builtin_cpu_supports("avx2") &&
         __builtin_cpu_supports("fma");
}

void bayesagg_binary_residuals(float *restrict logits, float *restrict squares, size_t count,
                               float target) {
  if (bayesagg_binary_tiles_supported()) {
    binary_residuals_avx512(logits, squares, count, target);
  } else if (bayesagg_binary_residuals_fused()) {
    binary_residuals_avx2(logits, squares, count, target);
  } else {
    binary_residuals_baseline(logits, squares, count, target);
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
