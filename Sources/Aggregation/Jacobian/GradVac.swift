import Tensors

/// Gradient Vaccine, GradVac (Wang et al., "Gradient Vaccine: Investigating and Improving
/// Multi-task Optimization in Massively Multilingual Models", ICLR 2021, Algorithm 1), on the
/// whole gradient vector.
///
/// PCGrad only acts on negative cosine similarities; GradVac instead keeps, for each ordered
/// pair of tasks, a target similarity `φ̂_ij` (an exponential moving average of the observed
/// ones) and moves `g_i` towards `g_j` whenever their similarity `φ_ij` falls below it, so that
/// the new similarity is exactly `φ̂_ij`:
/// ```
/// φ_ij = g_i' · g_j / (‖g_i'‖ ‖g_j‖)
/// if φ_ij < φ̂_ij:
///   g_i' ← g_i' + ‖g_i'‖ (φ̂_ij √(1 − φ_ij²) − φ_ij √(1 − φ̂_ij²)) / (‖g_j‖ √(1 − φ̂_ij²)) g_j
/// φ̂_ij ← (1 − β) φ̂_ij + β φ_ij
/// A(J) = Σ_i g_i'
/// ```
/// Each task `i` starts from `g_i' = g_i` and visits the other tasks in a random order drawn
/// from the generator; the similarities use the current `g_i'` and the original `g_j`, and the
/// result is the **sum** of the adjusted gradients, as in LibMTL (Lin and Zhang, 2023) and in
/// PCGrad's TorchJD convention. With every target 0 the first call is PCGrad.
///
/// Conventions, stated because the sources differ:
/// - The targets start at `initialTarget` (0, as in LibMTL) and `β = 0.5` (LibMTL's default;
///   the paper uses 0.01 on a per-layer split).
/// - `targetUpdate` `.always` updates `φ̂_ij` at every visit (the paper's eq. 3);
///   `.whenAdjusted` only when `g_i` was adjusted, as LibMTL does (its targets never rise
///   above their start).
/// - A pair where `g_i'` or `g_j` is zero has no similarity: it is skipped, target included.
/// - The state is the `K × K` matrix of targets. A Jacobian with a different `K` starts it
///   afresh.
///
/// Limitation: as `φ̂_ij` nears 1 the step `g_i' − g_i` grows like `1 / √(1 − φ̂_ij²)`; the
/// target used in the step is capped at `1 − 10⁻⁶`, so the step stays finite but can reach
/// about 700 `‖g_i‖`. Such targets only arise after many steps with nearly parallel gradients.
///
/// Properties: random (task orders), so the same seed and state give the same result; with
/// the same draws and state, `A(sJ) = s A(J)` for every `s ≠ 0` (similarities and norm ratios
/// do not change).
public struct GradVac: JacobianAggregator {
  /// When the moving-average targets learn from an observed similarity.
  public enum TargetUpdate: Sendable, Equatable {
    /// At every visit of a pair (the paper).
    case always
    /// Only when the pair's similarity was below its target and `g_i` was adjusted (LibMTL).
    case whenAdjusted
  }

  /// The moving-average rate `β` in `(0, 1]`.
  public var beta: Double
  /// The value every target starts from.
  public var initialTarget: Double
  /// When the targets are updated.
  public var targetUpdate: TargetUpdate
  /// The targets `φ̂_ij`, `K × K` row-major (the diagonal is unused), or empty before the first
  /// call.
  public private(set) var targets: [Double] = []

  public var name: String { "GradVac" }

  /// The largest target used in an adjustment; see the limitation above.
  static let largestUsableTarget = 1 - 1e-6

