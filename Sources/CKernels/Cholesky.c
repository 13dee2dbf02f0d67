#include "CKernels.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

// The Cholesky factor of a symmetric positive definite matrix, left-looking in blocks of 16
// columns. For each block of columns J = [j0, j0 + 16):
//
//   1. every row i ≥ j0 of the block gets `a[i][J] −= Σ_{k < j0} L[i][k] · L[J][k]`, a long
//      product (k runs over all earlier columns) whose sums stay in registers;
//   2. the 16 × 16 diagonal block is factored;
//   3. each row below it is solved against that factor, `L[i][J] = a[i][J] · L[J][J]⁻ᵀ`.
//
// Step 1 wants `L[J][k]` contiguous along J, that is the transpose of what the lower triangle
// holds. The upper triangle is free (its contents on return are unspecified, and the input's
// upper triangle is never used), so the factor is also written there transposed:
// `a[k][i] = L[i][k]` for `k < i`. No workspace is needed.
//
// With AVX-512 each row tile is 8 rows by the block's 16 columns (two vectors per row, sixteen
// accumulators, multiply-adds fused). After its product the tile is transposed in registers,
// so that the solve runs down whole columns (vectors over the tile's 8 rows) with broadcast
// coefficients, and it is stored both transposed (upper triangle) and back as rows (the
// factor itself). The diagonal block of the next block of columns is formed and eliminated
// while this block's rows are still being solved (see `cholesky_avx512`).
//
// Measured on the Zen 5 (C harness, best of 300): n = 161 in 14.5–14.9 µs against 36–37 µs
// for the earlier kernel (right-looking in panels of 8 columns, tiles of 4 × 8 without FMA);
// n = 128 7.9 against 20.4 µs; n = 200 25.5 against 63.7 µs. Reached, in order: 8 × 16 tiles
// over 16-column blocks (25 µs); the solve and the elimination fully unrolled (19 µs); tiles of
// fewer rows only for the rows that exist (18 µs); a square-root-free elimination of the
// diagonal block (17 µs); the next diagonal block formed early and eliminated between tiles
// (15 µs).

enum { BLOCK = 16 };

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

/// Transposes the 8 × 8 matrix whose rows are `v[0..8)`, in place.
ALWAYS_INLINE void transpose8(__m512d v[8]) {
  // Pairs of rows interleaved: t[2p] = (v[2p][0], v[2p+1][0], v[2p][2], v[2p+1][2], ...).
  __m512d t[8];
  for (int p = 0; p < 4; p++) {
    t[2 * p] = _mm512_unpacklo_pd(v[2 * p], v[2 * p + 1]);
    t[2 * p + 1] = _mm512_unpackhi_pd(v[2 * p], v[2 * p + 1]);
  }
  // Quads of rows: u holds, for two columns c and c + 4, the elements of rows 4q..4q+3.
  const __m512i low = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i high = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  __m512d u[8];
  for (int q = 0; q < 2; q++) {
    __m512d even = t[4 * q], odd = t[4 * q + 1], even2 = t[4 * q + 2], odd2 = t[4 * q + 3];
    u[4 * q + 0] = _mm512_permutex2var_pd(even, low, even2);   // columns 0, 4
    u[4 * q + 1] = _mm512_permutex2var_pd(odd, low, odd2);     // columns 1, 5
    u[4 * q + 2] = _mm512_permutex2var_pd(even, high, even2);  // columns 2, 6
    u[4 * q + 3] = _mm512_permutex2var_pd(odd, high, odd2);    // columns 3, 7
  }
  // Rows 0..3 and 4..7 of each column joined.
  for (int c = 0; c < 4; c++) {
    v[c] = _mm512_shuffle_f64x2(u[c], u[4 + c], 0x44);
    v[c + 4] = _mm512_shuffle_f64x2(u[c], u[4 + c], 0xEE);
  }
}


