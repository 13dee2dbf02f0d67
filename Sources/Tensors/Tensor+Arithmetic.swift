/// The shape two operands broadcast to, following NumPy's rule: align trailing axes; each pair
/// of extents must agree or one of them must be 1.
///
/// - Precondition: the shapes are broadcast-compatible.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
  let rank = max(a.count, b.count)
  let paddedA = Array(repeating: 1, count: rank - a.count) + a
  let paddedB = Array(repeating: 1, count: rank - b.count) + b
  return zip(paddedA, paddedB).map { x, y in
    precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
    return x == 1 ? y : x
  }
}

/// Row-major strides of `shape` laid against an output of rank `rank`, with stride 0 on every
/// axis that is broadcast (extent 1, or absent on the left).
func broadcastStrides(_ shape: [Int], toRank rank: Int) -> [Int] {
  var strides = [Int](repeating: 0, count: rank)
  var step = 1
  for axis in stride(from: shape.count - 1, through: 0, by: -1) {
    let outAxis = axis + rank - shape.count
    strides[outAxis] = shape[axis] == 1 ? 0 : step
    step *= shape[axis]
  }
  return strides
}

/// Calls `body(outputIndex, offsetA, offsetB)` for every element of the broadcast output.
@inline(__always)
func forEachBroadcastOffset(
  shape: [Int], stridesA: [Int], stridesB: [Int], _ body: (Int, Int, Int) -> Void
) {
  let rank = shape.count
  let total = shape.reduce(1, *)
  guard total > 0 else { return }
  var index = [Int](repeating: 0, count: rank)
  var offsetA = 0
  var offsetB = 0
  for linear in 0..<total {
    body(linear, offsetA, offsetB)
    var axis = rank - 1
    while axis >= 0 {
      index[axis] += 1
      offsetA += stridesA[axis]
      offsetB += stridesB[axis]
      if index[axis] < shape[axis] { break }
      offsetA -= stridesA[axis] * shape[axis]
      offsetB -= stridesB[axis] * shape[axis]
      index[axis] = 0
      axis -= 1
    }
  }
}

extension Tensor {
  /// Applies `transform` to every element.
  @inlinable
  public func mapped(_ transform: (Float) -> Float) -> Tensor {
    Tensor(shape: shape, scalars: scalars.map(transform))
  }

  /// Combines two tensors element by element after broadcasting them to a common shape.
  public func zipped(with other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
    if shape == other.shape {
      var out = [Float](repeating: 0, count: count)
      scalars.withUnsafeBufferPointer { a in
        other.scalars.withUnsafeBufferPointer { b in
          for i in 0..<a.count { out[i] = combine(a[i], b[i]) }
        }
      }
      return Tensor(shape: shape, scalars: out)
    }
    let outShape = broadcastShape(shape, other.shape)
    let outCount = outShape.reduce(1, *)
    var out = [Float](repeating: 0, count: outCount)
    // Fast path: one operand repeats along leading axes of the other (a bias row, a scalar).
    if outShape == shape, outCount > 0, other.count > 0, isTrailingBlock(other.shape, of: shape) {
      let block = other.count
      scalars.withUnsafeBufferPointer { a in
        other.scalars.withUnsafeBufferPointer { b in
          for i in 0..<outCount { out[i] = combine(a[i], b[i % block]) }
        }
      }
      return Tensor(shape: outShape, scalars: out)
    }
    let stridesA = broadcastStrides(shape, toRank: outShape.count)
    let stridesB = broadcastStrides(other.shape, toRank: outShape.count)
    scalars.withUnsafeBufferPointer { a in
      other.scalars.withUnsafeBufferPointer { b in
        forEachBroadcastOffset(shape: outShape, stridesA: stridesA, stridesB: stridesB) {
          i, ia, ib in out[i] = combine(a[ia], b[ib])
        }
      }
    }
    return Tensor(shape: outShape, scalars: out)
  }

  /// Sums over the axes along which a tensor of shape `target` was broadcast to this shape:
  /// the adjoint of broadcasting, used by the gradients of broadcasting operations.
  ///
  /// - Precondition: `target` broadcasts to `shape`.
  public func summed(toShape target: [Int]) -> Tensor {
    if target == shape { return self }
    precondition(broadcastShape(target, shape) == shape, "cannot sum \(shape) to \(target)")
    let targetCount = target.reduce(1, *)
    var out = [Float](repeating: 0, count: targetCount)
    if count > 0, targetCount > 0, let (channels, inner) = blockPattern(target, in: shape) {
      // The tensor is [outer, channels, inner] and the target holds one value per channel.
      let outer = count / (channels * inner)
      scalars.withUnsafeBufferPointer { a in
        out.withUnsafeMutableBufferPointer { o in
          for n in 0..<outer {
            for c in 0..<channels {
              o[c] += contiguousSum(a.baseAddress! + (n * channels + c) * inner, count: inner)
            }
          }
        }
      }
      return Tensor(shape: target, scalars: out)
    }
    let stridesT = broadcastStrides(target, toRank: shape.count)
    let zeros = [Int](repeating: 0, count: shape.count)
    scalars.withUnsafeBufferPointer { a in
      forEachBroadcastOffset(shape: shape, stridesA: stridesT, stridesB: zeros) { i, it, _ in
        out[it] += a[i]
      }
    }
    return Tensor(shape: target, scalars: out)
  }

  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.combined(with: rhs, Sum.self) }
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    lhs.combined(with: rhs, Difference.self)
  }
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    lhs.combined(with: rhs, Product.self)
  }
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    lhs.combined(with: rhs, Quotient.self)
  }
  public static prefix func - (operand: Tensor) -> Tensor { operand.mapped { -$0 } }
  public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 * rhs } }
  public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapped { lhs * $0 } }
  public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 + rhs } }

  /// Adds `other` into this tensor in place, on several cores when the tensor is large.
  ///
  /// - Precondition: the shapes are equal.
  /// - Complexity: O(n).
  public mutating func add(_ other: Tensor) {
    precondition(shape == other.shape, "add: shapes \(shape) and \(other.shape) differ")
    scalars.withUnsafeMutableBufferPointer { a in
      other.scalars.withUnsafeBufferPointer { b in
        let pa = a.baseAddress!
        let pb = b.baseAddress!
        Parallel.forEachChunk(count: a.count) { range in
          for i in range { pa[i] += pb[i] }
        }
      }
    }
  }

  /// Multiplies every element by `factor` in place.
  public mutating func scale(by factor: Float) {
    scalars.withUnsafeMutableBufferPointer { a in
      for i in 0..<a.count { a[i] *= factor }
    }
  }
}

