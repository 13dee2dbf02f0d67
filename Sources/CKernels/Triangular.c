#include "CKernels.h"

#include <string.h>

#pragma clang fp contract(off)

/// `row[j] -= c · source[j]` for `j < count`, in vectors.
__attribute__((target_clones("avx512f", "avx2", "default")))
static void subtract_multiple(double *restrict row, const double *restrict source, double c,
                              size_t count) {
  for (size_t j = 0; j < count; j++) row[j] -= c * source[j];
}

void bayesagg_lower_inverse(const double *lower, size_t n, double *inverse) {
  memset(inverse, 0, n * n * sizeof(double));
  // Row i of X = L⁻¹ solves Σ_{k ≤ i} L[i][k] X[k] = eᵢ, and row k of X is zero beyond k.
  for (size_t i = 0; i < n; i++) {
    double *row = inverse + i * n;
    for (size_t k = 0; k < i; k++) {
      double c = lower[i * n + k];
      if (c != 0) subtract_multiple(row, inverse + k * n, c, k + 1);
    }
    row[i] += 1.0;
    double diagonal = lower[i * n + i];
    for (size_t j = 0; j <= i; j++) row[j] /= diagonal;
  }
}
