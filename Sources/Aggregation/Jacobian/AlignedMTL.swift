import Tensors

/// Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
/// CVPR 2023, Algorithm 1), as TorchJD 0.18 computes it with the default preferences.
///
/// The rows of `J` are replaced by an orthogonal system of equal norms before they are
/// combined, which removes both conflicts and dominance. With the eigendecomposition of the
/// Gramian `G = J Jᵀ = V Λ Vᵀ`, restricted to the `r` eigenvalues above the rank cut-off
/// `max λ · K · ε` (ε the float64 machine epsilon),
/// ```
/// B = √λ_s · V_r Λ_r^(−1/2) V_rᵀ,    α = B (1/K, …, 1/K)ᵀ,    A(J) = αᵀ J
/// ```
/// where `λ_s` is the scale chosen by `scaleMode`: the smallest kept eigenvalue by default
/// (`√λ_s` is then the smallest non-zero singular value of `J`). When no eigenvalue passes the
/// cut-off (an all-zero `J`), `B = I` and the result is the mean of the rows.
///
/// With `.min`, nearly collinear rows have a tiny `λ_s`, so the result is close to zero: the
/// method's own behaviour, kept on purpose. That tiny `λ_s` is known only to about
/// `K · ε · max λ` in absolute terms, so in that regime the result carries a relative error of
/// about `K · ε · max λ / λ_s`.
///
/// Properties: invariant under permutations of the tasks; `A(sJ) = s A(J)` for every `s ≠ 0`
/// (`α` depends on `G` only through ratios of eigenvalues).
public struct AlignedMTL: GramianWeighting {
  /// Which eigenvalue of the Gramian sets the common squared norm of the aligned gradients.
  public enum ScaleMode: String, Sendable, CaseIterable {
    /// The smallest kept eigenvalue (TorchJD's default, `scale_mode="min"`).
    case min
    /// The lower median of the kept eigenvalues (`"median"`).
    case median
    /// The mean of the kept eigenvalues (`"rmse"`, the original implementation's choice).
    case mean
  }

  /// The scale of the aligned gradients.
  public var scaleMode: ScaleMode

  public var name: String { "Aligned-MTL" }

  /// Creates the rule.
  ///
  /// - Parameter scaleMode: The scale of the aligned gradients; `.min` as in TorchJD.
  public init(scaleMode: ScaleMode = .min) {
    self.scaleMode = scaleMode
  }

  /// Aligned-MTL's weights `α` from the Gramian alone.
  ///
  /// - Parameter gramian: `G = J Jᵀ`, `K × K`, symmetric positive semi-definite.
  /// - Returns: `K` weights.
  /// - Throws: `AggregationError` if the eigendecomposition does not converge.
  /// - Precondition: `gramian` is square.
  /// - Complexity: O(K³).
  public func weights(gramian: Matrix) throws -> [Double] {
    precondition(
      gramian.rows == gramian.columns,
      "AlignedMTL.weights: the Gramian is \(gramian.rows)×\(gramian.columns), not square")
    let count = gramian.rows
    let preference = 1 / Double(count)

    let decomposition = try gramian.eigendecomposition(method: name)
    let (values, vectors) = decomposition
    let cutoff = (values.max() ?? 0) * Double(count) * Double.ulpOfOne
    let kept = (0..<count).filter { values[$0] > cutoff }
    guard !kept.isEmpty else { return Array(repeating: preference, count: count) }

    let scale = self.scale(of: kept.map { values[$0] })
    // α = √λ_s Σ_k (u_kᵀ p / √λ_k) u_k with p the uniform preference.
    var alpha = [Double](repeating: 0, count: count)
    for k in kept {
      var projection = 0.0
      for i in 0..<count { projection += vectors[i, k] * preference }
      let coefficient = (scale / values[k]).squareRoot() * projection
      for i in 0..<count { alpha[i] += coefficient * vectors[i, k] }
    }
    return alpha
  }

  /// `λ_s` from the kept (positive) eigenvalues.
  private func scale(of eigenvalues: [Double]) -> Double {
    switch scaleMode {
    case .min: return eigenvalues.min()!
    case .median:
      // torch.median: the lower of the two middle values for an even count.
      return eigenvalues.sorted()[(eigenvalues.count - 1) / 2]
    case .mean: return eigenvalues.reduce(0, +) / Double(eigenvalues.count)
    }
  }
}
