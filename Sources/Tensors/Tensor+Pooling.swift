import CKernels

/// The sizes of one 2-D pooling over an NCHW batch.
public struct PoolingGeometry: Sendable, Equatable {
  public let planes, height, width: Int
  public let kernelSize, stride, padding: Int

  /// The extents of the output, rounded down: `(H + 2p − k) / s + 1`.
  public var outHeight: Int { (height + 2 * padding - kernelSize) / stride + 1 }
  public var outWidth: Int { (width + 2 * padding - kernelSize) / stride + 1 }

  /// Checks and records the sizes of a pooling of `input` `[B, C, H, W]`.
  ///
  /// - Precondition: rank 4, `k ≥ 1`, `s ≥ 1`, `0 ≤ p ≤ k/2` (as PyTorch requires), and a
  ///   window that fits the padded input.
  public init(input: [Int], kernelSize: Int, stride: Int, padding: Int) {
    precondition(input.count == 4, "pooling needs [B, C, H, W], got \(input)")
    precondition(
      kernelSize >= 1 && stride >= 1 && padding >= 0 && padding <= kernelSize / 2,
      "pooling: kernel \(kernelSize), stride \(stride), padding \(padding) (need p ≤ k/2)")
    precondition(
      input[2] + 2 * padding >= kernelSize && input[3] + 2 * padding >= kernelSize,
      "pooling: kernel \(kernelSize) larger than padded input \(input) + 2·\(padding)")
    (planes, height, width) = (input[0] * input[1], input[2], input[3])
    (self.kernelSize, self.stride, self.padding) = (kernelSize, stride, padding)
  }
}

