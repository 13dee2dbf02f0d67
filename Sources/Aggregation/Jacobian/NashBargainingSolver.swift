import Foundation
import Tensors

/// The convex sub-problem of Nash-MTL, solved by a log-barrier interior-point method.
///
/// Nash-MTL (Navon et al., ICML 2022) wants weights `α > 0` with `α_i (M α)_i = 1` for the
/// Gramian `M = J Jᵀ`. The official code, and TorchJD's port of it, approach that point through
/// a sequence of convex problems. With `n = ‖M‖_F`, `G = M / n` and the previous iterate `α_t`:
/// ```
/// minimise    Σ_i (G α)_i + (1/α_t + G (1/(G α_t)))ᵀ (α − α_t) / n
/// subject to  log(n α_i) + log((G α)_i) ≥ 0,   i = 1…K
/// ```
/// (the second term linearises the concave `Σ log`-utility around `α_t`; the reference hands
/// this problem to ECOS through cvxpy). Substituting `β = √n α` removes the scale of `M` from
/// the constraints and leaves, up to a positive factor,
/// ```
/// minimise cᵀβ  subject to  log β_i + log (G β)_i ≥ 0,    c = √n G 1 + 1/β_t + G (1/(G β_t)).
/// ```
///
/// Method (Boyd and Vandenberghe, "Convex Optimization", 2004, §11.3–11.4), no outside solver:
/// - Phase I finds a point with `β > 0` and `G β > 0` by maximising `s` over
///   `{s ≤ β_i ≤ 1, s ≤ (G β)_i}`, a linear programme solved by the same barrier method. Its
///   optimum `s*` is positive exactly when the feasible set is not empty; `s* ≤ 10⁻¹⁰`
///   (`G` has unit Frobenius norm) counts as empty, as for a zero row or two opposite rows.
/// - Phase II scales that point until every `log β_i + log (G β)_i ≥ log 4`, then follows the
///   central path of `t cᵀβ − Σ_i log(log β_i + log (G β)_i) − log(R − Σ β)` with Newton steps
///   (backtracking line search; full steps once the Newton decrement is small), multiplying
///   `t` by 10, until the duality gap `(K + 1)/t` is below `10⁻¹²` relative to `|cᵀβ|` (with
///   `‖c‖ = 1`). The bound `Σ β ≤ R`, `R = 10¹⁰ Σ β_start`, only detects an unbounded problem:
///   a solution with `Σ β > R / 2` is reported as such.
/// The barrier's minimisers approach the optimum at the rate of the gap, so the weights are
/// accurate to about 10⁻¹¹ relative; ECOS, the reference's solver, stops at 10⁻⁸.
enum NashBargainingSolver {
  /// Where phase I calls the feasible set empty, relative to `‖G‖_F = 1`.
  static let emptinessThreshold = 1e-10
  /// Phase II's duality gap, relative to `max(1, |cᵀβ|)` with `‖c‖ = 1`.
  static let gapTolerance = 1e-12

  /// A point `β` with `β_i > 0` and `(G β)_i > 0` for every `i`, or `nil` if none exists.
  ///
  /// - Parameters:
  ///   - gramian: `G`, `K × K` row-major, symmetric, Frobenius norm 1.
  ///   - count: `K`.
  /// - Complexity: O(K³) per Newton step, a few dozen steps.
  static func interiorPoint(gramian: [Double], count: Int) -> [Double]? {
    let k = count
    // x = (β_1 … β_K, s); minimise −s.
    var cost = [Double](repeating: 0, count: k + 1)
    cost[k] = -1
    let half = [Double](repeating: 0.5, count: k)
    var start = half
    start.append(min(0.5, multiply(gramian, half, count: k).min()!) - 1)

    let evaluate = { (x: [Double]) -> [BarrierTerm]? in
      let beta = Array(x[0..<k])
      let s = x[k]
      let product = multiply(gramian, beta, count: k)
      var terms = [BarrierTerm]()
      terms.reserveCapacity(3 * k)
      for i in 0..<k {
        var lower = [Double](repeating: 0, count: k + 1)  // s − β_i ≤ 0
        lower[i] = -1
        lower[k] = 1
        terms.append(BarrierTerm(value: s - beta[i], gradient: lower))
        var cone = [Double](repeating: 0, count: k + 1)  // s − (G β)_i ≤ 0
        for j in 0..<k { cone[j] = -gramian[i * k + j] }
        cone[k] = 1
        terms.append(BarrierTerm(value: s - product[i], gradient: cone))
        var upper = [Double](repeating: 0, count: k + 1)  // β_i − 1 ≤ 0
        upper[i] = 1
        terms.append(BarrierTerm(value: beta[i] - 1, gradient: upper))
      }
      return terms.allSatisfy { $0.value < 0 } ? terms : nil
    }
    let found = minimizeWithBarrier(cost: cost, start: start, evaluate: evaluate) { x, gap in
      let s = x[k]
      return (s > 0 && gap <= s) || s + gap <= emptinessThreshold
    }
    guard let found, found.point[k] > 0 else { return nil }
    return Array(found.point[0..<k])
  }

