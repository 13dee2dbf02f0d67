#include "CKernels.h"

#include <string.h>

#pragma clang fp contract(off)

// The Gram matrix of the posteriors' scaled features (`AᵀA`, A of about 128 × 161) added to
// the lower triangle of a precision, in register tiles: each row of A gives, in one pass, the
// vector of a tile's columns and the broadcast of each of its rows. C harness, 128 × 161 with
// AVX-512: OpenBLAS's dsyrk 55–58 µs, these tiles 34–38 µs. Each element is summed in
// increasing k with fused multiply-adds and then added to C, so both tile widths give the
// same bits.

typedef double wide __attribute__((vector_size(64)));
typedef double narrow __attribute__((vector_size(32)));

/// Adds one tile's sums, `rows` rows from `i0` by `columns` columns from `j0`, to the lower
/// triangle of `c`: whole vectors where the tile lies below the diagonal, element by element
/// where it meets it or the last columns.
#define STORE_TILE(vector, lanes, vectors, c, n, i0, j0, rows, columns, sums)            \
  do {                                                                                  \
    for (size_t r = 0; r < (rows); r++) {                                               \
      double *out = (c) + ((i0) + r) * (n) + (j0);                                      \
      if ((columns) == (lanes) * (vectors) && (j0) + (columns) <= (i0) + r + 1) {       \
        for (size_t t = 0; t < (vectors); t++) {                                        \
          vector value;                                                                 \
          memcpy(&value, out + t * (lanes), sizeof(vector));                            \
          value += (sums)[r][t];                                                        \
          memcpy(out + t * (lanes), &value, sizeof(vector));                            \
        }                                                                               \
      } else {                                                                          \
        for (size_t t = 0; t < (columns) && (j0) + t <= (i0) + r; t++) {                \
          out[t] += (sums)[r][t / (lanes)][t % (lanes)];                                \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
  } while (0)

/// The sums of a tile over all rows of A: `ROWS` rows of the result (those past `n` read as
/// zero) by `lanes · vectors` columns from `j0` (those past `n` from a zero-padded copy, so
/// that the last block of columns reads nothing past the end of A).
#define TILE_SUMS(vector, lanes, vectors, ROWS, a, m, n, i0, j0, rows, columns, sums)    \
  do {                                                                                  \
    enum { WIDTH = (lanes) * (vectors) };                                               \
    for (size_t k = 0; k < (m); k++) {                                                  \
      const double *row = (a) + k * (n);                                                \
      double block[WIDTH];                                                              \
      const double *x = row + (j0);                                                     \
      if ((columns) < WIDTH) {                                                          \
        memcpy(block, x, (columns) * sizeof(double));                                   \
        for (size_t l = (columns); l < WIDTH; l++) block[l] = 0;                        \
        x = block;                                                                      \
      }                                                                                 \
      vector v[(vectors)];                                                              \
      for (size_t t = 0; t < (vectors); t++) memcpy(&v[t], x + t * (lanes), sizeof(vector)); \
      for (size_t r = 0; r < (ROWS); r++) {                                             \
        double y = r < (rows) ? row[(i0) + r] : 0;                                      \
        vector b = y - (vector){};                                                      \
        for (size_t t = 0; t < (vectors); t++) {                                        \
          (sums)[r][t] = __builtin_elementwise_fma(b, v[t], (sums)[r][t]);              \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
  } while (0)

/// `name(a, m, n, c)`: the Gram matrix of `a` added to `c` by tiles of `ROWS` rows and `VECTORS`
/// vectors of `LANES` columns; whole tiles with constant bounds, so that the sums stay in
/// registers.
#define DEFINE_GRAM(name, features, vector, LANES, ROWS, VECTORS)                           \
  __attribute__((target(features))) static void name(const double *a, size_t m, size_t n,    \
                                                     double *c) {                           \
    enum { WIDTH = (LANES) * (VECTORS) };                                                   \
    for (size_t i0 = 0; i0 < n; i0 += (ROWS)) {                                             \
      size_t rows = n - i0 < (ROWS) ? n - i0 : (ROWS);                                      \
      for (size_t j0 = 0; j0 < i0 + rows; j0 += WIDTH) {                                    \
        size_t columns = n - j0 < WIDTH ? n - j0 : WIDTH;                                   \
        vector sums[(ROWS)][(VECTORS)] = {};                                                \
        if (rows == (ROWS) && columns == WIDTH) {                                           \
          TILE_SUMS(vector, LANES, VECTORS, ROWS, a, m, n, i0, j0, (ROWS), WIDTH, sums);    \
        } else {                                                                            \
          TILE_SUMS(vector, LANES, VECTORS, ROWS, a, m, n, i0, j0, rows, columns, sums);    \
        }                                                                                   \
        STORE_TILE(vector, LANES, VECTORS, c, n, i0, j0, rows, columns, sums);              \
      }                                                                                     \
    }                                                                                       \
  }

DEFINE_GRAM(gram_wide, "avx512f", wide, 8, 8, 2)
DEFINE_GRAM(gram_narrow, "avx2,fma", narrow, 4, 4, 2)

int bayesagg_gram_lower_supported(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void bayesagg_gram_lower_add(const double *a, size_t rows, size_t n, double *c) {
  if (__builtin_cpu_supports("avx512f")) {
    gram_wide(a, rows, n, c);
  } else {
    gram_narrow(a, rows, n, c);
  }
}

void bayesagg_gram_lower_add_narrow(const double *a, size_t rows, size_t n, double *c) {
  gram_narrow(a, rows, n, c);
}
