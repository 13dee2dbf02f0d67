import Autodiff
import Tensors

/// The worst disagreement between a backward pass and central differences.
public struct GradientCheckReport: CustomStringConvertible {
  /// The largest `|analytic − numeric| / max(1, |numeric|)` over all checked elements.
  public var worstError: Double
  /// Which input and element it was, and the two values.
  public var worstPlace: String
  /// How many elements were checked.
  public var checkedElements: Int

  public var description: String {
    "worst error \(worstError) at \(worstPlace) over \(checkedElements) elements"
  }
}

/// Compares the gradients of `function` from a backward pass with central differences.
///
/// The output is reduced to a scalar with fixed random weights, `L(x) = Σ_i wᵢ fᵢ(x)`, so that
/// every output element takes part; the backward pass is seeded with `w`. Each input element is
/// moved by `±ε` and `(L(x + ε) − L(x − ε)) / 2ε` is accumulated in `Double`.
///
/// Every pass runs with OpenBLAS held to one thread (`BLASThreads.holdingOne`). OpenBLAS's
/// thread count is process-wide, and tests running beside this one change it; a GEMM split over
/// a different number of threads can round differently, and a difference of one rounding in `L`
/// divided by `2ε` is a visible error in the numeric derivative.
///
/// - Parameters:
///   - function: builds the output from leaf variables made from `inputs`.
///   - inputs: the point at which to check.
///   - epsilon: the finite-difference step; Float arithmetic wants about 1e-2 to 1e-3.
///   - maxElementsPerInput: at most this many elements of each input are checked (evenly spread).
/// - Complexity: two forward passes per checked element.
public func checkGradients(
  of function: ([Variable]) -> Variable, at inputs: [Tensor], epsilon: Float = 1e-2,
  maxElementsPerInput: Int = 64, seed: UInt64 = 1
) -> GradientCheckReport {
  BLASThreads.holdingOne {
    checkGradientsOnOneThread(
      of: function, at: inputs, epsilon: epsilon, maxElementsPerInput: maxElementsPerInput,
      seed: seed)
  }
}

private func checkGradientsOnOneThread(
  of function: ([Variable]) -> Variable, at inputs: [Tensor], epsilon: Float,
  maxElementsPerInput: Int, seed: UInt64
) -> GradientCheckReport {
  var generator = RandomGenerator(seed: seed)
  let leaves = inputs.map { Variable($0, requiresGradient: true) }
  let output = function(leaves)
  let weights = Tensor.randomUniform(
    shape: output.shape, lower: 0.5, upper: 1.5, using: &generator)
  output.backward(seed: weights)

  func weightedValue(_ point: [Tensor]) -> Double {
    let value = function(point.map { Variable($0) }).value
    var total = 0.0
    for i in 0..<value.count { total += Double(value.scalars[i]) * Double(weights.scalars[i]) }
    return total
  }

  var report = GradientCheckReport(worstError: 0, worstPlace: "nowhere", checkedElements: 0)
  for (k, input) in inputs.enumerated() {
    let analytic = leaves[k].gradient ?? Tensor(zeros: input.shape)
    let step = max(1, input.count / maxElementsPerInput)
    for i in stride(from: 0, to: input.count, by: step) {
      var plus = inputs
      var minus = inputs
      plus[k].scalars[i] += epsilon
      minus[k].scalars[i] -= epsilon
      let numeric = (weightedValue(plus) - weightedValue(minus)) / (2 * Double(epsilon))
      let error = abs(Double(analytic.scalars[i]) - numeric) / max(1, abs(numeric))
      report.checkedElements += 1
      if error > report.worstError || error.isNaN {
        report.worstError = error.isNaN ? .infinity : error
        report.worstPlace =
          "input \(k) element \(i): analytic \(analytic.scalars[i]), "
          + "numeric \(numeric)"
      }
    }
  }
  return report
}
