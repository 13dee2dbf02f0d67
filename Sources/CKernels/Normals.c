#include "CKernels.h"
#include "FloatMath.h"

#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#pragma clang fp contract(off)

// Standard normals in vectors: Box–Muller on SplitMix64 words of a counter, with the logarithm,
// sine and cosine as short polynomials in Float. Every pair depends only on the key and its
// index (the loop carries just the counter's state, an induction variable that vectorises),
// so the stream is the same on every instruction-set level.

/// SplitMix64's step (Steele, Lea and Flood, OOPSLA 2014): the state advances by this.
static const uint64_t GOLDEN_GAMMA = 0x9E3779B97F4A7C15ull;

/// SplitMix64's output of a state.
static inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Word `counter` of the SplitMix64 sequence that starts at `key`: the state after
/// `counter + 1` steps, mixed.
static inline uint64_t counter_word(uint64_t key, uint64_t counter) {
  return mix(key + (counter + 1) * GOLDEN_GAMMA);
}

/// One Box–Muller pair from a 64-bit word. The high 23 bits k give u = (2k + 1)·2⁻²⁴ ∈ (0, 1),
/// exact in Float, and the radius √(−2 ln u), at most 5.77. The low 32 bits give the angle: the
/// top two bits the quadrant, the other 30 an offset φ ∈ [−π/4, π/4), whose sine and cosine are
/// Taylor polynomials to φ⁹ and φ⁸ (remainders below 2⁻²⁵).
static inline void normal_pair(uint64_t word, float *first, float *second) {
  float u = (float)(2 * (uint32_t)(word >> 41) + 1) * 0x1.0p-24f;
  float radius = __builtin_elementwise_sqrt(-2.0f * log_positive(u));
  uint32_t angle = (uint32_t)word;
  uint32_t quadrant = angle >> 30;
  float phi = ((float)((int32_t)(angle & 0x3FFFFFFFu) - 0x20000000) + 0.5f) *
              (1.57079632679f * 0x1.0p-30f);
  float q = phi * phi;
  float sine = 1.0f / 362880.0f;
  sine = sine * q - 1.0f / 5040.0f;
  sine = sine * q + 1.0f / 120.0f;
  sine = sine * q - 1.0f / 6.0f;
  sine = phi + phi * q * sine;
  float cosine = 1.0f / 40320.0f;
  cosine = cosine * q - 1.0f / 720.0f;
  cosine = cosine * q + 1.0f / 24.0f;
  cosine = cosine * q - 0.5f;
  cosine = 1.0f + q * cosine;
  // Rotate (cos φ, sin φ) by the quadrant's multiple of π/2.
  float x = quadrant & 1 ? -sine : cosine;
  float y = quadrant & 1 ? cosine : sine;
  x = quadrant & 2 ? -x : x;
  y = quadrant & 2 ? -y : y;
  *first = radius * x;
  *second = radius * y;
}

__attribute__((target_clones("avx512dq", "avx2", "default")))
static void normal_pairs(float *restrict out, size_t pairs, uint64_t key) {
  // The state of word i by one addition per word, not a 64-bit multiplication, which AVX2
  // has no instruction for: the same words as `counter_word`, 13% less time there.
  // Sixteen pairs per iteration: the words fill two or four vectors of 64-bit lanes, and the
  // Float arithmetic after them a whole vector of eight or sixteen lanes. The width LLVM picks
  // by itself follows the 64-bit state and leaves half of each Float vector empty on AVX2:
  // 19% more time there (C harness, one output's 164 864 normals: 229 against 186 µs).
  uint64_t state = key;
#pragma clang loop vectorize_width(16) interleave_count(1)
  for (size_t i = 0; i < pairs; i++) {
    state += GOLDEN_GAMMA;
    float first, second;
    normal_pair(mix(state), &first, &second);
    out[2 * i] = first;
    out[2 * i + 1] = second;
  }
}

// MARK: - AVX-512

