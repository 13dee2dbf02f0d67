import Foundation
import Tensors

/// Fast adaptive multitask optimisation (FAMO): balances the rates at which the task losses
/// fall, at the cost of one extra forward pass per step.
///
/// With logits `ξ` (start 0), `z = softmax(ξ)` and `D_k = L_k − m_k + ε` (`m_k = 0` the known
/// lower bound), the network follows the gradient of `Σ_k z_k log D_k / c` with
/// `c = Σ_k z_k / D_k`, i.e. weights `w_k = z_k / (c D_k)`. After the step the same batch's losses
/// `D'` give the improvement `δ_k = log D_k − log D'_k`, and `ξ` takes an Adam step (learning
/// rate 0.025, L2 decay γ = 0.001) along `∂(zᵀδ)/∂ξ = z ⊙ (δ − zᵀδ)`.
/// Liu, Liu, Stone, Liu, *FAMO: Fast Adaptive Multitask Optimization*, NeurIPS 2023.
public struct FAMO: LossWeighting {
  /// The task logits `ξ`.
  public private(set) var logits: [Double] = []
  private var optimizer: VectorAdam
  private let epsilon = 1e-8

  /// - Parameters:
  ///   - learningRate: Adam's step for the logits (0.025 in the paper).
  ///   - decay: the L2 decay γ of the logits (0.001).
  public init(learningRate: Double = 0.025, decay: Double = 1e-3) {
    precondition(learningRate > 0, "FAMO: learningRate must be positive (got \(learningRate))")
    precondition(decay >= 0, "FAMO: decay must be ≥ 0 (got \(decay))")
    optimizer = VectorAdam(learningRate: learningRate, weightDecay: decay)
  }

  public var name: String { "FAMO" }
  public var needsLossesAfterStep: Bool { true }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    if logits.count != losses.count { logits = [Double](repeating: 0, count: losses.count) }
    let z = softmax(logits)
    let d = losses.map { Swift.max($0, 0) + epsilon }
    let c = zip(z, d).reduce(0) { $0 + $1.0 / $1.1 }
    return zip(z, d).map { $0 / (c * $1) }
  }

  public mutating func stepFinished(before: [Double], after: [Double]?) {
    guard let after, logits.count == before.count, after.count == before.count else { return }
    let delta = zip(before, after).map { old, new in
      log(Swift.max(old, 0) + epsilon) - log(Swift.max(new, 0) + epsilon)
    }
    guard delta.allSatisfy(\.isFinite) else { return }
    let z = softmax(logits)
    let mean = zip(z, delta).reduce(0) { $0 + $1.0 * $1.1 }
    let gradient = zip(z, delta).map { $0 * ($1 - mean) }
    optimizer.step(&logits, gradient: gradient)
  }
}
