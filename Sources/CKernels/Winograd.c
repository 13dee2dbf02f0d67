#include "CKernels.h"

#include <string.h>

// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016): the copies between NCHW
// tensors and tiled buffers that keep channels innermost (shared with F(4×4, 3×3) in
// `Winograd4x4.c`), and the tile and filter transforms, sixteen channels (or filters) per
// vector. Vectors are 64-byte clang vectors, so each
// instruction-set level (AVX-512, AVX2, baseline) gets a clone of each kernel, picked at run
// time. The transforms only add, subtract and halve, in the same order at every level, so the
// results are identical across levels.
#include "WinogradVectors.h"

/// Transposes the 16×16 block held in `r[0…15]` (row `k` in `r[k]`) in place, in four stages
/// that each swap one bit between the row and the column index of every element where they
/// differ.
static inline __attribute__((always_inline)) void transpose(lanes r[16]) {
#define SWAP(a, b, ...)                                      \
  do {                                                       \
    lanes low_ = __builtin_shufflevector(a, b, __VA_ARGS__); \
    b = __builtin_shufflevector(a, b, HIGH);                 \
    a = low_;                                                \
  } while (0)
#define HIGH 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
  for (int k = 0; k < 16; k += 2) {
    SWAP(r[k], r[k + 1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
  }
#undef HIGH
#define HIGH 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
  for (int k = 0; k < 16; k += 4) {
    for (int j = 0; j < 2; j++) {
      SWAP(r[k + j], r[k + j + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    }
  }
#undef HIGH
#define HIGH 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
  for (int k = 0; k < 16; k += 8) {
    for (int j = 0; j < 4; j++) {
      SWAP(r[k + j], r[k + j + 4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    }
  }
#undef HIGH
#define HIGH 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
  for (int j = 0; j < 8; j++) {
    SWAP(r[j], r[j + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  }
#undef HIGH
#undef SWAP
}

/// Loads 16 vectors `p + k·pitch` (zeros for `k ≥ count`) and transposes them: afterwards
/// `block[q]` holds element `q` of each row.
static inline __attribute__((always_inline)) void load_transposed(
    const float *p, size_t pitch, size_t count, lanes block[16]) {
  for (size_t k = 0; k < 16; k++) block[k] = k < count ? LOAD(p + k * pitch) : (lanes){0};
  transpose(block);
}

/// The cell of tiled image `image` (`columns` cells a row, `stride` floats a cell) that holds
/// the channels of position `(row, column)`.
#define CELL(image, row, column) ((image) + ((row) * columns + (column)) * stride)

/// Copies the planes of `count ≤ 16` channels (`plane = height·width` floats each, `plane`
/// apart) into the cells `(offset + h, offset + w)` of a tiled image, 16 positions at a time by
/// transposes; channels past `count` become zeros.
static inline __attribute__((always_inline)) void planes_to_cells(
    const float *input, size_t count, size_t height, size_t width, float *image, size_t offset,
    size_t columns, size_t stride) {
  const size_t plane = height * width;
  size_t q = 0, h = 0, w = 0;
  for (; q + LANES <= plane; q += LANES) {
    lanes block[16];
    load_transposed(input + q, plane, count, block);
    for (int k = 0; k < 16; k++) {
      STORE(CELL(image, offset + h, offset + w), block[k]);
      if (++w == width) w = 0, h++;
    }
  }
  for (; q < plane; q++) {
    float *cell = CELL(image, offset + h, offset + w);
    for (size_t k = 0; k < LANES; k++) cell[k] = k < count ? input[k * plane + q] : 0;
    if (++w == width) w = 0, h++;
  }
}

/// The inverse of `planes_to_cells`: the cells `(offset + h, offset + w)` of a tiled image
/// into the planes of `count ≤ 16` channels, each plus `bias[k]` when `bias` is not null.
static inline __attribute__((always_inline)) void cells_to_planes(
    const float *image, size_t offset, size_t columns, size_t stride, float *output,
    size_t count, size_t height, size_t width, const float *bias) {
  const size_t plane = height * width;
  size_t q = 0, h = 0, w = 0;
  for (; q + LANES <= plane; q += LANES) {
    lanes block[16];
    for (int k = 0; k < 16; k++) {
      block[k] = LOAD(CELL(image, offset + h, offset + w));
      if (++w == width) w = 0, h++;
    }
    transpose(block);
    for (size_t k = 0; k < count; k++) {
      STORE(output + k * plane + q, bias ? block[k] + bias[k] : block[k]);
    }
  }
  for (; q < plane; q++) {
    const float *cell = CELL(image, offset + h, offset + w);
    for (size_t k = 0; k < count; k++) output[k * plane + q] = cell[k] + (bias ? bias[k] : 0);
    if (++w == width) w = 0, h++;
  }
}

/// The channels `c…c + 15` of work item `item` (image `item / blocks`), and how many of them
/// exist.
#define ITEM(item, blocks, channels)                                  \
  const size_t n = (item) / (blocks), c = (item) % (blocks) * LANES; \
  const size_t count = (channels) - c < LANES ? (channels) - c : LANES

KERNEL void bayesagg_winograd_pack_input(
    const float *x, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    const bayesagg_winograd_source *source) {
  const size_t stride = s->in_stride, rows = s->window_rows, columns = s->window_columns;
  const size_t height = source->height, width = source->width, pad = source->padding;
  const size_t channels = source->channels, blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    ITEM(item, blocks, channels);
    float *image = tiled + n * rows * columns * stride + c;
    const float *input = x + ((source->first + n) * channels + c) * height * width;
    planes_to_cells(input, count, height, width, image, pad, columns, stride);
    // The border: copies of the interior cells it reflects, or zeros.
    for (size_t i = 0; i < rows; i++) {
      const int inside = i >= pad && i < pad + height;
      for (size_t j = 0; j < columns; j++) {
        if (inside && j >= pad && j < pad + width) continue;
        const ptrdiff_t r = source->rows[i], k = source->columns[j];
        STORE(
            CELL(image, i, j),
            r < 0 || k < 0 ? (lanes){0} : LOAD(CELL(image, (size_t)r + pad, (size_t)k + pad)));
      }
    }
  }
}

KERNEL void bayesagg_winograd_unpack_input_gradient(
    float *tiled, float *dx, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    const bayesagg_winograd_source *source) {
  const size_t stride = s->in_stride, rows = s->window_rows, columns = s->window_columns;
  const size_t height = source->height, width = source->width, pad = source->padding;
  const size_t channels = source->channels, blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    ITEM(item, blocks, channels);
    float *image = tiled + n * rows * columns * stride + c;
    // The border's gradient onto the interior cells it reflects; zero padding has none.
    for (size_t i = 0; i < rows; i++) {
      const int inside = i >= pad && i < pad + height;
      for (size_t j = 0; j < columns; j++) {
        if (inside && j >= pad && j < pad + width) continue;
        const ptrdiff_t r = source->rows[i], k = source->columns[j];
        if (r >= 0 && k >= 0) {
          ADD(CELL(image, (size_t)r + pad, (size_t)k + pad), LOAD(CELL(image, i, j)));
        }
      }
    }
    float *output = dx + ((source->first + n) * channels + c) * height * width;
    cells_to_planes(image, pad, columns, stride, output, count, height, width, NULL);
  }
}

KERNEL void bayesagg_winograd_pack_output_gradient(
    const float *dy, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s,
    size_t first, size_t channels, size_t height, size_t width) {
  const size_t stride = s->out_stride, rows = s->tile * s->tile_rows,
               columns = s->tile * s->tile_columns;
  const size_t blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    ITEM(item, blocks, channels);
    float *image = tiled + n * rows * columns * stride + c;
    const float *gradient = dy + ((first + n) * channels + c) * height * width;
    planes_to_cells(gradient, count, height, width, image, 0, columns, stride);
    // The cells past an odd plane, which complete its last tiles.
    for (size_t i = 0; i < rows; i++) {
      for (size_t j = i < height ? width : 0; j < columns; j++) {
        STORE(CELL(image, i, j), (lanes){0});
      }
    }
  }
}

KERNEL void bayesagg_winograd_unpack_output(
    const float *tiled, float *y, const float *bias, size_t begin, size_t end,
    const bayesagg_winograd_shape *s, size_t first, size_t channels, size_t height,
    size_t width) {
  const size_t stride = s->out_stride, rows = s->tile * s->tile_rows,
               columns = s->tile * s->tile_columns;
  const size_t blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    ITEM(item, blocks, channels);
    const float *image = tiled + n * rows * columns * stride + c;
    float *output = y + ((first + n) * channels + c) * height * width;
    cells_to_planes(
        image, 0, columns, stride, output, count, height, width, bias ? bias + c : NULL);
  }
}

KERNEL void bayesagg_winograd_input(
    const float *tiled, float *v, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->in_stride, spacing = s->in_spacing;
  const size_t row = s->window_columns * stride;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    const size_t corner = (n * s->window_rows + 2 * ti) * s->window_columns + 2 * tj;
    const float *window = tiled + corner * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      // e = d B, row by row; then V = Bᵀ e.
      lanes e[4][4];
      for (int i = 0; i < 4; i++) {
        const float *q = window + c + i * row;
        lanes d0 = LOAD(q), d1 = LOAD(q + stride), d2 = LOAD(q + 2 * stride);
        lanes d3 = LOAD(q + 3 * stride);
        e[i][0] = d0 - d2;
        e[i][1] = d1 + d2;
        e[i][2] = d2 - d1;
        e[i][3] = d1 - d3;
      }
      float *o = v + t * stride + c;
      for (int k = 0; k < 4; k++) {
        STORE(o + k * spacing, e[0][k] - e[2][k]);
        STORE(o + (4 + k) * spacing, e[1][k] + e[2][k]);
        STORE(o + (8 + k) * spacing, e[2][k] - e[1][k]);
        STORE(o + (12 + k) * spacing, e[1][k] - e[3][k]);
      }
    }
  }
}

KERNEL void bayesagg_winograd_input_gradient(
    const float *dv, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->in_stride, spacing = s->in_spacing;
  const size_t row = s->window_columns * stride, blocks = stride / LANES;
  for (size_t item = begin; item < end; item++) {
    const size_t n = item / blocks, c = item % blocks * LANES;
    for (size_t r = 0; r < s->tiles_per_image; r++) {
      const size_t t = n * s->tiles_per_image + r;
      const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
      // f = ∂V Bᵀ, row by row; then ∂d = B f, added onto the window.
      lanes f[4][4];
      for (int i = 0; i < 4; i++) {
        const float *q = dv + (4 * i * spacing) + t * stride + c;
        lanes v0 = LOAD(q), v1 = LOAD(q + spacing), v2 = LOAD(q + 2 * spacing);
        lanes v3 = LOAD(q + 3 * spacing);
        f[i][0] = v0;
        f[i][1] = v1 - v2 + v3;
        f[i][2] = v1 + v2 - v0;
        f[i][3] = -v3;
      }
      const size_t corner = (n * s->window_rows + 2 * ti) * s->window_columns + 2 * tj;
      float *w = tiled + corner * stride + c;
      for (int k = 0; k < 4; k++) {
        ADD(w + k * stride, f[0][k]);
        ADD(w + row + k * stride, f[1][k] - f[2][k] + f[3][k]);
        ADD(w + 2 * row + k * stride, f[1][k] + f[2][k] - f[0][k]);
        ADD(w + 3 * row + k * stride, -f[3][k]);
      }
    }
  }
}

KERNEL void bayesagg_winograd_output(
    const float *m, float *tiled, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->out_stride, spacing = s->out_spacing;
  const size_t columns = 2 * s->tile_columns, rows = 2 * s->tile_rows;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    float *out = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      // s = M A, row by row; then Y = Aᵀ s.
      lanes a[4][2];
      for (int i = 0; i < 4; i++) {
        const float *q = m + 4 * i * spacing + t * stride + c;
        lanes m0 = LOAD(q), m1 = LOAD(q + spacing), m2 = LOAD(q + 2 * spacing);
        lanes m3 = LOAD(q + 3 * spacing);
        a[i][0] = m0 + m1 + m2;
        a[i][1] = m1 - m2 - m3;
      }
      float *o = out + c;
      STORE(o, a[0][0] + a[1][0] + a[2][0]);
      STORE(o + stride, a[0][1] + a[1][1] + a[2][1]);
      STORE(o + columns * stride, a[1][0] - a[2][0] - a[3][0]);
      STORE(o + (columns + 1) * stride, a[1][1] - a[2][1] - a[3][1]);
    }
  }
}

