import Tensors

/// The mean task gradient projected onto the dual cone of all of them.
///
/// ```
/// DualProj(J) = π_J(pᵀ J),   π_J(y) = argmin_{x : J x ≥ 0} ‖x − y‖
/// ```
///
/// The projection of Lopez-Paz and Ranzato ("Gradient Episodic Memory for Continual Learning",
/// NeurIPS 2017, Equation 11) applied to the mean, as implemented by TorchJD 0.18 (Quinton and
/// Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv:2406.16232, 2024) with its
/// defaults: preference `p = 1/K`, the Gramian divided by its trace (or zeroed when the trace is
/// below `normEpsilon`) and `regularization · I` added before `DualConeProjection` finds the
/// weights. The result conflicts with no task gradient, and it scales with `J` as long as
/// `‖J‖²_F ≥ normEpsilon`.
public struct DualProj: GramianWeighting {
  public var name: String { "DualProj" }
  /// The preference `p`, one weight per task; `nil` means `1/K` each.
  public var preference: [Double]?
  /// The trace below which the Gramian counts as zero.
  public var normEpsilon: Double
  /// The multiple of the identity added to the normalised Gramian.
  public var regularization: Double

  /// Creates the aggregator with TorchJD's defaults.
  ///
  /// - Parameters:
  ///   - preference: the weights of the combination to project; `nil` for the mean.
  ///   - normEpsilon: the trace below which the Gramian is treated as zero (`1e-4`).
  ///   - regularization: `ε` in `Γ / tr(Γ) + εI` (`1e-4`).
  /// - Precondition: `normEpsilon ≥ 0`, `regularization > 0`, a finite preference.
  public init(
    preference: [Double]? = nil, normEpsilon: Double = 1e-4, regularization: Double = 1e-4
  ) {
    precondition(normEpsilon >= 0, "DualProj: normEpsilon \(normEpsilon) is negative")
    precondition(regularization > 0, "DualProj: regularization \(regularization) is not positive")
    precondition(
      preference?.allSatisfy(\.isFinite) ?? true, "DualProj: the preference is not finite")
    self.preference = preference
    self.normEpsilon = normEpsilon
    self.regularization = regularization
  }

  /// The dual-cone weights `v ≥ p` of the preferred combination.
  ///
  /// - Precondition: a given preference has one entry per row of `gramian`.
  /// - Complexity: O(K³) per active-set step.
  public func weights(gramian: Matrix) -> [Double] {
    let (projection, p) = DualConeProjection.regularized(
      gramian: gramian, preference: preference, normEpsilon: normEpsilon,
      regularization: regularization, method: name)
    return projection.weights(projecting: p)
  }
}
