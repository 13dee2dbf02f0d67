#ifndef BAYESAGG_CCPUFEATURES_H
#define BAYESAGG_CCPUFEATURES_H

/// Instruction-set levels that both the processor and the operating system support.
/// Read with the cpuid instruction (which valgrind and other emulators answer for the
/// emulated processor) and xgetbv (which says whether the kernel saves the wide registers).
typedef struct {
  int avx2;     ///< AVX2 and FMA, with YMM state enabled.
  int avx512;   ///< AVX-512 F, DQ, CD, BW and VL, with ZMM state enabled.
} CPUFeatureLevels;

CPUFeatureLevels cpu_feature_levels(void);

#endif