/// The product of a row tile: `acc[r][h] = a[i0 + r][j0 + 8h ..] − Σ_{k < j0} a[i0 + r][k] ·
/// a[k][j0 + 8h ..]` for `r < rows` (0 for the others) over the `halves` vectors of the block
/// (lanes outside `mask[h]` read as 0). `rows` and `halves` are constants at each call, so
/// that the sums stay in registers and no work is spent on absent rows. A tile of few rows
/// has too few sums to keep the multiply-adds busy (each waits for the last one on its sum),
/// so it splits the k of each sum over `ways` partial sums, added at the end.
ALWAYS_INLINE void tile_product(const double *a, size_t n, size_t i0, int rows, size_t j0,
                                const __mmask8 mask[2], int halves, __m512d acc[8][2]) {
  const int ways = rows * halves >= 8 ? 1 : rows * halves >= 4 ? 2 : 4;
  const double *row[8];
  __m512d part[4][8][2];
  UNROLL for (int r = 0; r < 8; r++) {
    row[r] = a + (i0 + (size_t)(r < rows ? r : 0)) * n;  // absent rows: never read
    UNROLL for (int h = 0; h < 2; h++) {
      part[0][r][h] = r < rows && h < halves
                          ? _mm512_maskz_loadu_pd(mask[h], row[r] + j0 + 8 * h)
                          : _mm512_setzero_pd();
      UNROLL for (int s = 1; s < ways; s++) part[s][r][h] = _mm512_setzero_pd();
    }
  }
  const double *lt = a + j0;  // a[k][j0 ..]: L[j0 ..][k], the transposed factor
  size_t k = 0;
  for (; k + (size_t)ways <= j0; k += (size_t)ways) {
    UNROLL for (int s = 0; s < ways; s++, lt += n) {
      __m512d column[2];
      UNROLL for (int h = 0; h < halves; h++) {
        column[h] = _mm512_maskz_loadu_pd(mask[h], lt + 8 * h);
      }
      UNROLL for (int r = 0; r < rows; r++) {
        __m512d left = _mm512_set1_pd(row[r][k + (size_t)s]);
        UNROLL for (int h = 0; h < halves; h++) {
          part[s][r][h] = _mm512_fnmadd_pd(left, column[h], part[s][r][h]);
        }
      }
    }
  }
  for (; k < j0; k++, lt += n) {
    __m512d column[2];
    UNROLL for (int h = 0; h < halves; h++) column[h] = _mm512_maskz_loadu_pd(mask[h], lt + 8 * h);
    UNROLL for (int r = 0; r < rows; r++) {
      __m512d left = _mm512_set1_pd(row[r][k]);
      UNROLL for (int h = 0; h < halves; h++) {
        part[0][r][h] = _mm512_fnmadd_pd(left, column[h], part[0][r][h]);
      }
    }
  }
  UNROLL for (int r = 0; r < 8; r++) {
    UNROLL for (int h = 0; h < 2; h++) {
      __m512d sum = part[0][r][h];
      UNROLL for (int s = 1; s < ways; s++) sum = _mm512_add_pd(sum, part[s][r][h]);
      acc[r][h] = sum;
    }
  }
}

/// `tile_product` for a row count known only at run time (1 ... 8).
#define WITH_CONSTANT_ROWS(rows, CALL) \
  switch (rows) {                       \
    case 1: CALL(1); break;             \
    case 2: CALL(2); break;             \
    case 3: CALL(3); break;             \
    case 4: CALL(4); break;             \
    case 5: CALL(5); break;             \
    case 6: CALL(6); break;             \
    case 7: CALL(7); break;             \
    default: CALL(8); break;            \
  }

/// The factor of one block, as needed by the solves below it: `scaled[m][c] = L[c][m] / L[m][m]`
/// for `c > m` (0 elsewhere) and `reciprocal[c] = 1 / L[c][c]` (0 past the block's width).
typedef struct {
  double scaled[BLOCK][BLOCK] __attribute__((aligned(64)));
  double reciprocal[BLOCK] __attribute__((aligned(64)));
} block_factor;

/// A diagonal block on its way to being factored, by columns: `column[c]` holds column c over
/// the block's 16 rows (rows above c are 0, columns past the block's width are the identity);
/// `pivots[m]` collects the pivots as they are reached.
typedef struct {
  double column[BLOCK][BLOCK] __attribute__((aligned(64)));
  double pivots[BLOCK] __attribute__((aligned(64)));
  size_t width;
} diagonal_block;

