import CKernels
import CLinearAlgebra

// Kernel file: the BLAS and LAPACK calls behind `Matrix`. Everything above it is safe Swift.
//
// LAPACK is column-major. A row-major array read column-major is the transpose, so a
// symmetric matrix is passed unchanged, and LAPACK's upper triangle ("U") is our lower one.

/// The product `α · op(A) · op(B)`, computed by `cblas_dgemm`.
///
/// - Parameters:
///   - a: The left factor `A`.
///   - b: The right factor `B`.
///   - transposeA: Use `Aᵀ` instead of `A`.
///   - transposeB: Use `Bᵀ` instead of `B`.
///   - alpha: The scale `α`.
/// - Returns: The `m × n` product.
/// - Precondition: the inner dimensions of `op(A)` and `op(B)` agree.
/// - Complexity: O(m · n · k).
public func matmul(
  _ a: Matrix, _ b: Matrix, transposeA: Bool = false, transposeB: Bool = false,
  alpha: Double = 1
) -> Matrix {
  a.checkStorage("matmul")
  b.checkStorage("matmul")
  let m = transposeA ? a.columns : a.rows
  let k = transposeA ? a.rows : a.columns
  let kB = transposeB ? b.columns : b.rows
  let n = transposeB ? b.rows : b.columns
  precondition(
    k == kB,
    "matmul: op(A) is \(m)×\(k) and op(B) is \(kB)×\(n) (transposeA: \(transposeA), "
      + "transposeB: \(transposeB))")
  var c = Matrix(rows: m, columns: n)
  guard m > 0, n > 0, k > 0 else { return c }
  a.scalars.withUnsafeBufferPointer { pa in
    b.scalars.withUnsafeBufferPointer { pb in
      c.scalars.withUnsafeMutableBufferPointer { pc in
        cblas_dgemm(
          CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
          transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
          pa.baseAddress, Int32(a.columns), pb.baseAddress, Int32(b.columns), 0,
          pc.baseAddress, Int32(n))
      }
    }
  }
  return c
}

extension Matrix {
  /// The Gram matrix `AᵀA` (`columns × columns`, symmetric) of the row-major `rows × columns`
  /// matrix in `a`, by `addGramToLower` onto zeros: half the work of
  /// `matmul(A, A, transposeA: true)`, and no `Matrix` needs to hold `A`.
  ///
  /// - Precondition: `a.count ≥ rows * columns`, `rows ≥ 0`, `columns ≥ 0`.
  /// - Complexity: O(rows · columns²).
  public static func gram(rows: Int, columns: Int, of a: UnsafeBufferPointer<Double>) -> Matrix {
    precondition(
      rows >= 0 && columns >= 0 && a.count >= rows * columns,
      "Matrix.gram: \(a.count) scalars for \(rows)×\(columns)")
    var c = Matrix(rows: columns, columns: columns)
    c.addGramToLower(rows: rows, columns: columns, of: a)
    c.symmetrizeFromLower()
    return c
  }
}

extension Matrix {
  /// Adds the Gram matrix `AᵀA` of the row-major `rows × columns` matrix in `a` to the lower
  /// triangle (diagonal included); the strict upper triangle is left as it was. By register
  /// tiles with AVX-512 (`bayesagg_gram_lower_add`: 34–38 µs against dsyrk's 55–58 µs for the
  /// CIFAR-MTL posteriors' 128 × 161), by `cblas_dsyrk` with β = 1 elsewhere.
  ///
  /// - Precondition: the matrix is `columns × columns`; `a.count ≥ rows * columns`.
  /// - Complexity: O(rows · columns²).
  public mutating func addGramToLower(rows: Int, columns: Int, of a: UnsafeBufferPointer<Double>) {
    checkStorage("addGramToLower")
    precondition(
      self.rows == columns && self.columns == columns && rows >= 0
        && a.count >= rows * columns,
      "Matrix.addGramToLower: \(a.count) scalars for \(rows)×\(columns) onto "
        + "\(self.rows)×\(self.columns)")
    guard rows > 0, columns > 0 else { return }
    scalars.withUnsafeMutableBufferPointer { pc in
      if gramTilesSupported {
        bayesagg_gram_lower_add(a.baseAddress!, rows, columns, pc.baseAddress!)
      } else {
        cblas_dsyrk(
          CblasRowMajor, CblasLower, CblasTrans, Int32(columns), Int32(rows), 1, a.baseAddress,
          Int32(columns), 1, pc.baseAddress, Int32(columns))
      }
    }
  }
}

