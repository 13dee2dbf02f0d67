#ifndef BAYESAGG_FLOAT_MATH_H
#define BAYESAGG_FLOAT_MATH_H

// The exponential and logarithm in Float that the vector kernels share: the residuals
// (MonteCarlo.c), the normals (Normals.c) and the Float precision weights (InversePowers.c).
// Straight-line code that vectorises, with no fused multiply-adds, so that every
// instruction-set level rounds alike.

#include <stdint.h>
#include <string.h>

#include "FastExp.h"

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

/// ln v for a positive normal Float v: v = 2ᵉ·m with m ∈ [√½, √2), s = (m − 1)/(m + 1),
/// ln m = 2s (1 + s²/3 + s⁴/5 + s⁶/7 + s⁸/9); s² ≤ 0.0295, so the next term is below 2⁻²⁸.
static inline float log_positive(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  int32_t e = (int32_t)(bits >> 23) - 127;
  uint32_t mantissa_bits = (bits & 0x007FFFFFu) | 0x3F800000u;
  float m;
  memcpy(&m, &mantissa_bits, sizeof m);
  int32_t above = m >= 1.41421356f ? 1 : 0;
  m = above ? m * 0.5f : m;
  float s = (m - 1.0f) / (m + 1.0f);
  float z = s * s;
  float p = 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  return (float)(e + above) * 0.693147182f + (2.0f * s + 2.0f * s * z * p);
}

#endif
