#include "CKernels.h"

#include <string.h>

#pragma clang fp contract(off)

/// Lanes of a register block: the sums for 16 consecutive columns stay in registers while
/// the rows above are read once each.
enum { BLOCK = 16 };

/// Rows of a register block: the rows below use each row above while it is in registers.
enum { ROWS = 4 };

/// Row `i` of `X = L⁻¹` in columns `j0 ..< j0 + width`, for `ROWS` rows `i0 ..< i0 + rows`:
/// `X[i][j] = (δᵢⱼ − Σ_{j0 ≤ k < i} L[i][k] X[k][j]) / L[i][i]`, the sum in increasing `k`.
/// Terms with `k < j` are zero, since row `k` of `X` is zero beyond `k`.
static inline __attribute__((always_inline)) void
inverse_block(const double *lower, size_t n, double *inverse, size_t i0, size_t rows, size_t j0,
              size_t width) {
  double sums[ROWS][BLOCK] = {{0}};
  // The rows above the block: each row read once for every row of the block.
  for (size_t k = j0; k < i0; k++) {
    const double *above = inverse + k * n + j0;
    for (size_t r = 0; r < ROWS; r++) {
      double c = r < rows ? lower[(i0 + r) * n + k] : 0.0;
      for (size_t t = 0; t < BLOCK; t++) sums[r][t] += c * (t < width ? above[t] : 0.0);
    }
  }
  // The block's own rows, one after the other.
  for (size_t r = 0; r < rows; r++) {
    size_t i = i0 + r;
    const double *coefficients = lower + i * n;
    for (size_t k = i0 > j0 ? i0 : j0; k < i; k++) {
      double c = coefficients[k];
      const double *above = inverse + k * n + j0;
      for (size_t t = 0; t < width; t++) sums[r][t] += c * above[t];
    }
    for (size_t t = 0; t < width; t++) {
      double delta = j0 + t == i ? 1.0 : 0.0;
      inverse[i * n + j0 + t] = (delta - sums[r][t]) / coefficients[i];
    }
  }
}

// Compiled per instruction-set level, so that the block loops are inlined vector code.
__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_lower_inverse(const double *lower, size_t n, double *inverse) {
  memset(inverse, 0, n * n * sizeof(double));
  // Rows in blocks of ROWS, columns in blocks of BLOCK up to the block's last diagonal entry;
  // the columns beyond a row's diagonal come out zero, as they must.
  for (size_t i0 = 0; i0 < n; i0 += ROWS) {
    size_t rows = n - i0 < ROWS ? n - i0 : ROWS;
    size_t last = i0 + rows - 1;
    for (size_t j0 = 0; j0 <= last; j0 += BLOCK) {
      if (j0 + BLOCK <= n)
        inverse_block(lower, n, inverse, i0, rows, j0, BLOCK);
      else
        inverse_block(lower, n, inverse, i0, rows, j0, n - j0);
    }
  }
}
