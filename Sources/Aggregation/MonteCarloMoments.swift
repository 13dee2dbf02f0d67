import CKernels
import Dispatch
import Foundation
import Tensors

// Monte-Carlo moments of classification gradients in the representation (Achituve et al.,
// ICML 2024, §3.2). The naive estimate holds an [S, B, O, d] array; here the samples are
// streamed through matrix products instead.
//
// The posterior algebra (precision, Cholesky factor `L`, `L⁻¹`) is in `Double`. The draws
// `w = m + L⁻ᵀz`, from normals computed in vectors (`fillCounterNormal`), are made by a `Float`
// triangular solve against `L`, or for the register tiles with `L⁻¹` rounded to `Float` (see
// `DrawTriangle`). The products and element-wise work after them run in `Float`: their
// rounding (~1e-7 relative, or `cond(L) · 6e-8` for the solve) is far below the sampling noise
// (~1/√S). On processors with AVX-512 a binary output's two products (logits with residuals,
// then the sums against the draws and their squares) are register tiles in C that read the
// draws in place (BinaryMoments.c, `BinaryProducts`); they agree with the BLAS path to
// rounding. The binary outputs' moments are in BinaryMonteCarloMoments.swift; this file holds
// what they share with softmax groups, and the softmax groups' own.
//
// Parallelism: independent work items (one per binary output, with its posterior, or one per
// chunk of a softmax group's samples) run concurrently, each with single-threaded BLAS, so
// that no BLAS thread spins while another core does element-wise work. Each item draws from
// its own generator, split off the caller's in a fixed order, and the partial sums are added
// in a fixed order: the result depends only on the seed, not on the number of cores or on
// timing.

/// How many chunks of samples a softmax group's draws are split into (a constant: it fixes the
/// stream for a given seed).
private let sampleChunks = 4

/// Runs `body(i)` for `i` in `0..<count` concurrently, with BLAS single-threaded meanwhile.
///
/// The callers' items write disjoint buffers, so sharing `body` (and the pointers it captures)
/// across threads is safe though the compiler cannot check it.
func forEachItem(_ count: Int, _ body: (Int) -> Void) {
  BLASThreads.holdingOne {
    withoutActuallyEscaping(body) { body in
      nonisolated(unsafe) let shared = body
      DispatchQueue.concurrentPerform(iterations: count) { shared($0) }
    }
  }
}

/// Runs `body(i, &state)` for `i` in `0..<count` on up to one worker per core, each worker
/// taking the next index when it is free (`WorkQueue`) and keeping one `state`, made by
/// `makeState`, for all of its items (buffers that are reused).
func forEachItem<State>(
  _ count: Int, makeState: () -> State, _ body: (Int, inout State) -> Void
) {
  guard count > 0 else { return }
  let workers = min(count, max(ProcessInfo.processInfo.activeProcessorCount, 1))
  let queue = WorkQueue(count: count)
  forEachItem(workers) { _ in
    var state = makeState()
    while let i = queue.next() { body(i, &state) }
  }
}

/// Hands out `0..<count` one index at a time to whichever worker asks first, so that a worker
/// slowed by other processes takes fewer items. Each item's result does not depend on which
/// worker computes it.
final class WorkQueue: @unchecked Sendable {
  private let lock = NSLock()
  private var nextIndex = 0
  private let count: Int

  init(count: Int) { self.count = count }

  /// The next index not yet handed out, or `nil` when all are.
  func next() -> Int? {
    lock.lock()
    defer { lock.unlock() }
    guard nextIndex < count else { return nil }
    nextIndex += 1
    return nextIndex - 1
  }
}

/// `e^x` in `Float`, branch-free so that loops over it vectorise; `x` is clamped to
/// `[−87, 87]` (where `e^x` is a normal `Float`).
///
/// Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, then the Cephes `expf`
/// polynomial for `e^r` and `2^n` built in the exponent bits: about 1 ulp.
@inline(__always)
func fastExp(_ x: Float) -> Float {
  let x = min(max(x, -87), 87)
  // Adding 1.5 · 2²³ rounds x / ln 2 to the integer n, which lands in the low mantissa bits.
  let shifted = x * 1.442_695_04 + 12_582_912
  let n = shifted - 12_582_912
  let power = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
  let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
  var p: Float = 1.987_569_15e-4
  p = p * r + 1.398_199_95e-3
  p = p * r + 8.333_451_9e-3
  p = p * r + 4.166_579_59e-2
  p = p * r + 1.666_666_55e-1
  p = p * r + 5.000_000_12e-1
  return (p * r * r + r + 1) * power
}

