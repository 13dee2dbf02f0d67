import BayesAggCommandLine
import CRuntimeSupport

#if canImport(Glibc)
  import Glibc
#endif

/// OpenBLAS reads its settings from the environment when it loads, before `main`. Unless the
/// user chose them, set two and re-execute once:
/// - `OPENBLAS_CORETYPE`: OpenBLAS 0.3.21 (Debian 12) mis-detects recent processors and falls
///   back to slow generic kernels, so pick the fastest family this processor and its operating
///   system support. cpuid is answered by emulators for the emulated processor, so valgrind
///   (no AVX-512) gets `Haswell` or nothing.
/// - `OPENBLAS_THREAD_TIMEOUT`: after each multithreaded call OpenBLAS's threads spin for 2²⁸
///   clock ticks (about 0.1 s) before they sleep, competing with the work that follows on our
///   own threads, such as BayesAgg-MTL's aggregation. 2²² ticks (about 1.5 ms) still bridges
///   the gaps between the products of a backward pass.
func selectBLASSettingsAndReexecute() {
  guard getenv("BAYESAGG_BLAS_CHOSEN") == nil else { return }
  var changed = false
  if getenv("OPENBLAS_CORETYPE") == nil {
    let levels = cpu_feature_levels()
    if let core = levels.avx512 != 0 ? "SkylakeX" : (levels.avx2 != 0 ? "Haswell" : nil) {
      setenv("OPENBLAS_CORETYPE", core, 1)
      changed = true
    }
  }
  if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
    setenv("OPENBLAS_THREAD_TIMEOUT", "22", 1)
    changed = true
  }
  guard changed else { return }
  setenv("BAYESAGG_BLAS_CHOSEN", "1", 1)
  execv("/proc/self/exe", CommandLine.unsafeArgv)
  // execv returns only on failure; carry on with the settings OpenBLAS chose.
}

selectBLASSettingsAndReexecute()
keep_large_allocations_in_heap()
exit(Tool.main(Array(CommandLine.arguments.dropFirst()), stoppingOnSignals: true))