/// The product for all 16 rows of a full diagonal block at once: rows 0..7 need columns 0..7
/// only (one vector), rows 8..15 both vectors; 24 sums in registers. Returns the sums as
/// `low[r]` (rows 0..7) and `high[r][h]` (rows 8..15).
ALWAYS_INLINE void diagonal_product(const double *a, size_t n, size_t j0, __m512d low[8],
                                    __m512d high[8][2]) {
  const double *row = a + j0 * n;
  UNROLL for (int r = 0; r < 8; r++) {
    low[r] = _mm512_loadu_pd(row + (size_t)r * n + j0);
    high[r][0] = _mm512_loadu_pd(row + (size_t)(8 + r) * n + j0);
    high[r][1] = _mm512_loadu_pd(row + (size_t)(8 + r) * n + j0 + 8);
  }
  const double *lt = a + j0;
  for (size_t k = 0; k < j0; k++, lt += n) {
    __m512d left = _mm512_loadu_pd(lt), right = _mm512_loadu_pd(lt + 8);
    UNROLL for (int r = 0; r < 8; r++) {
      low[r] = _mm512_fnmadd_pd(_mm512_set1_pd(row[(size_t)r * n + k]), left, low[r]);
    }
    UNROLL for (int r = 0; r < 8; r++) {
      __m512d x = _mm512_set1_pd(row[(size_t)(8 + r) * n + k]);
      high[r][0] = _mm512_fnmadd_pd(x, left, high[r][0]);
      high[r][1] = _mm512_fnmadd_pd(x, right, high[r][1]);
    }
  }
}

/// The product for the diagonal block `a[j0 ..< j0 + w][j0 ..< j0 + w]` (w ≤ 16), stored by
/// columns in `d`.
static void load_diagonal(const double *a, size_t n, size_t j0, size_t w, diagonal_block *d) {
  const __mmask16 inside = (__mmask16)((1u << w) - 1);  // lanes (columns) of the block
  const __mmask8 mask[2] = {(__mmask8)inside, (__mmask8)(inside >> 8)};
  __m512d low[8], high[BLOCK];  // low[c]: rows 0..7 of column c < 8; high[c]: rows 8..15
  if (w == BLOCK) {
    __m512d acc[8][2];
    diagonal_product(a, n, j0, low, acc);
    UNROLL for (int r = 0; r < 8; r++) high[r] = acc[r][0], high[8 + r] = acc[r][1];
  } else {
    __m512d acc[8][2];
#define DIAGONAL_LOW(R) tile_product(a, n, j0, R, j0, mask, 1, acc)
    WITH_CONSTANT_ROWS(w < 8 ? (int)w : 8, DIAGONAL_LOW)
    UNROLL for (int r = 0; r < 8; r++) low[r] = acc[r][0];
    if (w > 8) {
#define DIAGONAL_HIGH(R) tile_product(a, n, j0 + 8, R, j0, mask, 2, acc)
      WITH_CONSTANT_ROWS((int)w - 8, DIAGONAL_HIGH)
      UNROLL for (int r = 0; r < 8; r++) high[r] = acc[r][0], high[8 + r] = acc[r][1];
    } else {
      UNROLL for (int c = 0; c < BLOCK; c++) high[c] = _mm512_setzero_pd();
    }
  }
  transpose8(low);
  transpose8(high);
  transpose8(high + 8);
  // Only the lower triangle inside the block is kept (the products above it read the upper
  // triangle of the input, or nothing); the columns past w become those of the identity.
  const __m512d one = _mm512_set1_pd(1.0);
  UNROLL for (int c = 0; c < BLOCK; c++) {
    __mmask16 keep = (__mmask16)(inside & (0xFFFFu << c));
    __mmask16 unit = (__mmask16)(~inside & (1u << c));
    __m512d top = c < 8 ? low[c] : _mm512_setzero_pd();
    _mm512_store_pd(d->column[c], _mm512_mask_mov_pd(_mm512_maskz_mov_pd((__mmask8)keep, top),
                                                     (__mmask8)unit, one));
    _mm512_store_pd(d->column[c] + 8,
                    _mm512_mask_mov_pd(_mm512_maskz_mov_pd((__mmask8)(keep >> 8), high[c]),
                                       (__mmask8)(unit >> 8), one));
  }
  _mm512_store_pd(d->pivots, one);
  _mm512_store_pd(d->pivots + 8, one);
  d->width = w;
}