  /// The minimiser `α` of the linearised sub-problem at `previous`, or `nil` when the problem
  /// is infeasible, unbounded or numerically out of reach (the reference then keeps
  /// `previous`).
  ///
  /// - Parameters:
  ///   - gramian: `G = M / n`, `K × K` row-major.
  ///   - normalization: `n = ‖M‖_F > 0`.
  ///   - previous: `α_t`, every `α_t,i > 0` and `(G α_t)_i ≠ 0`.
  ///   - interior: A point from `interiorPoint(gramian:count:)`.
  /// - Complexity: O(K³) per Newton step, a few dozen to a few hundred steps.
  static func solve(
    gramian: [Double], normalization: Double, previous: [Double], interior: [Double]
  ) -> [Double]? {
    let k = previous.count
    let root = normalization.squareRoot()
    let previousBeta = previous.map { $0 * root }
    let previousProduct = multiply(gramian, previousBeta, count: k)
    guard previousBeta.allSatisfy({ $0 > 0 }), previousProduct.allSatisfy({ $0 != 0 }) else {
      return nil
    }
    // c = √n G 1 + 1/β_t + G (1/(G β_t)), scaled to unit length.
    let rowSums = multiply(gramian, Array(repeating: 1, count: k), count: k)
    let pull = multiply(gramian, previousProduct.map { 1 / $0 }, count: k)
    var cost = (0..<k).map { root * rowSums[$0] + 1 / previousBeta[$0] + pull[$0] }
    let length = cost.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard length.isFinite, length > 0 else { return nil }
    cost = cost.map { $0 / length }

    let interiorProduct = multiply(gramian, interior, count: k)
    let smallest = (0..<k).map { interior[$0] * interiorProduct[$0] }.min()!
    let start = interior.map { $0 * (4 / smallest).squareRoot() }
    let bound = 1e10 * start.reduce(0, +)
    let evaluate = { (beta: [Double]) -> [BarrierTerm]? in
      let product = multiply(gramian, beta, count: k)
      guard beta.allSatisfy({ $0 > 0 }), product.allSatisfy({ $0 > 0 }) else { return nil }
      var terms = [BarrierTerm]()
      terms.reserveCapacity(k + 1)
      for i in 0..<k {
        // f_i = −log β_i − log (G β)_i ≤ 0.
        let value = -log(beta[i]) - log(product[i])
        var gradient = [Double](repeating: 0, count: k)
        var hessian = [Double](repeating: 0, count: k * k)
        let (inverseBeta, inverseProduct) = (1 / beta[i], 1 / product[i])
        for a in 0..<k {
          gradient[a] = -gramian[i * k + a] * inverseProduct
          for b in 0..<k {
            hessian[a * k + b] =
              gramian[i * k + a] * gramian[i * k + b] * inverseProduct * inverseProduct
          }
        }
        gradient[i] -= inverseBeta
        hessian[i * k + i] += inverseBeta * inverseBeta
        terms.append(BarrierTerm(value: value, gradient: gradient, hessian: hessian))
      }
      let total = beta.reduce(0, +)
      terms.append(
        BarrierTerm(value: total - bound, gradient: Array(repeating: 1, count: k)))
      return terms.allSatisfy { $0.value < 0 } ? terms : nil
    }
    let found = minimizeWithBarrier(cost: cost, start: start, evaluate: evaluate) { beta, gap in
      let objective = zip(cost, beta).reduce(0) { $0 + $1.0 * $1.1 }
      return gap <= gapTolerance * max(1, abs(objective))
    }
    guard let found, found.point.reduce(0, +) < bound / 2 else { return nil }
    return found.point.map { $0 / root }
  }
}

