import Tensors

/// The posterior of a regression head's weights: exact Bayesian linear regression.
///
/// Model (Achituve et al., "Bayesian Uncertainty for Gradient Aggregation in Multi-Task
/// Learning", ICML 2024, as in the reference code): `y_o = w_oᵀh + ε`, `ε ~ N(0, 1)`, prior
/// `w_o ~ N(m₀, Λ₀⁻¹)`, no bias. Given features `H` and labels `Y`:
/// ```
/// Λ = Λ₀ + HᵀH,   Σ = Λ⁻¹,   m_o = Σ (Λ₀ m₀,o + Hᵀ y_o)
/// ```
/// One `Σ` is shared by every output with the same missing-label pattern; with no missing
/// labels there is a single block, as in the reference.
public struct RegressionPosterior: Sendable {
  /// Outputs sharing one precision matrix.
  public struct Block: Sendable {
    /// The output indices of the block, ascending.
    public var outputs: [Int]
    /// `Λ`, `d × d`.
    public var precision: Matrix
    /// `Σ = Λ⁻¹`, `d × d`.
    public var covariance: Matrix
    /// One mean per output of the block, `[outputs.count, d]`.
    public var means: Matrix
  }

  /// The blocks; every output appears in exactly one.
  public var blocks: [Block]
  /// The number of outputs `O`.
  public var outputCount: Int

  /// The block index of each output.
  var blockOfOutput: [Int] {
    var result = [Int](repeating: 0, count: outputCount)
    for (k, block) in blocks.enumerated() {
      for o in block.outputs { result[o] = k }
    }
    return result
  }

  /// The posterior means, `[O, d]`, one row per output.
  public var means: Matrix {
    let d = blocks.first?.means.columns ?? 0
    var result = Matrix(rows: outputCount, columns: d)
    for block in blocks {
      for (row, o) in block.outputs.enumerated() {
        for j in 0..<d { result[o, j] = block.means[row, j] }
      }
    }
    return result
  }

  /// The posterior given `features` and `labels`, from `prior` or, if `nil`, from `N(0, γI)`.
  ///
  /// - Parameters:
  ///   - features: `H`, `[n, d]`, finite.
  ///   - labels: `Y`, `[n, O]`; NaN marks a missing label, left out of that output's likelihood.
  ///   - prior: The prior (usually the full-data posterior), or `nil` for `N(0, γI)`.
  ///   - gamma: The prior variance γ, used when `prior` is `nil`.
  ///   - name: How errors name this posterior.
  /// - Throws: `LinearAlgebraError` if a precision matrix does not factorise.
  /// - Precondition: `labels.rows == features.rows`; a prior has `labels.columns` outputs.
  /// - Complexity: O(n · d² + d³) per missing-label pattern.
  public static func fit(
    features: Matrix, labels: Matrix, prior: RegressionPosterior?, gamma: Double, name: String
  ) throws -> RegressionPosterior {
    let (n, d, outputs) = (features.rows, features.columns, labels.columns)
    precondition(
      labels.rows == n, "RegressionPosterior: \(labels.rows) label rows, \(n) feature rows")
    if let prior {
      precondition(
        prior.outputCount == outputs,
        "RegressionPosterior: prior has \(prior.outputCount) outputs, labels \(outputs)")
    }

    // Group outputs by (prior block, missing pattern); each group shares one precision.
    let priorBlockOfOutput = prior?.blockOfOutput ?? [Int](repeating: 0, count: outputs)
    var keys: [(priorBlock: Int, rows: [Int])] = []
    var members: [[Int]] = []
    for o in 0..<outputs {
      let rows = (0..<n).filter { !labels[$0, o].isNaN }
      let match = keys.firstIndex { $0.priorBlock == priorBlockOfOutput[o] && $0.rows == rows }
      if let k = match {
        members[k].append(o)
      } else {
        keys.append((priorBlockOfOutput[o], rows))
        members.append([o])
      }
    }

    var blocks: [Block] = []
    for (key, group) in zip(keys, members) {
      // Prior precision Λ₀ and the prior term Λ₀ m₀ of each output, as columns [d, k].
      var precision: Matrix
      var rightHandSides: Matrix
      if let prior {
        let priorBlock = prior.blocks[key.priorBlock]
        precision = priorBlock.precision
        let rowsInPrior = group.map { o in priorBlock.outputs.firstIndex(of: o)! }
        rightHandSides = matmul(
          priorBlock.precision, priorBlock.means.gatheringRows(rowsInPrior), transposeB: true)
      } else {
        precision = Matrix.identity(d, scale: 1 / gamma)
        rightHandSides = Matrix(rows: d, columns: group.count)
      }
      let h = features.gatheringRows(key.rows)
      precision = precision + matmul(h, h, transposeA: true)
      precision.symmetrizeFromLower()
      var y = Matrix(rows: key.rows.count, columns: group.count)
      for (i, row) in key.rows.enumerated() {
        for (k, o) in group.enumerated() { y[i, k] = labels[row, o] }
      }
      rightHandSides = rightHandSides + matmul(h, y, transposeA: true)
      let factor = try precision.cholesky(name: "\(name), precision of outputs \(group)")
      blocks.append(
        Block(
          outputs: group, precision: precision, covariance: factor.inverse(),
          means: factor.solve(rightHandSides).transposed()))
    }
    return RegressionPosterior(blocks: blocks, outputCount: outputs)
  }

