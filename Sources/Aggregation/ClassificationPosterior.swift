import Foundation
import Tensors

// Laplace-style posteriors of classification heads: one Newton step of the log-joint from the
// current head parameters, with generalised Gauss–Newton curvature (Achituve et al., ICML 2024;
// the reference code's `LastLayerPosteriorTaylorApprox`):
//
//   a = ∇L(W) + Λ_p (W − m_p),   Λ = Σ_n Jₙᵀ Hₙ Jₙ + Λ_p,   mean = W − Λ⁻¹ a,   cov = Λ⁻¹
//
// with L the summed loss, Jₙ = hbₙ ⊗ I the logits' Jacobian and Hₙ the loss Hessian in the
// logits.

/// `σ(z) = 1 / (1 + e^(−z))`, without overflow for large `|z|`.
@inline(__always)
func sigmoid(_ z: Double) -> Double {
  if z >= 0 { return 1 / (1 + exp(-z)) }
  let e = exp(z)
  return e / (1 + e)
}

/// Posteriors of the parameters `[w_o, b_o]` of each binary output, independently.
///
/// For sigmoid outputs with binary cross-entropy the curvature is `p(1 − p) hb hbᵀ` per datum,
/// so the outputs decouple into `(d + 1) × (d + 1)` blocks.
/// - Parameters:
///   - features: `H`, `[n, d]`.
///   - labels: `[n, O]` in {0, 1}; NaN leaves the datum out of that output's likelihood.
///   - head: The current head, weight `[O, d]`, the expansion point.
///   - priors: One prior per output (the full-data posteriors), or `nil` for `N(0, γI)`.
///   - gamma: The prior variance γ when `priors` is `nil`.
///   - name: How errors name the posteriors.
/// - Throws: `LinearAlgebraError` if a precision does not factorise.
/// - Precondition: shapes agree.
/// - Complexity: O(O · (n · d² + d³)).
func binaryPosteriors(
  features: Matrix, labels: Matrix, head: TaskHead, priors: [GaussianPosterior]?, gamma: Double,
  name: String
) throws -> [GaussianPosterior] {
  let problem = BinaryPosteriorProblem(
    features: features, labels: labels, head: head, priors: priors, gamma: gamma, name: name)
  // The outputs are independent: they run concurrently, each worker reusing one buffer.
  var results = [Result<GaussianPosterior, any Error>?](repeating: nil, count: problem.outputs)
  results.withUnsafeMutableBufferPointer { results in
    forEachItem(problem.outputs, makeState: problem.scratch) { o, scaled in
      results[o] = Result { try problem.posterior(output: o, scratch: &scaled) }
    }
  }
  return try results.map { try $0!.get() }
}

/// What the posteriors of a binary group's outputs share: the features with their column of
/// ones, the labels, the head's parameters and the priors.
struct BinaryPosteriorProblem {
  let everyRow: Matrix
  let labels: Matrix
  let parameters: [Double]
  let priors: [GaussianPosterior]?
  let gamma: Double
  let name: String

  var outputs: Int { labels.columns }
  var width: Int { everyRow.columns }

  /// See `binaryPosteriors` for the arguments.
  init(
    features: Matrix, labels: Matrix, head: TaskHead, priors: [GaussianPosterior]?,
    gamma: Double, name: String
  ) {
    let (n, d, outputs) = (features.rows, features.columns, head.weight.rows)
    precondition(
      labels.rows == n && labels.columns == outputs && head.weight.columns == d,
      "binaryPosteriors: features \(features.shape), labels \(labels.shape), head "
        + "\(head.weight.shape)")
    everyRow = features.appendingColumn(repeating: 1)
    self.labels = labels
    parameters = head.parameters
    self.priors = priors
    self.gamma = gamma
    self.name = name
  }

  /// A buffer for `posterior(output:scratch:)`, one per worker.
  func scratch() -> [Double] { [Double](repeating: 0, count: everyRow.rows * width) }

