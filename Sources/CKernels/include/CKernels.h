#ifndef BAYESAGG_CKERNELS_H
#define BAYESAGG_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// ELU over `count` floats: `y = x` for `x > 0`, `alpha·(eˣ − 1)` otherwise, NaN kept.
///
/// The same straight-line Double arithmetic as the Swift fallback (`negativeExpm1`), compiled
/// once per instruction-set level (AVX-512, AVX2, baseline) and picked at run time, so that the
/// loop runs on the widest vectors the processor has. Results are identical across levels
/// (no contraction into fused multiply-adds).
void bayesagg_elu(const float *x, float *y, size_t count, float alpha);

/// `bayesagg_elu` with `y = x`: the same values, written over the input.
void bayesagg_elu_in_place(float *x, size_t count, float alpha);

/// Max pooling of `planes` planes of `height × width` floats (`x`, consecutive) over `k × k`
/// windows that tile them (stride `k`, no padding; `⌊height/k⌋ × ⌊width/k⌋` windows a plane):
/// each window's maximum goes to `pooled` and the offset `u·k + v` of the element it took to
/// `choices`. A NaN wins over any number; among equal values (or NaNs) the first in row-major
/// order wins. The maxima down each column of a window row are found with whole-row vector
/// steps first (`column_max`, `column_row`: scratch of `width` elements), then across the `k`
/// columns of each window.
void bayesagg_max_pool_tiles(
    const float *x, size_t planes, size_t height, size_t width, size_t k, float *pooled,
    uint8_t *choices, float *column_max, int32_t *column_row);

/// Max pooling of `planes` planes of `height × width` floats (`x`, consecutive) over 3×3
/// windows at stride 2 with one cell of padding that counts as −∞ (the ResNet stem's
/// pooling; `⌊(height − 1)/2⌋ + 1` rows of windows): each window's maximum goes to `pooled`
/// and the offset `u·3 + v` within the padded window (row `2i − 1 + u`, column `2j − 1 + v`) of
/// the element it took to `choices`. The same choice as `bayesagg_max_pool_tiles`: a NaN wins,
/// and among equal values (or NaNs) the first in row-major order. `column_max`, `column_row`:
/// scratch of `width` elements. Requires `height`, `width` ≥ 1.
void bayesagg_max_pool_3x3_stride2(
    const float *x, size_t planes, size_t height, size_t width, float *pooled,
    uint8_t *choices, float *column_max, int32_t *column_row);

/// `precision[i] = 1 / max(variance[i], floor)^power` for `power ≥ 0`: BayesAgg-MTL's precision
/// weights. `e^(−power · ln v)` with its own Double logarithm and exponential, in vectors, within
/// 2 ulp of `1 / pow(v, power)` and the same on every instruction-set level; NaN, infinite or
/// subnormal `v` and `|power · ln v| > 690` go through libm's `pow` instead.
void bayesagg_inverse_powers(const double *variance, double *precision, size_t count,
                             double floor, double power);

/// `bayesagg_inverse_powers` in Float arithmetic, for weights of Monte-Carlo moments: relative
/// error below `1e-6 · (1 + |power · ln v|)`, within about 1e-5 where `|power · ln v| ≤ 80`; the
/// same on every instruction-set level. Values outside that range, below Float's normal range or
/// not finite go through libm's `pow` in Double.
void bayesagg_inverse_powers_float(const double *variance, double *precision, size_t count,
                                   double floor, double power);

/// `count` standard normals in `Float` from the 64-bit `key`: value `2i` and `2i + 1` are the
/// Box–Muller pair of word `i` of the SplitMix64 sequence starting at `key` (radius from its high
/// 23 bits, angle from its low 32), with polynomial logarithm, sine and cosine. Relative error
/// below 1e-6 against the same pair in exact arithmetic; |value| ≤ 5.77; the same bits on every
/// instruction-set level.
/// With AVX-512 (F, DQ, VL, BW) the pairs come from hand-scheduled vector code (Normals.c),
/// elsewhere from the compiler's vectorised loop; both give the same bits.
void bayesagg_counter_normals(float *out, size_t count, uint64_t key);

