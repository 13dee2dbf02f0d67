import Tensors

/// A convex quadratic program over the non-negative orthant, solved exactly by an active-set
/// method.
///
/// ```
/// minimize  ½ xᵀ M x + qᵀ x   subject to   x ≥ 0
/// ```
///
/// `M` is symmetric positive semi-definite. The solver is the active-set algorithm of Lawson and
/// Hanson for non-negative least squares (Lawson and Hanson, *Solving Least Squares Problems*,
/// Prentice-Hall 1974, chapter 23), written for the normal equations: with `M = AᵀA` and
/// `q = −Aᵀb` the two problems are the same. It keeps a passive set `P` of free coordinates;
/// the others are held at zero. Each outer step frees the coordinate with the most negative
/// gradient `(M x + q)ᵢ`, then solves `M_PP z_P = −q_P` and, while some `zᵢ ≤ 0`, moves from `x`
/// towards `z` until a coordinate reaches zero and drops it from `P`. The objective decreases
/// strictly at every outer step, so in exact arithmetic the method ends after finitely many steps
/// at the exact minimiser: the last linear solve is exact, not an approximation.
///
/// Stopping rule: every held coordinate has gradient `≥ −tolerance · s`, where `s` is the largest
/// of `|Mᵢᵢ|` and `|qᵢ|`. A coordinate whose column is numerically dependent on the passive ones
/// (Cholesky pivot below `rankTolerance · Mᵢᵢ`) is not freed; its gradient is then a combination
/// of the passive gradients, which are zero. If `M` is singular the minimiser need not be unique;
/// the method returns one of them.
public struct NonNegativeQuadraticProgram: Sendable {
  /// The Hessian `M`, `n × n`, symmetric positive semi-definite.
  public var quadratic: Matrix
  /// The linear term `q`, of length `n`.
  public var linear: [Double]

  /// The relative pivot below which a freed column counts as dependent on the passive ones.
  static let rankTolerance = 1e-14

  /// Creates the program `min ½ xᵀ M x + qᵀ x, x ≥ 0`.
  ///
  /// - Parameters:
  ///   - quadratic: `M`, square, symmetric positive semi-definite, finite.
  ///   - linear: `q`, finite, one entry per row of `M`.
  /// - Precondition: `M` is `n × n` with `n == q.count`, and every entry is finite.
  public init(quadratic: Matrix, linear: [Double]) {
    precondition(
      quadratic.rows == quadratic.columns && quadratic.rows == linear.count,
      "NonNegativeQuadraticProgram: M is \(quadratic.rows)×\(quadratic.columns) and q has "
        + "\(linear.count) entries")
    precondition(
      quadratic.isFinite && linear.allSatisfy(\.isFinite),
      "NonNegativeQuadraticProgram: M or q holds NaN or infinite values")
    self.quadratic = quadratic
    self.linear = linear
  }

  /// The exact minimiser, found by the active-set method described on the type.
  ///
  /// - Parameter tolerance: the stopping rule's relative gradient tolerance (default `1e-12`).
  /// - Returns: `x ≥ 0` (every entry non-negative and finite).
  /// - Complexity: O(n³) per linear solve; at most `3n + 30` outer steps of at most `n + 1`
  ///   solves each (in practice a few solves per freed coordinate).
  public func minimizer(tolerance: Double = 1e-12) -> [Double] {
    let n = linear.count
    var x = [Double](repeating: 0, count: n)
    let diagonalScale = quadratic.diagonal.reduce(0) { Swift.max($0, abs($1)) }
    let scale = linear.reduce(diagonalScale) { Swift.max($0, abs($1)) }
    guard n > 0, scale > 0 else { return x }
    let threshold = tolerance * scale

    var passive = [Bool](repeating: false, count: n)
    var blocked = [Bool](repeating: false, count: n)
    for _ in 0..<(3 * n + 30) {
      // The held coordinate whose gradient is most negative enters the passive set.
      let gradient = self.gradient(at: x)
      var entering: Int?
      var steepest = -threshold
      for i in 0..<n where !passive[i] && !blocked[i] && gradient[i] < steepest {
        steepest = gradient[i]
        entering = i
      }
      guard let entering else { break }
      passive[entering] = true

      switch step(from: &x, passive: &passive, entering: entering) {
      case .improved: blocked = [Bool](repeating: false, count: n)
      case .rejected:
        passive[entering] = false
        blocked[entering] = true
      case .failed: return x.map { Swift.max($0, 0) }
      }
    }
    return x.map { Swift.max($0, 0) }
  }

