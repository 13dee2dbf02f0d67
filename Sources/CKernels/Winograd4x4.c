#include "CKernels.h"

// Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray, CVPR 2016): the tile and filter
// transforms over 6×6 windows, sixteen channels (or filters) per vector; the copies between
// NCHW tensors and tiled buffers are those of F(2×2, 3×3) in `Winograd.c`. Interpolation points
// 0, ±1, ±2 and ∞, which give the matrices
//
//        ⎡4  0 −5  0  1  0⎤                            ⎡ 1/4    0     0  ⎤
//        ⎢0 −4 −4  1  1  0⎥       ⎡1  1  1  1  1  0⎤    ⎢−1/6  −1/6  −1/6 ⎥
//   Bᵀ = ⎢0  4 −4 −1  1  0⎥  Aᵀ = ⎢0  1 −1  2 −2  0⎥  G = ⎢−1/6   1/6  −1/6 ⎥
//        ⎢0 −2 −1  2  1  0⎥       ⎢0  1  1  4  4  0⎥    ⎢1/24  1/12   1/6 ⎥
//        ⎢0  2 −1 −2  1  0⎥       ⎣0  1 −1  8 −8  1⎦    ⎢1/24 −1/12   1/6 ⎥
//        ⎣0  4  0 −5  0  1⎦                            ⎣  0     0     1  ⎦
//
// The tile transforms multiply only by small integers, exactly; only G rounds its factors. Each
// 1-D transform is a macro over six (or four, or three) vectors, applied to the rows of a tile
// and then to the columns of the result, in the same order at every instruction-set level.
#include "WinogradVectors.h"

/// `o = Bᵀ d`, for `d` and `o` of six vectors.
#define INPUT(d, o)                                                          \
  do {                                                                       \
    lanes even_ = (d)[4] - 4.0f * (d)[2], odd_ = (d)[3] - 4.0f * (d)[1];     \
    lanes near_ = (d)[4] - (d)[2], far_ = 2.0f * ((d)[3] - (d)[1]);          \
    (o)[0] = (4.0f * (d)[0] - 5.0f * (d)[2]) + (d)[4];                       \
    (o)[1] = even_ + odd_;                                                   \
    (o)[2] = even_ - odd_;                                                   \
    (o)[3] = near_ + far_;                                                   \
    (o)[4] = near_ - far_;                                                   \
    (o)[5] = (4.0f * (d)[1] - 5.0f * (d)[3]) + (d)[5];                       \
  } while (0)

/// `o = B f`, the adjoint of `INPUT`.
#define INPUT_ADJOINT(f, o)                                                  \
  do {                                                                       \
    lanes sum1_ = (f)[1] + (f)[2], sum3_ = (f)[3] + (f)[4];                  \
    lanes difference1_ = (f)[1] - (f)[2], difference3_ = (f)[3] - (f)[4];    \
    (o)[0] = 4.0f * (f)[0];                                                  \
    (o)[1] = (4.0f * ((f)[5] - difference1_)) - 2.0f * difference3_;        \
    (o)[2] = (-5.0f * (f)[0] - 4.0f * sum1_) - sum3_;                        \
    (o)[3] = (difference1_ + 2.0f * difference3_) - 5.0f * (f)[5];           \
    (o)[4] = ((f)[0] + sum1_) + sum3_;                                       \
    (o)[5] = (f)[5];                                                         \
  } while (0)

/// `o = Aᵀ m`, for six vectors `m` and four `o`.
#define OUTPUT(m, o)                                                         \
  do {                                                                       \
    lanes sum1_ = (m)[1] + (m)[2], sum3_ = (m)[3] + (m)[4];                  \
    lanes difference1_ = (m)[1] - (m)[2], difference3_ = (m)[3] - (m)[4];    \
    (o)[0] = ((m)[0] + sum1_) + sum3_;                                       \
    (o)[1] = difference1_ + 2.0f * difference3_;                             \
    (o)[2] = sum1_ + 4.0f * sum3_;                                           \
    (o)[3] = (difference1_ + 8.0f * difference3_) + (m)[5];                  \
  } while (0)

