import CKernels
import Foundation
import Tensors

/// Combines task gradients per datum and per dimension, weighting each by its precision.
///
/// BayesAgg-MTL's rule (Achituve et al., ICML 2024, eq. 6), divided by the batch size as in
/// the reference:
/// ```
/// g[b, j] = (Σ_t μ[b,t,j] / v[b,t,j]) / (Σ_t 1 / v[b,t,j]) / B,   v = max(σ², floor)^α
/// ```
/// with α taken per group; Monte-Carlo moments get their weights in `Float` arithmetic
/// (`TaskMoments.isMonteCarloEstimate`). A task absent for a datum (missing label) has zero
/// precision; a datum with no task present gets `g[b, :] = 0`. As α → 0 every `v` is 1 and `g`
/// is the plain mean of the task gradients over `B`.
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
    let row = tasks * d
    guard row > 0, batch > 0 else { continue }
    group.mean.scalars.withUnsafeBufferPointer { mean in
      group.variance.scalars.withUnsafeBufferPointer { variance in
        numerator.scalars.withUnsafeMutableBufferPointer { top in
          denominator.scalars.withUnsafeMutableBufferPointer { bottom in
            let (pm, pv) = (mean.baseAddress!, variance.baseAddress!)
            let (pt, pb) = (top.baseAddress!, bottom.baseAddress!)
            // Each datum's sums are its own, in task order on every path: the split over the
            // cores changes no bits.
            Parallel.forEachChunk(count: batch, costPerItem: row * 4) { range in
              var precisions = [Double](repeating: 0, count: row)
              precisions.withUnsafeMutableBufferPointer { precisions in
                let p = precisions.baseAddress!
                for b in range {
                  inversePowers(
                    pv + b * row, into: p, count: row, floor: varianceFloor, power,
                    inFloat: group.isMonteCarloEstimate)
                  let (sum, weight) = (pt + b * d, pb + b * d)
                  for t in 0..<tasks where group.isPresent(b, task: t) {
                    let (mu, precision) = (pm + b * row + t * d, p + t * d)
                    for j in 0..<d {
                      sum[j] += precision[j] * mu[j]
                      weight[j] += precision[j]
                    }
                  }
                }
              }
            }
          }
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

/// `precision[i] = 1 / max(variance[i], floor)^α` for `i < count`.
///
/// α = ½ and α = 1 use `√v` and `v`, both correctly rounded, and α = 0 gives 1; any other α
/// goes through the vectorised `bayesagg_inverse_powers`, within 2 ulp of `1 / pow(v, α)`, or
/// with `inFloat` (Monte-Carlo moments) through `bayesagg_inverse_powers_float`, in less than
/// half the time.
private func inversePowers(
  _ variance: UnsafePointer<Double>, into precision: UnsafeMutablePointer<Double>, count: Int,
  floor: Double, _ power: Double, inFloat: Bool
) {
  switch power {
  case 0: precision.update(repeating: 1, count: count)
  case 0.5: for i in 0..<count { precision[i] = 1 / max(variance[i], floor).squareRoot() }
  case 1: for i in 0..<count { precision[i] = 1 / max(variance[i], floor) }
  default:
    if inFloat {
      bayesagg_inverse_powers_float(variance, precision, count, floor, power)
    } else {
      bayesagg_inverse_powers(variance, precision, count, floor, power)
    }
  }
}