/// A buffer of `count` floats left uninitialised, for workspaces that are written before read,
/// then `zeros` zeros (the tiled kernels read whole vectors of 16 past an operand's last row).
/// It starts on a 64-byte boundary, so that with rows of a multiple of 16 floats every vector
/// of the register tiles lies in one cache line: with the residuals 48 bytes off a boundary,
/// as a Swift array's elements may be, the moment tiles took 24% longer (C harness, one
/// CIFAR-MTL output: 455–467 against 366–384 µs).
final class Scratch {
  let count: Int
  private let base: UnsafeMutablePointer<Float>

  init(_ count: Int, zeros: Int = 0) {
    self.count = count + zeros
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(self.count, 1) * MemoryLayout<Float>.stride, alignment: 64)
    base = raw.bindMemory(to: Float.self, capacity: max(self.count, 1))
    if zeros > 0 { (base + count).initialize(repeating: 0, count: zeros) }
  }

  deinit { base.deallocate() }

  func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: base, count: count))
  }

  func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try body(UnsafeMutableBufferPointer(start: base, count: count))
  }
}

/// The buffers of one work item: `S` samples of an `n`-parameter posterior against a batch.
/// They are written before they are read, so they start uninitialised.
struct Workspace {
  /// The samples `w = m + L⁻ᵀz`, `[S, n]`.
  let weights: Scratch
  /// The logits, then the residuals: `[B, S·(K or 1)]`, or `[S, B′]` for the tiled products.
  let residual: Scratch
  /// `E[g]` and `E[g²]` (or their partial sums), `[B, d]`.
  let mean: Scratch
  let second: Scratch

  /// `residualCount` floats for the logits and residuals. The draws are followed by 16 zeros,
  /// which the tiled products may read past the last row (`bayesagg_binary_gradient_moments`).
  init(batch: Int, d: Int, samples: Int, parameters n: Int, residualCount: Int) {
    weights = Scratch(samples * n, zeros: 16)
    residual = Scratch(residualCount)
    mean = Scratch(batch * d)
    second = Scratch(batch * d)
  }

  /// Fills `weights` with `samples` draws `m + L⁻ᵀz` from `posterior`, one per row, with
  /// `z` from `fillCounterNormal` and `L⁻ᵀz` by `triangle`. With `squares` (`[S, d]`), also
  /// writes the squares of each draw's first `d` values there.
  mutating func draw(
    _ posterior: GaussianPosterior, triangle: DrawTriangle, samples: Int,
    using generator: inout RandomGenerator, squares: UnsafeMutablePointer<Float>? = nil, d: Int = 0,
    tiles: Bool = BinaryProducts.preferred == .tiles
  ) {
    let n = posterior.mean.count
    // Padded for the whole-vector reads of `bayesagg_draw_rows`.
    let mean = posterior.mean.map { Float($0) } + [Float](repeating: 0, count: 16)
    weights.withUnsafeMutableBufferPointer { padded in
      // The draws themselves, without the padding after them.
      let w = UnsafeMutableBufferPointer(rebasing: padded[..<(samples * n)])
      generator.fillCounterNormal(w)
      switch triangle {
      case .inverse(let inverse) where tiles:
        // The product, shift and squares in one pass, equal to the BLAS path's bit for bit.
        bayesagg_draw_rows(w.baseAddress!, samples, n, inverse, mean, squares, d)
        return
      case .inverse(let inverse):
        inverse.withUnsafeBufferPointer {
          let triangle = UnsafeBufferPointer(rebasing: $0[..<(n * n)])
          floatMultiplyByLowerTriangle(rows: samples, size: n, triangle: triangle, inPlace: w)
        }
      case .factor(let lower):
        lower.withUnsafeBufferPointer {
          floatMultiplyByLowerTriangle(
            rows: samples, size: n, triangle: $0, inverted: true, inPlace: w)
        }
      }
      bayesagg_shift_rows(w.baseAddress!, mean, samples, n, squares, d)
    }
  }
}

/// The lower triangle in `Float` that turns standard normal rows `z` into `L⁻ᵀz`, for a
/// posterior precision `Λ = L Lᵀ`.
enum DrawTriangle {
  /// `L⁻¹`, computed in `Double` and rounded: the rows are multiplied by it, within about 1e-7
  /// relative of the exact draws. Followed by 32 zeros for `bayesagg_draw_rows`.
  case inverse([Float])
  /// `L` rounded: the rows are solved against it, within about `cond(L) · 6e-8` relative.
  case factor([Float])

