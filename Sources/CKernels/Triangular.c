// X = L⁻¹ for a row-major n × n lower-triangular L, computed in Double and written as Float
// rows as soon as they are final, for the Monte-Carlo draws `w = m + L⁻ᵀz` (the Double inverse
// itself is never needed, so no second pass rounds a Double copy).
//
// Forward substitution in register tiles: a tile is ROWS consecutive rows i0 ..< i0 + ROWS of
// X by WIDTH consecutive columns j0 ..< j0 + WIDTH. Its sums over the rows k of X above the
// tile (j0 ≤ k < i0, all final) run in registers; then the tile's own rows are finished one
// after the other, each one scaled by the reciprocal of its diagonal entry and then used,
// still in registers, by the rows below it in the tile. Every element is summed in increasing
// k, with fused multiply-adds and a multiply by 1 / L[i][i] (AVX-512); without AVX-512, with
// separate multiplies and adds and a division.
//
// The Double rows of X that later tiles read are kept in `scratch` as column panels: panel p
// holds columns p·WIDTH ..< (p + 1)·WIDTH of rows p·WIDTH ..< n, one after the other, WIDTH
// doubles each (zero past n and above the diagonal), so that a tile reads its rows above as
// one contiguous, aligned stream: about n²/2 doubles instead of n².
//
// n = 161, best of 1000 in a C harness on Zen 5: 12.7–13.0 µs, against 37.5–38.7 µs for the
// earlier kernel (Double rows in tiles of 4 × 16 without FMA, then a Double → Float loop). The
// n³/6 multiply-adds alone take 10.3 µs at this core's peak.

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define HAS_X86 1
#include <immintrin.h>
#else
#define HAS_X86 0
#endif

#pragma clang fp contract(off)

// Tile shapes, measured at n = 161 against 4, 6, 10 and 12 rows and 24 or 32 columns (all
// within noise of 8 × 16 or slower). AVX-512: ROWS rows by VECTORS vectors of 8 doubles.
// Portable: rows by half a panel, in vectors of 4 doubles.
enum { AVX512_ROWS = 8, AVX512_VECTORS = 2, PORTABLE_AVX2_ROWS = 4, PORTABLE_PLAIN_ROWS = 2 };

/// Column width of the panels in `scratch` (of both the AVX-512 and the portable version).
enum { PANEL_WIDTH = 8 * AVX512_VECTORS };

/// The doubles in column panels of width `width` for an n × n inverse.
static size_t panel_doubles(size_t n, size_t width) {
  size_t total = 0;
  for (size_t j0 = 0; j0 < n; j0 += width) total += (n - j0) * width;
  return total;
}

/// The doubles `bayesagg_lower_inverse_float` needs in `scratch`: the panels plus room to align
/// them to 64 bytes. With panels of 16 columns that is at most n² + 72 (n = 161: 14 264,
/// against n² = 25 921), and about n²/2 + 8n for large n.
size_t bayesagg_lower_inverse_float_scratch(size_t n) { return panel_doubles(n, PANEL_WIDTH) + 8; }

static double *aligned_panels(double *scratch) {
  uintptr_t address = (uintptr_t)scratch;
  return (double *)((address + 63) & ~(uintptr_t)63);
}

// MARK: - AVX-512

#if HAS_X86
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl"))), apply_to = function)

typedef double lanes __attribute__((vector_size(64)));
typedef float float_lanes __attribute__((vector_size(32)));
typedef long long lane_mask __attribute__((vector_size(64)));

enum { LANES = 8, ROWS = AVX512_ROWS, VECTORS = AVX512_VECTORS, WIDTH = LANES * VECTORS };

/// Adds rows k_begin ..< k_end of X (from `above`, the panel's row k_begin) times the rows'
/// coefficients L[i][k] to the sums of the first `active` vectors. Each row of X is read once
/// for all ROWS rows of the tile.
static inline __attribute__((always_inline)) void
add_rows_above(lanes sums[ROWS][VECTORS], const double *const row[ROWS], size_t rows,
               const double *above, size_t k_begin, size_t k_end, size_t active) {
  for (size_t k = k_begin; k < k_end; k++, above += WIDTH) {
    lanes x[VECTORS];
    for (size_t t = 0; t < active; t++) memcpy(&x[t], above + t * LANES, sizeof(lanes));
    for (size_t r = 0; r < ROWS; r++) {
      double c = r < rows ? row[r][k] : 0.0;
      lanes b = {c, c, c, c, c, c, c, c};
      for (size_t t = 0; t < active; t++) {
        sums[r][t] = __builtin_elementwise_fma(b, x[t], sums[r][t]);
      }
    }
  }
}

