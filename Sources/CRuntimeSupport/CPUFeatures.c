#include "CRuntimeSupport.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

CPUFeatureLevels cpu_feature_levels(void) {
  CPUFeatureLevels levels = {0, 0};
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return levels;
  int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return levels;
  unsigned long long xcr0 = read_xcr0();
  int ymm_state = (xcr0 & 0x6) == 0x6;
  int zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return levels;
  int avx2 = (b >> 5) & 1;
  int f = (b >> 16) & 1, dq = (b >> 17) & 1, cd = (b >> 28) & 1, bw = (b >> 30) & 1,
      vl = (b >> 31) & 1;
  levels.avx2 = ymm_state && avx2 && fma;
  levels.avx512 = levels.avx2 && zmm_state && f && dq && cd && bw && vl;
  return levels;
}
#else
CPUFeatureLevels cpu_feature_levels(void) {
  CPUFeatureLevels levels = {0, 0};
  return levels;
}
#endif