// The same operations in the same order, scheduled by hand (so every value is the same, bit for
// bit, as `normal_pairs` gives; checked over all 2²³ radius inputs and all 2³² angle words, and
// on 304 022 calls): the 32-bit halves of the words by two permutes; the logarithm's mantissa
// and exponent by getmant/getexp (exact); the factor −2 of −2 ln u folded into the constants
// (scaling by a power of two commutes with every rounding, no value being subnormal); sign
// flips by xor and the swap by blends; four blocks of 16 pairs an iteration with the next
// iteration's words mixed ahead. C harness, one CIFAR-MTL output's 164 864 normals on the
// Zen 5: 34.5 µs against 61.3 µs for the vectorised loop above.

#define AVX512_TARGET \
  __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"), always_inline))

typedef struct { __m512 lo, hi; } pair_out;
typedef struct { __m512i L, H; } halves;

/// SplitMix64's mix of 16 states, s0 (pairs 0..7) and s1 (pairs 8..15), before its last
/// z ^= z >> 31: the low (L) and high (H) 32-bit halves of the 16 words z.
static inline AVX512_TARGET halves mix16(__m512i s0, __m512i s1) {
  const __m512i c1 = _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ull);
  const __m512i c2 = _mm512_set1_epi64((long long)0x94D049BB133111EBull);
  __m512i z0 = _mm512_xor_si512(s0, _mm512_srli_epi64(s0, 30));
  __m512i z1 = _mm512_xor_si512(s1, _mm512_srli_epi64(s1, 30));
  z0 = _mm512_mullo_epi64(z0, c1);
  z1 = _mm512_mullo_epi64(z1, c1);
  z0 = _mm512_xor_si512(z0, _mm512_srli_epi64(z0, 27));
  z1 = _mm512_xor_si512(z1, _mm512_srli_epi64(z1, 27));
  z0 = _mm512_mullo_epi64(z0, c2);
  z1 = _mm512_mullo_epi64(z1, c2);
  const __m512i even =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  halves h;
  h.L = _mm512_permutex2var_epi32(z0, even, z1);
  h.H = _mm512_permutex2var_epi32(z0, odd, z1);
  return h;
}

/// −2 ln u for u = (2·(word >> 41) + 1)·2⁻²⁴, word >> 41 = H >> 9: the same roundings as
/// −2.0f * log_positive(u). Scaling by −2 commutes with every rounding here (no value is
/// subnormal), so it is folded into the constants: 2s → −4s and ln 2 → −2 ln 2.
static inline AVX512_TARGET __m512 minus_two_log(__m512i H) {
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512i n = _mm512_or_si512(_mm512_srli_epi32(H, 8), _mm512_set1_epi32(1));
  __m512 fn = _mm512_cvtepi32_ps(n);  // exact; u = fn·2⁻²⁴ exactly, with the same mantissa
  __m512 m = _mm512_getmant_ps(fn, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  __mmask16 above = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GE_OQ);
  // m·0.5 is exact: one less in the exponent.
  __m512i mantissa = _mm512_castps_si512(m);
  m = _mm512_castsi512_ps(
      _mm512_mask_sub_epi32(mantissa, above, mantissa, _mm512_set1_epi32(0x00800000)));
  // e + above = exponent of fn − 24, plus one where the mantissa reaches √2: carry it in.
  __m512i carried =
      _mm512_add_epi32(_mm512_castps_si512(fn), _mm512_set1_epi32(0x00800000 - 0x003504F3));
  __m512 ef = _mm512_sub_ps(_mm512_getexp_ps(_mm512_castsi512_ps(carried)), _mm512_set1_ps(24.0f));
  __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  __m512 zz = _mm512_mul_ps(s, s);
  __m512 p = _mm512_mul_ps(_mm512_set1_ps(1.0f / 9.0f), zz);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f / 7.0f));
  p = _mm512_mul_ps(p, zz);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f / 5.0f));
  p = _mm512_mul_ps(p, zz);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f / 3.0f));
  __m512 t = _mm512_mul_ps(_mm512_set1_ps(-4.0f), s);
  __m512 w = _mm512_mul_ps(_mm512_mul_ps(t, zz), p);
  __m512 exponent_part = _mm512_mul_ps(ef, _mm512_set1_ps(-2.0f * 0.693147182f));
  return _mm512_add_ps(exponent_part, _mm512_add_ps(t, w));
}