extension Matrix {
  /// The Gramian `A Aᵀ` of the rows (`rows × rows`, symmetric), by `cblas_dsyrk`: for a wide
  /// Jacobian (few rows, many columns) one pass over `A` without the packing copies a general
  /// product makes.
  ///
  /// - Complexity: O(rows² · columns).
  public func rowGramian() -> Matrix {
    checkStorage("rowGramian")
    var c = Matrix(rows: rows, columns: rows)
    guard rows > 0, columns > 0 else { return c }
    scalars.withUnsafeBufferPointer { pa in
      c.scalars.withUnsafeMutableBufferPointer { pc in
        // Row-major C = A Aᵀ; "lower" fills C[i, j] for j ≤ i.
        cblas_dsyrk(
          CblasRowMajor, CblasLower, CblasNoTrans, Int32(rows), Int32(columns), 1,
          pa.baseAddress, Int32(columns), 0, pc.baseAddress, Int32(rows))
      }
    }
    c.symmetrizeFromLower()
    return c
  }

  /// `A x`, by `cblas_dgemv`: for the small products of the posteriors, where `matmul` with
  /// a one-column matrix costs several times the arithmetic.
  ///
  /// - Precondition: `x.count == columns`.
  /// - Complexity: O(rows · columns).
  public func applied(to x: [Double]) -> [Double] {
    checkStorage("applied")
    precondition(x.count == columns, "applied: \(x.count) values for \(columns) columns")
    return matrixVectorProduct(x, transposed: false)
  }

  /// `wᵀ A`: the combination of the rows with weights `weights`, by `cblas_dgemv`.
  ///
  /// - Precondition: `weights.count == rows`.
  /// - Complexity: O(rows · columns).
  public func combiningRows(_ weights: [Double]) -> [Double] {
    checkStorage("combiningRows")
    precondition(weights.count == rows, "combiningRows: \(weights.count) weights for \(rows) rows")
    return matrixVectorProduct(weights, transposed: true)
  }

  /// `op(A) v` by `cblas_dgemv`, `op(A)` being `Aᵀ` when `transposed`; `v` has the matching
  /// length (the callers check it).
  private func matrixVectorProduct(_ v: [Double], transposed: Bool) -> [Double] {
    var result = [Double](repeating: 0, count: transposed ? columns : rows)
    guard rows > 0, columns > 0 else { return result }
    scalars.withUnsafeBufferPointer { pa in
      v.withUnsafeBufferPointer { pv in
        result.withUnsafeMutableBufferPointer { pr in
          cblas_dgemv(
            CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns),
            1, pa.baseAddress, Int32(columns), pv.baseAddress, 1, 0, pr.baseAddress, 1)
        }
      }
    }
    return result
  }
}

/// A rectangular block of a matrix: `matrix[rows, columns]`, used without copying.
public struct MatrixBlock {
  /// The first row of the block.
  public var firstRow: Int
  /// The first column of the block.
  public var firstColumn: Int
  /// The number of rows.
  public var rows: Int
  /// The number of columns.
  public var columns: Int

  /// Creates the block of `rows × columns` elements starting at `(firstRow, firstColumn)`.
  public init(firstRow: Int, firstColumn: Int, rows: Int, columns: Int) {
    self.firstRow = firstRow
    self.firstColumn = firstColumn
    self.rows = rows
    self.columns = columns
  }

