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
    @inline(__always) func precisionOf(_ v: Double) -> Double {
      power == 0.5 ? 1 / v.squareRoot() : power == 1 ? 1 / v : power == 0 ? 1 : 1 / pow(v, power)
    }
    group.mean.scalars.withUnsafeBufferPointer { mean in
      group.variance.scalars.withUnsafeBufferPointer { variance in
        numerator.scalars.withUnsafeMutableBufferPointer { top in
          denominator.scalars.withUnsafeMutableBufferPointer { bottom in
            let (pm, pv) = (mean.baseAddress!, variance.baseAddress!)
            let (pt, pb) = (top.baseAddress!, bottom.baseAddress!)
            // Each datum's sums are its own, in task order on every path: the split over the
            // cores (for the `pow` calls of a general α) changes no bits.
            Parallel.forEachChunk(count: batch, costPerItem: tasks * d * 16) { range in
              for b in range {
                let (sum, weight) = (pt + b * d, pb + b * d)
                for t in 0..<tasks where group.isPresent(b, task: t) {
                  let base = b * tasks * d + t * d
                  let (mu, sigma2) = (pm + base, pv + base)
                  for j in 0..<d {
                    let precision = precisionOf(max(sigma2[j], varianceFloor))
                    sum[j] += precision * mu[j]
                    weight[j] += precision
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
