#include "CKernels.h"
#include "FloatMath.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

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
