import CKernels
import CLinearAlgebra

// Kernel file: single-precision BLAS on raw row-major storage, for the Monte-Carlo loops whose
// sampling noise dwarfs Float rounding. The posterior algebra stays in `Double` (`Matrix`).

/// `C ← α · op(A) · op(B) + β · C` on row-major `Float` storage, by `cblas_sgemm`.
///
/// - Parameters:
///   - m: The rows of `op(A)` and `C`.
///   - n: The columns of `op(B)` and `C`.
///   - k: The inner dimension.
///   - a: `A`, with leading dimension (row stride) `lda`.
///   - b: `B`, with leading dimension `ldb`.
///   - c: `C`, with leading dimension `ldc`.
/// - Precondition: the sizes are non-negative and each leading dimension is at least the
///   number of columns stored per row.
/// - Complexity: O(m · n · k).
public func floatMatrixMultiply(
  transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  precondition(
    m >= 0 && n >= 0 && k >= 0, "floatMatrixMultiply: negative size \(m)×\(n)×\(k)")
  precondition(
    lda >= max(transposeA ? m : k, 1) && ldb >= max(transposeB ? k : n, 1) && ldc >= max(n, 1),
    "floatMatrixMultiply: leading dimensions \(lda), \(ldb), \(ldc) too small for "
      + "\(m)×\(n)×\(k) (transposeA: \(transposeA), transposeB: \(transposeB))")
  guard m > 0, n > 0 else { return }
  cblas_sgemm(
    CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// `Z ← Z T`, or `Z ← Z T⁻¹` when `inverted`, in place, with `T` lower triangular
/// (`size × size`, row-major) and `Z` `rows × size`, in `Float`, by `cblas_strmm` or
/// `cblas_strsm`.
///
/// For a precision `A = L Lᵀ` and standard normal rows, `T = L⁻¹`, or `T = L` inverted, turns
/// the rows into draws from `N(0, A⁻¹)`. Rounding `L` to `Float` for the solve perturbs the
/// result by about `cond(L) · 6e-8` relative.
/// - Precondition: `triangle.count == size * size` and `z.count == rows * size`; when
///   `inverted`, the diagonal of `T` is nonzero.
/// - Complexity: O(rows · size²).
public func floatMultiplyByLowerTriangle(
  rows: Int, size: Int, triangle: UnsafeBufferPointer<Float>, inverted: Bool = false,
  inPlace z: UnsafeMutableBufferPointer<Float>
) {
  precondition(
    rows >= 0 && size >= 0 && triangle.count == size * size && z.count == rows * size,
    "floatMultiplyByLowerTriangle: \(z.count) scalars for \(rows)×\(size), triangle of "
      + "\(triangle.count) for \(size)×\(size)")
  guard rows > 0, size > 0 else { return }
  let apply = inverted ? cblas_strsm : cblas_strmm
  apply(
    CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, Int32(rows), Int32(size),
    1, triangle.baseAddress, Int32(size), z.baseAddress, Int32(size))
}

extension CholeskyFactor {
  /// `L` rounded to `Float`, row-major, zeros above the diagonal: the triangle the draws are
  /// solved against (`floatMultiplyByLowerTriangle(inverted: true)`).
  ///
  /// Row by row over the lower triangle through raw pointers, which vectorises: about a tenth
  /// of the time `lower.scalars.map { Float($0) }` took, 35 µs per posterior at n = 161.
  /// - Complexity: O(n²).
  public func lowerAsFloat() -> [Float] {
    let n = size
    return lower.scalars.withUnsafeBufferPointer { l in
      [Float](uninitializedCount: n * n) { rounded in
        guard let source = l.baseAddress else { return }
        for i in 0..<n {
          let (from, to) = (source + i * n, rounded + i * n)
          for j in 0...i { to[j] = Float(from[j]) }
          (to + i + 1).initialize(repeating: 0, count: n - i - 1)
        }
      }
    }
  }

  /// `L⁻¹`, lower triangular, row-major, computed in `Double` and rounded to `Float`.
  ///
  /// `Z L⁻¹` turns standard normal rows into draws from `N(0, A⁻¹)` by one triangular product
  /// (`floatMultiplyByLowerTriangle`) instead of a solve.
  /// - Complexity: O(n³).
  ///
  /// By forward substitution in C (`bayesagg_lower_inverse_float`), a third of the work of
  /// `cblas_dtrsm` on the identity, each row rounded as soon as it is final. Not by LAPACK's
  /// `dtrtri`: the workers that call this run concurrently with OpenBLAS set to one thread,
  /// and OpenBLAS's `dtrtri` there made the aggregation inside a training step 1.6× slower.
  /// - Parameter padding: Zeros appended after the `n²` values, for kernels that read whole
  ///   vectors past the last row.
  public func lowerInverseAsFloat(padding: Int = 0) -> [Float] {
    guard size > 0 else { return [Float](repeating: 0, count: padding) }
    // The kernel writes every element it later reads of its scratch, and all of the result.
    let scratchCount = bayesagg_lower_inverse_float_scratch(size)
    let scratch = UnsafeMutablePointer<Double>.allocate(capacity: scratchCount)
    defer { scratch.deallocate() }
    return [Float](uninitializedCount: size * size + padding) { inverse in
      lower.scalars.withUnsafeBufferPointer { l in
        bayesagg_lower_inverse_float(l.baseAddress!, size, scratch, inverse, padding)
      }
    }
  }
}
