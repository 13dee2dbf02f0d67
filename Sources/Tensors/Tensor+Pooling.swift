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
    let (h, w, oh, ow, k, s, p) = (
      g.height, g.width, g.outHeight, g.outWidth, g.kernelSize, g.stride, g.padding
    )
    var out = [Float](repeating: 0, count: g.planes * oh * ow)
    var argmax = [Int32](repeating: 0, count: out.count)
    scalars.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        argmax.withUnsafeMutableBufferPointer { arg in
          guard let ps = src.baseAddress, let pd = dst.baseAddress, let pa = arg.baseAddress
          else { return }
          Parallel.forEachChunk(count: g.planes, costPerItem: h * w) { range in
            for plane in range {
              let x = ps + plane * h * w
              let y = pd + plane * oh * ow
              let a = pa + plane * oh * ow
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
                  y[i * ow + j] = best
                  a[i * ow + j] = Int32(bestIndex)
                }
              }
            }
          }
        }
      }
    }
    return (Tensor(shape: [shape[0], shape[1], oh, ow], scalars: out), argmax)
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