  /// Creates the rule with fresh targets.
  ///
  /// - Parameters:
  ///   - beta: `β`, the moving-average rate, in `(0, 1]`.
  ///   - initialTarget: The starting value of every target, in `[-1, 1]`.
  ///   - targetUpdate: When the targets learn; `.always` as in the paper.
  /// - Precondition: `0 < beta ≤ 1` and `-1 ≤ initialTarget ≤ 1`.
  public init(beta: Double = 0.5, initialTarget: Double = 0, targetUpdate: TargetUpdate = .always) {
    precondition(beta > 0 && beta <= 1, "GradVac: beta \(beta) is not in (0, 1]")
    precondition(
      initialTarget >= -1 && initialTarget <= 1,
      "GradVac: initialTarget \(initialTarget) is not in [-1, 1]")
    self.beta = beta
    self.initialTarget = initialTarget
    self.targetUpdate = targetUpdate
  }

  /// Forgets the targets; the next call starts from `initialTarget` again.
  public mutating func reset() {
    targets = []
  }

  /// The sum of the adjusted gradients; updates the targets.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Draws each task's order of visits.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Complexity: O(K² · D) for the Gramian, then O(K³).
  public mutating func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator)
    throws -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let coefficients = adjustmentCoefficients(
      gramian: try jacobian.checkedRowGramian(method: name), using: &generator)
    let count = jacobian.rows
    let weights = (0..<count).map { j in (0..<count).reduce(0) { $0 + coefficients[$1, j] } }
    return jacobian.combiningRows(weights)
  }

  /// The adjusted gradients `g_i'`, one per row; updates the targets.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Draws each task's order of visits.
  /// - Returns: `K × D`.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element.
  /// - Complexity: O(K² · D).
  public mutating func adjustedGradients(
    _ jacobian: Matrix, using generator: inout RandomGenerator
  ) throws -> Matrix {
    try validateJacobian(jacobian, method: name)
    let coefficients = adjustmentCoefficients(
      gramian: try jacobian.checkedRowGramian(method: name), using: &generator)
    return matmul(coefficients, jacobian)
  }

  /// The `K × K` coefficients `C` with `g_i' = Σ_j C_ij g_j`; updates the targets.
  ///
  /// Every adjustment adds a multiple of an original row, so `g_i'` stays a combination of the
  /// rows and every similarity follows from the Gramian: `g_i' · g_j = (C Γ)_ij` and
  /// `‖g_i'‖² = (C Γ Cᵀ)_ii`. The work is independent of `D`.
  ///
  /// - Complexity: O(K³).
  mutating func adjustmentCoefficients(gramian: Matrix, using generator: inout RandomGenerator)
    -> Matrix
  {
    let count = gramian.rows
    if targets.count != count * count {
      targets = Array(repeating: initialTarget, count: count * count)
    }
    let norms = gramian.diagonal.map { max($0, 0).squareRoot() }
    var coefficients = Matrix.identity(count)
    for i in 0..<count {
      // c = row i of C; cΓ and cΓcᵀ give the products of g_i' with the rows and itself.
      var c = [Double](repeating: 0, count: count)
      c[i] = 1
      let others = (0..<count).filter { $0 != i }.shuffled(using: &generator)
      for j in others {
        let products = (0..<count).map { l in (0..<count).reduce(0) { $0 + c[$1] * gramian[$1, l] }
        }
        let currentNorm = max(zip(c, products).reduce(0) { $0 + $1.0 * $1.1 }, 0).squareRoot()
        guard currentNorm > 0, norms[j] > 0 else { continue }
        let similarity = min(max(products[j] / (currentNorm * norms[j]), -1), 1)
        let target = targets[i * count + j]
        let adjusts = similarity < target
        if adjusts {
          let usable = min(target, Self.largestUsableTarget)
          let sine = (1 - similarity * similarity).squareRoot()
          let targetSine = (1 - usable * usable).squareRoot()
          c[j] += currentNorm * (usable * sine - similarity * targetSine) / (norms[j] * targetSine)
        }
        if adjusts || targetUpdate == .always {
          targets[i * count + j] = (1 - beta) * target + beta * similarity
        }
      }
      for j in 0..<count { coefficients[i, j] = c[j] }
    }
    return coefficients
  }
}
