/// The per-channel statistics of a training-mode batch normalisation.
public struct BatchStatistics: Sendable, Equatable {
  /// The mean of each channel over the batch and spatial axes.
  public var mean: [Float]
  /// The biased variance `Σ(x − μ)² / n` of each channel, which the normalisation uses.
  public var biasedVariance: [Float]
  /// The unbiased variance `Σ(x − μ)² / (n − 1)`, which running statistics track.
  public var unbiasedVariance: [Float]
  /// `1 / √(biased variance + ε)` of each channel.
  public var inverseStandardDeviation: [Float]
}

extension Tensor {
  /// This tensor seen as `[outer, channels, inner]` with channels on axis 1: `[B, C]`,
  /// `[B, C, L]` or `[B, C, H, W]`.
  private var channelLayout: (outer: Int, channels: Int, inner: Int) {
    precondition(rank >= 2, "per-channel operations need [B, C, …], got \(shape)")
    return (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
  }

  /// The mean and variances of each channel (axis 1) over all other axes, in two passes: each
  /// contiguous row is summed in `Float` vector lanes and the rows are accumulated in `Double`.
  ///
  /// - Precondition: rank ≥ 2 and more than one element per channel.
  /// - Complexity: O(n).
  public func channelStatistics(epsilon: Float) -> BatchStatistics {
    let (outer, channels, inner) = channelLayout
    let n = outer * inner
    precondition(n > 1, "batch statistics need more than one value per channel, shape \(shape)")
    var mean = [Float](repeating: 0, count: channels)
    var biased = mean
    var unbiased = mean
    var inverse = mean
    scalars.withUnsafeBufferPointer { x in
      mean.withUnsafeMutableBufferPointer { pm in
        biased.withUnsafeMutableBufferPointer { pb in
          unbiased.withUnsafeMutableBufferPointer { pu in
            inverse.withUnsafeMutableBufferPointer { pi in
              let (px, m, b, u, iv) = (
                x.baseAddress!, pm.baseAddress!, pb.baseAddress!, pu.baseAddress!,
                pi.baseAddress!
              )
              Parallel.forEachChunk(count: channels, costPerItem: 2 * n) { range in
                for c in range {
                  // Each row in Float lanes, the rows in Double.
                  var total = 0.0
                  for o in 0..<outer {
                    total += Double(contiguousSum(px + (o * channels + c) * inner, count: inner))
                  }
                  let mu = total / Double(n)
                  var squares = 0.0
                  for o in 0..<outer {
                    let row = px + (o * channels + c) * inner
                    squares += Double(centeredSquares(row, mean: Float(mu), count: inner))
                  }
                  m[c] = Float(mu)
                  b[c] = Float(squares / Double(n))
                  u[c] = Float(squares / Double(n - 1))
                  iv[c] = Float(1 / (squares / Double(n) + Double(epsilon)).squareRoot())
                }
              }
            }
          }
        }
      }
    }
    return BatchStatistics(
      mean: mean, biasedVariance: biased, unbiasedVariance: unbiased,
      inverseStandardDeviation: inverse)
  }

  /// `x · scale[c] + shift[c]` for every element of channel `c` (axis 1), followed in the same
  /// pass by ReLU (`max(·, 0)`, NaN kept) when `rectified`.
  ///
  /// - Precondition: rank ≥ 2; `scale` and `shift` have one value per channel.
  /// - Complexity: O(n).
  public func channelAffine(scale: [Float], shift: [Float], rectified: Bool = false) -> Tensor {
    let (outer, channels, inner) = channelLayout
    precondition(
      scale.count == channels && shift.count == channels,
      "channelAffine: \(scale.count) scales and \(shift.count) shifts for shape \(shape)")
    let out = scalars.withUnsafeBufferPointer { x in
      scale.withUnsafeBufferPointer { a in
        shift.withUnsafeBufferPointer { b in
          // Every element is written below.
          [Float](uninitializedCount: count) { py in
            guard let px = x.baseAddress else { return }
            let (pa, pb) = (a.baseAddress!, b.baseAddress!)
            Parallel.forEachChunk(count: outer * channels, costPerItem: inner) { range in
              for row in range {
                let (alpha, beta) = (pa[row % channels], pb[row % channels])
                let base = row * inner
                if rectified {
                  for j in base..<(base + inner) {
                    let z = px[j] * alpha + beta
                    py[j] = z > 0 || z.isNaN ? z : 0
                  }
                } else {
                  for j in base..<(base + inner) { py[j] = px[j] * alpha + beta }
                }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// The gradients of training-mode batch normalisation `y = γ·x̂ + β`,
  /// `x̂ = (x − μ)·σ⁻¹`, given the output gradient `g` (this tensor) and the input `x`:
  /// ```
  /// ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂,   ∂L/∂x = γ·σ⁻¹ · (g − ∂L/∂β / n − x̂ · ∂L/∂γ / n)
  /// ```
  /// with sums over each channel's `n` elements; μ and σ depend on the whole batch, which is
  /// what the two mean terms account for. `∂L/∂x` is written into this tensor's storage when
  /// the caller hands over its last reference.
  ///
  /// - Precondition: `input` has this tensor's shape; `scale` and the statistics have one value
  ///   per channel.
  /// - Complexity: O(n).
  public consuming func batchNormPullback(
    input: Tensor, scale: [Float], statistics: BatchStatistics
  ) -> (input: Tensor, scale: Tensor, shift: Tensor) {
    let (outer, channels, inner) = channelLayout
    precondition(
      input.shape == shape && scale.count == channels && statistics.mean.count == channels,
      "batchNormPullback: gradient \(shape), input \(input.shape), \(scale.count) scales")
    let n = Double(outer * inner)
    var dx = consume self
    var dScale = [Float](repeating: 0, count: channels)
    var dShift = dScale
    input.scalars.withUnsafeBufferPointer { x in
      dx.scalars.withUnsafeMutableBufferPointer { d in
        dScale.withUnsafeMutableBufferPointer { ds in
          dShift.withUnsafeMutableBufferPointer { db in
            guard let px = x.baseAddress, let pd = d.baseAddress else { return }
            let (pds, pdb) = (ds.baseAddress!, db.baseAddress!)
            Parallel.forEachChunk(count: channels, costPerItem: 2 * outer * inner) { range in
              for c in range {
                let mu = statistics.mean[c]
                let inv = statistics.inverseStandardDeviation[c]
                // Σ g and Σ g·(x − μ): each row in Float lanes, the rows in Double.
                var sumG = 0.0
                var sumGX = 0.0
                for o in 0..<outer {
                  let base = (o * channels + c) * inner
                  let row = sumAndCenteredDot(pd + base, px + base, mean: mu, count: inner)
                  sumG += Double(row.sum)
                  sumGX += Double(row.dot)
                }
                sumGX *= Double(inv)
                pdb[c] = Float(sumG)
                pds[c] = Float(sumGX)
                let meanG = Float(sumG / n)
                let meanGX = Float(sumGX / n)
                let factor = scale[c] * inv
                let slope = meanGX * inv
                for o in 0..<outer {
                  let base = (o * channels + c) * inner
                  for j in base..<(base + inner) {
                    pd[j] = factor * (pd[j] - meanG - (px[j] - mu) * slope)
                  }
                }
              }
            }
          }
        }
      }
    }
    return (
      dx, Tensor(shape: [channels], scalars: dScale), Tensor(shape: [channels], scalars: dShift)
    )
  }
}

/// `(Σ g[i], Σ g[i]·(x[i] − mean))` over `count` consecutive floats, in sixteen-lane partial
/// sums that the optimiser keeps in vector registers.
///
/// - Complexity: O(count).
@inline(__always)
private func sumAndCenteredDot(
  _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: Float, count: Int
) -> (sum: Float, dot: Float) {
  var sums = SIMD16<Float>()
  var dots = SIMD16<Float>()
  let center = SIMD16<Float>(repeating: mean)
  var i = 0
  while i + 16 <= count {
    let gs = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
    let xs = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
    sums += gs
    dots += gs * (xs - center)
    i += 16
  }
  var (sum, dot) = (sums.sum(), dots.sum())
  while i < count {
    sum += g[i]
    dot += g[i] * (x[i] - mean)
    i += 1
  }
  return (sum, dot)
}

/// `Σ (x[i] − mean)²` over `count` consecutive floats, in sixteen-lane partial sums.
///
/// - Complexity: O(count).
@inline(__always)
private func centeredSquares(_ x: UnsafePointer<Float>, mean: Float, count: Int) -> Float {
  var lanes = SIMD16<Float>()
  let center = SIMD16<Float>(repeating: mean)
  var i = 0
  while i + 16 <= count {
    let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - center
    lanes += d * d
    i += 16
  }
  var total = lanes.sum()
  while i < count {
    let d = x[i] - mean
    total += d * d
    i += 1
  }
  return total
}
