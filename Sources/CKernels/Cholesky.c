#include "CKernels.h"

#include <math.h>
#include <stddef.h>

#pragma clang fp contract(off)

// The Cholesky factor of a symmetric positive definite matrix, right-looking in panels of
// eight columns, for the posterior precisions of BayesAgg-MTL (n ≈ 160: LAPACK's blocking
// costs about twice the arithmetic there). Each panel is kept transposed, so that both its
// triangular solve and the update of the trailing matrix run along contiguous rows.

enum { PANEL = 8, ROWS = 4 };

/// Factors the diagonal block `a[k0..<k0+width]` of the trailing matrix in place (scalar: it
/// is 8 × 8) and writes 1 / L[j][j] to `reciprocals`. Returns 0, or the 1-based index of a
/// pivot that is not positive.
static size_t factor_diagonal_block(double *a, size_t n, size_t k0, size_t width,
                                    double *reciprocals) {
  for (size_t j = k0; j < k0 + width; j++) {
    double pivot = a[j * n + j];
    for (size_t k = k0; k < j; k++) pivot -= a[j * n + k] * a[j * n + k];
    if (!(pivot > 0)) return j + 1;
    double diagonal = sqrt(pivot);
    a[j * n + j] = diagonal;
    reciprocals[j - k0] = 1.0 / diagonal;
    for (size_t i = j + 1; i < k0 + width; i++) {
      double value = a[i * n + j];
      for (size_t k = k0; k < j; k++) value -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = value * reciprocals[j - k0];
    }
  }
  return 0;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void solve_panel(double *a, size_t n, size_t k0, size_t width, const double *reciprocals,
                        double *panel) {
  // panel[k · n + i] = L[i][k0 + k] for the rows i below the block: gathered, solved against
  // the block's triangle row by row of the panel (contiguous over i), then written back.
  size_t first = k0 + width;
  for (size_t i = first; i < n; i++) {
    for (size_t k = 0; k < width; k++) panel[k * n + i] = a[i * n + k0 + k];
  }
  for (size_t k = 0; k < width; k++) {
    double *row = panel + k * n;
    for (size_t m = 0; m < k; m++) {
      double factor = a[(k0 + k) * n + k0 + m];
      const double *earlier = panel + m * n;
      for (size_t i = first; i < n; i++) row[i] -= factor * earlier[i];
    }
    double reciprocal = reciprocals[k];
    for (size_t i = first; i < n; i++) row[i] *= reciprocal;
  }
  for (size_t i = first; i < n; i++) {
    for (size_t k = 0; k < width; k++) a[i * n + k0 + k] = panel[k * n + i];
  }
}

/// `a[i][j] −= Σ_k L[i][k0 + k] · L[j][k0 + k]` for `first ≤ j ≤ i < n`, from the transposed
/// panel; vectors of eight columns for four rows at a time, which may also update elements
/// above the diagonal (never read; the caller clears that triangle).
__attribute__((target_clones("avx512f", "avx2", "default")))
static void update_trailing(double *a, size_t n, size_t first, size_t width,
                            const double *panel) {
  for (size_t i0 = first; i0 < n; i0 += ROWS) {
    size_t rows = n - i0 < ROWS ? n - i0 : ROWS;
    size_t last = i0 + rows - 1;  // the largest column any of these rows needs
    size_t j = first;
    for (; j + PANEL <= n && j <= last; j += PANEL) {
      double sums[ROWS][PANEL];
      for (size_t r = 0; r < rows; r++) {
        for (size_t l = 0; l < PANEL; l++) sums[r][l] = a[(i0 + r) * n + j + l];
      }
      for (size_t k = 0; k < width; k++) {
        const double *column = panel + k * n;
        for (size_t r = 0; r < rows; r++) {
          double left = column[i0 + r];
          for (size_t l = 0; l < PANEL; l++) sums[r][l] -= left * column[j + l];
        }
      }
      for (size_t r = 0; r < rows; r++) {
        for (size_t l = 0; l < PANEL; l++) a[(i0 + r) * n + j + l] = sums[r][l];
      }
    }
    // Columns past the last whole vector of the row.
    for (size_t r = 0; r < rows; r++) {
      size_t i = i0 + r;
      for (size_t jj = j; jj <= i; jj++) {
        double value = a[i * n + jj];
        for (size_t k = 0; k < width; k++) value -= panel[k * n + i] * panel[k * n + jj];
        a[i * n + jj] = value;
      }
    }
  }
}

size_t bayesagg_cholesky_lower(double *a, size_t n, double *workspace) {
  double reciprocals[PANEL];
  for (size_t k0 = 0; k0 < n; k0 += PANEL) {
    size_t width = n - k0 < PANEL ? n - k0 : PANEL;
    size_t failed = factor_diagonal_block(a, n, k0, width, reciprocals);
    if (failed != 0) return failed;
    if (k0 + width == n) break;
    solve_panel(a, n, k0, width, reciprocals, workspace);
    update_trailing(a, n, k0 + width, width, workspace);
  }
  return 0;
}
