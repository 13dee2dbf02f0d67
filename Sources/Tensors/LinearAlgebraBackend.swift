import CLinearAlgebra

/// Facts about the BLAS library the process loaded.
public enum LinearAlgebraBackend {
  /// The kernel family OpenBLAS chose for this processor (for example `SkylakeX`, `Haswell`,
  /// `Prescott` for its generic fallback).
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// The number of threads OpenBLAS uses.
  public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
