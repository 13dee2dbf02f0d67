import BayesAggCommandLine
import CRuntimeSupport

#if canImport(Glibc)
  import Glibc
#endif

/// OpenBLAS 0.3.21 (Debian 12) picks its kernels when it loads and mis-detects recent
/// processors, falling back to slow generic ones. Unless the user chose a core type, pick the
/// fastest family this processor and its operating system support and re-execute once with
/// `OPENBLAS_CORETYPE` set, before any BLAS call. cpuid is answered by emulators for the
/// emulated processor, so valgrind (no AVX-512) gets `Haswell` or nothing.
func selectBLASKernelsAndReexecute() {
  guard getenv("OPENBLAS_CORETYPE") == nil, getenv("BAYESAGG_BLAS_CHOSEN") == nil else { return }
  let levels = cpu_feature_levels()
  let core: String? = levels.avx512 != 0 ? "SkylakeX" : (levels.avx2 != 0 ? "Haswell" : nil)
  guard let core else { return }
  setenv("OPENBLAS_CORETYPE", core, 1)
  setenv("BAYESAGG_BLAS_CHOSEN", "1", 1)
  execv("/proc/self/exe", CommandLine.unsafeArgv)
  // execv returns only on failure; carry on with the kernels OpenBLAS chose.
}

selectBLASKernelsAndReexecute()
keep_large_allocations_in_heap()
exit(Tool.main(Array(CommandLine.arguments.dropFirst())))
