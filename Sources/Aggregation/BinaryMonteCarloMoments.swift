import CKernels
import Foundation
import Tensors

// The Monte-Carlo moments of binary outputs (see MonteCarloMoments.swift for the estimator,
// the workspaces and the parallelism they share with softmax groups): per output, draws from
// its posterior, the logits and residuals against the batch, and the two sums against the
// draws and their squares, by AVX-512 register tiles (BinaryMoments.c) or BLAS.

/// How the products of a binary output's Monte-Carlo moments are computed.
enum BinaryProducts {
  /// The register tiles of BinaryMoments.c, which read the draws in place (AVX-512).
  case tiles
  /// BLAS products, then the residuals in a separate pass (any processor).
  case blas

  /// Tiles where the processor has AVX-512, BLAS elsewhere.
  static let preferred: BinaryProducts = bayesagg_binary_tiles_supported() != 0 ? .tiles : .blas
}

/// How this processor computes the products of binary Monte-Carlo moments, for reports.
///
/// With AVX2 alone the tiles would have half as many lanes in half as many registers; measured
/// in the CIFAR-MTL setting they were no faster than BLAS, which runs those products at about
/// 90% of the machine's multiply-add rate, so only AVX-512 processors take them.
public var binaryMonteCarloProductsDescription: String {
  switch BinaryProducts.preferred {
  case .tiles: "register tiles (AVX-512)"
  case .blas: "BLAS (the register tiles need AVX-512)"
  }
}

/// The mean and variance of each binary output's gradient `(σ(wᵀh + b) − y) w` over `S`
/// posterior samples.
///
/// Per output, with the samples `Ws` (`[S, d + 1]`) and `R = σ(hb Wsᵀ) − y` (`[B, S]`):
/// ```
/// E[g] ≈ R Ws[:, :d] / S,   E[g²] ≈ (R ∘ R)(Ws[:, :d] ∘ Ws[:, :d]) / S,   Var = E[g²] − E[g]²
/// ```
/// Each output has its own independent samples; the outputs run concurrently. Training takes
/// the posteriors and these moments in one pass (`binaryPosteriorsAndMonteCarloMoments`); this
/// two-pass form, for given posteriors, is its reference in the tests and compares the tiles
/// with BLAS.
/// - Parameters:
///   - h: `[B, d]`.
///   - labels: `[B, O]`, NaN for missing (that task is absent for that datum).
///   - posteriors: One posterior over `[w_o, b_o]` per output.
///   - samples: `S`.
///   - generator: The source of the normal draws.
///   - products: How the products are computed (the tiles and BLAS agree to rounding).
/// - Returns: Moments with one task per output.
/// - Complexity: O(O · S · (B + d) · d) time, O(S · d + B · S) memory per core.
func binaryMonteCarloMoments(
  h: Matrix, labels: Matrix, posteriors: [GaussianPosterior], samples: Int,
  using generator: inout RandomGenerator, products: BinaryProducts = .preferred
) -> TaskMoments {
  let outputs = posteriors.count
  let streams = (0..<outputs).map { _ in generator.split() }
  let problem = BinaryMonteCarloProblem(
    h: h, labels: labels, outputs: outputs, samples: samples, products: products)
  var moments = problem.emptyMoments()
  guard problem.working else { return moments }
  moments.withDestinations { destinations in
    forEachItem(outputs, makeState: problem.buffers) { o, buffers in
      var stream = streams[o]
      problem.moments(
        output: o, posterior: posteriors[o], using: &stream, buffers: &buffers,
        into: destinations)
    }
  }
  return moments
}

/// A binary group's posteriors and the Monte-Carlo moments of its outputs' gradients, each
/// output's moments computed right after its posterior by the same worker, while its factor is
/// still in that core's cache, in one concurrent pass over the outputs.
///
/// The same posteriors as `binaryPosteriors` and the same moments, bit for bit, as
/// `binaryMonteCarloMoments` given them (the same streams, split off `generator` in output
/// order before any work).
/// - Throws: the error of the first output (in output order) whose precision does not
///   factorise.
func binaryPosteriorsAndMonteCarloMoments(
  h: Matrix, labels: Matrix, head: TaskHead, priors: [GaussianPosterior]?, gamma: Double,
  name: String, samples: Int, using generator: inout RandomGenerator,
  products: BinaryProducts = .preferred
) throws -> ([GaussianPosterior], TaskMoments) {
  let posteriorProblem = BinaryPosteriorProblem(
    features: h, labels: labels, head: head, priors: priors, gamma: gamma, name: name)
  let outputs = posteriorProblem.outputs
  let streams = (0..<outputs).map { _ in generator.split() }
  let problem = BinaryMonteCarloProblem(
    h: h, labels: labels, outputs: outputs, samples: samples, products: products)
  var moments = problem.emptyMoments()
  var results = [Result<GaussianPosterior, any Error>?](repeating: nil, count: outputs)
  results.withUnsafeMutableBufferPointer { results in
    moments.withDestinations { destinations in
      // The Monte-Carlo buffers are made by a worker's first output that needs them.
      let makeState = { (posteriorProblem.scratch(), BinaryMonteCarloProblem.Buffers?.none) }
      forEachItem(outputs, makeState: makeState) { o, state in
        let result = Result { try posteriorProblem.posterior(output: o, scratch: &state.0) }
        results[o] = result
        guard problem.working, case .success(let posterior) = result else { return }
        if state.1 == nil { state.1 = problem.buffers() }
        var stream = streams[o]
        problem.moments(
          output: o, posterior: posterior, using: &stream, buffers: &state.1!,
          into: destinations)
      }
    }
  }
  return (try results.map { try $0!.get() }, moments)
}

