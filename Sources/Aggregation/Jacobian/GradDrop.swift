import Tensors

/// Gradient Sign Dropout, GradDrop (Chen et al., "Just Pick a Sign: Optimizing Deep Multitask
/// Models with Gradient Sign Dropout", NeurIPS 2020, Algorithm 1, lines 10–15), as in
/// TorchJD 0.18.
///
/// For each coordinate `c` the positive sign purity
/// ```
/// P_c = ½ (1 + Σ_i J[i, c] / Σ_i |J[i, c]|)
/// ```
/// is compared with one uniform draw `U_c ∈ [0, 1)`: if `f(P_c) > U_c` only the positive
/// entries of that coordinate are kept, if `f(P_c) < U_c` only the negative ones. With leak
/// `ℓ_i` a dropped entry of row `i` still passes with weight `ℓ_i`:
/// ```
/// M_ic = [f(P_c) > U_c ∧ J[i, c] > 0] + [f(P_c) < U_c ∧ J[i, c] < 0]
/// A(J)_c = Σ_i (ℓ_i + (1 − ℓ_i) M_ic) J[i, c]
/// ```
/// A coordinate that is zero in every row gives 0 (TorchJD's 0/0 purity is NaN, which masks
/// every entry; the entries are zero anyway). One task: the gradient itself.
///
/// Properties: random (`D` uniform draws from the generator per call), so the same seed gives
/// the same result; invariant under permutations of the tasks for fixed draws; `A(sJ) = s A(J)`
/// for `s > 0` with the same draws (the purity only depends on signs and ratios).
public struct GradDrop: JacobianAggregator {
  /// The leak `ℓ_i` of each task, or `nil` for no leak (every `ℓ_i = 0`).
  public var leak: [Double]?
  /// The monotonically increasing map `f` applied to the purity; the identity by default.
  public var purityTransform: @Sendable (Double) -> Double

  public var name: String { "GradDrop" }

  /// Creates the rule.
  ///
  /// - Parameters:
  ///   - leak: One value in `[0, 1]` per task, or `nil` for no leak.
  ///   - purityTransform: `f`, monotonically increasing; the identity by default.
  /// - Precondition: every leak is in `[0, 1]`.
  public init(
    leak: [Double]? = nil, purityTransform: @escaping @Sendable (Double) -> Double = { $0 }
  ) {
    if let leak {
      precondition(
        leak.allSatisfy { $0 >= 0 && $0 <= 1 }, "GradDrop: leak \(leak) leaves [0, 1]")
    }
    self.leak = leak
    self.purityTransform = purityTransform
  }

  /// The sign-dropped sum of the rows.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Draws the `D` uniform thresholds.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Precondition: `leak`, if set, has one value per row.
  /// - Complexity: O(K · D).
  public func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let (count, width) = (jacobian.rows, jacobian.columns)
    if let leak {
      precondition(
        leak.count == count, "GradDrop: \(leak.count) leak values for a Jacobian of \(count) rows")
    }
    let leaks = leak ?? Array(repeating: 0, count: count)

    // Row-wise passes over contiguous memory: the column sums, one uniform per column (in
    // column order, also for all-zero columns, so that the stream does not depend on the
    // values), the sign each column keeps, then the masked sum of the rows.
    var sum = [Double](repeating: 0, count: width)
    var absoluteSum = sum
    for i in 0..<count {
      jacobian.scalars.withUnsafeBufferPointer { values in
        let row = values.baseAddress! + i * width
        for c in 0..<width {
          sum[c] += row[c]
          absoluteSum[c] += abs(row[c])
        }
      }
    }
    // +1 keeps the positive entries, −1 the negative ones, 0 none (an all-zero column).
    var keptSign = [Double](repeating: 0, count: width)
    for c in 0..<width {
      let threshold = generator.nextUniform()
      guard absoluteSum[c] > 0 else { continue }
      let purity = purityTransform(0.5 * (1 + sum[c] / absoluteSum[c]))
      keptSign[c] = purity > threshold ? 1 : (purity < threshold ? -1 : 0)
    }
    var result = [Double](repeating: 0, count: width)
    for i in 0..<count {
      let leakage = leaks[i]
      jacobian.scalars.withUnsafeBufferPointer { values in
        let row = values.baseAddress! + i * width
        for c in 0..<width {
          let value = row[c]
          result[c] += (keptSign[c] * value > 0 ? 1 : leakage) * value
        }
      }
    }
    return result
  }
}