/// `bayesagg_counter_normals` by the compiler's vectorised loop on any processor, for tests.
void bayesagg_counter_normals_portable(float *out, size_t count, uint64_t key);

/// `c[i][j] += Σ_k a[k][i] · a[k][j]` for `j ≤ i < n`, `k < rows`: the Gram matrix `AᵀA` of
/// the row-major `rows × n` matrix `a` added to the lower triangle of the row-major `n × n`
/// matrix `c`; the strict upper triangle is not touched. Each sum runs in increasing `k` with
/// fused multiply-adds and is then added to `c`. AVX-512 only (`bayesagg_gram_lower_supported`).
void bayesagg_gram_lower_add(const double *a, size_t rows, size_t n, double *c);

/// Whether `bayesagg_gram_lower_add` can run on this processor.
int bayesagg_gram_lower_supported(void);

/// `inverse` (`n · n + padding` floats) = `L⁻¹` rounded to Float, for the `n × n`
/// lower-triangular `lower` (row-major; the upper triangle is not read): row-major, zeros above
/// the diagonal, then `padding` zeros. Computed in Double by forward substitution in register
/// tiles (Triangular.c), each row rounded once it is final. `scratch` holds
/// `bayesagg_lower_inverse_float_scratch(n)` doubles, any alignment. About `n³/6`
/// multiply-adds, a third of a triangular solve against the identity.
void bayesagg_lower_inverse_float(const double *lower, size_t n, double *scratch,
                                  float *inverse, size_t padding);

/// The doubles of scratch `bayesagg_lower_inverse_float` needs: at most `n² + 72`.
size_t bayesagg_lower_inverse_float_scratch(size_t n);

/// `bayesagg_lower_inverse_float` by a chosen path, for tests: 0 the best this processor has
/// (AVX-512 tiles with FMA), 1 the portable tiles compiled for AVX2 (where it has AVX2), 2 the
/// portable tiles without vector extensions. Paths 1 and 2 give the same bits.
void bayesagg_lower_inverse_float_path(const double *lower, size_t n, double *scratch,
                                       float *inverse, size_t padding, int path);

// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016), for
// `Tensors/Tensor+Winograd.swift`. Each kernel does work items `begin..<end`, so that the
// caller can split them over threads.

/// The sizes of one chunk of images of a Winograd convolution, as `WinogradPlan` lays out its
/// buffers, channels innermost and rounded up to a multiple of 16 (`in_stride`, `out_stride`):
/// a tiled input `[images, window_rows, window_columns, in_stride]`; transformed tiles
/// `[16, tiles, stride]`, element `ξ` starting `ξ·in_spacing` (`ξ·out_spacing`) floats into its
/// buffer; a tiled output `[images, tile·tile_rows, tile·tile_columns, out_stride]`, where
/// `tile` is the side of an output tile, 2 for F(2×2, 3×3) and 4 for F(4×4, 3×3).
typedef struct {
  size_t tile, tiles, tiles_per_image, tile_rows, tile_columns;
  size_t window_rows, window_columns, in_stride, out_stride, in_spacing, out_spacing;
} bayesagg_winograd_shape;

/// Where the tiled input's cells come from: images `first…` of an NCHW input
/// `[·, channels, height, width]`. Interior cell `(padding + h, padding + w)` holds position
/// `(h, w)`; the other cells of tiled row `i` and column `j` copy input position
/// `(rows[i], columns[j])`, or are zero where either is negative.
typedef struct {
  size_t first, channels, height, width, padding;
  const ptrdiff_t *rows, *columns;
} bayesagg_winograd_source;

// The copies between NCHW tensors and tiled buffers take items of 16 channels of one image:
// item `i` is image `i / (stride/16)`, channels `16·(i mod (stride/16))` and the next 15.

/// Fills the tiled input of items `begin..<end` from an NCHW input: the interior by
/// transposes, the border with the cells it reflects or zeros, channels past `channels` zero.
void bayesagg_winograd_pack_input(
    const float *x, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    const bayesagg_winograd_source *source);