/// What the Monte-Carlo moments of a binary group's outputs share: the features in `Float`
/// (with their column of ones, and transposed for the tiles), the labels and the sizes.
struct BinaryMonteCarloProblem {
  let batch: Int
  let d: Int
  let outputs: Int
  let samples: Int
  let labels: Matrix
  let products: BinaryProducts
  /// `hb`, `[B, d + 1]`.
  let features: [Float]
  /// The tiles take the data in columns, `hbᵀ` (`[d + 1, B′]`), zero-padded to a multiple of
  /// 32 (`stride`); empty for BLAS.
  let transposedFeatures: [Float]
  let stride: Int

  /// Whether there is anything to compute (else the moments are all zero).
  var working: Bool { batch > 0 && samples > 0 && outputs > 0 }

  init(h: Matrix, labels: Matrix, outputs: Int, samples: Int, products: BinaryProducts) {
    (batch, d) = (h.rows, h.columns)
    (self.outputs, self.samples, self.labels, self.products) = (outputs, samples, labels, products)
    let working = batch > 0 && samples > 0 && outputs > 0
    features = working ? h.appendingColumn(repeating: 1).scalars.map { Float($0) } : []
    stride = products == .tiles ? (batch + 31) / 32 * 32 : batch
    transposedFeatures =
      working && products == .tiles
      ? transposed(features, rows: batch, columns: d + 1, stride: stride) : []
  }

  /// The moments with each task's presence set. With work to do, every element is written by
  /// `moments(output:…)` (the moments of a present task, zeros for an absent one), so the
  /// arrays start uninitialised rather than zero-filled.
  func emptyMoments() -> TaskMoments {
    var moments =
      working
      ? TaskMoments(uninitializedBatchSize: batch, taskCount: outputs, representationSize: d)
      : TaskMoments(batchSize: batch, taskCount: outputs, representationSize: d)
    moments.isMonteCarloEstimate = true
    for o in 0..<outputs {
      for b in 0..<batch where !labels[b, o].isNaN { moments.setPresent(b, o) }
    }
    return moments
  }

  /// One worker's buffers.
  struct Buffers {
    var work: Workspace
    let squares: Scratch
    let residualSquares: Scratch
  }

  func buffers() -> Buffers {
    Buffers(
      work: Workspace(
        batch: batch, d: d, samples: samples, parameters: d + 1,
        residualCount: samples * stride),
      squares: Scratch(samples * d, zeros: 16), residualSquares: Scratch(samples * stride))
  }

  /// Output `o`'s moments, from `S` draws of `posterior` by `stream`, into its columns of
  /// `destinations` (`[B, O·d]` each).
  func moments(
    output o: Int, posterior: GaussianPosterior, using stream: inout RandomGenerator,
    buffers: inout Buffers, into destinations: MomentDestinations
  ) {
    let triangle = DrawTriangle(posterior.factor, samples: samples, tiles: products == .tiles)
    buffers.squares.withUnsafeMutableBufferPointer { squares in
      buffers.work.draw(
        posterior, triangle: triangle, samples: samples, using: &stream,
        squares: squares.baseAddress!, d: d, tiles: products == .tiles)
    }
    let targets = (0..<stride).map { $0 < batch ? Float(labels[$0, o]) : .nan }
    switch products {
    case .tiles:
      binaryOutputMomentsByTiles(
        &buffers.work, squares: buffers.squares, residualSquares: buffers.residualSquares,
        transposedFeatures: transposedFeatures, targets: targets, d: d, samples: samples)
    case .blas:
      binaryOutputMoments(
        &buffers.work, squares: buffers.squares, residualSquares: buffers.residualSquares,
        features: features, targets: Array(targets[..<batch]), d: d, samples: samples)
    }
    let row = outputs * d
    buffers.work.mean.withUnsafeBufferPointer { mean in
      buffers.work.second.withUnsafeBufferPointer { second in
        for b in 0..<batch {
          let offset = b * row + o * d
          guard !targets[b].isNaN else {
            (destinations.mean + offset).update(repeating: 0, count: d)
            (destinations.variance + offset).update(repeating: 0, count: d)
            continue
          }
          let (m, s) = (mean.baseAddress! + b * d, second.baseAddress! + b * d)
          bayesagg_store_moments(
            m, s, d, destinations.mean + offset, destinations.variance + offset)
        }
      }
    }
  }
}