KERNEL void bayesagg_winograd_output_gradient(
    const float *tiled, float *dm, size_t begin, size_t end, const bayesagg_winograd_shape *s) {
  const size_t stride = s->out_stride, spacing = s->out_spacing;
  const size_t columns = 2 * s->tile_columns, rows = 2 * s->tile_rows;
  for (size_t t = begin; t < end; t++) {
    const size_t n = t / s->tiles_per_image, r = t % s->tiles_per_image;
    const size_t ti = r / s->tile_columns, tj = r % s->tile_columns;
    const float *window = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride;
    for (size_t c = 0; c < stride; c += LANES) {
      const float *p = window + c;
      lanes y00 = LOAD(p), y01 = LOAD(p + stride);
      lanes y10 = LOAD(p + columns * stride), y11 = LOAD(p + (columns + 1) * stride);
      // e = ∂Y Aᵀ, row by row; then ∂M = A e.
      lanes e0[4] = {y00, y00 + y01, y00 - y01, -y01};
      lanes e1[4] = {y10, y10 + y11, y10 - y11, -y11};
      float *o = dm + t * stride + c;
      for (int k = 0; k < 4; k++) {
        STORE(o + k * spacing, e0[k]);
        STORE(o + (4 + k) * spacing, e0[k] + e1[k]);
        STORE(o + (8 + k) * spacing, e0[k] - e1[k]);
        STORE(o + (12 + k) * spacing, -e1[k]);
      }
    }
  }
}

