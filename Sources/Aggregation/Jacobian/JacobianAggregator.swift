import Tensors

/// A rule that combines the rows of a Jacobian — one gradient per task — into one update.
///
/// The Jacobian `J` is `K × D`: row `k` is the gradient of task `k`'s loss with respect to the
/// shared parameters (or, for the cheaper representation variant, to the representation `h`,
/// flattened). The result has length `D` and is used as the gradient of the shared part; the
/// heads keep the gradients of their own losses. Conventions follow TorchJD (Quinton and Rey,
/// 2024): `Sum` returns the sum of the rows, `Mean` their mean, PCGrad the sum of the projected
/// rows.
///
/// Conformers are value types; the stateful ones (Nash-MTL's previous weights, GradVac's
/// targets) keep their state in stored properties, so `aggregate` is `mutating`.
public protocol JacobianAggregator: Sendable {
  /// The name used in tables and on the command line, for example `"UPGrad"`.
  var name: String { get }

  /// Combines the rows of `jacobian`.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: the run's generator, for the random rules (PCGrad's task order, GradDrop).
  /// - Returns: `D` finite values.
  /// - Throws: `AggregationError` when the rule cannot give a finite result for this input.
  mutating func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
}

/// A failure of an aggregation rule on a particular input.
public struct AggregationError: Error, CustomStringConvertible, Sendable {
  /// The rule's name.
  public var method: String
  /// What went wrong and what to do about it.
  public var message: String

  public init(method: String, _ message: String) {
    self.method = method
    self.message = message
  }

  public var description: String { "\(method): \(message)" }
}

/// Checks the contract every rule shares: at least one row, every element finite.
func validateJacobian(_ jacobian: Matrix, method: String) throws {
  guard jacobian.rows >= 1 else {
    throw AggregationError(method: method, "the Jacobian has no rows (no tasks)")
  }
  guard jacobian.isFinite else {
    throw AggregationError(
      method: method,
      "the Jacobian holds NaN or infinite values; check the losses and inputs for NaN")
  }
}

/// A rule that depends on the Jacobian only through its Gramian: it computes weights `w(J Jᵀ)`
/// and returns `wᵀ J`. MGDA, UPGrad, DualProj, CAGrad, IMTL-G and Aligned-MTL are of this kind
/// (TorchJD calls them weightings); their cost beyond `J Jᵀ` is independent of `D`.
public protocol GramianWeighting: JacobianAggregator {
  /// The weights of the rows, from the `K × K` Gramian `J Jᵀ` alone.
  ///
  /// - Throws: `AggregationError` when no finite weights can be found.
  func weights(gramian: Matrix) throws -> [Double]
}

extension GramianWeighting {
  /// `w(J Jᵀ)ᵀ J`.
  ///
  /// - Throws: `AggregationError` if `J` has no rows, a non-finite element or a Gramian that
  ///   overflows, or if the weights cannot be found.
  /// - Complexity: O(K² · D) beyond the weights.
  public func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let gramian = try jacobian.checkedRowGramian(method: name)
    return jacobian.combiningRows(try weights(gramian: gramian))
  }
}
