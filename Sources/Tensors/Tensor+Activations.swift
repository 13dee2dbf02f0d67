import CKernels

/// Element-wise activation kernels and their derivatives: loops over raw buffers without a
/// closure call or an unpredictable branch per element, split over the cores for large tensors.
/// The autodiff operations (`Variable.relu()`, `Variable.elu(alpha:)`) call these.
extension Tensor {
  /// `max(x, 0)` element by element; NaN stays NaN.
  ///
  /// - Complexity: O(n).
  public func relu() -> Tensor {
    let out = scalars.withUnsafeBufferPointer { a in
      [Float](uninitializedCount: count) { po in
        let pa = a.baseAddress!
        Parallel.forEachChunk(count: count) { range in
          for i in range {
            let x = pa[i]
            po[i] = x > 0 || x.isNaN ? x : 0
          }
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// The gradient of ReLU at this input: `upstream` where the input is positive, 0 elsewhere
  /// (the derivative at 0 is taken as 0, as PyTorch does).
  ///
  /// The result is written into `upstream`'s storage when the caller hands over its last
  /// reference, so a backward pass allocates nothing here.
  ///
  /// - Precondition: `upstream` has this tensor's shape.
  /// - Complexity: O(n).
  public func reluPullback(_ upstream: consuming Tensor) -> Tensor {
    precondition(shape == upstream.shape, "reluPullback: \(shape) and \(upstream.shape) differ")
    var out = consume upstream
    scalars.withUnsafeBufferPointer { a in
      out.scalars.withUnsafeMutableBufferPointer { b in
        guard let px = a.baseAddress, let pg = b.baseAddress else { return }
        Parallel.forEachChunk(count: b.count) { range in
          for i in range {
            let (x, g) = (px[i], pg[i])
            pg[i] = x > 0 ? g : 0
          }
        }
      }
    }
    return out
  }

  /// The exponential linear unit, element by element:
  /// ```
  /// elu(x) = x if x > 0, α(eˣ − 1) otherwise
  /// ```
  /// `eˣ − 1` is evaluated in `Double` (see `negativeExpm1`), within one unit in the last place
  /// of `expm1f`.
  ///
  /// - Complexity: O(n).
  public func elu(alpha: Float = 1) -> Tensor {
    let out = scalars.withUnsafeBufferPointer { a in
      [Float](uninitializedCount: count) { po in
        let pa = a.baseAddress!
        Parallel.forEachChunk(count: count) { range in
          bayesagg_elu(pa + range.lowerBound, po + range.lowerBound, range.count, alpha)
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// `elu(alpha:)` in place: the same values, without a second tensor of this size.
  public mutating func applyELU(alpha: Float = 1) {
    let count = self.count
    scalars.withUnsafeMutableBufferPointer { x in
      guard let px = x.baseAddress else { return }
      Parallel.forEachChunk(count: count) { range in
        bayesagg_elu_in_place(px + range.lowerBound, range.count, alpha)
      }
    }
  }

  /// The ELU pullback from the output alone, with this tensor the upstream gradient:
  /// `g` where `y > 0`, `g · (y + α)` elsewhere. `y > 0` exactly when `x > 0`, and
  /// `y + α = α·eˣ` is the derivative for `x ≤ 0`, so this equals `eluPullback(_:output:alpha:)`
  /// bitwise (NaN included) without keeping the input.
  /// - Parameters:
  ///   - y: The output, of a batch of which this gradient covers images
  ///     `firstImage..<firstImage + B` (`B` its own batch size; the whole of `y` by default).
  /// - Precondition: the shapes agree but for the batch, and the images lie in `y`'s batch.
  public func eluPullback(output y: Tensor, firstImage: Int = 0, alpha: Float = 1) -> Tensor {
    precondition(
      !shape.isEmpty && shape.dropFirst() == y.shape.dropFirst() && firstImage >= 0
        && firstImage + shape[0] <= y.shape[0],
      "eluPullback: gradient \(shape) for images from \(firstImage) of \(y.shape)")
    let offset = firstImage * (y.count / max(y.shape[0], 1))
    var out = self
    y.scalars.withUnsafeBufferPointer { y in
      out.scalars.withUnsafeMutableBufferPointer { g in
        guard let start = y.baseAddress, let pg = g.baseAddress else { return }
        let py = start + offset
        Parallel.forEachChunk(count: g.count) { range in
          for i in range {
            let (gi, yi) = (pg[i], py[i])
            let negative = gi * (yi + alpha)
            pg[i] = yi > 0 ? gi : negative
          }
        }
      }
    }
    return out
  }

  /// The gradient of ELU at input `x` (this tensor) with output `y = elu(x)`:
  /// ```
  /// ∂L/∂x = g if x > 0, g·(y + α) otherwise
  /// ```
  /// The result is written into `upstream`'s storage when the caller hands over its last
  /// reference.
  ///
  /// - Precondition: `upstream` and `output` have this tensor's shape.
  /// - Complexity: O(n).
  public func eluPullback(_ upstream: consuming Tensor, output: Tensor, alpha: Float = 1)
    -> Tensor
  {
    precondition(
      shape == upstream.shape && shape == output.shape,
      "eluPullback: shapes \(shape), \(upstream.shape), \(output.shape) differ")
    var out = consume upstream
    scalars.withUnsafeBufferPointer { x in
      output.scalars.withUnsafeBufferPointer { y in
        out.scalars.withUnsafeMutableBufferPointer { g in
          guard let px = x.baseAddress, let py = y.baseAddress, let pg = g.baseAddress
          else { return }
          Parallel.forEachChunk(count: g.count) { range in
            for i in range {
              let (xi, gi, yi) = (px[i], pg[i], py[i])
              let negative = gi * (yi + alpha)
              pg[i] = xi > 0 ? gi : negative
            }
          }
        }
      }
    }
    return out
  }
}

/// `eˣ − 1` for `x ≤ 0` (and anything for `x > 0`, whose result the caller discards), written
/// as straight-line arithmetic that the optimiser can vectorise, unlike a call to `expm1f`:
/// ```
/// x = n·ln 2 + r, |r| ≤ ln2 / 2;   eˣ − 1 = 2ⁿ · expm1(r) + (2ⁿ − 1)
/// ```
/// with `expm1(r)` from its Taylor series to r¹⁰ (relative truncation below 10⁻¹²), in `Double`,
/// so there is no cancellation for small `x` and the rounding to `Float` is the only error that
/// matters. Inputs below −30 give −1 (as `expm1f` does); NaN stays NaN.
@inline(__always)
func negativeExpm1(_ x: Float) -> Float {
  let d = max(min(Double(x), 0), -30)
  let magic = 6_755_399_441_055_744.0  // 1.5·2⁵², which rounds a sum to an integer
  let t = d * 1.4426950408889634 + magic
  let n = t - magic
  let r = (d - n * 0.6931471803691238) - n * 1.9082149292705877e-10
  var q = 1.0 + r * (1.0 / 10)
  q = 1.0 + r * (1.0 / 9) * q
  q = 1.0 + r * (1.0 / 8) * q
  q = 1.0 + r * (1.0 / 7) * q
  q = 1.0 + r * (1.0 / 6) * q
  q = 1.0 + r * (1.0 / 5) * q
  q = 1.0 + r * (1.0 / 4) * q
  q = 1.0 + r * (1.0 / 3) * q
  q = 1.0 + r * (1.0 / 2) * q
  q = r * q
  let scale = Double(bitPattern: (t.bitPattern &- magic.bitPattern &+ 1023) << 52)
  let result = scale * q + (scale - 1)
  return x.isNaN ? x : Float(result)
}