/// `out = (a, (a + b + c)/2, (a − b + c)/2, c)`: one column (or row) of `G g`.
#define EXPAND(a, b, c, out)                                \
  do {                                                      \
    lanes outer_ = 0.5f * ((a) + (c)), middle_ = 0.5f * (b); \
    (out)[0] = (a);                                         \
    (out)[1] = outer_ + middle_;                            \
    (out)[2] = outer_ - middle_;                            \
    (out)[3] = (c);                                         \
  } while (0)

/// `out = (a + (b + c)/2, (b − c)/2, (b + c)/2 + d)`: one column (or row) of `Gᵀ u`.
#define CONTRACT(a, b, c, d, out)                                      \
  do {                                                                 \
    lanes sum_ = 0.5f * ((b) + (c)), difference_ = 0.5f * ((b) - (c)); \
    (out)[0] = (a) + sum_;                                             \
    (out)[1] = difference_;                                            \
    (out)[2] = sum_ + (d);                                             \
  } while (0)

KERNEL void bayesagg_winograd_weights(
    const float *w, float *u, size_t spacing, size_t begin, size_t end, size_t out_channels,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      const size_t pair = o * in_channels + c;
      // The nine taps of sixteen filters, one vector per tap.
      lanes taps[9];
      LOAD_TAPS(taps, w + 9 * pair, count);
      lanes t[3][4], x[4];
      for (int k = 0; k < 3; k++) {
        EXPAND(taps[k], taps[3 + k], taps[6 + k], t[k]);
      }
      for (int i = 0; i < 4; i++) {
        EXPAND(t[0][i], t[1][i], t[2][i], x);
        for (int j = 0; j < 4; j++) {
          float *target = u + (4 * i + j) * spacing + pair;
          STORE_FIRST(target, x[j], count);
        }
      }
    }
  }
}

KERNEL void bayesagg_winograd_weight_gradients(
    const float *du, size_t spacing, float *dw, size_t begin, size_t end, size_t out_channels,
    size_t in_channels) {
  for (size_t o = begin; o < end; o++) {
    for (size_t c = 0; c < in_channels; c += LANES) {
      const size_t count = in_channels - c < LANES ? in_channels - c : LANES;
      const size_t pair = o * in_channels + c;
      lanes x[16];
      for (int xi = 0; xi < 16; xi++) {
        const float *source = du + xi * spacing + pair;
        LOAD_FIRST(x[xi], source, count);
      }
      // r = ∂U G, row by row; then ∂g = Gᵀ r, column by column.
      lanes r[4][3], g[3];
      for (int i = 0; i < 4; i++) {
        CONTRACT(x[4 * i], x[4 * i + 1], x[4 * i + 2], x[4 * i + 3], r[i]);
      }
      lanes taps[9];
      for (int v = 0; v < 3; v++) {
        CONTRACT(r[0][v], r[1][v], r[2][v], r[3][v], g);
        for (int k = 0; k < 3; k++) taps[3 * k + v] = g[k];
      }
      STORE_TAPS(dw + 9 * pair, taps, count);
    }
  }
}
