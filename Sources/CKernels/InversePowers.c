#include "CKernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "FloatMath.h"

#pragma clang fp contract(off)

// v^(−α) = e^(−α ln v) in Double, for the precision weights of BayesAgg-MTL, in straight-line
// arithmetic that vectorises. ln v and the product α ln v are carried as unevaluated sums
// hi + lo, so that the rounding of a large |α ln v| does not become a relative error of the
// power: the result is within 2 ulp of libm's `pow`. The values the vector pass cannot take
// (non-finite or subnormal v, |α ln v| > 690) are redone by `pow` afterwards.

/// ln 2 split so that `n · LN2_HI` is exact for |n| < 2²¹.
static const double LN2_HI = 0x1.62e42fee00000p-1;
static const double LN2_LO = 0x1.a39ef35793c76p-33;

/// A Double cut into two halves of 26 bits, whose products are exact (Veltkamp).
static inline void split(double a, double *high, double *low) {
  double t = 134217729.0 * a;  // 2²⁷ + 1
  *high = t - (t - a);
  *low = a - *high;
}

/// a·b = product + error exactly, for |a·b| far from overflow: by one fused multiply-add where
/// the processor has it (`fused`), else by Dekker's splitting. Both give the exact error, so
/// the same bits.
static inline __attribute__((always_inline)) void two_product(double a, double b, int fused,
                                                              double *product, double *error) {
  *product = a * b;
  if (fused) {
    *error = __builtin_fma(a, b, -*product);
    return;
  }
  double ah, al, bh, bl;
  split(a, &ah, &al);
  split(b, &bh, &bl);
  *error = ((ah * bh - *product) + ah * bl + al * bh) + al * bl;
}

/// ln v = *high + *low for a positive normal v: v = 2ᵉ·m with m ∈ [√½, √2), then with
/// s = (m − 1)/(m + 1), ln m = 2 atanh s = 2s (1 + s²/3 + s⁴/5 + … + s¹⁸/19). |s| ≤ 0.1716, so
/// s² ≤ 0.0295 and the next term is below 2⁻⁵⁵ of the sum.
static inline void log_normal(double v, double *high, double *low) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  int64_t e = (int64_t)(bits >> 52) - 1023;
  uint64_t mantissa_bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m;
  memcpy(&m, &mantissa_bits, sizeof m);
  // Move m ≥ √2 to m/2 (exact) and count it in the exponent.
  int64_t above = m >= 1.4142135623730951 ? 1 : 0;
  m = above ? m * 0.5 : m;
  double exponent = (double)(e + above);
  double s = (m - 1.0) / (m + 1.0);
  double z = s * s;
  double p = 1.0 / 19.0;
  p = p * z + 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  // e ln 2 + 2s exactly as a sum of two (|e ln 2| ≥ ln 2 > |2s| unless e = 0), then the rest.
  double whole = exponent * LN2_HI;
  *high = whole + 2.0 * s;
  *low = ((whole - *high) + 2.0 * s) + (2.0 * (s * z * p) + exponent * LN2_LO);
}

/// e^(high + low) for |high| ≤ 700 and |low| ≪ ulp(high)·2⁵: high + low = n ln 2 + r with
/// |r| ≤ ln 2 / 2, e^r by its Taylor series to r¹³ (the remainder is below 2⁻⁵⁶), and 2ⁿ built
/// in the exponent bits.
static inline double exp_sum(double high, double low) {
  // Adding 1.5 · 2⁵² rounds high / ln 2 to the integer n, which lands in the low mantissa bits.
  double shifted = high * 1.4426950408889634 + 0x1.8p52;
  double n = shifted - 0x1.8p52;
  uint64_t bits;
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4338000000000000ull + 1023u) << 52;
  double power;
  memcpy(&power, &bits, sizeof power);
  double r = (high - n * LN2_HI) + (low - n * LN2_LO);
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  return (1.0 + (r + r * r * p)) * power;
}

/// Whether v (already floored) is a positive normal number with |α ln v| ≤ 690, given the
/// bounds [low, high] that `bayesagg_inverse_powers` derives from α.
static inline int in_range(double v, double low, double high) { return v >= low && v <= high; }

/// The straight-line pass: every element, in vectors; those out of range get a placeholder.
/// Returns how many are out of range. Compiled once per instruction-set level below, each
/// giving the same bits.
static inline __attribute__((always_inline)) size_t inverse_powers_pass(
    const double *restrict variance, double *restrict precision, size_t count, double floor,
    double power, double low, double high, int fused) {
  size_t outside = 0;
  for (size_t i = 0; i < count; i++) {
    double v = variance[i] < floor ? floor : variance[i];
    // Keep the bit tricks on a valid input; the second pass replaces these elements.
    int inside = in_range(v, low, high);
    outside += (size_t)!inside;
    v = inside ? v : 1.0;
    double high, low, product, error;
    log_normal(v, &high, &low);
    two_product(power, high, fused, &product, &error);
    precision[i] = exp_sum(-product, -(error + power * low));
  }
  return outside;
}