/// `o = A y`, the adjoint of `OUTPUT`, for four vectors `y` and six `o`.
#define OUTPUT_ADJOINT(y, o)                                                 \
  do {                                                                       \
    lanes even_ = (y)[0] + (y)[2], odd_ = (y)[1] + (y)[3];                   \
    lanes even2_ = (y)[0] + 4.0f * (y)[2], odd2_ = 2.0f * (y)[1] + 8.0f * (y)[3]; \
    (o)[0] = (y)[0];                                                         \
    (o)[1] = even_ + odd_;                                                   \
    (o)[2] = even_ - odd_;                                                   \
    (o)[3] = even2_ + odd2_;                                                 \
    (o)[4] = even2_ - odd2_;                                                 \
    (o)[5] = (y)[3];                                                         \
  } while (0)

/// `o = G g`, for three vectors `g` and six `o`.
#define FILTER(g0, g1, g2, o)                                                \
  do {                                                                       \
    lanes outer_ = (g0) + (g2), outer4_ = (g0) + 4.0f * (g2);                \
    lanes middle2_ = 2.0f * (g1);                                            \
    (o)[0] = 0.25f * (g0);                                                   \
    (o)[1] = (-1.0f / 6) * (outer_ + (g1));                                  \
    (o)[2] = (-1.0f / 6) * (outer_ - (g1));                                  \
    (o)[3] = (1.0f / 24) * (outer4_ + middle2_);                             \
    (o)[4] = (1.0f / 24) * (outer4_ - middle2_);                             \
    (o)[5] = (g2);                                                           \
  } while (0)

/// `o = Gᵀ x`, the adjoint of `FILTER`, for six vectors `x` and three `o`.
#define FILTER_ADJOINT(x, o)                                                 \
  do {                                                                       \
    lanes sum1_ = (x)[1] + (x)[2], sum3_ = (x)[3] + (x)[4];                  \
    lanes difference1_ = (x)[1] - (x)[2], difference3_ = (x)[3] - (x)[4];    \
    (o)[0] = (0.25f * (x)[0] - (1.0f / 6) * sum1_) + (1.0f / 24) * sum3_;    \
    (o)[1] = (1.0f / 12) * difference3_ - (1.0f / 6) * difference1_;         \
    (o)[2] = ((1.0f / 6) * (sum3_ - sum1_)) + (x)[5];                        \
  } while (0)

KERNEL void bayesagg_winograd4_input(
    const float *tiled, float *v, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->in_stride, spacing = s->in_spacing;
  const size_t row = s->window_columns * stride;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    const size_t corner = (n * s->window_rows + 4 * ti) * s->window_columns + 4 * tj;
    const float *window = tiled + corner * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      // e = d B, row by row; then V = Bᵀ e, column by column.
      lanes e[6][6], d[6], o[6];
      for (int i = 0; i < 6; i++) {
        const float *q = window + c + i * row;
        for (int k = 0; k < 6; k++) d[k] = LOAD(q + k * stride);
        INPUT(d, e[i]);
      }
      float *out = v + t * stride + c;
      for (int k = 0; k < 6; k++) {
        for (int i = 0; i < 6; i++) d[i] = e[i][k];
        INPUT(d, o);
        for (int i = 0; i < 6; i++) STORE(out + (6 * i + k) * spacing, o[i]);
      }
    }
  }
}

KERNEL void bayesagg_winograd4_input_gradient(
    const float *dv, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->in_stride, spacing = s->in_spacing;
  const size_t row = s->window_columns * stride, blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    const size_t n = item / blocks, c = item % blocks * LANES;
    for (size_t r = 0; r < s->tiles_per_image; r++) {
      const size_t t = n * s->tiles_per_image + r;
      const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
      // f = ∂V Bᵀ, row by row; then ∂d = B f, column by column, added onto the window.
      lanes f[6][6], x[6], o[6];
      for (int i = 0; i < 6; i++) {
        const float *q = dv + 6 * i * spacing + t * stride + c;
        for (int k = 0; k < 6; k++) x[k] = LOAD(q + k * spacing);
        INPUT_ADJOINT(x, f[i]);
      }
      const size_t corner = (n * s->window_rows + 4 * ti) * s->window_columns + 4 * tj;
      float *w = tiled + corner * stride + c;
      for (int k = 0; k < 6; k++) {
        for (int i = 0; i < 6; i++) x[i] = f[i][k];
        INPUT_ADJOINT(x, o);
        for (int i = 0; i < 6; i++) ADD(w + i * row + k * stride, o[i]);
      }
    }
  }
}