/// A binary element-wise operation, as a type so that the kernels below are specialised for it
/// and run without a closure call per element.
protocol ElementwiseOperation {
  static func apply(_ a: Float, _ b: Float) -> Float
}

enum Sum: ElementwiseOperation {
  @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
}

enum Difference: ElementwiseOperation {
  @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b }
}

enum Product: ElementwiseOperation {
  @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b }
}

enum Quotient: ElementwiseOperation {
  @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b }
}

extension Tensor {
  /// `operation(self, other)` element by element with broadcasting. Equal shapes and an operand
  /// that holds one value per channel (a bias `[C]` against `[B, C]`, or `[C, 1, 1]` against
  /// `[B, C, H, W]`) run as tight loops split over the cores; other shapes take the general path.
  ///
  /// - Complexity: O(n) for n output elements.
  func combined<Operation: ElementwiseOperation>(
    with other: Tensor, _ operation: Operation.Type
  ) -> Tensor {
    let outShape = shape == other.shape ? shape : broadcastShape(shape, other.shape)
    let outCount = outShape.reduce(1, *)
    guard outCount > 0 else { return Tensor(zeros: outShape) }
    if shape == other.shape {
      let out = scalars.withUnsafeBufferPointer { a in
        other.scalars.withUnsafeBufferPointer { b in
          [Float](uninitializedCount: outCount) { po in
            let (pa, pb) = (a.baseAddress!, b.baseAddress!)
            Parallel.forEachChunk(count: outCount) { range in
              for i in range { po[i] = Operation.apply(pa[i], pb[i]) }
            }
          }
        }
      }
      return Tensor(shape: outShape, scalars: out)
    }
    if outShape == shape, let (channels, inner) = blockPattern(other.shape, in: shape) {
      return combinedPerChannel(
        large: self, small: other, channels: channels, inner: inner, smallFirst: false,
        operation)
    }
    if outShape == other.shape, let (channels, inner) = blockPattern(shape, in: other.shape) {
      return combinedPerChannel(
        large: other, small: self, channels: channels, inner: inner, smallFirst: true,
        operation)
    }
    return zipped(with: other, Operation.apply)
  }
}

/// `operation` between a tensor viewed as `[outer, channels, inner]` and one value per channel,
/// with the per-channel operand on the left when `smallFirst`.
private func combinedPerChannel<Operation: ElementwiseOperation>(
  large: Tensor, small: Tensor, channels: Int, inner: Int, smallFirst: Bool,
  _ operation: Operation.Type
) -> Tensor {
  let rows = large.count / inner
  let out = large.scalars.withUnsafeBufferPointer { a in
    small.scalars.withUnsafeBufferPointer { b in
      [Float](uninitializedCount: large.count) { po in
        let (pa, pb) = (a.baseAddress!, b.baseAddress!)
        Parallel.forEachChunk(count: rows, costPerItem: inner) { range in
          for row in range {
            let value = pb[row % channels]
            let base = row * inner
            if smallFirst {
              for j in base..<(base + inner) { po[j] = Operation.apply(value, pa[j]) }
            } else {
              for j in base..<(base + inner) { po[j] = Operation.apply(pa[j], value) }
            }
          }
        }
      }
    }
  }
  return Tensor(shape: large.shape, scalars: out)
}

/// Whether a tensor of shape `small` broadcasts against `large` as one value per "channel":
/// after aligning trailing axes, its extents other than 1 form one contiguous run of axes that
/// equals those of `large`. Returns the number of such values and how many consecutive elements
/// of `large` share each one.
func blockPattern(_ small: [Int], in large: [Int]) -> (channels: Int, inner: Int)? {
  guard small.count <= large.count else { return nil }
  let padded = Array(repeating: 1, count: large.count - small.count) + small
  guard let first = padded.firstIndex(where: { $0 != 1 }) else {
    return (1, large.reduce(1, *))
  }
  let last = padded.lastIndex(where: { $0 != 1 })!
  for axis in first...last where padded[axis] != large[axis] { return nil }
  let channels = padded[first...last].reduce(1, *)
  let inner = large[(last + 1)...].reduce(1, *)
  guard channels > 0, inner > 0 else { return nil }
  return (channels, inner)
}

/// Whether a tensor of shape `inner` repeats exactly along the leading axes of `outer`: after
/// dropping leading ones, `inner` equals the trailing axes of `outer`.
private func isTrailingBlock(_ inner: [Int], of outer: [Int]) -> Bool {
  let trimmed = Array(inner.drop { $0 == 1 })
  guard trimmed.count <= outer.count else { return false }
  return Array(outer.suffix(trimmed.count)) == trimmed
}