  /// The posterior of output `o`; `scratch` holds `√(p(1 − p)) hb`, whose Gram matrix is the
  /// Gauss–Newton curvature.
  ///
  /// - Throws: `LinearAlgebraError` if the precision does not factorise.
  func posterior(output o: Int, scratch scaled: inout [Double]) throws -> GaussianPosterior {
    let (n, width) = (everyRow.rows, self.width)
    let theta = Array(parameters[(o * width)..<((o + 1) * width)])
    let rows = (0..<n).filter { !labels[$0, o].isNaN }
    let hb = rows.count == n ? everyRow : everyRow.gatheringRows(rows)

    // Gradient of the summed BCE and the Gauss–Newton curvature.
    let logits = hb.applied(to: theta)
    var residual = [Double](repeating: 0, count: rows.count)
    var weights = residual
    for (i, row) in rows.enumerated() {
      let p = sigmoid(logits[i])
      residual[i] = p - labels[row, o]
      weights[i] = (p * (1 - p)).squareRoot()
    }
    let (priorMean, priorPrecision) = prior(priors?[o], size: width, gamma: gamma)
    // The precision: the prior's lower triangle plus the curvature, then made symmetric.
    var precision = priorPrecision.lowerTriangleCopy()
    scaled.withUnsafeMutableBufferPointer { scaled in
      hb.scalars.withUnsafeBufferPointer { hb in
        // Pointers rather than indices, so that the rows' loop vectorises.
        let (to, from) = (scaled.baseAddress!, hb.baseAddress!)
        for (i, weight) in weights.enumerated() {
          let (row, source) = (to + i * width, from + i * width)
          for j in 0..<width { row[j] = weight * source[j] }
        }
      }
      precision.addGramToLower(
        rows: rows.count, columns: width, of: UnsafeBufferPointer(scaled))
    }
    precision.symmetrizeFromLower()
    let gradient = hb.combiningRows(residual)
    return try newtonStep(
      theta: theta, gradient: gradient, precision: precision, priorMean: priorMean,
      priorPrecision: priorPrecision, name: "\(name), binary output \(o)")
  }
}