KERNEL void bayesagg_winograd4_output(
    const float *m, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->out_stride, spacing = s->out_spacing;
  const size_t columns = 4 * s->tile_columns, rows = 4 * s->tile_rows;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    float *out = tiled + ((n * rows + 4 * ti) * columns + 4 * tj) * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      // e = M A, row by row; then Y = Aᵀ e, column by column.
      lanes e[6][4], x[6], o[4];
      for (int i = 0; i < 6; i++) {
        const float *q = m + 6 * i * spacing + t * stride + c;
        for (int k = 0; k < 6; k++) x[k] = LOAD(q + k * spacing);
        OUTPUT(x, e[i]);
      }
      for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 6; i++) x[i] = e[i][k];
        OUTPUT(x, o);
        for (int i = 0; i < 4; i++) STORE(out + (i * columns + k) * stride + c, o[i]);
      }
    }
  }
}

KERNEL void bayesagg_winograd4_output_gradient(
    const float *tiled, float *dm, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->out_stride, spacing = s->out_spacing;
  const size_t columns = 4 * s->tile_columns, rows = 4 * s->tile_rows;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    const float *window = tiled + ((n * rows + 4 * ti) * columns + 4 * tj) * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      // e = ∂Y Aᵀ, row by row; then ∂M = A e, column by column.
      lanes e[4][6], y[4], o[6];
      for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 4; k++) y[k] = LOAD(window + (i * columns + k) * stride + c);
        OUTPUT_ADJOINT(y, e[i]);
      }
      float *out = dm + t * stride + c;
      for (int k = 0; k < 6; k++) {
        for (int i = 0; i < 4; i++) y[i] = e[i][k];
        OUTPUT_ADJOINT(y, o);
        for (int i = 0; i < 6; i++) STORE(out + (6 * i + k) * spacing, o[i]);
      }
    }
  }
}

KERNEL void bayesagg_winograd4_weights(
    const float *w, float *u, size_t spacing, size_t begin, size_t end, size_t out_channels,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      const size_t pair = o * in_channels + c;
      // The nine taps of sixteen filters, one vector per tap.
      lanes taps[9];
      LOAD_TAPS(taps, w + 9 * pair, count);
      // t = G g, column by column; then U = t Gᵀ, row by row.
      lanes t[3][6], x[6];
      for (int k = 0; k < 3; k++) FILTER(taps[k], taps[3 + k], taps[6 + k], t[k]);
      for (int i = 0; i < 6; i++) {
        FILTER(t[0][i], t[1][i], t[2][i], x);
        for (int j = 0; j < 6; j++) {
          float *target = u + (6 * i + j) * spacing + pair;
          STORE_FIRST(target, x[j], count);
        }
      }
    }
  }
}

KERNEL void bayesagg_winograd4_weight_gradients(
    const float *du, size_t spacing, float *dw, size_t begin, size_t end, size_t out_channels,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      const size_t pair = o * in_channels + c;
      lanes x[36];
      for (int xi = 0; xi < 36; xi++) {
        const float *source = du + xi * spacing + pair;
        LOAD_FIRST(x[xi], source, count);
      }
      // r = ∂U G, row by row; then ∂g = Gᵀ r, column by column.
      lanes r[6][3], column[6], g[3];
      for (int i = 0; i < 6; i++) FILTER_ADJOINT(x + 6 * i, r[i]);
      lanes taps[9];
      for (int v = 0; v < 3; v++) {
        for (int i = 0; i < 6; i++) column[i] = r[i][v];
        FILTER_ADJOINT(column, g);
        for (int k = 0; k < 3; k++) taps[3 * k + v] = g[k];
      }
      STORE_TAPS(dw + 9 * pair, taps, count);
    }
  }
}