/// Lane `index` of `v` in every lane.
ALWAYS_INLINE __m512d lane(__m512d v, int index) {
  return _mm512_permutexvar_pd(_mm512_set1_epi64(index), v);
}

/// Steps `first ..< first + STEPS` of the elimination of a diagonal block (constants at each
/// call: the steps are fully unrolled, with the columns they touch in registers). Right-looking
/// by columns and without square roots: with p the pivot of column m, column c −= column[m][c]
/// · (column m / p) for c > m. The path from one pivot to the next is then one division; L's
/// column m is column m / √p, applied by `finish_diagonal`. Also writes `f->scaled[m]`.
enum { STEPS = 4 };
ALWAYS_INLINE void eliminate_steps(diagonal_block *d, block_factor *f, int first) {
  __m512d low[8], high[BLOCK];  // rows 0..7 (columns < 8 only) and rows 8..15 of each column
  UNROLL for (int c = first; c < BLOCK; c++) {
    if (c < 8) low[c] = _mm512_load_pd(d->column[c]);
    high[c] = _mm512_load_pd(d->column[c] + 8);
  }
  UNROLL for (int m = first; m < first + STEPS; m++) {
    __m512d pivot = lane(m < 8 ? low[m] : high[m], m % 8);
    d->pivots[m] = _mm512_cvtsd_f64(pivot);
    // Column m / p below the diagonal: L[c][m] / L[m][m], the coefficients of the solves.
    __m512d scaled_low = m < 8 ? _mm512_maskz_div_pd((__mmask8)(0xFEu << m), low[m], pivot)
                               : _mm512_setzero_pd();
    __m512d scaled_high =
        _mm512_maskz_div_pd((__mmask8)(m < 8 ? 0xFFu : 0xFEu << (m - 8)), high[m], pivot);
    _mm512_store_pd(f->scaled[m], scaled_low);
    _mm512_store_pd(f->scaled[m] + 8, scaled_high);
    UNROLL for (int c = m + 1; c < BLOCK; c++) {
      __m512d factor = lane(c < 8 ? low[m] : high[m], c % 8);
      if (c < 8) low[c] = _mm512_fnmadd_pd(factor, scaled_low, low[c]);
      high[c] = _mm512_fnmadd_pd(factor, scaled_high, high[c]);
    }
  }
  UNROLL for (int c = first + 1; c < BLOCK; c++) {
    if (c < 8) _mm512_store_pd(d->column[c], low[c]);
    _mm512_store_pd(d->column[c] + 8, high[c]);
  }
}

/// Steps `STEPS · first ..< STEPS · last` of the elimination (those past the block's width are
/// skipped: its columns there are the identity, whose steps change nothing).
static void eliminate(diagonal_block *d, block_factor *f, size_t first, size_t last) {
  const size_t needed = (d->width + STEPS - 1) / STEPS;
  if (last > needed) last = needed;
  for (size_t chunk = first; chunk < last; chunk++) {
    switch (chunk) {
#define CHUNK(q) case q: eliminate_steps(d, f, STEPS * q); break;
      CHUNK(0) CHUNK(1) CHUNK(2) CHUNK(3)
#undef CHUNK
    }
  }
}

