import Tensors

/// The gradient part of Impartial Multi-Task Learning, IMTL-G (Liu et al., "Towards Impartial
/// Multi-task Learning", ICLR 2021), in the form TorchJD 0.18 gives it.
///
/// The update has equal projections onto every unit task gradient. With the Gramian `G = J Jᵀ`
/// and `d_i = ‖g_i‖ = √G_ii`, the weights are
/// ```
/// v = G⁺ d,    w = v / Σ_i v_i,    A(J) = wᵀ J
/// ```
/// where `G⁺` is the Moore–Penrose pseudo-inverse, so linearly dependent rows are allowed (the
/// generalisation of Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization",
/// 2024). `G⁺` comes from the symmetric eigendecomposition, dropping eigenvalues with
/// `|λ| ≤ K · ε · max|λ|` (ε the float64 machine epsilon), the cut-off of `torch.linalg.pinv`.
/// When the weights cannot be normalised (`Σ v ≈ 0`: opposite rows, an all-zero Jacobian) the
/// result is zero.
///
/// Departure from TorchJD: it calls `Σ v` zero when `|Σ v| < 10⁻¹²` in absolute terms; here the
/// test is `|Σ v| · max_i d_i < 10⁻¹²`, which is dimensionless, so the rule stays equivariant
/// under every scaling of `J`. The two agree for gradients of norm about 1.
///
/// Properties: invariant under permutations of the tasks; `A(sJ) = s A(J)` for every `s ≠ 0`; a
/// zero row gets weight 0.
public struct IMTLG: GramianWeighting {
  public var name: String { "IMTL-G" }

  /// Creates the rule; it has no hyper-parameters and no state.
  public init() {}

  /// IMTL-G's weights from the Gramian alone; they sum to 1, or are all 0.
  ///
  /// - Parameter gramian: `G = J Jᵀ`, `K × K`, symmetric positive semi-definite.
  /// - Returns: `K` weights.
  /// - Throws: `AggregationError` if the eigendecomposition does not converge.
  /// - Precondition: `gramian` is square.
  /// - Complexity: O(K³).
  public func weights(gramian: Matrix) throws -> [Double] {
    precondition(
      gramian.rows == gramian.columns,
      "IMTLG.weights: the Gramian is \(gramian.rows)×\(gramian.columns), not square")
    let count = gramian.rows
    let norms = gramian.diagonal.map { max($0, 0).squareRoot() }
    let zero = [Double](repeating: 0, count: count)
    guard let largestNorm = norms.max(), largestNorm > 0 else { return zero }

    let decomposition = try gramian.eigendecomposition(method: name)
    // v = G⁺ d = Σ_k (u_kᵀ d / λ_k) u_k over the eigenvalues above the cut-off.
    let (values, vectors) = decomposition
    let largest = values.map(abs).max() ?? 0
    let cutoff = Double(count) * Double.ulpOfOne * largest
    var v = zero
    for k in 0..<count where abs(values[k]) > cutoff {
      var projection = 0.0
      for i in 0..<count { projection += vectors[i, k] * norms[i] }
      let coefficient = projection / values[k]
      for i in 0..<count { v[i] += coefficient * vectors[i, k] }
    }

    let total = v.reduce(0, +)
    guard abs(total) * largestNorm >= 1e-12 else { return zero }
    return v.map { $0 / total }
  }
}