  func check(in matrix: Matrix, _ name: String) {
    precondition(
      firstRow >= 0 && firstColumn >= 0 && rows >= 0 && columns >= 0
        && firstRow + rows <= matrix.rows && firstColumn + columns <= matrix.columns,
      "MatrixBlock \(name): \(rows)×\(columns) at (\(firstRow), \(firstColumn)) outside "
        + "\(matrix.rows)×\(matrix.columns)")
  }
}

extension Matrix {
  /// `C ← α · A_blk · B_blk + β · C`, on blocks of two matrices, through `cblas_dgemm`.
  ///
  /// Lets a Monte-Carlo loop multiply one sample's slice of a large matrix without copying it.
  /// - Parameters:
  ///   - a: The matrix holding the left block.
  ///   - aBlock: The left block, `m × k`.
  ///   - b: The matrix holding the right block.
  ///   - bBlock: The right block, `k × n`.
  ///   - alpha: The scale `α`.
  ///   - beta: The scale `β` of the current contents.
  /// - Precondition: the blocks lie inside their matrices, `self` is `m × n`, and the inner
  ///   dimensions agree.
  /// - Complexity: O(m · n · k).
  public mutating func multiplyAccumulate(
    _ a: Matrix, block aBlock: MatrixBlock, _ b: Matrix, block bBlock: MatrixBlock,
    alpha: Double = 1, beta: Double = 0
  ) {
    a.checkStorage("multiplyAccumulate")
    b.checkStorage("multiplyAccumulate")
    checkStorage("multiplyAccumulate")
    aBlock.check(in: a, "A")
    bBlock.check(in: b, "B")
    precondition(
      aBlock.columns == bBlock.rows && rows == aBlock.rows && columns == bBlock.columns,
      "multiplyAccumulate: \(aBlock.rows)×\(aBlock.columns) times \(bBlock.rows)×"
        + "\(bBlock.columns) into \(rows)×\(columns)")
    guard rows > 0, columns > 0, aBlock.columns > 0 else { return }
    let (m, n, k) = (rows, columns, aBlock.columns)
    a.scalars.withUnsafeBufferPointer { pa in
      b.scalars.withUnsafeBufferPointer { pb in
        scalars.withUnsafeMutableBufferPointer { pc in
          cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            pa.baseAddress! + aBlock.firstRow * a.columns + aBlock.firstColumn, Int32(a.columns),
            pb.baseAddress! + bBlock.firstRow * b.columns + bBlock.firstColumn, Int32(b.columns),
            beta, pc.baseAddress, Int32(n))
        }
      }
    }
  }
}

/// A failed factorisation: which matrix, its size, what was tried, and how to fix it.
public struct LinearAlgebraError: Error, CustomStringConvertible, Sendable {
  /// The routine that failed, e.g. `"Cholesky"`.
  public var operation: String
  /// The caller's name for the matrix, e.g. `"batch posterior precision, task group 1"`.
  public var matrixName: String
  /// The matrix size `n` (the matrix is `n × n`).
  public var size: Int
  /// The largest diagonal jitter added before giving up (0 if none was tried).
  public var largestJitter: Double
  /// LAPACK's `info` from the last attempt (0 when the failure was found before LAPACK).
  public var info: Int
  /// What went wrong and how to fix it.
  public var message: String

  public var description: String {
    "\(operation) failed for \(matrixName) (\(size)×\(size)), largest jitter tried "
      + "\(largestJitter), LAPACK info \(info): \(message)"
  }
}

/// The Cholesky factor `L` of a symmetric positive-definite matrix `A = L Lᵀ`.
///
/// Holds what `dpotrf` returned, so solves (`dpotrs`) and the inverse (`dpotri`) reuse it.
public struct CholeskyFactor: Sendable {
  /// The lower-triangular factor `L`, row-major, zeros above the diagonal.
  public let lower: Matrix
  /// The jitter that was added to the diagonal of `A` before it factorised (0 if none).
  public let jitter: Double