/// Completes an eliminated diagonal block at `j0`: checks its pivots, writes its rows of L and
/// the rest of `f`. Returns 0, or the 1-based index of the first pivot that is not positive.
static size_t finish_diagonal(double *a, size_t n, size_t j0, diagonal_block *d,
                              block_factor *f) {
  const size_t w = d->width;
  const __mmask16 inside = (__mmask16)((1u << w) - 1);
  const __mmask8 mask[2] = {(__mmask8)inside, (__mmask8)(inside >> 8)};
  const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
  // The first pivot that is not positive (NaN included) stops the factorization.
  const __m512d pivots_low = _mm512_load_pd(d->pivots), pivots_high = _mm512_load_pd(d->pivots + 8);
  __mmask16 positive =
      (__mmask16)(_mm512_cmp_pd_mask(pivots_low, zero, _CMP_GT_OQ) |
                  (_mm512_cmp_pd_mask(pivots_high, zero, _CMP_GT_OQ) << 8));
  if ((positive & inside) != inside) return j0 + (size_t)__builtin_ctz(~positive & inside) + 1;
  for (size_t m = w; m < BLOCK; m++) {
    _mm512_store_pd(f->scaled[m], zero);
    _mm512_store_pd(f->scaled[m] + 8, zero);
  }
  __m512d diagonal_low = _mm512_sqrt_pd(pivots_low);
  __m512d diagonal_high = _mm512_sqrt_pd(pivots_high);
  __m512d reciprocal_low = _mm512_div_pd(one, diagonal_low);
  __m512d reciprocal_high = _mm512_div_pd(one, diagonal_high);
  _mm512_store_pd(f->reciprocal, _mm512_maskz_mov_pd(mask[0], reciprocal_low));
  _mm512_store_pd(f->reciprocal + 8, _mm512_maskz_mov_pd(mask[1], reciprocal_high));
  // Back to rows (row r of L is lane r of the columns), each column m divided by √p_m, with
  // the diagonal exactly √p.
  __m512d low[8], high[BLOCK];
  UNROLL for (int c = 0; c < 8; c++) low[c] = _mm512_load_pd(d->column[c]);
  UNROLL for (int c = 0; c < BLOCK; c++) high[c] = _mm512_load_pd(d->column[c] + 8);
  transpose8(low);       // rows 0..7, columns 0..7
  transpose8(high);      // rows 8..15, columns 0..7
  transpose8(high + 8);  // rows 8..15, columns 8..15
  UNROLL for (int r = 0; r < BLOCK; r++) {
    if ((size_t)r >= w) break;
    double *out = a + (j0 + (size_t)r) * n + j0;
    if (r < 8) {
      __m512d row = _mm512_mul_pd(low[r], reciprocal_low);
      row = _mm512_mask_mov_pd(row, (__mmask8)(1u << r), diagonal_low);
      _mm512_mask_storeu_pd(out, mask[0], row);
    } else {
      __m512d left = _mm512_mul_pd(high[r - 8], reciprocal_low);
      __m512d right = _mm512_mul_pd(high[r], reciprocal_high);
      right = _mm512_mask_mov_pd(right, (__mmask8)(1u << (r - 8)), diagonal_high);
      _mm512_mask_storeu_pd(out, mask[0], left);
      _mm512_mask_storeu_pd(out + 8, mask[1], right);
    }
  }
  return 0;
}

/// Rows `i0 ..< i0 + rows` (rows ≤ 8) of the block of columns from `j0` (width w): product,
/// solve against the block's factor `f`, stores as rows and transposed.
static void solve_tile(double *a, size_t n, size_t j0, size_t w, size_t i0, size_t rows,
                       const block_factor *f) {
  const __mmask16 inside = (__mmask16)((1u << w) - 1);
  const __mmask8 mask[2] = {(__mmask8)inside, (__mmask8)(inside >> 8)};
  __m512d acc[8][2];
#define BELOW(R) tile_product(a, n, i0, R, j0, mask, 2, acc)
  WITH_CONSTANT_ROWS((int)rows, BELOW)
  // Columns of the tile: y[c] holds column j0 + c over the tile's 8 rows.
  __m512d y[BLOCK];
  UNROLL for (int r = 0; r < 8; r++) y[r] = acc[r][0], y[8 + r] = acc[r][1];
  transpose8(y);
  transpose8(y + 8);
  // Forward substitution by columns: with x = y · L⁻ᵀ, x[c] = (y[c] − Σ_{m<c} x[m] L[c][m]) /
  // L[c][c]. Here y[m] is left undivided until the end, so the coefficients are pre-divided.
  UNROLL for (int m = 0; m < BLOCK; m++) {
    UNROLL for (int c = m + 1; c < BLOCK; c++) {
      y[c] = _mm512_fnmadd_pd(_mm512_set1_pd(f->scaled[m][c]), y[m], y[c]);
    }
  }
  UNROLL for (int c = 0; c < BLOCK; c++) {
    y[c] = _mm512_mul_pd(y[c], _mm512_set1_pd(f->reciprocal[c]));
  }
  // The transposed copy: a[j0 + c][i0 ..] = L[i0 ..][j0 + c].
  const __mmask8 present = (__mmask8)((1u << rows) - 1);
  UNROLL for (int c = 0; c < BLOCK; c++) {
    if ((size_t)c < w) _mm512_mask_storeu_pd(a + (j0 + (size_t)c) * n + i0, present, y[c]);
  }
  // And the rows.
  transpose8(y);
  transpose8(y + 8);
  UNROLL for (int r = 0; r < 8; r++) {
    if ((size_t)r < rows) {
      double *out = a + (i0 + (size_t)r) * n + j0;
      _mm512_mask_storeu_pd(out, mask[0], y[r]);
      _mm512_mask_storeu_pd(out + 8, mask[1], y[8 + r]);
    }
  }
}