  /// The gradient `M x + q`.
  func gradient(at x: [Double]) -> [Double] {
    let n = linear.count
    var result = linear
    for i in 0..<n {
      var sum = 0.0
      for j in 0..<n where x[j] != 0 { sum += quadratic.scalars[i * n + j] * x[j] }
      result[i] += sum
    }
    return result
  }

  /// How one outer step ended.
  enum StepOutcome {
    /// `x` moved to a new point with a lower objective.
    case improved
    /// The entering coordinate could not become positive (dependent column or rounding); `x` is
    /// unchanged.
    case rejected
    /// A linear solve failed after `x` had moved; `x` is feasible but may not be optimal.
    case failed
  }

  /// The inner loop of Lawson and Hanson: solve on the passive set, and step back to the
  /// boundary while the solution has non-positive entries.
  func step(from x: inout [Double], passive: inout [Bool], entering: Int) -> StepOutcome {
    let n = linear.count
    for iteration in 0...n {
      let indices = (0..<n).filter { passive[$0] }
      guard let z = passiveSolution(indices) else {
        return iteration == 0 ? .rejected : .failed
      }
      if iteration == 0 && z[entering] <= 0 { return .rejected }
      if indices.allSatisfy({ z[$0] > 0 }) {
        x = z
        return .improved
      }

      // Move towards z until the first passive coordinate reaches zero.
      // (x ≥ 0 on P, so a zero denominator means xᵢ = zᵢ = 0: that coordinate stops the step.)
      func ratio(_ i: Int) -> Double {
        guard z[i] <= 0 else { return .infinity }
        return x[i] - z[i] > 0 ? x[i] / (x[i] - z[i]) : 0
      }
      let alpha = indices.reduce(1.0) { Swift.min($0, ratio($1)) }
      for i in indices {
        let reachesZero = ratio(i) <= alpha
        x[i] += alpha * (z[i] - x[i])
        if reachesZero || x[i] <= 0 {
          x[i] = 0
          passive[i] = false
        }
      }
    }
    return .failed
  }

  /// The solution of `M_PP z_P = −q_P`, zero off `P`, or `nil` when `M_PP` is numerically
  /// singular.
  func passiveSolution(_ indices: [Int]) -> [Double]? {
    let n = linear.count
    let p = indices.count
    var block = [Double](repeating: 0, count: p * p)
    var rhs = [Double](repeating: 0, count: p)
    for (a, i) in indices.enumerated() {
      rhs[a] = -linear[i]
      for (b, j) in indices.enumerated() { block[a * p + b] = quadratic.scalars[i * n + j] }
    }
    guard let solution = solvePositiveDefinite(block, rhs, relativePivot: Self.rankTolerance)
    else { return nil }
    var z = [Double](repeating: 0, count: n)
    for (a, i) in indices.enumerated() { z[i] = solution[a] }
    return z
  }
}

/// Solves `A y = b` for a small symmetric positive-definite `A` (row-major, `p × p`) by a
/// Cholesky factorisation written out in Swift.
///
/// - Returns: `y`, or `nil` if a pivot `dᵢ²` falls to `relativePivot · Aᵢᵢ` or below (the matrix
///   is singular or indefinite to working precision).
/// - Complexity: O(p³).
func solvePositiveDefinite(_ a: [Double], _ b: [Double], relativePivot: Double) -> [Double]? {
  let p = b.count
  var factor = [Double](repeating: 0, count: p * p)
  for i in 0..<p {
    for j in 0...i {
      var sum = a[i * p + j]
      for k in 0..<j { sum -= factor[i * p + k] * factor[j * p + k] }
      if i == j {
        guard sum > relativePivot * abs(a[i * p + i]), sum > 0 else { return nil }
        factor[i * p + i] = sum.squareRoot()
      } else {
        factor[i * p + j] = sum / factor[j * p + j]
      }
    }
  }
  // Forward substitution with L, then back substitution with Lᵀ.
  var y = b
  for i in 0..<p {
    var sum = y[i]
    for k in 0..<i { sum -= factor[i * p + k] * y[k] }
    y[i] = sum / factor[i * p + i]
  }
  for i in stride(from: p - 1, through: 0, by: -1) {
    var sum = y[i]
    for k in (i + 1)..<p { sum -= factor[k * p + i] * y[k] }
    y[i] = sum / factor[i * p + i]
  }
  return y
}