  /// `L⁻¹` for the register tiles' fused draws (`bayesagg_draw_rows`), when it costs little
  /// next to them, that is for `n < S / 2` (`n³/6` multiply-adds once, against `S n²/2` for
  /// the draws); `L` itself otherwise.
  ///
  /// Without the tiles the draws are a BLAS call either way, and OpenBLAS's `strsm` against
  /// `L` takes about the time of its `strmm` by `L⁻¹` (CIFAR-MTL, AVX2): computing `L⁻¹`
  /// first only added its own 128 µs per output, 0.7 ms of the aggregation.
  init(_ factor: CholeskyFactor, samples: Int, tiles: Bool) {
    self =
      tiles && 2 * factor.size < samples
      ? .inverse(factor.lowerInverseAsFloat(padding: 32))
      : .factor(factor.lowerAsFloat())
  }
}

/// The mean and variance of a softmax group's gradient `Σ_c (softmax_c − 1[c = y]) w_c` over
/// `S` posterior samples.
///
/// The samples of the `K(d + 1)` parameters, `[S, K(d + 1)]`, are read as `[S·K, d + 1]`
/// (row `s·K + c` is class `c` of sample `s`). One product gives every logit, and the
/// residuals `R` (`[B, S·K]`) give `Σ_s G_s = R Ws[:, :d]` in another. The second moment
/// `Σ_s G_s ∘ G_s = Σ_{c, c′} (R_c ∘ R_c′)(W_c ∘ W_c′)`, with `R_c` the `[B, S]` residuals of
/// class `c` and `W_c` the `[S, d]` weights of class `c`, is `K(K + 1)/2` products (the
/// off-diagonal pairs counted twice). The samples are split into chunks that run concurrently.
/// - Parameters:
///   - h: `[B, d]`.
///   - labels: `[B, 1]` class indices, NaN for missing.
///   - posterior: The posterior over the `K(d + 1)` parameters.
///   - classes: `K`.
///   - samples: `S`.
///   - generator: The source of the normal draws.
/// - Returns: Moments with one task.
/// - Complexity: O(S · K · d · (K · B + K · d)) time, O(S · K · (B + d)) memory.
func multiclassMonteCarloMoments(
  h: Matrix, labels: Matrix, posterior: GaussianPosterior, classes: Int, samples: Int,
  using generator: inout RandomGenerator
) -> TaskMoments {
  let (batch, d) = (h.rows, h.columns)
  var moments = TaskMoments(batchSize: batch, taskCount: 1, representationSize: d)
  moments.isMonteCarloEstimate = true
  for b in 0..<batch where !labels[b, 0].isNaN { moments.setPresent(b, 0) }
  let streams = (0..<sampleChunks).map { _ in generator.split() }
  guard batch > 0, samples > 0 else { return moments }

  let features = h.appendingColumn(repeating: 1).scalars.map { Float($0) }
  let targets = (0..<batch).map { labels[$0, 0] }
  let triangle = DrawTriangle(posterior.factor, samples: samples, tiles: false)
  var means = [Float](repeating: 0, count: sampleChunks * batch * d)
  var seconds = means
  means.withUnsafeMutableBufferPointer { allMeans in
    seconds.withUnsafeMutableBufferPointer { allSeconds in
      forEachItem(sampleChunks) { c in
        let count = (c + 1) * samples / sampleChunks - c * samples / sampleChunks
        guard count > 0 else { return }
        var work = Workspace(
          batch: batch, d: d, samples: count, parameters: classes * (d + 1),
          residualCount: batch * count * classes)
        var stream = streams[c]
        work.draw(posterior, triangle: triangle, samples: count, using: &stream)
        softmaxChunkMoments(
          &work, features: features, targets: targets, d: d, classes: classes, samples: count,
          scale: 1 / Float(samples))
        let block = (c * batch * d)..<((c + 1) * batch * d)
        work.mean.withUnsafeBufferPointer {
          _ = UnsafeMutableBufferPointer(rebasing: allMeans[block]).initialize(from: $0)
        }
        work.second.withUnsafeBufferPointer {
          _ = UnsafeMutableBufferPointer(rebasing: allSeconds[block]).initialize(from: $0)
        }
      }
    }
  }
  // Add the chunks' partial sums in a fixed order.
  let size = batch * d
  for c in 1..<sampleChunks {
    for i in 0..<size {
      means[i] += means[c * size + i]
      seconds[i] += seconds[c * size + i]
    }
  }
  store(mean: means[0..<size], second: seconds[0..<size], task: 0, into: &moments)
  return moments
}