/// The blocks are pipelined: while the rows below block J are solved, the diagonal block of
/// J + 1 is already formed (as soon as the tiles for its rows are done) and eliminated a few
/// steps between tiles, so that the chain of divisions from pivot to pivot runs alongside the
/// products instead of stalling them.
static size_t cholesky_avx512(double *a, size_t n) {
  block_factor factors[2];
  diagonal_block d;
  load_diagonal(a, n, 0, n < BLOCK ? n : BLOCK, &d);
  eliminate(&d, &factors[0], 0, BLOCK / STEPS);
  size_t failed = finish_diagonal(a, n, 0, &d, &factors[0]);
  if (failed != 0) return failed;
  int current = 0;
  for (size_t j0 = 0; j0 < n; j0 += BLOCK, current ^= 1) {
    const size_t w = n - j0 < BLOCK ? n - j0 : BLOCK;
    const block_factor *f = &factors[current];
    block_factor *next = &factors[current ^ 1];
    const size_t j1 = j0 + w;                                    // the next block
    const size_t w1 = j1 >= n ? 0 : n - j1 < BLOCK ? n - j1 : BLOCK;
    // The rows of the next diagonal block first.
    size_t i0 = j1;
    for (; i0 < j1 + w1; i0 += 8) solve_tile(a, n, j0, w, i0, n - i0 < 8 ? n - i0 : 8, f);
    if (w1 > 0) load_diagonal(a, n, j1, w1, &d);
    // The other rows, each tile preceded by a share of the next block's elimination.
    const size_t chunks = BLOCK / STEPS;
    size_t tiles = (n - i0 + 7) / 8, done = 0;
    for (size_t t = 0; t < tiles; t++, i0 += 8) {
      size_t target = chunks * (t + 1) / (tiles + 1);
      if (w1 > 0) eliminate(&d, next, done, target);
      done = target;
      solve_tile(a, n, j0, w, i0, n - i0 < 8 ? n - i0 : 8, f);
    }
    if (w1 > 0) {
      eliminate(&d, next, done, chunks);
      failed = finish_diagonal(a, n, j1, &d, next);
      if (failed != 0) return failed;
    }
  }
  return 0;
}

#pragma clang attribute pop

// ---- Portable path -------------------------------------------------------------------------

// Without AVX-512: the same left-looking scheme in plain C that the compiler vectorizes, with
// blocks of 6 columns and tiles of 8 rows kept as columns (y[c][r]: column c over the tile's 8
// rows, so that both the product and the solve run along vectors over rows). The product takes
// its vectors from the transposed copy in the upper triangle and its multipliers from the rows
// of L. Compiled twice (x86-64-v3, that is AVX2 with FMA, and the baseline); these sizes measured
// best for AVX2 (6 × 8: 39 µs at n = 161 on the Zen 5, against 43 µs for the current kernel's
// AVX2 clone; 8 × 4: 46 µs).

enum { NARROW = 6, TILE = 8 };

