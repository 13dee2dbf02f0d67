import Tensors

/// Projecting Conflicting Gradients (Yu et al., "Gradient Surgery for Multi-Task Learning",
/// NeurIPS 2020, Algorithm 1), with TorchJD 0.18's conventions.
///
/// Each task's gradient is projected, one other task at a time, onto the normal plane of every
/// gradient it conflicts with; the result is the **sum** of the projected gradients:
/// ```
/// g_i^PC ← g_i
/// for j ≠ i in order:  if g_i^PC · g_j < 0 { g_i^PC ← g_i^PC − (g_i^PC · g_j / ‖g_j‖²) g_j }
/// A(J) = Σ_i g_i^PC
/// ```
/// As in TorchJD, the loop works on weights over the rows through the Gramian `G = J Jᵀ`
/// (`g_i^PC = wᵀ J`, so `g_i^PC · g_j = (G w)_j`), and the projections always use the original
/// `g_j`, never a projected one. A zero row has `(G w)_j = 0`, so it is never projected on and
/// no division by its zero norm happens. One task: the gradient itself.
///
/// Properties: with two tasks the result conflicts with neither gradient; for a fixed order the
/// weights depend on `G` only through ratios, so the result is equivariant under any scaling of
/// `J`. The random order makes the result depend on the generator for `K ≥ 3`.
public struct PCGrad: JacobianAggregator {
  /// The order in which the inner loop visits the other tasks.
  public enum TaskOrder: Sendable, Equatable {
    /// A fresh uniformly random permutation of the tasks for each task `i`, drawn from the
    /// generator (the paper and TorchJD).
    case random
    /// `0, 1, …, K − 1` for every task: deterministic, and what the golden vectors use.
    case identity
  }

  /// The order of the inner loop.
  public var taskOrder: TaskOrder

  public var name: String { "PCGrad" }

  /// Creates the rule.
  ///
  /// - Parameter taskOrder: The order in which each task visits the others; `.random` as in
  ///   the paper.
  public init(taskOrder: TaskOrder = .random) {
    self.taskOrder = taskOrder
  }

  /// The sum of the projected gradients.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Draws the permutations when `taskOrder` is `.random`.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Complexity: O(K² · D) for the Gramian, O(K³) for the projections.
  public func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let gramian = try jacobian.checkedRowGramian(method: name)
    let weights = self.weights(gramian: gramian, using: &generator)
    return jacobian.combiningRows(weights)
  }

  /// The weights `w` with `A(J) = wᵀ J`, from the Gramian alone.
  ///
  /// - Parameters:
  ///   - gramian: `G = J Jᵀ`, `K × K`.
  ///   - generator: Draws the permutations when `taskOrder` is `.random`.
  /// - Returns: `K` weights; `w_i ≥ 1` for every task.
  /// - Precondition: `gramian` is square.
  /// - Complexity: O(K³).
  public func weights(gramian: Matrix, using generator: inout RandomGenerator) -> [Double] {
    precondition(
      gramian.rows == gramian.columns,
      "PCGrad.weights: the Gramian is \(gramian.rows)×\(gramian.columns), not square")
    let count = gramian.rows
    let g = gramian.scalars
    var total = [Double](repeating: 0, count: count)
    for i in 0..<count {
      let order =
        taskOrder == .random ? Array(0..<count).shuffled(using: &generator) : Array(0..<count)
      // The weights of g_i^PC over the rows of J.
      var current = [Double](repeating: 0, count: count)
      current[i] = 1
      for j in order where j != i {
        var product = 0.0  // g_i^PC · g_j = (G w)_j
        for k in 0..<count { product += g[j * count + k] * current[k] }
        if product < 0 { current[j] -= product / g[j * count + j] }
      }
      for k in 0..<count { total[k] += current[k] }
    }
    return total
  }
}
