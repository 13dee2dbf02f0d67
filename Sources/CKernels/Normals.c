#include "CKernels.h"
#include "FloatMath.h"

#include <stdint.h>
#include <string.h>

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

void bayesagg_counter_normals(float *out, size_t count, uint64_t key) {
  normal_pairs(out, count / 2, key);
  if (count % 2 == 1) {
    float first, second;
    normal_pair(counter_word(key, count / 2), &first, &second);
    out[count - 1] = first;
  }
}