extension Tensor {
  /// Max pooling over square windows of each plane of an NCHW batch, as PyTorch's `MaxPool2d`
  /// (floor mode; padding counts as −∞):
  /// ```
  /// y[n, c, i, j] = max_{0 ≤ u, v < k} x̃[n, c, s·i + u, s·j + v]
  /// ```
  /// A NaN in a window wins, as in PyTorch; among equal maxima the first in row-major order
  /// does.
  ///
  /// - Returns: the pooled tensor `[B, C, outH, outW]` and, for each output element, the index
  ///   within its input plane (`h·W + w`) of the element it took.
  /// - Precondition: see `PoolingGeometry.init`.
  /// - Complexity: O(B · C · outH · outW · k²).
  public func maxPooled(kernelSize: Int, stride: Int, padding: Int) -> (
    output: Tensor, argmax: [Int32]
  ) {
    let g = PoolingGeometry(input: shape, kernelSize: kernelSize, stride: stride, padding: padding)
    let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
    var out = [Float](repeating: 0, count: g.planes * oh * ow)
    var argmax = [Int32](repeating: 0, count: out.count)
    scalars.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        argmax.withUnsafeMutableBufferPointer { arg in
          guard let ps = src.baseAddress, let pd = dst.baseAddress, let pa = arg.baseAddress
          else { return }
          Parallel.forEachChunk(count: g.planes, costPerItem: h * w) { range in
            for plane in range {
              let (y, a) = (pd + plane * oh * ow, pa + plane * oh * ow)
              forEachWindowMaximum(of: ps + plane * h * w, g) { cell, index, value in
                y[cell] = value
                a[cell] = Int32(index)
              }
            }
          }
        }
      }
    }
    return (Tensor(shape: [shape[0], shape[1], oh, ow], scalars: out), argmax)
  }

  /// The values of `maxPooled(kernelSize:stride:padding:)` without the indices, for a backward
  /// pass that finds them again from the input (`maxPoolPullback(input:…)`) instead of keeping
  /// them.
  ///
  /// - Precondition: see `PoolingGeometry.init`.
  /// - Complexity: O(B · C · outH · outW · k²).
  public func maxPooledValues(kernelSize: Int, stride: Int, padding: Int) -> Tensor {
    let g = PoolingGeometry(input: shape, kernelSize: kernelSize, stride: stride, padding: padding)
    let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
    let out = scalars.withUnsafeBufferPointer { src in
      [Float](uninitializedCount: g.planes * oh * ow) { pd in
        guard let ps = src.baseAddress else { return }
        Parallel.forEachChunk(count: g.planes, costPerItem: h * w) { range in
          if g.isStemWindow {
            var choices = [UInt8](repeating: 0, count: range.count * oh * ow)
            stemWindowMaxima(ps, range, g, pd + range.lowerBound * oh * ow, &choices)
            return
          }
          for plane in range {
            let y = pd + plane * oh * ow
            forEachWindowMaximum(of: ps + plane * h * w, g) { cell, _, value in y[cell] = value }
          }
        }
      }
    }
    return Tensor(shape: [shape[0], shape[1], oh, ow], scalars: out)
  }

  /// The adjoint of max pooling: each output gradient (this tensor) is added to the input
  /// element its window took.
  ///
  /// - Parameters:
  ///   - inputShape: the shape of the pooled input, `[B, C, H, W]`.
  ///   - argmax: the indices returned by `maxPooled`.
  /// - Precondition: `argmax` has one index per element of this tensor.
  /// - Complexity: O(B · C · (H·W + outH·outW)).
  public func maxPoolPullback(inputShape: [Int], argmax: [Int32]) -> Tensor {
    precondition(
      rank == 4 && inputShape.count == 4 && argmax.count == count
        && inputShape[0] == shape[0] && inputShape[1] == shape[1],
      "maxPoolPullback: gradient \(shape), input \(inputShape), \(argmax.count) indices")
    let planes = shape[0] * shape[1]
    let inPlane = inputShape[2] * inputShape[3]
    let outPlane = shape[2] * shape[3]
    var out = [Float](repeating: 0, count: planes * inPlane)
    scalars.withUnsafeBufferPointer { src in
      argmax.withUnsafeBufferPointer { arg in
        out.withUnsafeMutableBufferPointer { dst in
          guard let ps = src.baseAddress, let pa = arg.baseAddress, let pd = dst.baseAddress
          else { return }
          Parallel.forEachChunk(count: planes, costPerItem: inPlane + outPlane) { range in
            for plane in range {
              let target = pd + plane * inPlane
              for e in (plane * outPlane)..<((plane + 1) * outPlane) {
                target[Int(pa[e])] += ps[e]
              }
            }
          }
        }
      }
    }
    return Tensor(shape: inputShape, scalars: out)
  }

  /// The adjoint of max pooling, finding each window's element again from the pooled `input`
  /// rather than from stored indices: the same search as the forward pass, so the same element
  /// (the first maximum in row-major order, or the first NaN) receives the gradient.
  ///
  /// - Parameter input: the tensor that was pooled.
  /// - Precondition: this tensor has the pooled shape of `input`.
  /// - Complexity: O(B · C · (H·W + outH·outW · k²)).
  public func maxPoolPullback(input: Tensor, kernelSize: Int, stride: Int, padding: Int)
    -> Tensor
  {
    let g = PoolingGeometry(
      input: input.shape, kernelSize: kernelSize, stride: stride, padding: padding)
    let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
    precondition(
      shape == [input.shape[0], input.shape[1], oh, ow],
      "maxPoolPullback: gradient \(shape) for input \(input.shape)")
    var out = [Float](repeating: 0, count: input.count)
    input.scalars.withUnsafeBufferPointer { src in
      scalars.withUnsafeBufferPointer { upstream in
        out.withUnsafeMutableBufferPointer { dst in
          guard let ps = src.baseAddress, let pg = upstream.baseAddress, let pd = dst.baseAddress
          else { return }
          Parallel.forEachChunk(count: g.planes, costPerItem: h * w) { range in
            if g.isStemWindow {
              // The windows' choices again, then each gradient onto its element in the same
              // order as below.
              var maxima = [Float](repeating: 0, count: range.count * oh * ow)
              var choices = [UInt8](repeating: 0, count: maxima.count)
              maxima.withUnsafeMutableBufferPointer { m in
                stemWindowMaxima(ps, range, g, m.baseAddress!, &choices)
              }
              for (k, plane) in range.enumerated() {
                let (target, gradient) = (pd + plane * h * w, pg + plane * oh * ow)
                for i in 0..<oh {
                  for j in 0..<ow {
                    let choice = Int(choices[(k * oh + i) * ow + j])
                    let (r, c) = (2 * i - 1 + choice / 3, 2 * j - 1 + choice % 3)
                    target[r * w + c] += gradient[i * ow + j]
                  }
                }
              }
              return
            }
            for plane in range {
              let (target, gradient) = (pd + plane * h * w, pg + plane * oh * ow)
              forEachWindowMaximum(of: ps + plane * h * w, g) { cell, index, _ in
                target[index] += gradient[cell]
              }
            }
          }
        }
      }
    }
    return Tensor(shape: input.shape, scalars: out)
  }

  /// The mean of each plane of an NCHW batch: `[B, C, H, W] → [B, C]`, as PyTorch's
  /// `AdaptiveAvgPool2d(1)` followed by `flatten(1)`. Sums are accumulated in `Double`.
  ///
  /// - Precondition: rank 4 with non-empty planes.
  /// - Complexity: O(B · C · H · W).
  public func globalAveragePooled() -> Tensor {
    precondition(
      rank == 4 && shape[2] * shape[3] > 0, "globalAveragePool needs [B, C, H, W]: \(shape)")
    let planes = shape[0] * shape[1]
    let size = shape[2] * shape[3]
    var out = [Float](repeating: 0, count: planes)
    scalars.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        guard let ps = src.baseAddress, let pd = dst.baseAddress else { return }
        Parallel.forEachChunk(count: planes, costPerItem: size) { range in
          for plane in range {
            var total = 0.0
            for e in (plane * size)..<((plane + 1) * size) { total += Double(ps[e]) }
            pd[plane] = Float(total / Double(size))
          }
        }
      }
    }
    return Tensor(shape: [shape[0], shape[1]], scalars: out)
  }

  /// The adjoint of `globalAveragePooled`: each gradient `[B, C]` (this tensor) divided by
  /// `H·W` and spread over its plane.
  ///
  /// - Precondition: `inputShape` is `[B, C, H, W]` with this tensor `[B, C]`.
  /// - Complexity: O(B · C · H · W).
  public func globalAveragePoolPullback(inputShape: [Int]) -> Tensor {
    precondition(
      inputShape.count == 4 && shape == Array(inputShape.prefix(2)),
      "globalAveragePoolPullback: gradient \(shape) for input \(inputShape)")
    let planes = count
    let size = inputShape[2] * inputShape[3]
    let scale = 1 / Float(size)
    var out = [Float](repeating: 0, count: planes * size)
    scalars.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        guard let ps = src.baseAddress, let pd = dst.baseAddress else { return }
        Parallel.forEachChunk(count: planes, costPerItem: size) { range in
          for plane in range {
            let v = ps[plane] * scale
            for e in (plane * size)..<((plane + 1) * size) { pd[e] = v }
          }
        }
      }
    }
    return Tensor(shape: inputShape, scalars: out)
  }
}

