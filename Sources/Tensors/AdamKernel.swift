import CKernels

/// One Adam step (Kingma and Ba, ICLR 2015) on a parameter, in place, with L2 weight decay added
/// to the gradient as `torch.optim.Adam` applies it:
/// ```
/// g ← ∇ + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
/// θ ← θ − stepSize · m / (√v / secondMomentCorrection + ε)
/// ```
/// with `stepSize = lr / (1 − β₁ᵗ)` and `secondMomentCorrection = √(1 − β₂ᵗ)`. The four arrays
/// are streamed once by a C kernel on the widest vectors the processor has, split over the cores
/// for large parameters; each element's arithmetic is the same on every path.
///
/// - Precondition: `parameter`, `gradient` and both moments have the same length.
/// - Complexity: O(n).
public func adamUpdate(
  _ parameter: inout [Float], gradient: [Float], firstMoment: inout [Float],
  secondMoment: inout [Float], stepSize: Float, secondMomentCorrection: Float,
  weightDecay: Float, beta1: Float, beta2: Float, epsilon: Float
) {
  let count = parameter.count
  precondition(
    gradient.count == count && firstMoment.count == count && secondMoment.count == count,
    "adamUpdate: parameter \(count), gradient \(gradient.count), moments \(firstMoment.count) "
      + "and \(secondMoment.count)")
  guard count > 0 else { return }
  let (decay, b1, b2, eps) = (weightDecay, beta1, beta2, epsilon)
  parameter.withUnsafeMutableBufferPointer { theta in
    gradient.withUnsafeBufferPointer { grad in
      firstMoment.withUnsafeMutableBufferPointer { first in
        secondMoment.withUnsafeMutableBufferPointer { second in
          let (pt, pg, pm, pv) = (
            theta.baseAddress!, grad.baseAddress!, first.baseAddress!, second.baseAddress!
          )
          Parallel.forEachChunk(count: count, costPerItem: 4) { range in
            bayesagg_adam(
              pt + range.lowerBound, pg + range.lowerBound, pm + range.lowerBound,
              pv + range.lowerBound, range.count, stepSize, secondMomentCorrection, decay, b1,
              b2, eps)
          }
        }
      }
    }
  }
}
