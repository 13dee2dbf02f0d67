import Tensors

/// A Gaussian `N(mean, precision⁻¹)` over a head's parameters, with the precision's
/// Cholesky factor kept for solves and sampling.
public struct GaussianPosterior: Sendable {
  /// The mean, length `n`.
  public var mean: [Double]
  /// The precision `Λ`, `n × n`.
  public var precision: Matrix
  /// The Cholesky factor of `Λ` (with any jitter that was needed).
  public var factor: CholeskyFactor

  /// Creates the posterior, factorising `precision`.
  ///
  /// - Throws: `LinearAlgebraError` if `precision` does not factorise even with jitter.
  init(mean: [Double], precision: Matrix, name: String) throws {
    self.mean = mean
    self.precision = precision
    self.factor = try precision.cholesky(name: name)
  }

  /// The covariance `Λ⁻¹`.
  ///
  /// - Complexity: O(n³).
  public func covariance() -> Matrix { factor.inverse() }
}

/// The posterior of one task group's head.
public enum GroupPosterior: Sendable {
  /// Exact Bayesian linear regression, weights only.
  case regression(RegressionPosterior)
  /// One independent posterior over `[w_o, b_o]` per binary output.
  case binary([GaussianPosterior])
  /// One posterior over the `K(d + 1)` parameters `[W | b]`, flattened row-major.
  case multiclass(GaussianPosterior)
}
