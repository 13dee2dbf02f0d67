import Tensors

/// Conflict-averse gradient descent: the update that maximises the worst task improvement within
/// a ball around the mean gradient.
///
/// ```
/// d = g₀ + (√φ / ‖g_w‖) g_w,   w = argmin_{w ∈ simplex} g_wᵀ g₀ + √φ ‖g_w‖,
/// g_w = wᵀ J,   g₀ = (1/K) 1ᵀ J,   √φ = c ‖g₀‖
/// ```
///
/// Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
/// NeurIPS 2021 (Algorithm 1), as implemented by TorchJD 0.18: the weights are found from the
/// Gramian divided by its trace (so they do not depend on the scale of `J`), and applied to `J`;
/// when `‖g_w‖ < normEpsilon` in those normalised units (the tasks are nearly Pareto-stationary)
/// or `‖J‖²_F < normEpsilon`, the weights and the result are zero. With one task the result is
/// `(1 + c) g`; with `c = 0` it is the mean.
///
/// Method. TorchJD calls a conic solver; here the problem is solved exactly along one dimension.
/// Since `‖g_w‖ = min_{s > 0} (‖g_w‖² / s + s) / 2`, for fixed `s` the weights minimise
/// `‖g_w + β g₀‖²` over the simplex with `β = s / √φ`: the minimum-norm point of the rows
/// translated by `β g₀`, found by `MinNormSolver`. The optimal `s` is the `‖g_w‖` it produces,
/// and `‖g_w(s)‖ / s` decreases with `s`, so bisection on `s ∈ [normEpsilon, max ‖gₖ‖]` finds it
/// to a relative width of `1e-14`.
public struct CAGrad: GramianWeighting {
  public var name: String { "CAGrad" }
  /// The radius of the ball around the mean gradient, relative to its norm.
  public var c: Double
  /// The norm below which the Gramian, or `g_w`, counts as zero.
  public var normEpsilon: Double
  /// The solver of the inner simplex programs.
  public var solver: MinNormSolver

  /// Creates the aggregator with TorchJD's defaults.
  ///
  /// - Parameters:
  ///   - c: the relative radius (`0.4`, the paper's choice for most benchmarks).
  ///   - normEpsilon: the threshold of the normalisation and of `‖g_w‖` (`1e-4`).
  ///   - solver: the minimum-norm solver of the inner programs.
  /// - Precondition: `c ≥ 0` and `normEpsilon > 0`.
  public init(c: Double = 0.4, normEpsilon: Double = 1e-4, solver: MinNormSolver = MinNormSolver())
  {
    precondition(c >= 0 && c.isFinite, "CAGrad: c \(c) is not a non-negative number")
    precondition(normEpsilon > 0, "CAGrad: normEpsilon \(normEpsilon) is not positive")
    self.c = c
    self.normEpsilon = normEpsilon
    self.solver = solver
  }

  /// The weights `1/K + (√φ / ‖g_w‖) w`, in the normalised units of TorchJD, or zeros.
  ///
  /// - Complexity: about 50 minimum-norm solves (bisection), each O(K³) per active-set step.
  public func weights(gramian: Matrix) -> [Double] {
    let k = gramian.rows
    let zero = [Double](repeating: 0, count: k)
    let uniform = [Double](repeating: 1 / Double(k), count: k)
    let normalized = gramian.traceNormalizedGramian(threshold: normEpsilon)
    guard normalized.diagonal.contains(where: { $0 > 0 }) else { return zero }
    let meanProducts = matmul(normalized, Matrix(column: uniform)).scalars  // Γ u = J g₀
    let squaredMeanNorm = Swift.max(zip(uniform, meanProducts).map { $0 * $1 }.reduce(0, +), 0)
    let radius = c * squaredMeanNorm.squareRoot()  // √φ
    // With c = 0, or a zero mean gradient (then the mean is zero too), the update is the mean.
    guard radius > 0 else { return uniform }

    // The minimum-norm weights of the rows translated by β g₀ = (s / √φ) g₀, and ‖g_w‖.
    func inner(_ s: Double) -> (weights: [Double], norm: Double) {
      let beta = s / radius
      var translated = normalized
      for i in 0..<k {
        for j in 0..<k {
          translated[i, j] +=
            beta * (meanProducts[i] + meanProducts[j]) + beta * beta * squaredMeanNorm
        }
      }
      let w = solver.weights(gramian: translated)
      let product = matmul(normalized, Matrix(column: w)).scalars
      let squaredNorm = zip(w, product).map { $0 * $1 }.reduce(0, +)
      return (w, Swift.max(squaredNorm, 0).squareRoot())
    }

    // ‖g_w(s)‖ − s changes sign once; below normEpsilon the answer is zero.
    var low = normEpsilon
    var high = normalized.diagonal.reduce(0) { Swift.max($0, $1) }.squareRoot()
    guard inner(low).norm > low else { return zero }
    var best = inner(high)
    for _ in 0..<200 where high - low > 1e-14 * high {
      let middle = 0.5 * (low + high)
      let candidate = inner(middle)
      if candidate.norm > middle { low = middle } else { high = middle }
      best = candidate
    }
    guard best.norm >= normEpsilon else { return zero }
    return zip(uniform, best.weights).map { $0 + radius / best.norm * $1 }
  }
}