/// The outputs of 16 pairs from their halves and radii, interleaved.
static inline AVX512_TARGET pair_out finish16(__m512i L, __m512i H, __m512 radius) {
  const __m512 one = _mm512_set1_ps(1.0f);
  // Angle: low 32 bits of word = L ^ (L >> 31) ^ (H << 1).
  __m512i angle =
      _mm512_ternarylogic_epi32(L, _mm512_srli_epi32(L, 31), _mm512_slli_epi32(H, 1), 0x96);
  __m512i off = _mm512_sub_epi32(_mm512_and_si512(angle, _mm512_set1_epi32(0x3FFFFFFF)),
                                 _mm512_set1_epi32(0x20000000));
  __m512 phi = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(off), _mm512_set1_ps(0.5f)),
                             _mm512_set1_ps(1.57079632679f * 0x1.0p-30f));
  __m512 q = _mm512_mul_ps(phi, phi);
  __m512 sine = _mm512_mul_ps(_mm512_set1_ps(1.0f / 362880.0f), q);
  sine = _mm512_sub_ps(sine, _mm512_set1_ps(1.0f / 5040.0f));
  sine = _mm512_mul_ps(sine, q);
  sine = _mm512_add_ps(sine, _mm512_set1_ps(1.0f / 120.0f));
  sine = _mm512_mul_ps(sine, q);
  sine = _mm512_sub_ps(sine, _mm512_set1_ps(1.0f / 6.0f));
  sine = _mm512_add_ps(phi, _mm512_mul_ps(_mm512_mul_ps(phi, q), sine));
  __m512 cosine = _mm512_mul_ps(_mm512_set1_ps(1.0f / 40320.0f), q);
  cosine = _mm512_sub_ps(cosine, _mm512_set1_ps(1.0f / 720.0f));
  cosine = _mm512_mul_ps(cosine, q);
  cosine = _mm512_add_ps(cosine, _mm512_set1_ps(1.0f / 24.0f));
  cosine = _mm512_mul_ps(cosine, q);
  cosine = _mm512_sub_ps(cosine, _mm512_set1_ps(0.5f));
  cosine = _mm512_add_ps(one, _mm512_mul_ps(q, cosine));
  // Quadrant: bit 30 swaps sine and cosine; x flips sign on bit30 ^ bit31, y on bit31.
  __mmask16 odd_q = _mm512_test_epi32_mask(angle, _mm512_set1_epi32(0x40000000));
  __m512 xs = _mm512_mask_blend_ps(odd_q, cosine, sine);
  __m512 ys = _mm512_mask_blend_ps(odd_q, sine, cosine);
  const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
  __m512i xsign = _mm512_and_si512(_mm512_xor_si512(angle, _mm512_slli_epi32(angle, 1)), sign);
  __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(xs), xsign));
  __m512 y = _mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(_mm512_castps_si512(ys), angle, sign, 0x78));
  __m512 first = _mm512_mul_ps(radius, x);
  __m512 second = _mm512_mul_ps(radius, y);
  const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ihi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  pair_out r;
  r.lo = _mm512_permutex2var_ps(first, ilo, second);
  r.hi = _mm512_permutex2var_ps(first, ihi, second);
  return r;
}

static inline AVX512_TARGET pair_out block16(__m512i s0, __m512i s1) {
  halves h = mix16(s0, s1);
  __m512 radius = _mm512_sqrt_ps(minus_two_log(h.H));
  return finish16(h.L, h.H, radius);
}

/// Blocks of 16 pairs per iteration of the pipelined loop.
#define UNROLL 4

