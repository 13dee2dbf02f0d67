import Tensors

/// Dynamic weight average (DWA): weights from how fast each task's epoch loss fell.
///
/// ```
/// r_k = L̄_k(t−1) / L̄_k(t−2),   w_k = K · exp(r_k / T) / Σ_j exp(r_j / T)
/// ```
/// where `L̄_k(t)` is task `k`'s mean training loss over epoch `t`; the first two epochs use
/// `w_k = 1`. Liu, Johns, Davison, *End-to-End Multi-Task Learning with Attention*, CVPR 2019.
public struct DynamicWeightAverage: LossWeighting {
  /// The temperature `T`; larger is closer to equal weights.
  public var temperature: Double
  /// The mean losses of the last two finished epochs, oldest first.
  private var history: [[Double]] = []
  /// The weights of the current epoch.
  private var current: [Double]? = nil

  public init(temperature: Double = 2) {
    precondition(
      temperature > 0 && temperature.isFinite,
      "DynamicWeightAverage: temperature must be positive (got \(temperature))")
    self.temperature = temperature
  }

  public var name: String { "DWA" }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    if let current, current.count == losses.count { return current }
    return [Double](repeating: 1, count: losses.count)
  }

  public mutating func epochFinished(meanLosses: [Double]) {
    history.append(meanLosses)
    if history.count > 2 { history.removeFirst() }
    guard history.count == 2 else { return }
    let ratios = zip(history[1], history[0]).map { latest, earlier in
      earlier > 0 && earlier.isFinite && latest.isFinite ? latest / earlier : 1
    }
    let k = Double(ratios.count)
    current = softmax(ratios.map { $0 / temperature }).map { k * $0 }
  }
}
