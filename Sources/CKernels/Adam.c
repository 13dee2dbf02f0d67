#include "CKernels.h"

#pragma clang fp contract(off)

__attribute__((target_clones("avx512f", "avx2", "default")))
void bayesagg_adam(
    float *restrict parameter, const float *restrict gradient, float *restrict first_moment,
    float *restrict second_moment, size_t count, float step_size, float correction,
    float weight_decay, float beta1, float beta2, float epsilon) {
  for (size_t i = 0; i < count; i++) {
    float g = gradient[i] + weight_decay * parameter[i];
    float m = beta1 * first_moment[i] + (1 - beta1) * g;
    float v = beta2 * second_moment[i] + (1 - beta2) * g * g;
    first_moment[i] = m;
    second_moment[i] = v;
    // The square root without errno, so that it vectorises; correctly rounded either way.
    parameter[i] -= step_size * m / (__builtin_elementwise_sqrt(v) / correction + epsilon);
  }
}
