#ifndef BAYESAGG_CKERNELS_H
#define BAYESAGG_CKERNELS_H

#include <stddef.h>

/// ELU over `count` floats: `y = x` for `x > 0`, `alpha·(eˣ − 1)` otherwise, NaN kept.
///
/// The same straight-line Double arithmetic as the Swift fallback (`negativeExpm1`), compiled
/// once per instruction-set level (AVX-512, AVX2, baseline) and picked at run time, so that the
/// loop runs on the widest vectors the processor has. Results are identical across levels
/// (no contraction into fused multiply-adds).
void bayesagg_elu(const float *x, float *y, size_t count, float alpha);

#endif
