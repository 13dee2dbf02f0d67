import Tensors

// Monte-Carlo moments of classification gradients in the representation (Achituve et al.,
// ICML 2024, §3.2). The naive estimate holds an [S, B, O, d] array; here each output's
// samples are streamed through matrix products instead.

/// The mean and variance of each binary output's gradient `(σ(wᵀh + b) − y) w` over `S`
/// posterior samples.
///
/// Per output, with the samples `Ws` (`[S, d + 1]`) and `R = σ(hb Wsᵀ) − y` (`[B, S]`):
/// ```
/// E[g] ≈ R Ws[:, :d] / S,   E[g²] ≈ (R ∘ R)(Ws[:, :d] ∘ Ws[:, :d]) / S,   Var = E[g²] − E[g]²
/// ```
/// - Parameters:
///   - h: `[B, d]`.
///   - labels: `[B, O]`, NaN for missing (that task is absent for that datum).
///   - posteriors: One posterior over `[w_o, b_o]` per output.
///   - samples: `S`.
///   - generator: The source of the normal draws.
/// - Returns: Moments with one task per output.
/// - Complexity: O(O · S · (B + d) · d) time, O(S · d + B · S) memory.
func binaryMonteCarloMoments(
  h: Matrix, labels: Matrix, posteriors: [GaussianPosterior], samples: Int,
  using generator: inout RandomGenerator
) -> TaskMoments {
  let (batch, d, outputs) = (h.rows, h.columns, posteriors.count)
  let hb = h.appendingColumn(repeating: 1)
  var moments = TaskMoments(batchSize: batch, taskCount: outputs, representationSize: d)
  let scale = 1 / Double(samples)
  for o in 0..<outputs {
    let weights = posteriors[o].samples(samples, using: &generator)
    var residual = matmul(hb, weights, transposeB: true)
    for b in 0..<batch {
      let y = labels[b, o]
      if !y.isNaN { moments.setPresent(b, o) }
      residual.scalars.withUnsafeMutableBufferPointer { r in
        for s in 0..<samples {
          r[b * samples + s] = y.isNaN ? 0 : sigmoid(r[b * samples + s]) - y
        }
      }
    }
    let w = weights.slicingColumns(0..<d)
    let mean = matmul(residual, w, alpha: scale)
    let second = matmul(residual.hadamard(residual), w.hadamard(w), alpha: scale)
    store(mean: mean, second: second, task: o, into: &moments)
  }
  return moments
}

/// The mean and variance of a softmax group's gradient `Σ_c (softmax_c − 1[c = y]) w_c` over
/// `S` posterior samples.
///
/// The samples of the `K(d + 1)` parameters, `[S, K(d + 1)]`, are read as `[S·K, d + 1]`
/// (row `s·K + c` is class `c` of sample `s`). One product gives every logit; then each
/// sample's gradient `G_s = R_s W_s[:, :d]` (`[B, K] × [K, d]`) is one small product, and
/// `Σ_s G_s`, `Σ_s G_s ∘ G_s` are accumulated.
/// - Parameters:
///   - h: `[B, d]`.
///   - labels: `[B, 1]` class indices, NaN for missing.
///   - posterior: The posterior over the `K(d + 1)` parameters.
///   - classes: `K`.
///   - samples: `S`.
///   - generator: The source of the normal draws.
/// - Returns: Moments with one task.
/// - Complexity: O(S · K · d · (B + K · d)) time, O(S · K · (B + d)) memory.
func multiclassMonteCarloMoments(
  h: Matrix, labels: Matrix, posterior: GaussianPosterior, classes: Int, samples: Int,
  using generator: inout RandomGenerator
) -> TaskMoments {
  let (batch, d) = (h.rows, h.columns)
  let width = d + 1
  let hb = h.appendingColumn(repeating: 1)
  var moments = TaskMoments(batchSize: batch, taskCount: 1, representationSize: d)
  let weights = posterior.samples(samples, using: &generator)
    .reshaped(rows: samples * classes, columns: width)
  var residual = matmul(hb, weights, transposeB: true)
  let row = samples * classes
  var logits = Matrix(rows: samples, columns: classes)
  for b in 0..<batch {
    let y = labels[b, 0]
    if y.isNaN {
      for i in 0..<row { residual.scalars[b * row + i] = 0 }
      continue
    }
    moments.setPresent(b, 0)
    logits.scalars.withUnsafeMutableBufferPointer { target in
      residual.scalars.withUnsafeBufferPointer { source in
        for i in 0..<row { target[i] = source[b * row + i] }
      }
    }
    softmaxRows(&logits)
    for s in 0..<samples { logits.scalars[s * classes + Int(y)] -= 1 }
    residual.scalars.replaceSubrange((b * row)..<((b + 1) * row), with: logits.scalars)
  }

  var sum = Matrix(rows: batch, columns: d)
  var sumOfSquares = sum
  var perSample = sum
  for s in 0..<samples {
    perSample.multiplyAccumulate(
      residual,
      block: MatrixBlock(firstRow: 0, firstColumn: s * classes, rows: batch, columns: classes),
      weights, block: MatrixBlock(firstRow: s * classes, firstColumn: 0, rows: classes, columns: d))
    perSample.scalars.withUnsafeBufferPointer { g in
      sum.scalars.withUnsafeMutableBufferPointer { total in
        sumOfSquares.scalars.withUnsafeMutableBufferPointer { squares in
          for i in 0..<g.count {
            total[i] += g[i]
            squares[i] += g[i] * g[i]
          }
        }
      }
    }
  }
  let scale = 1 / Double(samples)
  store(mean: scale * sum, second: scale * sumOfSquares, task: 0, into: &moments)
  return moments
}

/// Writes `E[g]` and `Var = E[g²] − E[g]²` (`[B, d]` each) into task `t` of `moments`, for
/// the data where the task is present.
func store(mean: Matrix, second: Matrix, task t: Int, into moments: inout TaskMoments) {
  let (d, tasks) = (moments.representationSize, moments.taskCount)
  for b in 0..<mean.rows where moments.isPresent(b, task: t) {
    for j in 0..<d {
      let mu = mean[b, j]
      moments.mean.scalars[b * tasks * d + t * d + j] = mu
      moments.variance.scalars[b * tasks * d + t * d + j] = second[b, j] - mu * mu
    }
  }
}