/// Where the workers write the moments: each output its own columns.
struct MomentDestinations: @unchecked Sendable {
  let mean: UnsafeMutablePointer<Double>
  let variance: UnsafeMutablePointer<Double>
}

extension TaskMoments {
  /// `body` with pointers to the mean and variance, for workers that write disjoint elements.
  fileprivate mutating func withDestinations(_ body: (MomentDestinations) -> Void) {
    mean.scalars.withUnsafeMutableBufferPointer { means in
      variance.scalars.withUnsafeMutableBufferPointer { variances in
        guard let m = means.baseAddress, let v = variances.baseAddress else { return }
        body(MomentDestinations(mean: m, variance: v))
      }
    }
  }
}

/// `matrix` (`[rows, columns]`) transposed into `[columns, stride]`, zeros in columns
/// `rows..<stride`.
private func transposed(_ matrix: [Float], rows: Int, columns: Int, stride: Int) -> [Float] {
  var result = [Float](repeating: 0, count: columns * stride)
  for r in 0..<rows {
    for c in 0..<columns { result[c * stride + r] = matrix[r * columns + c] }
  }
  return result
}

/// One binary output's `E[g]` and `E[g²]` into `work.mean` and `work.second`, from the samples
/// in `work.weights`, by the register tiles: the residuals transposed (`[S, B′]`, with
/// `B′ = targets.count`), then both sums in one pass over the draws.
private func binaryOutputMomentsByTiles(
  _ work: inout Workspace, squares: Scratch, residualSquares: Scratch,
  transposedFeatures: [Float], targets: [Float], d: Int, samples: Int
) {
  let (width, stride, batch) = (d + 1, targets.count, work.mean.count / max(d, 1))
  work.weights.withUnsafeBufferPointer { w in
    work.residual.withUnsafeMutableBufferPointer { r in
      residualSquares.withUnsafeMutableBufferPointer { r2 in
        bayesagg_binary_logit_residuals(
          w.baseAddress!, width, samples, width, transposedFeatures, stride, targets,
          r.baseAddress!, r2.baseAddress!)
        squares.withUnsafeBufferPointer { w2 in
          work.mean.withUnsafeMutableBufferPointer { mean in
            work.second.withUnsafeMutableBufferPointer { second in
              bayesagg_binary_gradient_moments(
                r.baseAddress!, r2.baseAddress!, stride, batch, samples, w.baseAddress!, width,
                w2.baseAddress!, d, d, 1 / Float(samples), mean.baseAddress!,
                second.baseAddress!)
            }
          }
        }
      }
    }
  }
}

/// One binary output's `E[g]` and `E[g²]` into `work.mean` and `work.second`, from the samples
/// in `work.weights`.
private func binaryOutputMoments(
  _ work: inout Workspace, squares: Scratch, residualSquares: Scratch,
  features: [Float], targets: [Float], d: Int, samples: Int
) {
  let (batch, width) = (targets.count, d + 1)
  let scale = 1 / Float(samples)
  work.weights.withUnsafeBufferPointer { w in
    features.withUnsafeBufferPointer { hb in
      work.residual.withUnsafeMutableBufferPointer { r in
        // Logits hb Wsᵀ, then R = σ(logits) − y and R ∘ R in one pass.
        floatMatrixMultiply(
          transposeB: true, m: batch, n: samples, k: width, a: hb.baseAddress!, lda: width,
          b: w.baseAddress!, ldb: width, c: r.baseAddress!, ldc: samples)
        residualSquares.withUnsafeMutableBufferPointer { r2 in
          for b in 0..<batch {
            let (y, row) = (targets[b], (b * samples)..<((b + 1) * samples))
            guard !y.isNaN else {
              for s in row { (r[s], r2[s]) = (0, 0) }
              continue
            }
            // `fastExp`'s arithmetic, vectorised in C.
            bayesagg_binary_residuals(
              r.baseAddress! + row.lowerBound, r2.baseAddress! + row.lowerBound, samples, y)
          }
        }
      }
    }
    work.residual.withUnsafeBufferPointer { r in
      work.mean.withUnsafeMutableBufferPointer { mean in
        floatMatrixMultiply(
          m: batch, n: d, k: samples, alpha: scale, a: r.baseAddress!, lda: samples,
          b: w.baseAddress!, ldb: width, c: mean.baseAddress!, ldc: d)
      }
    }
  }
  residualSquares.withUnsafeBufferPointer { r2 in
    squares.withUnsafeBufferPointer { w2 in
      work.second.withUnsafeMutableBufferPointer { second in
        floatMatrixMultiply(
          m: batch, n: d, k: samples, alpha: scale, a: r2.baseAddress!, lda: samples,
          b: w2.baseAddress!, ldb: d, c: second.baseAddress!, ldc: d)
      }
    }
  }
}
