import Tensors

/// Linear scalarization (LS): every task loss with weight 1, so the step follows
/// `∇ Σ_k L_k`.
public struct LinearScalarization: LossWeighting {
  public init() {}

  public var name: String { "LS" }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    [Double](repeating: 1, count: losses.count)
  }
}