/// `y[c][r] = a[i0 + r][j0 + c] − Σ_{k < j0} L[i0 + r][k] · L[j0 + c][k]` for a tile of rows
/// from `i0` (rows past `rows`, and columns past `w`, are computed from repeated valid rows and
/// never stored).
static inline __attribute__((always_inline)) void portable_product(const double *a, size_t n,
                                                                   size_t j0, size_t w,
                                                                   size_t i0, size_t rows,
                                                                   double y[NARROW][TILE]) {
  const double *multiplier[NARROW];  // rows j0 + c of L
  for (size_t c = 0; c < NARROW; c++) multiplier[c] = a + (j0 + (c < w ? c : 0)) * n;
  for (size_t c = 0; c < NARROW; c++) {
    for (size_t r = 0; r < TILE; r++) {
      y[c][r] = a[(i0 + (r < rows ? r : 0)) * n + j0 + (c < w ? c : 0)];
    }
  }
  for (size_t k = 0; k < j0; k++) {
    // L[i0 ..< i0 + TILE][k], from the transposed copy. Past the last row this reads the
    // start of the next row of the matrix (which exists, as k < j0 < n), and is not used.
    const double *column = a + k * n + i0;
    for (size_t c = 0; c < NARROW; c++) {
      double x = multiplier[c][k];
      for (size_t r = 0; r < TILE; r++) y[c][r] -= x * column[r];
    }
  }
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
static size_t cholesky_portable(double *a, size_t n) {
  double scaled[NARROW][NARROW];  // L[c][m] / L[m][m] for c > m, 0 elsewhere
  double reciprocal[NARROW];      // 1 / L[c][c], 0 past the block
  for (size_t j0 = 0; j0 < n; j0 += NARROW) {
    size_t w = n - j0 < NARROW ? n - j0 : NARROW;
    // The diagonal block's rows, updated in place.
    for (size_t i0 = j0; i0 < j0 + w; i0 += TILE) {
      size_t rows = j0 + w - i0 < TILE ? j0 + w - i0 : TILE;
      double y[NARROW][TILE];
      portable_product(a, n, j0, w, i0, rows, y);
      for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < w; c++) a[(i0 + r) * n + j0 + c] = y[c][r];
      }
    }
    // Its factor, by rows.
    for (size_t j = 0; j < w; j++) {
      double *row = a + (j0 + j) * n + j0;
      for (size_t m = 0; m < j; m++) {
        double value = row[m];
        const double *earlier = a + (j0 + m) * n + j0;
        for (size_t l = 0; l < m; l++) value -= row[l] * earlier[l];
        row[m] = value * reciprocal[m];
      }
      double pivot = row[j];
      for (size_t l = 0; l < j; l++) pivot -= row[l] * row[l];
      if (!(pivot > 0)) return j0 + j + 1;
      row[j] = sqrt(pivot);
      reciprocal[j] = 1.0 / row[j];
    }
    for (size_t m = 0; m < NARROW; m++) {
      for (size_t c = 0; c < NARROW; c++) {
        scaled[m][c] = c > m && c < w ? a[(j0 + c) * n + j0 + m] * reciprocal[m] : 0;
      }
    }
    for (size_t c = w; c < NARROW; c++) reciprocal[c] = 0;
    // The rows below: product, solve by columns, stores transposed and as rows.
    for (size_t i0 = j0 + w; i0 < n; i0 += TILE) {
      size_t rows = n - i0 < TILE ? n - i0 : TILE;
      double y[NARROW][TILE];
      portable_product(a, n, j0, w, i0, rows, y);
      for (size_t m = 0; m < NARROW; m++) {
        for (size_t c = m + 1; c < NARROW; c++) {
          for (size_t r = 0; r < TILE; r++) y[c][r] -= scaled[m][c] * y[m][r];
        }
        for (size_t r = 0; r < TILE; r++) y[m][r] *= reciprocal[m];
      }
      for (size_t c = 0; c < w; c++) {
        for (size_t r = 0; r < rows; r++) {
          a[(j0 + c) * n + i0 + r] = y[c][r];
          a[(i0 + r) * n + j0 + c] = y[c][r];
        }
      }
    }
  }
  return 0;
}

/// The Cholesky factor (see the header): AVX-512 where the processor has it, else plain C.
size_t bayesagg_cholesky_lower(double *a, size_t n) {
  if (n == 0) return 0;
  if (__builtin_cpu_supports("avx512f")) return cholesky_avx512(a, n);
  return cholesky_portable(a, n);
}

size_t bayesagg_cholesky_lower_portable(double *a, size_t n) {
  return n == 0 ? 0 : cholesky_portable(a, n);
}