/// One tile: rows i0 ..< i0 + rows (rows ≤ ROWS) by columns j0 ..< j0 + WIDTH. `panel` is
/// the panel of columns j0 (its first row is row j0). Writes the tile's rows to the panel (those
/// at or below row j0) and their first n − j0 columns, as Float, to `out`. `meets_diagonal`
/// is 0 when the whole tile lies left of the diagonal (no identity term, no zeros, no short
/// last columns). Inlined with constant `rows` and `meets_diagonal`, so that the sums stay in
/// registers and the tests fold away.
static inline __attribute__((always_inline)) void
tile(const double *restrict lower, size_t n, double *restrict panel, float *restrict out,
     size_t i0, size_t rows, size_t j0, const double reciprocal[ROWS], int meets_diagonal) {
  lanes sums[ROWS][VECTORS] = {};
  const double *row[ROWS];
  for (size_t r = 0; r < ROWS; r++) row[r] = lower + (i0 + (r < rows ? r : 0)) * n;

  // The rows above the tile. Row k of the panel is zero past column k, so its first LANES
  // rows need only the first vector, the next LANES the first two, and so on.
  size_t k = j0;
  for (size_t active = 1; active < VECTORS; active++) {
    size_t end = j0 + active * LANES < i0 ? j0 + active * LANES : i0;
    if (k < end) {
      add_rows_above(sums, row, rows, panel + (k - j0) * WIDTH, k, end, active);
      k = end;
    }
  }
  if (k < i0) add_rows_above(sums, row, rows, panel + (k - j0) * WIDTH, k, i0, VECTORS);

  // The tile's own rows: row i is final once the rows i0 ..< i are added, and is then added
  // to the rows below it in the tile.
  const lanes lane = {0, 1, 2, 3, 4, 5, 6, 7};
  size_t columns = n - j0;  // the columns of the tile inside the matrix (may exceed WIDTH)
#pragma clang loop unroll(full)
  for (size_t r = 0; r < ROWS; r++) {
    if (r >= rows) continue;
    size_t i = i0 + r;
    lanes x[VECTORS];
    for (size_t t = 0; t < VECTORS; t++) {
      lanes column = lane + (double)(j0 + t * LANES);
      lanes delta = {};
      if (meets_diagonal) {
        lane_mask on_diagonal = column == (double)i;
        delta = (lanes)((lane_mask)(lanes){1, 1, 1, 1, 1, 1, 1, 1} & on_diagonal);
      }
      x[t] = (delta - sums[r][t]) * reciprocal[r];
      // Exact zeros right of the diagonal (and past the last column).
      if (meets_diagonal && j0 + (t + 1) * LANES > i + 1) {
        lane_mask beyond = column > (double)i;
        x[t] = (lanes)((lane_mask)x[t] & ~beyond);
      }
    }
    if (!meets_diagonal || i >= j0) {
      for (size_t t = 0; t < VECTORS; t++)
        memcpy(panel + (i - j0) * WIDTH + t * LANES, &x[t], sizeof(lanes));
    }
    float *destination = out + i * n + j0;
    for (size_t t = 0; t < VECTORS; t++) {
      float_lanes rounded = __builtin_convertvector(x[t], float_lanes);
      if (!meets_diagonal || columns >= (t + 1) * LANES) {
        memcpy(destination + t * LANES, &rounded, sizeof(rounded));
      } else if (columns > t * LANES) {
        __mmask8 keep = (__mmask8)((1u << (columns - t * LANES)) - 1);
        _mm256_mask_storeu_ps(destination + t * LANES, keep, (__m256)rounded);
      }
    }
#pragma clang loop unroll(full)
    for (size_t s = r + 1; s < ROWS; s++) {
      double c = s < rows ? row[s][i] : 0.0;
      lanes b = {c, c, c, c, c, c, c, c};
      for (size_t t = 0; t < VECTORS; t++) {
        sums[s][t] = __builtin_elementwise_fma(b, x[t], sums[s][t]);
      }
    }
  }
}