/// The posterior of all parameters `[W | b]` (`[K, d + 1]`, flattened row-major) of a
/// softmax head.
///
/// The curvature per datum is `(diag(p) − ppᵀ) ⊗ hb hbᵀ`; block `(c, c′)` of the `K(d + 1)`
/// square precision is `Σ_n (δ_cc′ p_c − p_c p_c′) hbₙ hbₙᵀ`.
/// - Parameters:
///   - features: `H`, `[n, d]`.
///   - labels: `[n, 1]` class indices; NaN leaves the datum out.
///   - head: The current head, weight `[K, d]`, the expansion point.
///   - prior: The prior (the full-data posterior), or `nil` for `N(0, γI)`.
///   - gamma: The prior variance γ when `prior` is `nil`.
///   - name: How errors name the posterior.
/// - Throws: `LinearAlgebraError` if the precision does not factorise.
/// - Precondition: shapes agree; labels are valid class indices.
/// - Complexity: O(K² · n · d² + K³ · d³).
func multiclassPosterior(
  features: Matrix, labels: Matrix, head: TaskHead, prior given: GaussianPosterior?,
  gamma: Double, name: String
) throws -> GaussianPosterior {
  let (n, d, classes) = (features.rows, features.columns, head.weight.rows)
  precondition(
    labels.rows == n && labels.columns == 1 && head.weight.columns == d,
    "multiclassPosterior: features \(features.shape), labels \(labels.shape), head "
      + "\(head.weight.shape)")
  let width = d + 1
  let theta = head.parameters
  let rows = (0..<n).filter { !labels[$0, 0].isNaN }
  let hb = features.gatheringRows(rows).appendingColumn(repeating: 1)
  let headMatrix = Matrix(rows: classes, columns: width, scalars: theta)
  var probabilities = matmul(hb, headMatrix, transposeB: true)
  softmaxRows(&probabilities)
  var residual = probabilities
  for (i, row) in rows.enumerated() { residual[i, Int(labels[row, 0])] -= 1 }
  let gradient = matmul(residual, hb, transposeA: true).scalars

  // Block (c, c′) is hbᵀ diag(v) hb with v = p_c(1 − p_c) on the diagonal and −p_c p_c′ off
  // it: each is ±(√|v| hb)ᵀ(√|v| hb), a symmetric rank-k update. The blocks run concurrently
  // and are added onto the prior's precision in place. Each block is exactly symmetric (the
  // Gram matrix is), so block (c′, c) is block (c, c′) again, copied row by row, and the sum
  // is exactly symmetric when the prior's precision is.
  let size = classes * width
  let (priorMean, priorPrecision) = prior(given, size: size, gamma: gamma)
  var precision = priorPrecision
  let pairs = (0..<classes).flatMap { c in (c..<classes).map { (c, $0) } }
  let count = rows.count
  precision.scalars.withUnsafeMutableBufferPointer { target in
    hb.scalars.withUnsafeBufferPointer { hb in
      probabilities.scalars.withUnsafeBufferPointer { p in
        let queue = WorkQueue(count: pairs.count)
        forEachItem(min(pairs.count, max(ProcessInfo.processInfo.activeProcessorCount, 1))) { _ in
          var scaled = [Double](repeating: 0, count: count * width)
          while let pair = queue.next() {
            let (c, c2) = pairs[pair]
            let block = scaled.withUnsafeMutableBufferPointer { scaled in
              for i in 0..<count {
                let (pc, pc2) = (p[i * classes + c], p[i * classes + c2])
                let v = c == c2 ? pc * (1 - pc) : pc * pc2
                let weight = v.squareRoot()
                for j in 0..<width { scaled[i * width + j] = weight * hb[i * width + j] }
              }
              return Matrix.gram(rows: count, columns: width, of: UnsafeBufferPointer(scaled))
            }
            let sign: Double = c == c2 ? 1 : -1
            block.scalars.withUnsafeBufferPointer { block in
              for i in 0..<width {
                let source = block.baseAddress! + i * width
                let upper = target.baseAddress! + (c * width + i) * size + c2 * width
                let lower = target.baseAddress! + (c2 * width + i) * size + c * width
                for j in 0..<width { upper[j] += sign * source[j] }
                if c != c2 { for j in 0..<width { lower[j] += sign * source[j] } }
              }
            }
          }
        }
      }
    }
  }
  return try newtonStep(
    theta: theta, gradient: gradient, precision: precision, priorMean: priorMean,
    priorPrecision: priorPrecision, name: "\(name), multiclass parameters")
}

/// The given prior's mean and precision, or those of `N(0, γI)`.
private func prior(_ given: GaussianPosterior?, size: Int, gamma: Double) -> ([Double], Matrix) {
  if let given {
    precondition(
      given.mean.count == size, "prior has \(given.mean.count) parameters, expected \(size)")
    return (given.mean, given.precision)
  }
  return ([Double](repeating: 0, count: size), Matrix.identity(size, scale: 1 / gamma))
}

/// `mean = θ − Λ⁻¹ (∇L + Λ_p (θ − m_p))`, covariance `Λ⁻¹`.
private func newtonStep(
  theta: [Double], gradient: [Double], precision: Matrix, priorMean: [Double],
  priorPrecision: Matrix, name: String
) throws -> GaussianPosterior {
  let offset = zip(theta, priorMean).map { $0 - $1 }
  let pull = priorPrecision.applied(to: offset)
  let step = zip(gradient, pull).map { $0 + $1 }
  var posterior = try GaussianPosterior(mean: theta, precision: precision, name: name)
  let delta = posterior.factor.solve(step)
  for i in posterior.mean.indices { posterior.mean[i] -= delta[i] }
  return posterior
}

/// Replaces each row `z` by `softmax(z)`, subtracting the row maximum first.
func softmaxRows(_ matrix: inout Matrix) {
  let (rows, k) = (matrix.rows, matrix.columns)
  matrix.scalars.withUnsafeMutableBufferPointer { buffer in
    for i in 0..<rows {
      var largest = -Double.infinity
      for c in 0..<k { largest = max(largest, buffer[i * k + c]) }
      var total = 0.0
      for c in 0..<k {
        let e = exp(buffer[i * k + c] - largest)
        buffer[i * k + c] = e
        total += e
      }
      for c in 0..<k { buffer[i * k + c] /= total }
    }
  }
}
