import Tensors

/// The projection of a combination of the rows onto their dual cone, expressed as weights.
///
/// ```
/// v* = argmin  vᵀ Γ v   subject to   v ≥ u   (elementwise),   Γ = J Jᵀ
/// ```
///
/// The dual cone of the rows of `J` is `{x : J x ≥ 0}`, the directions that conflict with no row.
/// By Proposition 1 of Quinton and Rey ("Jacobian Descent for Multi-Objective Optimization",
/// arXiv:2406.16232, 2024), the projection of `uᵀ J` onto that cone is `v*ᵀ J`. UPGrad projects
/// each scaled row and DualProj the mean; both follow TorchJD 0.18, which solves this program
/// with quadprog.
///
/// Method. With `x = v − u ≥ 0` the program is `min ½ xᵀ Γ x + (Γ u)ᵀ x` over `x ≥ 0`, solved
/// exactly by `NonNegativeQuadraticProgram` (Lawson–Hanson active set; relative gradient
/// tolerance `tolerance`). `Γ` should be positive definite for a unique answer — the aggregators
/// add `εI` — but a singular `Γ` still gives a valid `v ≥ u`.
public struct DualConeProjection: Sendable {
  /// The Gramian `Γ` of the rows.
  public var gramian: Matrix
  /// The relative gradient tolerance of the active-set stopping rule.
  public var tolerance: Double

  /// Creates the projection onto the dual cone of the rows whose Gramian is `gramian`.
  ///
  /// - Parameters:
  ///   - gramian: `Γ`, `K × K`, symmetric positive semi-definite, finite.
  ///   - tolerance: the relative gradient tolerance, in `(0, 1e-3]`.
  /// - Precondition: `gramian` is square and finite, `0 < tolerance ≤ 1e-3`.
  public init(gramian: Matrix, tolerance: Double = 1e-12) {
    precondition(
      gramian.rows == gramian.columns,
      "DualConeProjection: the Gramian is \(gramian.rows)×\(gramian.columns), not square")
    precondition(gramian.isFinite, "DualConeProjection: the Gramian holds NaN or infinite values")
    precondition(
      tolerance > 0 && tolerance <= 1e-3,
      "DualConeProjection: tolerance \(tolerance) not in (0, 1e-3]")
    self.gramian = gramian
    self.tolerance = tolerance
  }

  /// The weights `v*` with `v*ᵀ J` the projection of `uᵀ J` onto the dual cone.
  ///
  /// - Parameter u: the weights of the vector to project, one per row.
  /// - Returns: `v* ≥ u`, with `Γ v* ≥ 0` (the projection conflicts with no row) and
  ///   `(Γ v*)ᵢ = 0` where `v*ᵢ > uᵢ`, to the solver's tolerance.
  /// - Precondition: `u.count == K` and every entry is finite.
  /// - Complexity: O(K³) per active-set step.
  public func weights(projecting u: [Double]) -> [Double] {
    precondition(
      u.count == gramian.rows,
      "DualConeProjection: \(u.count) weights for a \(gramian.rows)×\(gramian.rows) Gramian")
    precondition(u.allSatisfy(\.isFinite), "DualConeProjection: u holds NaN or infinite values")
    let program = NonNegativeQuadraticProgram(
      quadratic: gramian, linear: matmul(gramian, Matrix(column: u)).scalars)
    let x = program.minimizer(tolerance: tolerance)
    return zip(u, x).map { $0 + $1 }
  }
}

extension DualConeProjection {
  /// TorchJD's setting for UPGrad and DualProj: the projection for `Γ / tr(Γ) + εI` (the
  /// normalised Gramian taken as zero when `tr(Γ) < normEpsilon`), and the preference `p`
  /// (`1/K` each when `nil`).
  ///
  /// - Precondition: a given preference has one entry per row of `gramian`.
  static func regularized(
    gramian: Matrix, preference: [Double]?, normEpsilon: Double, regularization: Double,
    method: String
  ) -> (projection: DualConeProjection, preference: [Double]) {
    let k = gramian.rows
    let p = preference ?? [Double](repeating: 1 / Double(k), count: k)
    precondition(p.count == k, "\(method): \(p.count) preference weights for \(k) tasks")
    var normalized = gramian.traceNormalizedGramian(threshold: normEpsilon)
    normalized.addToDiagonal(regularization)
    return (DualConeProjection(gramian: normalized), p)
  }
}