static void inverse_avx512(const double *restrict lower, size_t n, double *restrict panels,
                           float *restrict inverse) {
  // The block of n mod ROWS rows goes first, where it has no rows above (so its tiles are only
  // the triangle solve); all the others are whole.
  size_t rows = n % ROWS ? n % ROWS : ROWS;
  for (size_t i0 = 0; i0 < n; i0 += rows, rows = ROWS) {
    size_t last = i0 + rows - 1;
    double reciprocal[ROWS];
    for (size_t r = 0; r < rows; r++) reciprocal[r] = 1.0 / lower[(i0 + r) * n + i0 + r];
    double *panel = panels;
    size_t j0 = 0;
    // Column tiles up to the one holding the block's last diagonal entry.
    for (; j0 <= last; j0 += WIDTH) {
      if (rows == ROWS && j0 + WIDTH <= i0)
        tile(lower, n, panel, inverse, i0, ROWS, j0, reciprocal, 0);
      else if (rows == ROWS)
        tile(lower, n, panel, inverse, i0, ROWS, j0, reciprocal, 1);
      else  // the first block, i0 = 0
        tile(lower, n, panel, inverse, 0, rows, j0, reciprocal, 1);
      panel += (n - j0) * WIDTH;
    }
    // Zeros right of the last tile, 16 floats at a time (0.2–0.3 µs less than memset at 161).
    if (j0 < n) {
      for (size_t r = 0; r < rows; r++) {
        float *zeros = inverse + (i0 + r) * n;
        size_t j = j0;
        for (; j + 16 <= n; j += 16) _mm512_storeu_ps(zeros + j, _mm512_setzero_ps());
        if (j < n) {
          __mmask16 tail = (__mmask16)((1u << (n - j)) - 1);
          _mm512_mask_storeu_ps(zeros + j, tail, _mm512_setzero_ps());
        }
      }
    }
  }
}

#pragma clang attribute pop
#endif

// MARK: - Portable

// Without AVX-512: the arithmetic of bayesagg_lower_inverse (each element summed in
// increasing k with separate multiplies and adds, then divided by the diagonal), so that the
// Floats are exactly the rounding of its Double result. Same panels as above; a tile is a few
// rows by half a panel, in vectors of 4 doubles (two xmm registers each without AVX).

typedef double quad __attribute__((vector_size(32)));
typedef float float_quad __attribute__((vector_size(16)));
typedef long long quad_mask __attribute__((vector_size(32)));

enum { QUAD = 4, HALF = PANEL_WIDTH / 2, QUADS = HALF / QUAD, MAX_PORTABLE_ROWS = 8 };

/// Rows i0 ..< i0 + rows (rows ≤ max_rows) by columns c0 ..< c0 + HALF, where c0 = j0 or
/// j0 + HALF lies in the panel of columns j0. `max_rows` ≤ MAX_PORTABLE_ROWS is a constant.
static inline __attribute__((always_inline)) void
portable_tile(const double *restrict lower, size_t n, double *restrict panel,
              float *restrict out, size_t i0, size_t rows, size_t j0, size_t c0,
              size_t max_rows) {
  quad sums[MAX_PORTABLE_ROWS][QUADS] = {};
  // Rows above: those before c0 are zero in these columns (and would add exact zeros).
  const double *above = panel + (c0 - j0) * PANEL_WIDTH + (c0 - j0);
  for (size_t k = c0; k < i0; k++, above += PANEL_WIDTH) {
    quad x[QUADS];
    for (size_t t = 0; t < QUADS; t++) memcpy(&x[t], above + t * QUAD, sizeof(quad));
    for (size_t r = 0; r < max_rows; r++) {
      double c = r < rows ? lower[(i0 + r) * n + k] : 0.0;
      quad b = {c, c, c, c};
      for (size_t t = 0; t < QUADS; t++) sums[r][t] += b * x[t];
    }
  }
  const quad lane = {0, 1, 2, 3};
  size_t columns = n - c0;  // may exceed HALF
  for (size_t r = 0; r < max_rows; r++) {
    if (r >= rows) continue;
    size_t i = i0 + r;
    double diagonal = lower[i * n + i];
    quad x[QUADS];
    for (size_t t = 0; t < QUADS; t++) {
      quad column = lane + (double)(c0 + t * QUAD);
      quad_mask on_diagonal = column == (double)i, beyond = column > (double)i;
      quad delta = (quad)((quad_mask)(quad){1, 1, 1, 1} & on_diagonal);
      x[t] = (delta - sums[r][t]) / diagonal;
      x[t] = (quad)((quad_mask)x[t] & ~beyond);  // exact zeros right of the diagonal
    }
    if (i >= j0) {
      for (size_t t = 0; t < QUADS; t++)
        memcpy(panel + (i - j0) * PANEL_WIDTH + (c0 - j0) + t * QUAD, &x[t], sizeof(quad));
    }
    float *destination = out + i * n + c0;
    for (size_t t = 0; t < QUADS; t++) {
      float_quad rounded = __builtin_convertvector(x[t], float_quad);
      if (columns >= (t + 1) * QUAD) {
        memcpy(destination + t * QUAD, &rounded, sizeof(rounded));
      } else {
        for (size_t l = t * QUAD; l < columns; l++) destination[l] = rounded[l - t * QUAD];
      }
    }
    for (size_t s = r + 1; s < max_rows; s++) {
      double c = s < rows ? lower[(i0 + s) * n + i] : 0.0;
      quad b = {c, c, c, c};
      for (size_t t = 0; t < QUADS; t++) sums[s][t] += b * x[t];
    }
  }
}

