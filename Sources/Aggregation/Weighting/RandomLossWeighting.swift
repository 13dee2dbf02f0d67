import Foundation
import Tensors

/// Random loss weighting (RLW): each step draws `z ~ N(0, I_K)` and weights the losses by
/// `softmax(z)`.
///
/// Lin, Ye, Xu, Shi, Zhang, *Reasonable Effectiveness of Random Weighting: A Litmus Test for
/// Multi-Task Learning*, TMLR 2022. The draws come from the run's generator, so a seed repeats
/// them.
public struct RandomLossWeighting: LossWeighting {
  public init() {}

  public var name: String { "RLW" }

  public mutating func weights(for losses: [Double], using generator: inout RandomGenerator)
    -> [Double]
  {
    softmax((0..<losses.count).map { _ in generator.nextNormal() })
  }
}

/// `softmax(x)_k = exp(x_k − max x) / Σ_j exp(x_j − max x)`.
func softmax(_ x: [Double]) -> [Double] {
  guard let largest = x.max() else { return [] }
  let e = x.map { Foundation.exp($0 - largest) }
  let total = e.reduce(0, +)
  return e.map { $0 / total }
}
