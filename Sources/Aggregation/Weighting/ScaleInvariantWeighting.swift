import Tensors

/// Scale-invariant loss (SI): minimises `Σ_k log L_k`, whose gradient is `Σ_k ∇L_k / L_k`, so
/// multiplying one task's loss by a constant leaves the step unchanged.
///
/// Navon et al., *Multi-Task Learning as a Bargaining Game*, ICML 2022 (as a baseline).
/// A loss at or below `floor` (an exactly fitted batch) is treated as `floor`, so the weight
/// stays finite.
public struct ScaleInvariantWeighting: LossWeighting {
  /// The smallest loss the weight `1/L` is computed from.
  public var floor: Double

  public init(floor: Double = 1e-8) {
    precondition(floor > 0, "ScaleInvariantWeighting: floor must be positive (got \(floor))")
    self.floor = floor
  }

  public var name: String { "SI" }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    losses.map { 1 / Swift.max($0, floor) }
  }
}