  /// The mean and variance of each output's gradient in `h`, in closed form.
  ///
  /// Per datum and output, `g = ∂(y − wᵀh)²/∂h = 2(w wᵀh − y w)` with `w ~ N(m_o, Σ)`. With
  /// `m = m_oᵀh − y`, `c = Σh`, `v = hᵀΣh`:
  /// ```
  /// E[g]     = 2(c + m · m_o)
  /// Var[g_j] = 4(v Σ_jj + v m_o,j² + m² Σ_jj + c_j² + 2 m m_o,j c_j)
  /// ```
  /// (write `g/2 = s w` with `s = m + eᵀh`, `w = m_o + e`, `e ~ N(0, Σ)`, and use the fourth
  /// moments of jointly Gaussian scalars). A missing label gives a zero, absent task.
  /// - Parameters:
  ///   - h: The representation, `[B, d]`.
  ///   - labels: `[B, O]`, NaN for missing.
  /// - Returns: Moments with one task per output.
  /// - Precondition: shapes match the posterior.
  /// - Complexity: O(B · d²) per block plus O(B · O · d).
  public func gradientMoments(h: Matrix, labels: Matrix) -> TaskMoments {
    let (batch, d) = (h.rows, h.columns)
    precondition(
      labels.rows == batch && labels.columns == outputCount,
      "RegressionPosterior.gradientMoments: labels \(labels.shape), expected [\(batch), "
        + "\(outputCount)]")
    var moments = TaskMoments(batchSize: batch, taskCount: outputCount, representationSize: d)
    for block in blocks {
      precondition(
        block.means.columns == d,
        "RegressionPosterior: posterior d \(block.means.columns), h d \(d)")
      let c = matmul(h, block.covariance)
      let varianceDiagonal = block.covariance.diagonal
      for b in 0..<batch {
        var v = 0.0
        for j in 0..<d { v += c[b, j] * h[b, j] }
        for (row, o) in block.outputs.enumerated() {
          let y = labels[b, o]
          guard !y.isNaN else { continue }
          var m = -y
          for j in 0..<d { m += block.means[row, j] * h[b, j] }
          moments.setPresent(b, o)
          let base = b * outputCount * d + o * d
          for j in 0..<d {
            let (mj, cj, sjj) = (block.means[row, j], c[b, j], varianceDiagonal[j])
            moments.mean.scalars[base + j] = 2 * (cj + m * mj)
            moments.variance.scalars[base + j] =
              4 * (v * sjj + v * mj * mj + m * m * sjj + cj * cj + 2 * m * mj * cj)
          }
        }
      }
    }
    return moments
  }
}