  /// The size `n`.
  public var size: Int { lower.rows }

  /// `A⁻¹ B`, by `dpotrs`.
  ///
  /// - Precondition: `b.rows == size`.
  /// - Complexity: O(n² · b.columns).
  public func solve(_ b: Matrix) -> Matrix {
    b.checkStorage("solve")
    precondition(b.rows == size, "CholeskyFactor.solve: \(b.rows) rows, factor is \(size)×\(size)")
    guard size > 0, b.columns > 0 else { return b }
    // Column-major n × k right-hand sides are the row-major transpose.
    var rhs = b.columns == 1 ? b : b.transposed()
    var uplo = CChar(UInt8(ascii: "U"))
    var n = Int32(size)
    var nrhs = Int32(b.columns)
    var lda = n
    var ldb = n
    var info: Int32 = 0
    lower.scalars.withUnsafeBufferPointer { pa in
      rhs.scalars.withUnsafeMutableBufferPointer { pb in
        dpotrs_(&uplo, &n, &nrhs, pa.baseAddress, &lda, pb.baseAddress, &ldb, &info, 1)
      }
    }
    precondition(info == 0, "dpotrs: illegal argument \(-info)")
    return b.columns == 1 ? rhs : rhs.reshaped(rows: b.columns, columns: size).transposed()
  }

  /// `A⁻¹ b` for one vector.
  ///
  /// - Precondition: `b.count == size`.
  public func solve(_ b: [Double]) -> [Double] {
    precondition(b.count == size, "CholeskyFactor.solve: \(b.count) values, factor is \(size)")
    guard size > 0 else { return b }
    // Two triangular solves, `L y = b` then `Lᵀ x = y`: for one vector, `dtrsv` skips the
    // packing that `dpotrs` (through `dtrsm`) does.
    var x = b
    let n = Int32(size)
    lower.scalars.withUnsafeBufferPointer { l in
      x.withUnsafeMutableBufferPointer { x in
        cblas_dtrsv(
          CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, l.baseAddress, n,
          x.baseAddress, 1)
        cblas_dtrsv(
          CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, n, l.baseAddress, n,
          x.baseAddress, 1)
      }
    }
    return x
  }

  /// `A⁻¹`, symmetric, by `dpotri`.
  ///
  /// - Complexity: O(n³).
  public func inverse() -> Matrix {
    var result = lower
    guard size > 0 else { return result }
    var uplo = CChar(UInt8(ascii: "U"))
    var n = Int32(size)
    var lda = n
    var info: Int32 = 0
    result.scalars.withUnsafeMutableBufferPointer { pa in
      dpotri_(&uplo, &n, pa.baseAddress, &lda, &info, 1)
    }
    precondition(info >= 0, "dpotri: illegal argument \(-info)")
    result.symmetrizeFromLower()
    return result
  }

  /// `Z L⁻¹`: each row `z` of `Z` becomes `L⁻ᵀ z`, by `cblas_dtrsm`.
  ///
  /// With `A` a precision matrix and the rows of `Z` standard normal, the rows of the result
  /// are draws from `N(0, A⁻¹)`.
  /// - Precondition: `z.columns == size`.
  /// - Complexity: O(z.rows · n²).
  public func rightSolveLower(_ z: Matrix) -> Matrix {
    precondition(
      z.columns == size, "CholeskyFactor.rightSolveLower: \(z.columns) columns, factor is \(size)")
    z.checkStorage("rightSolveLower")
    var result = z
    guard size > 0, z.rows > 0 else { return result }
    lower.scalars.withUnsafeBufferPointer { pl in
      result.scalars.withUnsafeMutableBufferPointer { pz in
        cblas_dtrsm(
          CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, Int32(z.rows),
          Int32(size), 1, pl.baseAddress, Int32(size), pz.baseAddress, Int32(size))
      }
    }
    return result
  }