extension PoolingGeometry {
  /// Whether the windows are 3×3 at stride 2 with one cell of padding (ResNet's stem), which
  /// `bayesagg_max_pool_3x3_stride2` pools.
  var isStemWindow: Bool { kernelSize == 3 && stride == 2 && padding == 1 }
}

/// The maxima of the 3×3, stride-2, padding-1 windows of planes `range` of `x` into `pooled`
/// and the offset `u·3 + v` of each one's element in its padded window into `choices`, both
/// from the range's first plane: the element `forEachWindowMaximum` takes.
///
/// - Complexity: O(planes · H · W).
private func stemWindowMaxima(
  _ x: UnsafePointer<Float>, _ range: Range<Int>, _ g: PoolingGeometry,
  _ pooled: UnsafeMutablePointer<Float>, _ choices: inout [UInt8]
) {
  let (h, w, outPlane) = (g.height, g.width, g.outHeight * g.outWidth)
  var columnMax = [Float](repeating: 0, count: w)
  var columnRow = [Int32](repeating: 0, count: w)
  precondition(choices.count >= range.count * outPlane, "\(choices.count) choices for \(range)")
  bayesagg_max_pool_3x3_stride2(
    x + range.lowerBound * h * w, range.count, h, w, pooled, &choices, &columnMax, &columnRow)
}

/// Calls `body(cell, index, value)` for each output cell `i·outW + j` of max pooling over one
/// plane `x`, with the index `r·W + c` within the plane of the element its window takes and that
/// element's value: the first maximum in row-major order, or the first NaN.
@inline(__always)
func forEachWindowMaximum(
  of x: UnsafePointer<Float>, _ g: PoolingGeometry, _ body: (Int, Int, Float) -> Void
) {
  let (h, w, oh, ow, k, s, p) = (
    g.height, g.width, g.outHeight, g.outWidth, g.kernelSize, g.stride, g.padding
  )
  for i in 0..<oh {
    let rows = max(i * s - p, 0)..<min(i * s - p + k, h)
    for j in 0..<ow {
      let columns = max(j * s - p, 0)..<min(j * s - p + k, w)
      var best = -Float.infinity
      var bestIndex = rows.lowerBound * w + columns.lowerBound
      for r in rows {
        for c in columns {
          let v = x[r * w + c]
          if v > best || v.isNaN {
            best = v
            bestIndex = r * w + c
            if v.isNaN { break }
          }
        }
        if best.isNaN { break }
      }
      body(i * ow + j, bestIndex, best)
    }
  }
}
