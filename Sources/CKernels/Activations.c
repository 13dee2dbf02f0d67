#include "CKernels.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

/// eˣ − 1 for x ≤ 0 by range reduction x = n·ln2 + r and a degree-10 Taylor polynomial of
/// expm1(r), in Double: eˣ − 1 = 2ⁿ·expm1(r) + (2ⁿ − 1). Matches the Swift `negativeExpm1`.
static inline float negative_expm1(float x) {
  double d = (double)x;
  d = d > 0 ? 0 : d;
  d = d < -30 ? -30 : d;
  const double magic = 6755399441055744.0;
  double t = d * 1.4426950408889634 + magic;
  double n = t - magic;
  double r = (d - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  double q = 1.0 + r * (1.0 / 10);
  q = 1.0 + r * (1.0 / 9) * q;
  q = 1.0 + r * (1.0 / 8) * q;
  q = 1.0 + r * (1.0 / 7) * q;
  q = 1.0 + r * (1.0 / 6) * q;
  q = 1.0 + r * (1.0 / 5) * q;
  q = 1.0 + r * (1.0 / 4) * q;
  q = 1.0 + r * (1.0 / 3) * q;
  q = 1.0 + r * (1.0 / 2) * q;
  q = r * q;
  int64_t tb, mb;
  memcpy(&tb, &t, sizeof tb);
  memcpy(&mb, &magic, sizeof mb);
  int64_t bits = (tb - mb + 1023) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return (float)(scale * q + (scale - 1));
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_elu(const float *x, float *y, size_t count, float alpha) {
  for (size_t i = 0; i < count; i++) {
    float v = x[i];
    float negative = alpha * negative_expm1(v);
    float result = v > 0 ? v : negative;
    y[i] = v != v ? v : result;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_elu_in_place(float *x, size_t count, float alpha) {
  for (size_t i = 0; i < count; i++) {
    float v = x[i];
    float negative = alpha * negative_expm1(v);
    float result = v > 0 ? v : negative;
    x[i] = v != v ? v : result;
  }
}
