import Tensors

/// The minimum-norm point of the convex hull of the rows of a Jacobian, from their Gramian.
///
/// ```
/// w* = argmin  wᵀ Γ w   over the simplex  { w ≥ 0, Σₖ wₖ = 1 },   Γ = J Jᵀ
/// ```
///
/// `w*ᵀ J` is the shortest vector in the convex hull of the rows: the common descent direction of
/// the multiple-gradient descent algorithm (Désidéri, *Comptes Rendus Mathématique* 2012; Sener
/// and Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018). The point is
/// unique; the weights are unique only when the rows that carry it are affinely independent.
///
/// Method. `Γ` is first divided by its largest diagonal entry (the weights do not change). For
/// `K = 2` the minimiser on the segment is closed form. For `K > 2` the simplex problem becomes a
/// non-negative one: if `ν = w*ᵀ Γ w*`, the minimiser of `xᵀ Γ x + (Σₖ xₖ − 1)²` over `x ≥ 0` is
/// `x̂ = w* / (1 + ν)` (write `x = t w` with `w` in the simplex and minimise over `t`). So
/// `w* = x̂ / Σₖ x̂ₖ`, and `x̂` is found exactly by `NonNegativeQuadraticProgram` with
/// `M = Γ + 11ᵀ`, `q = −1`. Its stopping rule (relative gradient tolerance `tolerance`) is the
/// only tolerance.
///
/// Degenerate input is handled: an all-zero Gramian gives uniform weights; identical or opposite
/// rows, zero rows and a singular Gramian give valid simplex weights and never NaN.
public struct MinNormSolver: Sendable {
  /// The relative gradient tolerance of the active-set stopping rule.
  public var tolerance: Double

  /// Creates a solver.
  ///
  /// - Parameter tolerance: the active-set method's relative gradient tolerance, in `(0, 1e-3]`.
  /// - Precondition: `0 < tolerance ≤ 1e-3`.
  public init(tolerance: Double = 1e-12) {
    precondition(
      tolerance > 0 && tolerance <= 1e-3, "MinNormSolver: tolerance \(tolerance) not in (0, 1e-3]")
    self.tolerance = tolerance
  }

  /// The weights `w*` of the minimum-norm point of the hull of the rows whose Gramian is given.
  ///
  /// - Parameter gramian: `Γ = J Jᵀ`, `K × K`, symmetric positive semi-definite, finite, `K ≥ 1`.
  /// - Returns: `K` weights, each `≥ 0`, summing to 1 (to rounding).
  /// - Precondition: `gramian` is square, non-empty and finite.
  /// - Complexity: O(K³) per active-set step; a handful of steps per row that carries the point.
  public func weights(gramian: Matrix) -> [Double] {
    let k = gramian.rows
    precondition(
      k >= 1 && gramian.columns == k,
      "MinNormSolver: the Gramian is \(gramian.rows)×\(gramian.columns), not square and non-empty")
    precondition(gramian.isFinite, "MinNormSolver: the Gramian holds NaN or infinite values")
    let uniform = [Double](repeating: 1 / Double(k), count: k)
    guard k > 1 else { return [1] }
    let largest = gramian.diagonal.max() ?? 0
    guard largest > 0 else { return uniform }
    let normalized = gramian.map { $0 / largest }

    if k == 2 { return segmentWeights(normalized) }
    let lifted = normalized.map { $0 + 1 }
    let program = NonNegativeQuadraticProgram(
      quadratic: lifted, linear: [Double](repeating: -1, count: k))
    let x = program.minimizer(tolerance: tolerance)
    let total = x.reduce(0, +)
    guard total > 0, total.isFinite else { return uniform }
    return x.map { $0 / total }
  }

  /// The closed form for two rows: `w₁ = clamp((Γ₂₂ − Γ₁₂) / (Γ₁₁ + Γ₂₂ − 2Γ₁₂), 0, 1)`.
  ///
  /// Identical rows (`Γ₁₁ + Γ₂₂ − 2Γ₁₂ ≤ 0`, the squared distance between them) give `[½, ½]`.
  func segmentWeights(_ gramian: Matrix) -> [Double] {
    let (a, b, c) = (gramian[0, 0], gramian[0, 1], gramian[1, 1])
    let squaredDistance = a + c - 2 * b
    guard squaredDistance > 0 else { return [0.5, 0.5] }
    let first = Swift.min(Swift.max((c - b) / squaredDistance, 0), 1)
    return [first, 1 - first]
  }
}
