import Tensors

/// A rule that trains on a weighted sum of the task losses, `Σ_k w_k L_k`, choosing the weights
/// from the loss values alone.
///
/// The trainer calls `weights(for:using:)` before each backward pass, `stepFinished` after the
/// optimiser step (with the losses of the same batch at the new parameters when
/// `needsLossesAfterStep` is true, as FAMO needs), and `epochFinished` with the epoch's mean
/// losses (as DWA needs).
public protocol LossWeighting: Sendable {
  /// The name used in tables and on the command line.
  var name: String { get }
  /// Whether `stepFinished` needs the batch's losses recomputed after the step.
  var needsLossesAfterStep: Bool { get }

  /// The `K` weights for this step's losses.
  ///
  /// - Parameter losses: the `K` task losses of the batch, finite.
  mutating func weights(for losses: [Double], using generator: inout RandomGenerator) -> [Double]

  /// Learns from the step just taken: `before` are the losses the weights were chosen for,
  /// `after` the same batch's losses at the new parameters (or `nil`).
  mutating func stepFinished(before: [Double], after: [Double]?)

  /// Learns from a finished epoch's mean training losses.
  mutating func epochFinished(meanLosses: [Double])

  /// Follows the model's learning-rate schedule, for rules whose own parameters share it.
  mutating func setLearningRateFactor(_ factor: Double)
}

extension LossWeighting {
  public var needsLossesAfterStep: Bool { false }
  public mutating func stepFinished(before: [Double], after: [Double]?) {}
  public mutating func epochFinished(meanLosses: [Double]) {}
  public mutating func setLearningRateFactor(_ factor: Double) {}
}
