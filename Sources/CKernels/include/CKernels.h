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

#endif
