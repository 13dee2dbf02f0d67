#include "CKernels.h"

#include <string.h>

#pragma clang fp contract(off)

/// Lanes of a register block: the sums for 16 consecutive columns stay in registers while
/// the rows above are read once each.
enum { BLOCK = 16 };

// Compiled per instruction-set level, so that the block loops are inlined vector code.
__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_lower_inverse(const double *lower, size_t n, double *inverse) {
  memset(inverse, 0, n * n * sizeof(double));
  // Row i of X = L⁻¹ solves Σ_{k ≤ i} L[i][k] X[k] = eᵢ, and row k of X is zero beyond k:
  // X[i][j] = (δᵢⱼ − Σ_{j ≤ k < i} L[i][k] X[k][j]) / L[i][i].
  for (size_t i = 0; i < n; i++) {
    const double *coefficients = lower + i * n;
    double *row = inverse + i * n;
    size_t j0 = 0;
    // Whole blocks that lie inside the row; their columns beyond i sum zeros.
    for (; j0 <= i && j0 + BLOCK <= n; j0 += BLOCK) {
      double sums[BLOCK] = {0};
      for (size_t k = j0; k < i; k++) {
        double c = coefficients[k];
        const double *above = inverse + k * n + j0;
        for (int t = 0; t < BLOCK; t++) sums[t] += c * above[t];
      }
      for (int t = 0; t < BLOCK; t++) {
        double delta = j0 + (size_t)t == i ? 1.0 : 0.0;
        row[j0 + t] = (delta - sums[t]) / coefficients[i];
      }
    }
    // The columns left at the end of the row, one at a time.
    for (size_t j = j0; j <= i; j++) {
      double sum = 0;
      for (size_t k = j; k < i; k++) sum += coefficients[k] * inverse[k * n + j];
      row[j] = ((j == i ? 1.0 : 0.0) - sum) / coefficients[i];
    }
  }
}
