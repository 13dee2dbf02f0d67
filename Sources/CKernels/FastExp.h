#ifndef BAYESAGG_FAST_EXP_H
#define BAYESAGG_FAST_EXP_H

// The Cephes `expf` polynomial for e^r, |r| ≤ ln 2 / 2, shared by the scalar `fast_exp`
// (FloatMath.h) and its vector form (BinaryMoments.c) so that both round alike. `p` holds
// `FAST_EXP_LEADING` on entry; the caller finishes with e^r ≈ p·r² + r + 1.
#define FAST_EXP_POLYNOMIAL(p, r)         \
  do {                                  \
    (p) = (p) * (r) + 1.39819995e-3f;   \
    (p) = (p) * (r) + 8.3334519e-3f;    \
    (p) = (p) * (r) + 4.16657959e-2f;   \
    (p) = (p) * (r) + 1.66666655e-1f;   \
    (p) = (p) * (r) + 5.00000012e-1f;   \
  } while (0)

/// The leading coefficient of `FAST_EXP_POLYNOMIAL`.
#define FAST_EXP_LEADING 1.98756915e-4f

#endif