/// The portable inverse with tiles of `max_rows` rows (a constant).
static inline __attribute__((always_inline)) void
inverse_portable_body(const double *restrict lower, size_t n, double *restrict panels,
                      float *restrict inverse, size_t max_rows) {
  // The block of n mod max_rows rows goes first, where it has no rows above.
  size_t rows = n % max_rows ? n % max_rows : max_rows;
  for (size_t i0 = 0; i0 < n; i0 += rows, rows = max_rows) {
    size_t last = i0 + rows - 1;
    double *panel = panels;
    size_t c0 = 0;
    for (; c0 <= last; c0 += HALF) {
      size_t j0 = c0 - c0 % PANEL_WIDTH;
      if (rows == max_rows)
        portable_tile(lower, n, panel, inverse, i0, max_rows, j0, c0, max_rows);
      else
        portable_tile(lower, n, panel, inverse, i0, rows, j0, c0, max_rows);
      if (c0 != j0) panel += (n - j0) * PANEL_WIDTH;
    }
    // Zeros right of the last tile. (When that tile is the first half of a panel, these rows
    // are never read in its second half: its sums start at row c0 > last.)
    if (c0 < n) {
      for (size_t r = 0; r < rows; r++) {
        memset(inverse + (i0 + r) * n + c0, 0, (n - c0) * sizeof(float));
      }
    }
  }
}

#if HAS_X86
__attribute__((target("avx2"))) static void inverse_avx2(const double *restrict lower, size_t n,
                                                        double *restrict panels,
                                                        float *restrict inverse) {
  inverse_portable_body(lower, n, panels, inverse, PORTABLE_AVX2_ROWS);
}
#endif

static void inverse_plain(const double *restrict lower, size_t n, double *restrict panels,
                          float *restrict inverse) {
  inverse_portable_body(lower, n, panels, inverse, PORTABLE_PLAIN_ROWS);
}

// MARK: - Entry

/// `inverse` (n · n + padding floats) = Float(L⁻¹), row-major with zeros above the diagonal,
/// then `padding` zeros. `scratch` holds bayesagg_lower_inverse_float_scratch(n) doubles.
/// `path`: 0 the best for this processor, 1 the AVX2 build of the portable code, 2 its plain build.
void bayesagg_lower_inverse_float_path(const double *lower, size_t n, double *scratch,
                                       float *inverse, size_t padding, int path) {
  double *panels = aligned_panels(scratch);
  (void)path;
#if HAS_X86
  if (path == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    inverse_avx512(lower, n, panels, inverse);
  else if (path <= 1 && __builtin_cpu_supports("avx2"))
    inverse_avx2(lower, n, panels, inverse);
  else
#endif
    inverse_plain(lower, n, panels, inverse);
  memset(inverse + n * n, 0, padding * sizeof(float));
}

void bayesagg_lower_inverse_float(const double *lower, size_t n, double *scratch,
                                  float *inverse, size_t padding) {
  bayesagg_lower_inverse_float_path(lower, n, scratch, inverse, padding, 0);
}
