import Tensors

/// Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, Algorithm 1),
/// as TorchJD 0.18 ports the official code.
///
/// The update is `αᵀ J` with the Nash bargaining weights, the `α > 0` that solve
/// ```
/// α_i (M α)_i = 1  for every task i,    M = J Jᵀ,
/// ```
/// reached, as in the reference, by at most `iterationLimit` convex sub-problems warm-started
/// from the previous call's weights (ones on the first call), each linearised around the
/// current iterate and solved by `NashBargainingSolver` (an interior-point method written for
/// this package, duality gap 10⁻¹²; the reference uses ECOS at 10⁻⁸). With `G = M / ‖M‖_F`,
/// the loop stops, keeping the current iterate `α_t`, when
/// ```
/// ‖G α_t − 1 / (α_t + 10⁻¹⁰)‖ < 10⁻³,  or the sub-problem has no solution,
/// or ‖α_t+1 − α_t‖ < 10⁻⁶
/// ```
/// (the first test uses the normalised `G`, as the reference does). Finally, if
/// `‖αᵀ J‖ > maximumNorm` the weights are scaled so that it equals `maximumNorm`. At the Nash
/// point `‖αᵀ J‖² = K`, so with the default `maximumNorm = 1` and `K ≥ 2` the update has unit
/// norm.
///
/// Behaviour on degenerate input, following the reference where it has an answer:
/// - A zero row or two opposite rows leave no `α > 0` with `G α > 0`: the sub-problem is
///   infeasible, the weights stay at the previous ones, and the update is their combination,
///   clipped (the sum of the rows, clipped, on a first call).
/// - Identical rows satisfy the first stopping test at `α = 1`: the clipped sum.
/// - One task: the reference fails inside cvxpy. Here the same loop runs: `G = [1]` meets the
///   first stopping test at `α = 1`, so the update is the gradient clipped to `maximumNorm`.
/// - An all-zero Jacobian (`‖M‖_F = 0`, where the reference divides by zero): zero, and the
///   state is left as it was.
///
/// Agreement with the reference: on the golden cases (entries of order 1) within 2·10⁻⁷ of the
/// largest reference magnitude. On badly scaled Jacobians (entries of about 10⁻³, or 10³ and
/// beyond) ECOS, capped at 100 iterations by the reference, often stops early or inaccurately
/// and the reference's answer is off by up to 100 %; there this implementation agrees with
/// CLARABEL run at 10⁻¹² (checked on 60 random cases), not with the reference.
///
/// State: the last weights (reused by the next call's warm start and, between updates, as the
/// weights themselves) and a step counter. A Jacobian with a different number of rows starts
/// the state afresh.
///
/// Properties: invariant under permutations of the tasks for a fresh state; not
/// scale-equivariant (the update is clipped, and the sub-problems mix normalised and raw
/// scales).
public struct NashMTL: JacobianAggregator {
  /// The largest norm of the update `αᵀ J`; 0 or less turns clipping off.
  public var maximumNorm: Double
  /// How many calls reuse one set of weights (the first of them computes it).
  public var updateWeightsEvery: Int
  /// The largest number of convex sub-problems per update.
  public var iterationLimit: Int
  /// The weights of the last update, or `nil` before the first call (ones are used then).
  public private(set) var previousWeights: [Double]?
  /// The number of calls since the last reset.
  public private(set) var step = 0

  public var name: String { "Nash-MTL" }

  /// Creates the rule with fresh state.
  ///
  /// - Parameters:
  ///   - maximumNorm: The largest norm of the update; 1 as in TorchJD.
  ///   - updateWeightsEvery: How often the weights are recomputed; 1 as in TorchJD.
  ///   - iterationLimit: The largest number of sub-problems per update; 20 as in TorchJD.
  /// - Precondition: `updateWeightsEvery ≥ 1` and `iterationLimit ≥ 1`.
  public init(maximumNorm: Double = 1, updateWeightsEvery: Int = 1, iterationLimit: Int = 20) {
    precondition(updateWeightsEvery >= 1, "NashMTL: updateWeightsEvery \(updateWeightsEvery) < 1")
    precondition(iterationLimit >= 1, "NashMTL: iterationLimit \(iterationLimit) < 1")
    self.maximumNorm = maximumNorm
    self.updateWeightsEvery = updateWeightsEvery
    self.iterationLimit = iterationLimit
  }

  /// Forgets the previous weights and the step counter.
  public mutating func reset() {
    previousWeights = nil
    step = 0
  }

  /// `αᵀ J` with the Nash-MTL weights, clipped to `maximumNorm`; updates the state.
  ///
  /// - Parameters:
  ///   - jacobian: `K × D`, `K ≥ 1`, finite.
  ///   - generator: Unused.
  /// - Returns: `D` values.
  /// - Throws: `AggregationError` if `jacobian` has no rows or a non-finite element, or if its
  ///   Gramian overflows.
  /// - Complexity: O(K² · D) for the Gramian, then O(K³) per Newton step of the sub-problems.
  public mutating func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator)
    throws -> [Double]
  {
    try validateJacobian(jacobian, method: name)
    let count = jacobian.rows
    if let previous = previousWeights, previous.count != count { reset() }
    let gramian = try jacobian.checkedRowGramian(method: name)
    let normalization = gramian.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard normalization.isFinite else {
      throw AggregationError(
        method: name,
        "the Gramian of the \(count)×\(jacobian.columns) Jacobian overflows; scale the losses down")
    }

    let updates = step % updateWeightsEvery == 0
    step += 1
    var weights = previousWeights ?? Array(repeating: 1, count: count)
    if updates && normalization > 0 {
      weights = bargainingWeights(
        gramian: gramian.scalars.map { $0 / normalization }, normalization: normalization,
        start: weights)
      previousWeights = weights
    }

    var update = jacobian.combiningRows(weights)
    let length = update.reduce(0) { $0 + $1 * $1 }.squareRoot()
    if maximumNorm > 0 && length > maximumNorm {
      let shrink = maximumNorm / length
      update = update.map { $0 * shrink }
    }
    return update
  }

  /// The reference's sequence of sub-problems from `start`.
  ///
  /// - Parameters:
  ///   - gramian: `G = M / n`, `K × K` row-major.
  ///   - normalization: `n = ‖M‖_F > 0`.
  ///   - start: The warm start `α_0`.
  /// - Returns: The last iterate `α_t`.
  func bargainingWeights(gramian: [Double], normalization: Double, start: [Double]) -> [Double] {
    let count = start.count
    var current = start
    // Phase I depends on G only: search once, on the first sub-problem.
    var interior: [Double]?
    var searchedInterior = false
    for _ in 0..<iterationLimit {
      var residual = 0.0
      for i in 0..<count {
        var product = 0.0
        for j in 0..<count { product += gramian[i * count + j] * current[j] }
        let difference = product - 1 / (current[i] + 1e-10)
        residual += difference * difference
      }
      if residual.squareRoot() < 1e-3 { break }

      if !searchedInterior {
        interior = NashBargainingSolver.interiorPoint(gramian: gramian, count: count)
        searchedInterior = true
      }
      guard let point = interior,
        let next = NashBargainingSolver.solve(
          gramian: gramian, normalization: normalization, previous: current, interior: point)
      else { break }
      let change = zip(next, current).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
      if change.squareRoot() < 1e-6 { break }
      current = next
    }
    return current
  }
}