  /// `Z Lᵀ`: each row `z` of `Z` becomes `L z`, by `cblas_dtrmm`.
  ///
  /// With `A` a covariance matrix and the rows of `Z` standard normal, the rows of the result
  /// are draws from `N(0, A)`.
  /// - Precondition: `z.columns == size`.
  /// - Complexity: O(z.rows · n²).
  public func rightMultiplyLowerTransposed(_ z: Matrix) -> Matrix {
    precondition(
      z.columns == size,
      "CholeskyFactor.rightMultiplyLowerTransposed: \(z.columns) columns, factor is \(size)")
    z.checkStorage("rightMultiplyLowerTransposed")
    var result = z
    guard size > 0, z.rows > 0 else { return result }
    lower.scalars.withUnsafeBufferPointer { pl in
      result.scalars.withUnsafeMutableBufferPointer { pz in
        cblas_dtrmm(
          CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(z.rows),
          Int32(size), 1, pl.baseAddress, Int32(size), pz.baseAddress, Int32(size))
      }
    }
    return result
  }
}

extension Matrix {
  /// The Cholesky factor `A + δI = L Lᵀ`, adding jitter `δ` only when `A` does not factorise.
  ///
  /// Tries `δ = 0`, then `δ = ε · s · 10^k` for `k = 0, 1, …, maximumJitterSteps − 1`, where
  /// `s` is the mean absolute diagonal element (1 if that is 0), so the jitter is relative to the
  /// matrix's scale. A semi-definite matrix (rank-deficient Gramian) factorises after a little
  /// jitter; an indefinite or negative-definite one does not, and throws.
  /// - Parameters:
  ///   - name: How the error names the matrix.
  ///   - initialJitter: `ε`, relative to `s`.
  ///   - maximumJitterSteps: How many jitter values to try after `δ = 0`.
  /// - Returns: The factor, with the jitter that was used.
  /// - Throws: `LinearAlgebraError` if an element is not finite, or if every jitter fails.
  /// - Precondition: the matrix is square.
  /// - Complexity: O(n³) per attempt.
  public func cholesky(
    name: String = "matrix", initialJitter: Double = 1e-10, maximumJitterSteps: Int = 7
  ) throws -> CholeskyFactor {
    checkStorage("cholesky")
    precondition(rows == columns, "cholesky: \(name) is \(rows)×\(columns), not square")
    guard isFinite else {
      throw LinearAlgebraError(
        operation: "Cholesky", matrixName: name, size: rows, largestJitter: 0, info: 0,
        message: "the matrix has NaN or infinite elements; check the features and head weights "
          + "that built it for non-finite values")
    }
    let meanDiagonal = diagonal.reduce(0) { $0 + abs($1) } / Double(Swift.max(rows, 1))
    let scale = meanDiagonal > 0 ? meanDiagonal : 1
    var jitter = 0.0
    var lastInfo: Int32 = 0
    for attempt in 0...maximumJitterSteps {
      if attempt > 0 {
        jitter = initialJitter * scale * pow10(attempt - 1)
      }
      var factor = self
      if jitter > 0 { factor.addToDiagonal(jitter) }
      let info = factor.factorLowerInPlace()
      lastInfo = info
      if info == 0 {
        factor.scalars.withUnsafeMutableBufferPointer { a in
          for i in 0..<rows {
            (a.baseAddress! + i * rows + i + 1).update(repeating: 0, count: rows - i - 1)
          }
        }
        return CholeskyFactor(lower: factor, jitter: jitter)
      }
    }
    throw LinearAlgebraError(
      operation: "Cholesky", matrixName: name, size: rows, largestJitter: jitter,
      info: Int(lastInfo),
      message: "the matrix is not positive definite even after adding jitter to its diagonal "
        + "(leading minor \(lastInfo) failed); it is indefinite or badly scaled. For a posterior "
        + "precision, raise the prior variance γ (stronger regularisation is 1/γ) or check the "
        + "features for huge or degenerate values")
  }

