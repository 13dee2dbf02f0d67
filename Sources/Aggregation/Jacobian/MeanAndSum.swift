import Tensors

/// The mean of the task gradients, TorchJD's `Mean`.
///
/// ```
/// A(J) = (1/K) Σ_k J[k, :]
/// ```
/// The baseline every multi-task method is compared with ("equal weighting"). Linear, so it is
/// invariant under permutations of the tasks and equivariant under any scaling of `J`.
public struct RowMean: JacobianAggregator {
  public var name: String { "Mean" }

  /// Creates the rule; it has no hyper-parameters and no state.
  public init() {}

  /// The mean of the rows of `jacobian`.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Unused.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Complexity: O(K · D).
  public func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let weight = 1 / Double(jacobian.rows)
    return jacobian.combiningRows(Array(repeating: weight, count: jacobian.rows))
  }
}

/// The sum of the task gradients, TorchJD's `Sum`: the gradient of the summed loss.
///
/// ```
/// A(J) = Σ_k J[k, :]
/// ```
/// Linear, so it is invariant under permutations of the tasks and equivariant under any
/// scaling of `J`.
public struct RowSum: JacobianAggregator {
  public var name: String { "Sum" }

  /// Creates the rule; it has no hyper-parameters and no state.
  public init() {}

  /// The sum of the rows of `jacobian`.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Unused.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Complexity: O(K · D).
  public func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    return jacobian.combiningRows(Array(repeating: 1, count: jacobian.rows))
  }
}
