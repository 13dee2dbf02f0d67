import CKernels
import CLinearAlgebra

/// The window offsets a fused convolution and max pooling keeps for its backward pass: for
/// each pooled cell, `u·k + v` for the element `(u, v)` of its `k × k` window that it took.
public struct PoolingChoices: Sendable {
  public let offsets: [UInt8]

  /// The bytes these offsets occupy.
  public var byteCount: Int { offsets.count }
}

/// How a fused convolution and max pooling splits its batch: as many images per chunk as keep
/// a chunk's convolution output, padded input and unfolded input (the transient buffers of one
/// chunk) near 8 MB together, in chunks of nearly equal size. For the CIFAR-MTL network's
/// layers (10–11 images per chunk) the GEMMs still get over a thousand columns.
private func imagesPerPoolingChunk(_ g: ConvolutionGeometry) -> Int {
  let perImage =
    g.outChannels * g.outPlane + g.inChannels * g.paddedHeight * g.paddedWidth
    + g.patchSize * g.outPlane
  let most = max(1, min(g.batch, (1 << 20) / max(perImage, 1)))
  let chunks = (g.batch + most - 1) / most
  return (g.batch + chunks - 1) / max(chunks, 1)
}

extension Tensor {
  /// Max pooling of a convolution, `maxPool_{k,s,p}(conv2d(x, w, b))`, without ever holding the
  /// whole convolution output: the batch goes through in chunks of images, each convolved (by
  /// `convolved(with:bias:…)`) and pooled while it is in memory. The returned choices record,
  /// in one byte per pooled cell, which element each window took, so the backward pass needs
  /// neither the convolution output nor 32-bit indices.
  ///
  /// - Parameters:
  ///   - weight, bias, stride, padding, paddingMode: the convolution, as in `convolved`.
  ///   - poolSize, poolStride, poolPadding: the max pooling, as in `maxPooled`.
  /// - Returns: the pooled tensor and the choices for `convolutionMaxPoolPullback`.
  /// - Precondition: those of both operations, and `poolSize ≤ 16` (offsets fit a byte).
  /// - Complexity: those of the convolution and the pooling; extra memory of one chunk.
  public func convolvedAndMaxPooled(
    with weight: Tensor, bias: Tensor?, stride: Int, padding: Int, paddingMode: PaddingMode,
    poolSize: Int, poolStride: Int, poolPadding: Int
  ) -> (output: Tensor, choices: PoolingChoices) {
    precondition(poolSize <= 16, "convolvedAndMaxPooled: pool window \(poolSize) exceeds 16")
    let g = ConvolutionGeometry(
      input: shape, weight: weight.shape, stride: stride, padding: padding,
      paddingMode: paddingMode)
    let pool = PoolingGeometry(
      input: [g.batch, g.outChannels, g.outHeight, g.outWidth], kernelSize: poolSize,
      stride: poolStride, padding: poolPadding)
    let pooledPerImage = g.outChannels * pool.outHeight * pool.outWidth
    var output = [Float](repeating: 0, count: g.batch * pooledPerImage)
    var offsets = [UInt8](repeating: 0, count: output.count)
    let chunk = imagesPerPoolingChunk(g)
    for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
      let images = min(chunk, g.batch - first)
      let convolved = batchSlice(from: first, count: images).convolved(
        with: weight, bias: bias, stride: stride, padding: padding, paddingMode: paddingMode)
      let chunkPool = PoolingGeometry(
        input: convolved.shape, kernelSize: poolSize, stride: poolStride, padding: poolPadding)
      convolved.scalars.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { pooled in
          offsets.withUnsafeMutableBufferPointer { choice in
            guard let ps = source.baseAddress else { return }
            let (y, o) = (pooled.baseAddress!, choice.baseAddress!)
            let (h, w) = (chunkPool.height, chunkPool.width)
            let (oh, ow) = (chunkPool.outHeight, chunkPool.outWidth)
            let start = first * g.outChannels
            if poolStride == poolSize && poolPadding == 0 {
              // Windows that tile the plane: the vectorised C kernel.
              Parallel.forEachChunk(count: chunkPool.planes, costPerItem: h * w) { range in
                var columnMaxima = [Float](repeating: 0, count: w)
                var columnRows = [Int32](repeating: 0, count: w)
                bayesagg_max_pool_tiles(
                  ps + range.lowerBound * h * w, range.count, h, w, poolSize,
                  y + (start + range.lowerBound) * oh * ow,
                  o + (start + range.lowerBound) * oh * ow, &columnMaxima, &columnRows)
              }
              return
            }
            // Overlapping or padded windows: `maxPooled`'s search, its plane index turned into
            // the offset within the window.
            Parallel.forEachChunk(count: chunkPool.planes, costPerItem: h * w) { range in
              for plane in range {
                let cells = (start + plane) * oh * ow
                forEachWindowMaximum(of: ps + plane * h * w, chunkPool) { cell, index, value in
                  let (i, j) = cell.quotientAndRemainder(dividingBy: ow)
                  let u = index / w - (i * poolStride - poolPadding)
                  let v = index % w - (j * poolStride - poolPadding)
                  y[cells + cell] = value
                  o[cells + cell] = UInt8(u * poolSize + v)
                }
              }
            }
          }
        }
      }
    }
    return (
      Tensor(shape: [g.batch, g.outChannels, pool.outHeight, pool.outWidth], scalars: output),
      PoolingChoices(offsets: offsets)
    )
  }

  /// The gradients of `input.convolvedAndMaxPooled(…)` given the pooled gradient `self`: chunk
  /// by chunk, each pooled gradient is added to the convolution output cell its window took,
  /// and that chunk's convolution gradient goes through `convolutionPullback`; weight and bias
  /// gradients are summed over the chunks.
  ///
  /// - Parameters:
  ///   - input, weight, and the sizes: those of the forward pass.
  ///   - choices: what the forward pass returned.
  ///   - firstImage: This gradient covers images `firstImage..<firstImage + B` of the batch
  ///     that `input` and `choices` hold, `B` its own batch size; the input gradient covers the
  ///     same images. 0 (the default) with `B` the whole batch is the whole operation.
  ///   - needInput, needWeight, needBias: which gradients to compute.
  /// - Returns: the requested gradients, `nil` for the others.
  /// - Precondition: this tensor has the pooled output's shape for its images.
  /// - Complexity: that of `convolutionPullback`; extra memory of one chunk.
  public func convolutionMaxPoolPullback(
    input whole: Tensor, weight: Tensor, stride: Int, padding: Int, paddingMode: PaddingMode,
    poolSize: Int, poolStride: Int, poolPadding: Int, choices: PoolingChoices,
    firstImage: Int = 0, needInput: Bool, needWeight: Bool, needBias: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let batch = shape.first ?? 0
    precondition(
      whole.shape.count == 4 && firstImage >= 0 && firstImage + batch <= whole.shape[0],
      "convolutionMaxPoolPullback: images \(firstImage)..<\(firstImage + batch) of input "
        + "\(whole.shape)")
    let inputShape = [batch] + whole.shape.dropFirst()
    let g = ConvolutionGeometry(
      input: inputShape, weight: weight.shape, stride: stride, padding: padding,
      paddingMode: paddingMode)
    let pool = PoolingGeometry(
      input: [g.batch, g.outChannels, g.outHeight, g.outWidth], kernelSize: poolSize,
      stride: poolStride, padding: poolPadding)
    let (oh, ow) = (pool.outHeight, pool.outWidth)
    precondition(
      shape == [g.batch, g.outChannels, oh, ow]
        && choices.offsets.count == whole.shape[0] * g.outChannels * oh * ow,
      "convolutionMaxPoolPullback: gradient \(shape), \(choices.offsets.count) choices")
    let perImage = whole.count / max(whole.shape[0], 1)
    var inputGradient = [Float](uninitializedCount: needInput ? batch * perImage : 0) { _ in }
    var weightGradient = [Float](repeating: 0, count: needWeight ? weight.count : 0)
    var biasGradient = [Float](repeating: 0, count: needBias ? g.outChannels : 0)
    let chunk = imagesPerPoolingChunk(g)
    // Where window offset `u·k + v` lies in a convolution-output plane relative to the window's
    // corner: `u·W + v`.
    let windowOffsets = (0..<(poolSize * poolSize)).map {
      ($0 / poolSize) * g.outWidth + $0 % poolSize
    }
    for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
      let images = min(chunk, g.batch - first)
      let (h, w) = (g.outHeight, g.outWidth)
      let planes = images * g.outChannels
      var spread = [Float](repeating: 0, count: planes * h * w)
      scalars.withUnsafeBufferPointer { upstream in
        choices.offsets.withUnsafeBufferPointer { choice in
          spread.withUnsafeMutableBufferPointer { target in
            windowOffsets.withUnsafeBufferPointer { offsetOf in
              guard let pg = upstream.baseAddress, let choiceStart = choice.baseAddress else {
                return
              }
              // This gradient's image 0 is the choices' image `firstImage`.
              let pc = choiceStart + firstImage * g.outChannels * oh * ow
              let (pt, po) = (target.baseAddress!, offsetOf.baseAddress!)
              let start = first * g.outChannels
              Parallel.forEachChunk(count: planes, costPerItem: h * w) { range in
                for plane in range {
                  let cells = (start + plane) * oh * ow
                  let corner = pt + plane * h * w - poolPadding * (w + 1)
                  for i in 0..<oh {
                    let rowStart = corner + i * poolStride * w
                    for j in 0..<ow {
                      let e = cells + i * ow + j
                      rowStart[j * poolStride + po[Int(pc[e])]] += pg[e]
                    }
                  }
                }
              }
            }
          }
        }
      }
      let gradients = Tensor(shape: [images, g.outChannels, h, w], scalars: spread)
        .convolutionPullback(
          input: whole.batchSlice(from: firstImage + first, count: images), weight: weight,
          stride: stride,
          padding: padding,
          paddingMode: paddingMode, needInput: needInput, needWeight: needWeight,
          needBias: needBias)
      if let part = gradients.input {
        part.scalars.withUnsafeBufferPointer { source in
          inputGradient.withUnsafeMutableBufferPointer { target in
            (target.baseAddress! + first * perImage).update(
              from: source.baseAddress!, count: part.count)
          }
        }
      }
      if let part = gradients.weight { accumulate(part, into: &weightGradient) }
      if let part = gradients.bias { accumulate(part, into: &biasGradient) }
    }
    return (
      needInput ? Tensor(shape: inputShape, scalars: inputGradient) : nil,
      needWeight ? Tensor(shape: weight.shape, scalars: weightGradient) : nil,
      needBias ? Tensor(shape: [g.outChannels], scalars: biasGradient) : nil
    )
  }

  /// Images `first..<first + count` of an NCHW batch; the batch itself when that is all of it.
  public func batchSlice(from first: Int, count images: Int) -> Tensor {
    guard first != 0 || images != shape[0] else { return self }
    let perImage = count / shape[0]
    return Tensor(
      shape: [images] + shape.dropFirst(),
      scalars: Array(scalars[(first * perImage)..<((first + images) * perImage)]))
  }
}

/// `total += part`, element by element.
private func accumulate(_ part: Tensor, into total: inout [Float]) {
  part.scalars.withUnsafeBufferPointer { source in
    total.withUnsafeMutableBufferPointer { target in
      cblas_saxpy(Int32(part.count), 1, source.baseAddress, 1, target.baseAddress, 1)
    }
  }
}
