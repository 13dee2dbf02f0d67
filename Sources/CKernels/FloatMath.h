#ifndef BAYESAGG_FLOAT_MATH_H
#define BAYESAGG_FLOAT_MATH_H

// The exponential and logarithm in Float that the vector kernels share: the residuals
// (MonteCarlo.c), the normals (Normals.c) and the Float precision weights (InversePowers.c).
// Straight-line code that vectorises, with no fused multiply-adds, so that every
// instruction-set level rounds alike; `fast_exp_fused` alone fuses them, for callers compiled
// with FMA.

#include <stdint.h>
#include <string.h>

#include "FastExp.h"

#pragma clang fp contract(off)

/// x clamped to [−87, 87], where eˣ is a normal Float.
static inline float clamp_exponent(float x) {
  x = x > -87.0f ? x : -87.0f;
  return x < 87.0f ? x : 87.0f;
}

/// 2ⁿ from `shifted` = x / ln 2 + 1.5 · 2²³, whose low mantissa bits hold the integer n.
static inline float power_of_two(float shifted) {
  uint32_t bits;
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;
  float power;
  memcpy(&power, &bits, sizeof power);
  return power;
}

/// eˣ in Float for x clamped to [−87, 87]: Cody–Waite reduction x = n·ln2 + r and the Cephes
/// `expf` polynomial, with 2ⁿ built in the exponent bits. The same operations in the same
/// order as the Swift `fastExp` in MonteCarloMoments.swift, so the results are equal bitwise.
static inline float fast_exp(float x) {
  x = clamp_exponent(x);
  float shifted = x * 1.44269504f + 12582912.0f;
  float n = shifted - 12582912.0f;
  float power = power_of_two(shifted);
  float r = x - n * 0.693359375f + n * 2.1219444e-4f;
  float p = FAST_EXP_LEADING;
  FAST_EXP_POLYNOMIAL(p, r);
  return (p * r * r + r + 1.0f) * power;
}

/// `fast_exp` with its reduction and polynomial as fused multiply-adds: a third less time in
/// the residuals on AVX2, and within 1 ulp of `fast_exp`. For functions compiled with FMA only,
/// where `__builtin_fmaf` is one instruction.
static inline float fast_exp_fused(float x) {
  x = clamp_exponent(x);
  float shifted = __builtin_fmaf(x, 1.44269504f, 12582912.0f);
  float n = shifted - 12582912.0f;
  float power = power_of_two(shifted);
  float r = __builtin_fmaf(n, 2.1219444e-4f, __builtin_fmaf(-n, 0.693359375f, x));
  float p = FAST_EXP_LEADING;
  p = __builtin_fmaf(p, r, 1.39819995e-3f);
  p = __builtin_fmaf(p, r, 8.3334519e-3f);
  p = __builtin_fmaf(p, r, 4.16657959e-2f);
  p = __builtin_fmaf(p, r, 1.66666655e-1f);
  p = __builtin_fmaf(p, r, 5.00000012e-1f);
  return (__builtin_fmaf(p * r, r, r) + 1.0f) * power;
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