/// AVX-512 DQ, not F: `log_normal`'s int64 → double exponent conversions need DQ to stay in
/// vectors.
__attribute__((target("avx512dq,fma"))) static size_t inverse_powers_avx512(
    const double *restrict variance, double *restrict precision, size_t count, double floor,
    double power, double low, double high) {
  return inverse_powers_pass(variance, precision, count, floor, power, low, high, 1);
}

__attribute__((target("avx2,fma"))) static size_t inverse_powers_avx2(
    const double *restrict variance, double *restrict precision, size_t count, double floor,
    double power, double low, double high) {
  return inverse_powers_pass(variance, precision, count, floor, power, low, high, 1);
}

static size_t inverse_powers_baseline(const double *restrict variance,
                                      double *restrict precision, size_t count, double floor,
                                      double power, double low, double high) {
  return inverse_powers_pass(variance, precision, count, floor, power, low, high, 0);
}

/// The widest of the passes above that the processor runs.
static size_t inverse_powers_vector(const double *restrict variance, double *restrict precision,
                                    size_t count, double floor, double power, double low,
                                    double high) {
  if (__builtin_cpu_supports("avx512dq")) {
    return inverse_powers_avx512(variance, precision, count, floor, power, low, high);
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return inverse_powers_avx2(variance, precision, count, floor, power, low, high);
  }
  return inverse_powers_baseline(variance, precision, count, floor, power, low, high);
}

/// The second pass of both kernels: libm's `pow` for the elements whose floored variance lies
/// outside [low, high], which the vector pass gave a placeholder.
static void redo_out_of_range(const double *variance, double *precision, size_t count,
                              double floor, double power, double low, double high) {
  for (size_t i = 0; i < count; i++) {
    double v = variance[i] < floor ? floor : variance[i];
    if (!in_range(v, low, high)) precision[i] = 1.0 / pow(v, power);
  }
}

void bayesagg_inverse_powers(const double *variance, double *precision, size_t count,
                             double floor, double power) {
  // |α ln v| ≤ 690 ⇔ v ∈ [e^(−690/α), e^(690/α)] (all v when α = 0).
  double low = power > 0 ? exp(-690.0 / power) : 0.0;
  double high = power > 0 ? exp(690.0 / power) : INFINITY;
  low = low > DBL_MIN ? low : DBL_MIN;
  high = high < DBL_MAX ? high : DBL_MAX;
  // The scalar second pass costs about as much as the vector one, and usually has nothing to
  // do: it runs only when some element needs it.
  if (inverse_powers_vector(variance, precision, count, floor, power, low, high) == 0) return;
  redo_out_of_range(variance, precision, count, floor, power, low, high);
}

// The same weights in Float, for moments that are Monte-Carlo estimates: their sampling error
// (about 1/√S, 3% at S = 1024) dwarfs a relative error of 1e-6, and eight or sixteen Float
// lanes with the short polynomials of FloatMath.h take less than half the Double pass's time.

/// The Float pass over every element; those out of range get a placeholder. Returns whether
/// any is out of range. No fused multiply-adds, so every level gives the same bits.
__attribute__((target_clones("avx512f", "avx2", "default")))
static int inverse_powers_float_pass(const double *restrict variance, double *restrict precision,
                                     size_t count, double floor, float power, double low,
                                     double high) {
  int outside = 0;
  // Sixteen elements per iteration, so that the Float arithmetic fills whole vectors: the width
  // LLVM picks by itself follows the Double loads. A flag rather than a count of the elements
  // out of range, for the same reason.
#pragma clang loop vectorize_width(16) interleave_count(1)
  for (size_t i = 0; i < count; i++) {
    double v = variance[i] < floor ? floor : variance[i];
    int inside = in_range(v, low, high);
    outside |= !inside;
    float rounded = inside ? (float)v : 1.0f;
    precision[i] = (double)fast_exp(-power * log_positive(rounded));
  }
  return outside;
}

void bayesagg_inverse_powers_float(const double *variance, double *precision, size_t count,
                                   double floor, double power) {
  // |α ln v| ≤ 80 ⇔ v ∈ [e^(−80/α), e^(80/α)], within Float's normal range (all of it when
  // α = 0), so that neither the rounding to Float nor the exponential leaves it.
  double low = power > 0 ? exp(-80.0 / power) : 0.0;
  double high = power > 0 ? exp(80.0 / power) : INFINITY;
  low = low > (double)FLT_MIN ? low : (double)FLT_MIN;
  high = high < (double)FLT_MAX ? high : (double)FLT_MAX;
  if (!inverse_powers_float_pass(variance, precision, count, floor, (float)power, low, high)) {
    return;
  }
  redo_out_of_range(variance, precision, count, floor, power, low, high);
}
