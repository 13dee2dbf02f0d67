#include "CKernels.h"

#include <string.h>

#pragma clang fp contract(off)

// The Gram matrix of the posteriors' scaled features (`AᵀA`, A of about 128 × 161) added to
// the lower triangle of a precision, in register tiles: each row of A gives, in one pass, the
// vector of a tile's columns and the broadcast of each of its rows. C harness, 128 × 161 with
// AVX-512: OpenBLAS's dsyrk 55–58 µs, these tiles 34–38 µs. With AVX2 the same tiles in
// 256-bit vectors (6 rows by 8 columns) only matched dsyrk, so AVX-512 alone uses them. Each
// element is summed in increasing k with fused multiply-adds and then added to C.

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

typedef double lanes __attribute__((vector_size(64)));

enum { LANES = 8, ROWS = 8, VECTORS = 2, WIDTH = LANES * VECTORS };

/// The sums of one tile over all `m` rows of A: `ROWS` rows of the result from `i0` (those
/// past the first `rows` read as zero) by `WIDTH` columns from `j0` (those past the first
/// `columns` from a zero-padded copy, so that the last block reads nothing past the end of A).
/// Called with constant bounds for whole tiles, so that the sums stay in registers.
static inline __attribute__((always_inline)) void tile_sums(const double *restrict a, size_t m,
                                                            size_t n, size_t i0, size_t j0,
                                                            size_t rows, size_t columns,
                                                            lanes sums[ROWS][VECTORS]) {
  for (size_t k = 0; k < m; k++) {
    const double *row = a + k * n;
    double block[WIDTH];
    const double *x = row + j0;
    if (columns < WIDTH) {
      memcpy(block, x, columns * sizeof(double));
      for (size_t l = columns; l < WIDTH; l++) block[l] = 0;
      x = block;
    }
    lanes v[VECTORS];
    for (size_t t = 0; t < VECTORS; t++) memcpy(&v[t], x + t * LANES, sizeof(lanes));
    for (size_t r = 0; r < ROWS; r++) {
      double y = r < rows ? row[i0 + r] : 0;
      lanes b = {y, y, y, y, y, y, y, y};
      for (size_t t = 0; t < VECTORS; t++) {
        sums[r][t] = __builtin_elementwise_fma(b, v[t], sums[r][t]);
      }
    }
  }
}

/// Adds a tile's sums to the lower triangle of `c`: whole vectors where the tile lies below
/// the diagonal, element by element where it meets the diagonal or the last columns.
static inline void store_tile(double *c, size_t n, size_t i0, size_t j0, size_t rows,
                              size_t columns, lanes sums[ROWS][VECTORS]) {
  for (size_t r = 0; r < rows; r++) {
    double *out = c + (i0 + r) * n + j0;
    if (columns == WIDTH && j0 + WIDTH <= i0 + r + 1) {
      for (size_t t = 0; t < VECTORS; t++) {
        lanes value;
        memcpy(&value, out + t * LANES, sizeof(lanes));
        value += sums[r][t];
        memcpy(out + t * LANES, &value, sizeof(lanes));
      }
    } else {
      for (size_t t = 0; t < columns && j0 + t <= i0 + r; t++) {
        out[t] += sums[r][t / LANES][t % LANES];
      }
    }
  }
}

void bayesagg_gram_lower_add(const double *a, size_t m, size_t n, double *c) {
  for (size_t i0 = 0; i0 < n; i0 += ROWS) {
    size_t rows = n - i0 < ROWS ? n - i0 : ROWS;
    // Column blocks up to the tile's last diagonal element.
    for (size_t j0 = 0; j0 < i0 + rows; j0 += WIDTH) {
      size_t columns = n - j0 < WIDTH ? n - j0 : WIDTH;
      lanes sums[ROWS][VECTORS] = {};
      if (rows == ROWS && columns == WIDTH) {
        tile_sums(a, m, n, i0, j0, ROWS, WIDTH, sums);
      } else {
        tile_sums(a, m, n, i0, j0, rows, columns, sums);
      }
      store_tile(c, n, i0, j0, rows, columns, sums);
    }
  }
}

#pragma clang attribute pop

int bayesagg_gram_lower_supported(void) { return __builtin_cpu_supports("avx512f"); }