/// The adjoint of `bayesagg_winograd_pack_input`: adds the border cells of the tiled gradient
/// onto the interior cells they copied (destroying the tiled gradient), then writes the
/// interior into the NCHW input gradient `dx` (which it overwrites).
void bayesagg_winograd_unpack_input_gradient(
    float *tiled, float *dx, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    const bayesagg_winograd_source *source);

/// Fills the tiled output gradient of items `begin..<end` from NCHW images `first…`
/// `[·, channels, height, width]`, with zeros past an odd plane and past `channels`.
void bayesagg_winograd_pack_output_gradient(
    const float *dy, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    size_t first, size_t channels, size_t height, size_t width);

/// Writes the tiled output of items `begin..<end` into NCHW images `first…`
/// `[·, channels, height, width]`, plus `bias[c]` when `bias` is not null.
void bayesagg_winograd_unpack_output(
    const float *tiled, float *y, const float *bias, size_t begin, size_t end,
    const bayesagg_winograd_shape *s, size_t first, size_t channels, size_t height,
    size_t width);

/// `V = Bᵀ d B` of tiles `begin..<end` of a tiled input.
void bayesagg_winograd_input(
    const float *tiled, float *v, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// The adjoint of `bayesagg_winograd_input`: adds `B ∂V Bᵀ` of the tiles of items
/// `begin..<end` (as for the copies) onto their windows of the tiled input gradient.
void bayesagg_winograd_input_gradient(
    const float *dv, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// `Y = Aᵀ M A` of tiles `begin..<end`, into a tiled output.
void bayesagg_winograd_output(
    const float *m, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// The adjoint of `bayesagg_winograd_output`: `∂M = A ∂Y Aᵀ` of tiles `begin..<end` of a
/// tiled output gradient.
void bayesagg_winograd_output_gradient(
    const float *tiled, float *dm, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]` for output channels `begin..<end` of weights
/// `[out_channels, in_channels, 3, 3]`, `U[ξ]` starting `ξ·spacing` floats into `u`.
void bayesagg_winograd_weights(
    const float *w, float *u, size_t spacing, size_t begin, size_t end, size_t out_channels,
    size_t in_channels);

/// The adjoint of `bayesagg_winograd_weights`: `∂w[o, c] = Gᵀ ∂U[·, o, c] G` for output
/// channels `begin..<end`.
void bayesagg_winograd_weight_gradients(
    const float *du, size_t spacing, float *dw, size_t begin, size_t end, size_t out_channels,
    size_t in_channels);

/// One Adam step over `count` parameters in place, the arithmetic of `adamUpdate` (Tensors) in
/// the same order and without contraction, so every level gives the same bits:
/// `g = ∇ + λθ; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g·g; θ ← θ − s·m / (√v / c + ε)`.
void bayesagg_adam(
    float *restrict parameter, const float *restrict gradient, float *restrict first_moment,
    float *restrict second_moment, size_t count, float step_size, float correction,
    float weight_decay, float beta1, float beta2, float epsilon);

/// The residuals of sigmoid outputs against one label, in place, and their squares:
/// `logits[i] ← σ(logits[i]) − target`, `squares[i] ← logits[i]²`, with `σ(a) = 1 / (1 + e⁻ᵃ)`
/// and eˣ by the Swift `fastExp` (MonteCarloMoments.swift), operation for operation; or, where
/// `bayesagg_binary_residuals_fused` says so, with its reduction and polynomial as fused
/// multiply-adds (eˣ within 1 ulp of `fastExp`).
void bayesagg_binary_residuals(float *restrict logits, float *restrict squares, size_t count,
                               float target);

/// Whether `bayesagg_binary_residuals` uses fused multiply-adds: on processors with AVX2 and FMA
/// but not AVX-512 (those with AVX-512 take the register tiles, whose residuals equal the
/// unfused ones bit for bit).
int bayesagg_binary_residuals_fused(void);

/// Adds `shift` (length `width`) to each of the `count` rows of `rows` (`[count, width]`);
/// when `squares` is not null, also writes the squares of each shifted row's first
/// `squareWidth ≤ width` values to `squares` (`[count, squareWidth]`).
void bayesagg_shift_rows(float *restrict rows, const float *restrict shift, size_t count,
                         size_t width, float *restrict squares, size_t squareWidth);

/// The Cholesky factor `L` of the symmetric positive definite `n × n` row-major `a`, written
/// over its lower triangle; the upper triangle's values are not used, and it is left holding
/// a transposed copy of `L` (the kernel's own workspace). Returns 0, or the 1-based index of
/// the first pivot that is not positive (as LAPACK's `info`), where it stops. Left-looking in
/// blocks of 16 columns: AVX-512 register tiles where the processor has them, else plain C
/// (`bayesagg_cholesky_lower_portable`).
size_t bayesagg_cholesky_lower(double *a, size_t n);

/// `bayesagg_cholesky_lower` by its plain C path on any processor, for tests.
size_t bayesagg_cholesky_lower_portable(double *a, size_t n);

/// Whether the processor runs the two kernels below (AVX-512 F). Where it does not, their
/// callers use BLAS instead.
int bayesagg_binary_tiles_supported(void);

/// The residuals of one binary output's logits over `samples` draws, transposed:
/// `residuals[s · batch_stride + b] = σ(Σ_k weights[s · weight_stride + k] ·
/// features[k · batch_stride + b]) − targets[b]` for `k < width`, 0 where `targets[b]` is NaN,
/// and `squares` their squares; σ and eˣ as in `bayesagg_binary_residuals`, bit for bit on the
/// same logits. `batch_stride` is a multiple of 32, and `features` and `targets` are padded to
/// it (pad the targets with NaN). AVX-512 only.
void bayesagg_binary_logit_residuals(const float *weights, size_t weight_stride, size_t samples,
                                     size_t width, const float *features, size_t batch_stride,
                                     const float *targets, float *residuals, float *squares);

/// `mean[b · d + j] = scale · Σ_s residuals[s · batch_stride + b] · weights[s · weight_stride
/// + j]` and `second[b · d + j] = scale · Σ_s squares[s · batch_stride + b] ·
/// weight_squares[s · square_stride + j]`, for `b < batch`, `j < d`, `s < samples`. Up to 6
/// floats past column `d − 1` are read from each row of `weights` and `weight_squares`, so
/// both must have 16 readable floats after their last used one, and residuals up to `b`
/// rounded up to a multiple of 32, which `batch_stride` must reach. AVX-512 only.
void bayesagg_binary_gradient_moments(const float *residuals, const float *squares,
                                      size_t batch_stride, size_t batch, size_t samples,
                                      const float *weights, size_t weight_stride,
                                      const float *weight_squares, size_t square_stride,
                                      size_t d, float scale, float *mean, float *second);

/// Draws `w = m + L⁻ᵀz` in place of the standard normal rows `z` (`[samples, n]`,
/// row-major): `rows ← rows · inverse + mean`, with `inverse` = `L⁻¹` (`[n, n]`, row-major, zero
/// above the diagonal), bit for bit what `cblas_strmm` and `bayesagg_shift_rows` give; when
/// `squares` is not null, also the squares of each draw's first `square_width ≤ n` values
/// there (`[samples, square_width]`). Whole vectors of 32 are read from each row of `inverse`
/// and of 16 from `mean`, so they need 32 and 16 readable floats past their last one.
/// AVX-512 only.
void bayesagg_draw_rows(float *rows, size_t samples, size_t n, const float *inverse,
                        const float *mean, float *squares, size_t square_width);

/// `meanOut[i] ← mean[i]` and `varianceOut[i] ← second[i] − mean[i]²`, in `Double`, for
/// `i < count`.
void bayesagg_store_moments(const float *restrict mean, const float *restrict second,
                            size_t count, double *restrict meanOut,
                            double *restrict varianceOut);

// Winograd's F(4×4, 3×3) (Lavin & Gray, CVPR 2016), the same kernels as F(2×2, 3×3) above
// over 6×6 windows and 36 transformed elements (`tile = 4` in the shape); the copies between
// NCHW tensors and tiled buffers are shared. Interpolation points 0, ±1, ±2, ∞.

/// `V = Bᵀ d B` of tiles `begin..<end` of a tiled input, 6×6 windows at rows and columns
/// `4t…4t + 5`.
void bayesagg_winograd4_input(
    const float *tiled, float *v, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// The adjoint of `bayesagg_winograd4_input`: adds `B ∂V Bᵀ` of the tiles of items
/// `begin..<end` (image and block of 16 channels) onto their windows of the tiled gradient.
void bayesagg_winograd4_input_gradient(
    const float *dv, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// `Y = Aᵀ M A` (4×4) of tiles `begin..<end`, into a tiled output.
void bayesagg_winograd4_output(
    const float *m, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// The adjoint of `bayesagg_winograd4_output`: `∂M = A ∂Y Aᵀ` of tiles `begin..<end`.
void bayesagg_winograd4_output_gradient(
    const float *tiled, float *dm, size_t begin, size_t end, const bayesagg_winograd_shape *s);

/// `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]`, 36 elements, for output channels `begin..<end`.
void bayesagg_winograd4_weights(
    const float *w, float *u, size_t spacing, size_t begin, size_t end, size_t out_channels,
    size_t in_channels);

/// The adjoint of `bayesagg_winograd4_weights`: `∂w[o, c] = Gᵀ ∂U[·, o, c] G`.
void bayesagg_winograd4_weight_gradients(
    const float *du, size_t spacing, float *dw, size_t begin, size_t end, size_t out_channels,
    size_t in_channels);

// The copies around the tap GEMMs of a 3×3, stride-1, padding-1 convolution of 2×2 planes
// (`Tensors/Tensor+Taps.swift`).

/// Filters `[Cout, Cin, 9]` (taps row-major) to `[Cout, 9, Cin]`, for filters `begin..<end`:
/// tap `t` of every filter is then a `Cout × Cin` matrix with leading dimension `9·Cin`.
void bayesagg_taps_pack_weights(
    const float *w, float *packed, size_t begin, size_t end, size_t in_channels);

/// The inverse of `bayesagg_taps_pack_weights`: `[Cout, 9, Cin]` to `[Cout, Cin, 9]`.
void bayesagg_taps_unpack_weights(
    const float *packed, float *w, size_t begin, size_t end, size_t in_channels);

/// An NCHW batch of 2×2 planes `[images, channels, 4]` to two `[channels, 4, images]` copies:
/// `rows` with the positions `(i, j)` in row-major order (slot `2i + j`), `columns` in
/// column-major order (slot `2j + i`).
void bayesagg_taps_pack_planes(
    const float *x, float *rows, float *columns, size_t images, size_t channels);

/// The adjoint of `bayesagg_taps_pack_planes`, plus a bias: `y[n, c, s] = rows[c, s, n] +
/// columns[c, s′, n] + bias[c]` (`s′` the column-order slot of `s`; no bias if `bias` is NULL).
void bayesagg_taps_unpack_planes(
    const float *rows, const float *columns, const float *bias, float *y, size_t images,
    size_t channels);

// The unfolding (im2col) of stride-2 convolutions and its adjoint
// (`Tensors/Tensor+Convolution.swift`).

/// im2col of one padded image `[channels, padded_height, padded_width]` at stride 2: row
/// `(c·kernel_height + u)·kernel_width + v` of `columns`, `pitch` floats after the one before,
/// gets `image[c, 2i + u, 2j + v]` at `i·out_width + j` for the `out_height × out_width`
/// outputs. Reads no float of a row past the last one a window takes.
void bayesagg_unfold_stride2(
    const float *image, size_t channels, size_t padded_height, size_t padded_width,
    size_t kernel_height, size_t kernel_width, size_t out_height, size_t out_width,
    float *columns, size_t pitch);

/// The adjoint of `bayesagg_unfold_stride2`, col2im: adds each entry of `columns` onto the
/// cell of the padded image gradient `image` it was taken from, row by row in the same order
/// as one float at a time.
void bayesagg_fold_stride2(
    const float *columns, size_t pitch, size_t channels, size_t padded_height,
    size_t padded_width, size_t kernel_height, size_t kernel_width, size_t out_height,
    size_t out_width, float *image);

#endif