/// One convex constraint `f(x) ≤ 0` evaluated at a point.
struct BarrierTerm {
  /// `f(x)`, negative at a strictly feasible point.
  var value: Double
  /// `∇f(x)`.
  var gradient: [Double]
  /// `∇²f(x)`, row-major, or `nil` for a linear constraint.
  var hessian: [Double]? = nil
}

/// Minimises `cᵀx` subject to convex constraints `f_i(x) ≤ 0` by the log-barrier method.
///
/// Centres `t cᵀx − Σ log(−f_i(x))` by damped Newton steps for `t = 1, 10, 100, …`, and after
/// each centring asks `shouldStop(x, gap)` with the duality gap `m / t`.
/// - Parameters:
///   - cost: `c`.
///   - start: A strictly feasible point.
///   - evaluate: The constraints at a point, or `nil` if the point is outside their domain or
///     not strictly feasible.
///   - shouldStop: Whether the current centre is good enough.
/// - Returns: The last centre and its gap, or `nil` if `start` is not strictly feasible or the
///   Newton system cannot be solved.
/// - Complexity: O(m · n² + n³) per Newton step for `m` constraints in `n` variables.
private func minimizeWithBarrier(
  cost: [Double], start: [Double], evaluate: ([Double]) -> [BarrierTerm]?,
  shouldStop: ([Double], Double) -> Bool
) -> (point: [Double], gap: Double)? {
  let n = cost.count
  guard var terms = evaluate(start) else { return nil }
  let m = Double(terms.count)
  var x = start
  var t = 1.0

  func barrier(_ point: [Double], _ terms: [BarrierTerm]) -> Double {
    var value = 0.0
    for k in 0..<n { value += t * cost[k] * point[k] }
    for term in terms { value -= log(-term.value) }
    return value
  }

  for _ in 0..<80 {
    for _ in 0..<100 {
      // Gradient and Hessian of the barrier at x.
      var gradient = cost.map { t * $0 }
      var hessian = Matrix(rows: n, columns: n)
      for term in terms {
        let slack = -term.value
        for a in 0..<n {
          let ga = term.gradient[a]
          gradient[a] += ga / slack
          guard ga != 0 else { continue }
          for b in 0..<n { hessian.scalars[a * n + b] += ga * term.gradient[b] / (slack * slack) }
        }
        if let second = term.hessian {
          for index in 0..<(n * n) { hessian.scalars[index] += second[index] / slack }
        }
      }
      guard let factor = try? hessian.cholesky(name: "barrier Hessian") else { return nil }
      let direction = factor.solve(gradient.map { -$0 })
      let decrement = -zip(gradient, direction).reduce(0) { $0 + $1.0 * $1.1 }
      guard decrement.isFinite else { return nil }
      if decrement / 2 <= 1e-13 { break }

      // Backtracking; near the centre the full step is taken whenever it stays feasible, as
      // rounding in the barrier's value would hide the tiny decrease Armijo's test asks for.
      let current = barrier(x, terms)
      var step = 1.0
      var accepted = false
      for _ in 0..<60 {
        let trial = (0..<n).map { x[$0] + step * direction[$0] }
        if let trialTerms = evaluate(trial),
          decrement < 1e-2 || barrier(trial, trialTerms) <= current - 0.25 * step * decrement
        {
          x = trial
          terms = trialTerms
          accepted = true
          break
        }
        step *= 0.5
      }
      if !accepted { break }
    }
    let gap = m / t
    if shouldStop(x, gap) { return (x, gap) }
    t *= 10
  }
  return (x, m / t)
}

/// `G v` for a `K × K` row-major `G`.
private func multiply(_ matrix: [Double], _ vector: [Double], count: Int) -> [Double] {
  (0..<count).map { i in
    var total = 0.0
    for j in 0..<count { total += matrix[i * count + j] * vector[j] }
    return total
  }
}
