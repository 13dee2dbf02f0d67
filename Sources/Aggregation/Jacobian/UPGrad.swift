import Tensors

/// Unconflicting projection of gradients: each task gradient projected onto the dual cone of all
/// of them, then combined.
///
/// ```
/// UPGrad(J) = Σₖ π_J(pₖ gₖ),   π_J(y) = argmin_{x : J x ≥ 0} ‖x − y‖
/// ```
///
/// Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv:2406.16232, 2024,
/// as implemented by TorchJD 0.18 with its defaults: preference `p = 1/K` (the mean), the
/// Gramian divided by its trace (or zeroed when the trace is below `normEpsilon`) and
/// `regularization · I` added before `DualConeProjection` finds the weights. The result conflicts
/// with no task gradient (`gₖ · UPGrad(J) ≥ 0`, up to the regularisation), and it scales with
/// `J` as long as `‖J‖²_F ≥ normEpsilon`; below that the weights are the preference itself.
public struct UPGrad: GramianWeighting {
  public var name: String { "UPGrad" }
  /// The preference `p`, one weight per task; `nil` means `1/K` each.
  public var preference: [Double]?
  /// The trace below which the Gramian counts as zero.
  public var normEpsilon: Double
  /// The multiple of the identity added to the normalised Gramian.
  public var regularization: Double

  /// Creates the aggregator with TorchJD's defaults.
  ///
  /// - Parameters:
  ///   - preference: the weights of the projected rows; `nil` for the mean.
  ///   - normEpsilon: the trace below which the Gramian is treated as zero (`1e-4`).
  ///   - regularization: `ε` in `Γ / tr(Γ) + εI` (`1e-4`).
  /// - Precondition: `normEpsilon ≥ 0`, `regularization > 0`, a finite preference.
  public init(
    preference: [Double]? = nil, normEpsilon: Double = 1e-4, regularization: Double = 1e-4
  ) {
    precondition(normEpsilon >= 0, "UPGrad: normEpsilon \(normEpsilon) is negative")
    precondition(regularization > 0, "UPGrad: regularization \(regularization) is not positive")
    precondition(
      preference?.allSatisfy(\.isFinite) ?? true, "UPGrad: the preference is not finite")
    self.preference = preference
    self.normEpsilon = normEpsilon
    self.regularization = regularization
  }

  /// The weights `Σₖ vₖ`, where `vₖ ≥ pₖ eₖ` are the dual-cone weights of `pₖ gₖ`.
  ///
  /// - Precondition: a given preference has one entry per row of `gramian`.
  /// - Complexity: K projections, each O(K³) per active-set step.
  public func weights(gramian: Matrix) -> [Double] {
    let k = gramian.rows
    let (projection, p) = DualConeProjection.regularized(
      gramian: gramian, preference: preference, normEpsilon: normEpsilon,
      regularization: regularization, method: name)

    var total = [Double](repeating: 0, count: k)
    for task in 0..<k {
      var u = [Double](repeating: 0, count: k)
      u[task] = p[task]
      for (i, v) in projection.weights(projecting: u).enumerated() { total[i] += v }
    }
    return total
  }
}
