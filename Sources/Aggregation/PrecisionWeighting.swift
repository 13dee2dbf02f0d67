import Foundation
import Tensors

/// Combines task gradients per datum and per dimension, weighting each by its precision.
///
/// BayesAgg-MTL's rule (Achituve et al., ICML 2024, eq. 6), divided by the batch size as in
/// the reference:
/// ```
/// g[b, j] = (Σ_t μ[b,t,j] / v[b,t,j]) / (Σ_t 1 / v[b,t,j]) / B,   v = max(σ², floor)^α
/// ```
/// with α taken per group. A task absent for a datum (missing label) has zero precision; a
/// datum with no task present gets `g[b, :] = 0`. As α → 0 every `v` is 1 and `g` is the plain
/// mean of the task gradients over `B`.
/// - Parameters:
///   - moments: Each group's moments, all with the same `B` and `d`.
///   - powers: α for each group.
///   - varianceFloor: The floor applied before the power.
/// - Returns: `g`, `[B, d]`.
/// - Precondition: `powers.count == moments.count`; the moments agree in `B` and `d`.
/// - Complexity: O(B · T · d).
public func precisionWeightedAggregate(
  _ moments: [TaskMoments], powers: [Double], varianceFloor: Double
) -> Matrix {
  precondition(
    powers.count == moments.count,
    "precisionWeightedAggregate: \(powers.count) powers for \(moments.count) groups")
  guard let first = moments.first else { return Matrix(rows: 0, columns: 0) }
  let (batch, d) = (first.batchSize, first.representationSize)
  var numerator = Matrix(rows: batch, columns: d)
  var denominator = numerator
  for (group, power) in zip(moments, powers) {
    precondition(
      group.batchSize == batch && group.representationSize == d,
      "precisionWeightedAggregate: moments [\(group.batchSize), \(group.representationSize)] "
        + "and [\(batch), \(d)] differ")
    let tasks = group.taskCount
    // pow(v, ½) and pow(v, 1) are √v and v, both correctly rounded: no call to `pow` for them.
    let precisionOf: (Double) -> Double =
      switch power {
      case 0: { _ in 1 }
      case 0.5: { 1 / $0.squareRoot() }
      case 1: { 1 / $0 }
      default: { 1 / pow($0, power) }
      }
    for b in 0..<batch {
      for t in 0..<tasks where group.isPresent(b, task: t) {
        let base = b * tasks * d + t * d
        for j in 0..<d {
          let v = max(group.variance.scalars[base + j], varianceFloor)
          let precision = precisionOf(v)
          numerator.scalars[b * d + j] += precision * group.mean.scalars[base + j]
          denominator.scalars[b * d + j] += precision
        }
      }
    }
  }
  let scale = 1 / Double(batch)
  var result = numerator
  for i in result.scalars.indices {
    let weight = denominator.scalars[i]
    result.scalars[i] = weight > 0 ? numerator.scalars[i] / weight * scale : 0
  }
  return result
}