  /// Overwrites the lower triangle with the Cholesky factor `L` (the upper triangle is left
  /// with unspecified values); returns 0, or the order of the leading minor that is not
  /// positive definite.
  ///
  /// Up to `directCholeskyLimit` rows this is `bayesagg_cholesky_lower`, which takes about a
  /// third of LAPACK's time at the posterior sizes (C harness, n = 161: 14.5–14.9 µs against
  /// 48.5 µs for `dpotrf`); larger matrices go to `dpotrf`.
  private mutating func factorLowerInPlace() -> Int32 {
    let n = rows
    if n <= Matrix.directCholeskyLimit {
      return scalars.withUnsafeMutableBufferPointer { a in
        Int32(bayesagg_cholesky_lower(a.baseAddress!, n))
      }
    }
    var uplo = CChar(UInt8(ascii: "U"))
    var order = Int32(n)
    var lda = Int32(Swift.max(n, 1))
    var info: Int32 = 0
    scalars.withUnsafeMutableBufferPointer { pa in
      dpotrf_(&uplo, &order, pa.baseAddress, &lda, &info, 1)
    }
    precondition(info >= 0, "dpotrf: illegal argument \(-info)")
    return info
  }

  /// The largest matrix `cholesky` factors with its own kernel rather than LAPACK's: the
  /// kernel measured faster up to n = 600 (n = 512: 521 against 1069 µs for `dpotrf`).
  static let directCholeskyLimit = 512

  /// The eigenvalues (ascending) and eigenvectors of a symmetric matrix, by `dsyevd`.
  ///
  /// - Returns: `values` and `vectors`, with eigenvector `k` in column `k` of `vectors`.
  /// - Throws: `LinearAlgebraError` if an element is not finite or LAPACK does not converge.
  /// - Precondition: the matrix is square.
  /// - Complexity: O(n³).
  public func symmetricEigendecomposition(name: String = "matrix") throws -> (
    values: [Double], vectors: Matrix
  ) {
    checkStorage("symmetricEigendecomposition")
    precondition(rows == columns, "symmetricEigendecomposition: \(rows)×\(columns) not square")
    guard isFinite else {
      throw LinearAlgebraError(
        operation: "eigendecomposition (dsyevd)", matrixName: name, size: rows, largestJitter: 0,
        info: 0, message: "the matrix has NaN or infinite elements")
    }
    guard rows > 0 else { return ([], self) }
    var a = self
    var values = [Double](repeating: 0, count: rows)
    var jobz = CChar(UInt8(ascii: "V"))
    var uplo = CChar(UInt8(ascii: "U"))
    var n = Int32(rows)
    var lda = n
    var info: Int32 = 0
    var lwork = Int32(1 + 6 * rows + 2 * rows * rows)
    var liwork = Int32(3 + 5 * rows)
    var work = [Double](repeating: 0, count: Int(lwork))
    var iwork = [Int32](repeating: 0, count: Int(liwork))
    a.scalars.withUnsafeMutableBufferPointer { pa in
      dsyevd_(
        &jobz, &uplo, &n, pa.baseAddress, &lda, &values, &work, &lwork, &iwork, &liwork, &info,
        1, 1)
    }
    guard info == 0 else {
      throw LinearAlgebraError(
        operation: "eigendecomposition (dsyevd)", matrixName: name, size: rows, largestJitter: 0,
        info: Int(info), message: "LAPACK did not converge")
    }
    // Column-major eigenvector columns read row-major are rows: transpose back.
    return (values, a.transposed())
  }
}

private func pow10(_ k: Int) -> Double {
  var result = 1.0
  for _ in 0..<k { result *= 10 }
  return result
}

/// Whether `addGramToLower` runs `bayesagg_gram_lower_add` (AVX-512) rather than dsyrk.
let gramTilesSupported = bayesagg_gram_lower_supported() != 0