__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
static void normal_pairs_avx512(float *restrict out, size_t pairs, uint64_t key) {
  const __m512i g = _mm512_set1_epi64((long long)GOLDEN_GAMMA);
  const __m512i step = _mm512_set1_epi64((long long)(16 * GOLDEN_GAMMA));
  __m512i k = _mm512_set1_epi64((long long)key);
  __m512i idx = _mm512_setr_epi64(1, 2, 3, 4, 5, 6, 7, 8);
  __m512i s0 = _mm512_add_epi64(k, _mm512_mullo_epi64(idx, g));
  __m512i s1 = _mm512_add_epi64(s0, _mm512_set1_epi64((long long)(8 * GOLDEN_GAMMA)));
  size_t i = 0;
  // Software-pipelined: the words of the next UNROLL blocks are mixed while this iteration's
  // floating-point work runs.
  __m512i sa[UNROLL], sb[UNROLL];
  sa[0] = s0;
  sb[0] = s1;
  for (int u = 1; u < UNROLL; u++) {
    sa[u] = _mm512_add_epi64(sa[u - 1], step);
    sb[u] = _mm512_add_epi64(sb[u - 1], step);
  }
  const __m512i stepu = _mm512_set1_epi64((long long)(16 * UNROLL * GOLDEN_GAMMA));
  if (i + 16 * UNROLL <= pairs) {
    halves h[UNROLL];
#pragma clang loop unroll(full)
    for (int u = 0; u < UNROLL; u++) {
      h[u] = mix16(sa[u], sb[u]);
      sa[u] = _mm512_add_epi64(sa[u], stepu);
      sb[u] = _mm512_add_epi64(sb[u], stepu);
    }
    for (; i + 16 * UNROLL <= pairs; i += 16 * UNROLL) {
      __m512 r2[UNROLL];
#pragma clang loop unroll(full)
      for (int u = 0; u < UNROLL; u++) r2[u] = minus_two_log(h[u].H);
      halves hn[UNROLL];
#pragma clang loop unroll(full)
      for (int u = 0; u < UNROLL; u++) hn[u] = mix16(sa[u], sb[u]);
#pragma clang loop unroll(full)
      for (int u = 0; u < UNROLL; u++) {
        pair_out r = finish16(h[u].L, h[u].H, _mm512_sqrt_ps(r2[u]));
        _mm512_storeu_ps(out + 2 * i + 32 * u, r.lo);
        _mm512_storeu_ps(out + 2 * i + 32 * u + 16, r.hi);
      }
#pragma clang loop unroll(full)
      for (int u = 0; u < UNROLL; u++) {
        h[u] = hn[u];
        sa[u] = _mm512_add_epi64(sa[u], stepu);
        sb[u] = _mm512_add_epi64(sb[u], stepu);
      }
    }
    // sa[0] and sb[0] ran ahead by one iteration.
    s0 = _mm512_sub_epi64(sa[0], stepu);
    s1 = _mm512_sub_epi64(sb[0], stepu);
  }
  for (; i + 16 <= pairs; i += 16) {
    pair_out a = block16(s0, s1);
    _mm512_storeu_ps(out + 2 * i, a.lo);
    _mm512_storeu_ps(out + 2 * i + 16, a.hi);
    s0 = _mm512_add_epi64(s0, step);
    s1 = _mm512_add_epi64(s1, step);
  }
  size_t rest = pairs - i;
  if (rest) {
    pair_out a = block16(s0, s1);
    size_t floats = 2 * rest;  // 2..30
    __mmask16 m0 = floats >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << floats) - 1);
    __mmask16 m1 = floats > 16 ? (__mmask16)((1u << (floats - 16)) - 1) : (__mmask16)0;
    _mm512_mask_storeu_ps(out + 2 * i, m0, a.lo);
    _mm512_mask_storeu_ps(out + 2 * i + 16, m1, a.hi);
  }
}

static int has_avx512_normals(void) {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}

/// The normals by `pairs_of` for the pairs, then the odd last value.
static void counter_normals(float *out, size_t count, uint64_t key,
                            void (*pairs_of)(float *restrict, size_t, uint64_t)) {
  pairs_of(out, count / 2, key);
  if (count % 2 == 1) {
    float first, second;
    normal_pair(counter_word(key, count / 2), &first, &second);
    out[count - 1] = first;
  }
}

void bayesagg_counter_normals(float *out, size_t count, uint64_t key) {
  counter_normals(out, count, key, has_avx512_normals() ? normal_pairs_avx512 : normal_pairs);
}

void bayesagg_counter_normals_portable(float *out, size_t count, uint64_t key) {
  counter_normals(out, count, key, normal_pairs);
}
