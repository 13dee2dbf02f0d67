/// A learning-rate schedule that multiplies the rate by `factor` at each milestone epoch, as
/// `torch.optim.lr_scheduler.MultiStepLR` does.
public struct MultiStepSchedule: Sendable, Equatable {
  /// Epochs (0-based, counted from the start) at whose start the rate drops.
  public var milestones: [Int]
  public var factor: Float

  public init(milestones: [Int], factor: Float = 0.1) {
    self.milestones = milestones.sorted()
    self.factor = factor
  }

  /// The seed's schedule: ×0.1 at 60% and 80% of the epochs.
  public static func seedDefault(epochs: Int) -> MultiStepSchedule {
    MultiStepSchedule(milestones: [Int(0.6 * Double(epochs)), Int(0.8 * Double(epochs))])
  }

  /// The factor applied to the initial rate during `epoch`.
  public func learningRateFactor(atEpoch epoch: Int) -> Float {
    milestones.reduce(1) { rate, milestone in epoch >= milestone ? rate * factor : rate }
  }
}
