import Foundation
import Tensors

/// A Gauss–Hermite rule for expectations under a standard normal: `E[f(u)] ≈ Σ_k ω_k f(u_k)`.
///
/// Nodes and weights come from the Golub–Welsch algorithm (Golub and Welsch, "Calculation of
/// Gauss quadrature rules", Math. Comp. 1969): the eigenvalues of the Jacobi matrix of the
/// Hermite polynomials, with weights from the first components of its eigenvectors.
struct GaussHermiteRule: Sendable {
  /// The nodes `u_k` for the standard normal (`√2` times the physicists' nodes).
  var nodes: [Double]
  /// The weights `ω_k`, summing to 1.
  var weights: [Double]

  /// The `count`-node rule, exact for polynomials of degree `< 2 · count`.
  ///
  /// - Throws: `LinearAlgebraError` if the eigensolver fails.
  init(count: Int) throws {
    var jacobi = Matrix(rows: count, columns: count)
    for k in 1..<max(count, 1) {
      let offDiagonal = (Double(k) / 2).squareRoot()
      jacobi[k, k - 1] = offDiagonal
      jacobi[k - 1, k] = offDiagonal
    }
    let (values, vectors) = try jacobi.symmetricEigendecomposition(
      name: "Gauss–Hermite Jacobi matrix")
    nodes = values.map { $0 * 2.0.squareRoot() }
    weights = (0..<count).map { vectors[0, $0] * vectors[0, $0] }
    let total = weights.reduce(0, +)
    weights = weights.map { $0 / total }
  }
}

/// The moments of `g = (σ(a) − y) w[:d]` for `w ~ N(m, Σ)`, `a = wᵀhb`, by quadrature.
///
/// The logit is Gaussian, `a = μ_a + s u` with `μ_a = mᵀhb`, `s² = hbᵀΣhb`, `u ~ N(0, 1)`, and
/// given `u`, `w_j ~ N(m_j + e_j u, Σ_jj − e_j²)` with `e = Σhb / s`. With `r = σ(a) − y`:
/// ```
/// E[g_j]  = m_j E[r] + e_j E[r u]
/// E[g_j²] = (m_j² + Σ_jj − e_j²) E[r²] + 2 m_j e_j E[r² u] + e_j² E[r² u²]
/// ```
/// five one-dimensional integrals per datum, by Gauss–Hermite.
/// - Parameters:
///   - hb: `[B, d + 1]`, the representation with a column of ones.
///   - labels: The targets `y` per datum, in [0, 1]; NaN marks the task absent.
///   - mean: `m`, length `d + 1`.
///   - covariance: `Σ`, `(d + 1) × (d + 1)`.
///   - rule: The quadrature rule.
/// - Returns: `E[g]` and `E[g²]`, `[B, d]` (zero rows for absent data).
/// - Complexity: O(B · (d² + nodes)).
func logitQuadratureMoments(
  hb: Matrix, labels: [Double], mean: [Double], covariance: Matrix, rule: GaussHermiteRule
) -> (first: Matrix, second: Matrix) {
  let (batch, width) = (hb.rows, hb.columns)
  let d = width - 1
  let c = matmul(hb, covariance)
  let diagonal = (0..<d).map { covariance[$0, $0] }
  var firstMoment = Matrix(rows: batch, columns: d)
  var secondMoment = firstMoment
  hb.scalars.withUnsafeBufferPointer { hbRows in
    c.scalars.withUnsafeBufferPointer { cRows in
      firstMoment.scalars.withUnsafeMutableBufferPointer { first in
        secondMoment.scalars.withUnsafeMutableBufferPointer { second in
          for b in 0..<batch where !labels[b].isNaN {
            let y = labels[b]
            let (h, cb) = (hbRows.baseAddress! + b * width, cRows.baseAddress! + b * width)
            var (meanLogit, variance) = (0.0, 0.0)
            for j in 0...d {
              meanLogit += mean[j] * h[j]
              variance += cb[j] * h[j]
            }
            let s = max(variance, 0).squareRoot()
            var (e0, e1, q0, q1, q2) = (0.0, 0.0, 0.0, 0.0, 0.0)
            for (u, omega) in zip(rule.nodes, rule.weights) {
              let r = sigmoid(meanLogit + s * u) - y
              e0 += omega * r
              e1 += omega * r * u
              q0 += omega * r * r
              q1 += omega * r * r * u
              q2 += omega * r * r * u * u
            }
            let (firstRow, secondRow) = (first.baseAddress! + b * d, second.baseAddress! + b * d)
            for j in 0..<d {
              let e = s > 0 ? cb[j] / s : 0
              let m = mean[j]
              firstRow[j] = m * e0 + e * e1
              secondRow[j] = (m * m + diagonal[j] - e * e) * q0 + 2 * m * e * q1 + e * e * q2
            }
          }
        }
      }
    }
  }
  return (firstMoment, secondMoment)
}

