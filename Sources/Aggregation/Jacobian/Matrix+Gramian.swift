import Tensors

// The Gramian helpers shared by the rules that work from J Jᵀ.

extension Matrix {
  /// The Gramian `J Jᵀ` of a validated Jacobian, checked for overflow.
  ///
  /// - Throws: `AggregationError` naming `method` if an entry of `J Jᵀ` is not finite (the
  ///   entries of `J` are beyond about `1e154`).
  /// - Complexity: O(K² D).
  func checkedRowGramian(method: String) throws -> Matrix {
    let gramian = rowGramian()
    guard gramian.isFinite else {
      let largest = scalars.reduce(0) { Swift.max($0, abs($1)) }
      throw AggregationError(
        method: method,
        "the Gramian J Jᵀ overflows (the largest |J| entry is \(largest)); scale the losses down")
    }
    return gramian
  }

  /// TorchJD's normalisation of a Gramian: `Γ / tr(Γ)`, or the zero matrix when
  /// `tr(Γ) < threshold`.
  ///
  /// `tr(Γ)` is the squared Frobenius norm of `J`, so this is the Gramian of `J / ‖J‖_F`.
  ///
  /// - Complexity: O(K²).
  func traceNormalizedGramian(threshold: Double) -> Matrix {
    let trace = diagonal.reduce(0, +)
    guard trace >= threshold, trace > 0 else { return Matrix(rows: rows, columns: columns) }
    return map { $0 / trace }
  }
}

extension Matrix {
  /// The eigenvalues (ascending) and eigenvectors (columns) of a symmetric Gramian.
  ///
  /// - Throws: `AggregationError` naming `method` if LAPACK does not converge.
  /// - Complexity: O(K³).
  func eigendecomposition(method: String) throws -> (values: [Double], vectors: Matrix) {
    do {
      return try symmetricEigendecomposition(name: "\(method) Gramian")
    } catch {
      throw AggregationError(
        method: method, "the eigendecomposition of the \(rows)×\(rows) Gramian failed: \(error)")
    }
  }
}
