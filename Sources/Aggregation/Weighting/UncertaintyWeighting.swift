import Foundation
import Tensors

/// Uncertainty weighting (UW): each task has a learned log-variance `s_k`, and the objective is
///
/// ```
/// Σ_k ( ½ exp(−s_k) L_k + ½ s_k ),
/// ```
/// so the network sees weights `½ exp(−s_k)` and `s_k` follows its gradient
/// `½ − ½ exp(−s_k) L_k` (its optimum for a fixed loss is `s_k = log L_k`). The log-variances
/// start at 0 and are updated by Adam at the model's learning rate after each step.
/// Kendall, Gal, Cipolla, *Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
/// Geometry and Semantics*, CVPR 2018.
public struct UncertaintyWeighting: LossWeighting {
  /// The learned log-variances `s_k`.
  public private(set) var logVariances: [Double] = []
  private var optimizer: VectorAdam

  /// - Parameter learningRate: Adam's step for the log-variances (the model's by default).
  public init(learningRate: Double) {
    optimizer = VectorAdam(learningRate: learningRate)
  }

  public var name: String { "UW" }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    if logVariances.count != losses.count {
      logVariances = [Double](repeating: 0, count: losses.count)
    }
    return logVariances.map { 0.5 * exp(-$0) }
  }

  /// Scales the learning rate (the trainer's schedule).
  public mutating func setLearningRateFactor(_ factor: Double) {
    optimizer.factor = factor
  }

  public mutating func stepFinished(before: [Double], after: [Double]?) {
    guard logVariances.count == before.count else { return }
    let gradient = zip(logVariances, before).map { s, loss in 0.5 - 0.5 * exp(-s) * loss }
    optimizer.step(&logVariances, gradient: gradient)
  }
}

/// Adam over a small vector of Double parameters, with torch's L2 weight decay (added to the
/// gradient): the optimiser of the loss-weighting rules' own parameters.
/// Kingma and Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
struct VectorAdam: Sendable {
  var learningRate: Double
  var factor = 1.0
  var weightDecay: Double
  var beta1 = 0.9
  var beta2 = 0.999
  var epsilon = 1e-8
  private var m: [Double] = []
  private var v: [Double] = []
  private var steps = 0

  init(learningRate: Double, weightDecay: Double = 0) {
    self.learningRate = learningRate
    self.weightDecay = weightDecay
  }

  mutating func step(_ x: inout [Double], gradient: [Double]) {
    precondition(gradient.count == x.count, "VectorAdam: \(gradient.count) for \(x.count)")
    if m.count != x.count {
      m = [Double](repeating: 0, count: x.count)
      v = m
      steps = 0
    }
    steps += 1
    let correction1 = 1 - pow(beta1, Double(steps))
    let correction2 = 1 - pow(beta2, Double(steps))
    for i in x.indices {
      let g = gradient[i] + weightDecay * x[i]
      m[i] = beta1 * m[i] + (1 - beta1) * g
      v[i] = beta2 * v[i] + (1 - beta2) * g * g
      let denominator = (v[i] / correction2).squareRoot() + epsilon
      x[i] -= learningRate * factor * (m[i] / correction1) / denominator
    }
  }
}