/// One chunk of a softmax group's samples: `scale · Σ_s G_s` into `work.mean` and
/// `scale · Σ_s G_s ∘ G_s` into `work.second`, from the samples in `work.weights`.
private func softmaxChunkMoments(
  _ work: inout Workspace, features: [Float], targets: [Double], d: Int, classes: Int,
  samples: Int, scale: Float
) {
  let (batch, width) = (targets.count, d + 1)
  let row = samples * classes
  work.weights.withUnsafeBufferPointer { w in
    features.withUnsafeBufferPointer { hb in
      work.residual.withUnsafeMutableBufferPointer { r in
        // Logits hb Wᵀ for every (sample, class), then softmax minus the one-hot label.
        floatMatrixMultiply(
          transposeB: true, m: batch, n: row, k: width, a: hb.baseAddress!, lda: width,
          b: w.baseAddress!, ldb: width, c: r.baseAddress!, ldc: row)
        for b in 0..<batch {
          let y = targets[b]
          for s in 0..<samples {
            let start = b * row + s * classes
            guard !y.isNaN else {
              for k in 0..<classes { r[start + k] = 0 }
              continue
            }
            var largest = -Float.infinity
            for k in 0..<classes { largest = max(largest, r[start + k]) }
            var total: Float = 0
            for k in 0..<classes {
              let e = fastExp(r[start + k] - largest)
              r[start + k] = e
              total += e
            }
            for k in 0..<classes { r[start + k] /= total }
            r[start + Int(y)] -= 1
          }
        }
        work.mean.withUnsafeMutableBufferPointer { mean in
          floatMatrixMultiply(
            m: batch, n: d, k: row, alpha: scale, a: r.baseAddress!, lda: row,
            b: w.baseAddress!, ldb: width, c: mean.baseAddress!, ldc: d)
        }
      }
    }
  }

  // The residuals class by class, `[K, B, S]`, so that the pair products read contiguously.
  let plane = batch * samples
  var classResiduals = [Float](repeating: 0, count: classes * plane)
  work.residual.withUnsafeBufferPointer { r in
    classResiduals.withUnsafeMutableBufferPointer { target in
      for i in 0..<plane {
        for c in 0..<classes { target[c * plane + i] = r[i * classes + c] }
      }
    }
  }
  var residualProducts = [Float](repeating: 0, count: plane)
  var weightProducts = [Float](repeating: 0, count: samples * d)
  for c in 0..<classes {
    for c2 in c..<classes {
      classResiduals.withUnsafeBufferPointer { r in
        residualProducts.withUnsafeMutableBufferPointer { p in
          let (first, second) = (r.baseAddress! + c * plane, r.baseAddress! + c2 * plane)
          for i in 0..<plane { p[i] = first[i] * second[i] }
        }
      }
      work.weights.withUnsafeBufferPointer { w in
        weightProducts.withUnsafeMutableBufferPointer { q in
          for s in 0..<samples {
            let first = w.baseAddress! + (s * classes + c) * width
            let second = w.baseAddress! + (s * classes + c2) * width
            let target = q.baseAddress! + s * d
            for j in 0..<d { target[j] = first[j] * second[j] }
          }
        }
      }
      residualProducts.withUnsafeBufferPointer { p in
        weightProducts.withUnsafeBufferPointer { q in
          work.second.withUnsafeMutableBufferPointer { second in
            floatMatrixMultiply(
              m: batch, n: d, k: samples, alpha: (c == c2 ? 1 : 2) * scale, a: p.baseAddress!,
              lda: samples, b: q.baseAddress!, ldb: d, beta: c == 0 && c2 == 0 ? 0 : 1,
              c: second.baseAddress!, ldc: d)
          }
        }
      }
    }
  }
}

/// Writes `E[g]` and `Var = E[g²] − E[g]²` (`[B, d]` each, row-major) into task `t` of
/// `moments`, for the data where the task is present.
private func store(
  mean: ArraySlice<Float>, second: ArraySlice<Float>, task t: Int,
  into moments: inout TaskMoments
) {
  let (d, tasks) = (moments.representationSize, moments.taskCount)
  let (m0, s0) = (mean.startIndex, second.startIndex)
  for b in 0..<moments.batchSize where moments.isPresent(b, task: t) {
    for j in 0..<d {
      let mu = Double(mean[m0 + b * d + j])
      moments.mean.scalars[b * tasks * d + t * d + j] = mu
      moments.variance.scalars[b * tasks * d + t * d + j] =
        Double(second[s0 + b * d + j]) - mu * mu
    }
  }
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