/// Binary-output moments by quadrature; see `logitQuadratureMoments`. The outputs are
/// independent and run concurrently; each result is the same on any number of cores.
///
/// - Complexity: O(O · (d³ + B · (d² + nodes))).
func binaryQuadratureMoments(
  h: Matrix, labels: Matrix, posteriors: [GaussianPosterior], rule: GaussHermiteRule
) -> TaskMoments {
  let hb = h.appendingColumn(repeating: 1)
  let outputs = posteriors.count
  var moments = TaskMoments(batchSize: h.rows, taskCount: outputs, representationSize: h.columns)
  var results = [(first: Matrix, second: Matrix)?](repeating: nil, count: outputs)
  let workers = min(outputs, max(ProcessInfo.processInfo.activeProcessorCount, 1))
  results.withUnsafeMutableBufferPointer { results in
    let queue = WorkQueue(count: outputs)
    forEachItem(workers) { _ in
      while let o = queue.next() {
        results[o] = logitQuadratureMoments(
          hb: hb, labels: labels.column(o), mean: posteriors[o].mean,
          covariance: posteriors[o].covariance(), rule: rule)
      }
    }
  }
  for o in 0..<outputs {
    for b in 0..<h.rows where !labels[b, o].isNaN { moments.setPresent(b, o) }
    store(mean: results[o]!.first, second: results[o]!.second, task: o, into: &moments)
  }
  return moments
}

/// Two-class softmax moments by quadrature.
///
/// With two classes, `Σ_c (p_c − 1[c = y]) w_c = (σ(vᵀhb) − 1[y = 1]) v[:d]` for the
/// difference `v = w̃₁ − w̃₀`, which is Gaussian with mean `m₁ − m₀` and covariance
/// `Σ₁₁ + Σ₀₀ − Σ₀₁ − Σ₁₀`: the binary case.
/// - Complexity: O(d³ + B · (d² + nodes)).
func twoClassQuadratureMoments(
  h: Matrix, labels: Matrix, posterior: GaussianPosterior, rule: GaussHermiteRule
) -> TaskMoments {
  let width = h.columns + 1
  let covariance = posterior.covariance()
  let mean = (0..<width).map { posterior.mean[width + $0] - posterior.mean[$0] }
  var difference = Matrix(rows: width, columns: width)
  for i in 0..<width {
    for j in 0..<width {
      difference[i, j] =
        covariance[width + i, width + j] + covariance[i, j] - covariance[i, width + j]
        - covariance[width + i, j]
    }
  }
  let targets = labels.column(0).map { $0.isNaN ? Double.nan : ($0 == 1 ? 1.0 : 0.0) }
  var moments = TaskMoments(batchSize: h.rows, taskCount: 1, representationSize: h.columns)
  let (first, second) = logitQuadratureMoments(
    hb: h.appendingColumn(repeating: 1), labels: targets, mean: mean, covariance: difference,
    rule: rule)
  for b in 0..<h.rows where !targets[b].isNaN { moments.setPresent(b, 0) }
  store(mean: first, second: second, task: 0, into: &moments)
  return moments
}
