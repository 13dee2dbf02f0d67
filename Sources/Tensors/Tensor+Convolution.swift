import CKernels
import CLinearAlgebra

/// How a convolution fills the border it adds around its input.
public enum PaddingMode: Sendable, Equatable {
  /// Zeros outside the input.
  case zeros
  /// The input mirrored about its edge row and column without repeating them, as PyTorch's
  /// `padding_mode="reflect"`: `[a b c d]` padded by 2 reads `c b a b c d c b`.
  case reflect
}

/// The sizes of one 2-D convolution over an NCHW batch.
public struct ConvolutionGeometry: Sendable, Equatable {
  public let batch, inChannels, height, width: Int
  public let outChannels, kernelHeight, kernelWidth: Int
  public let stride, padding: Int
  public let paddingMode: PaddingMode

  /// The extents of the output: `(H + 2p − k) / s + 1`, rounded down.
  public var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
  public var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
  var paddedHeight: Int { height + 2 * padding }
  var paddedWidth: Int { width + 2 * padding }
  /// The rows of the unfolded input: one per weight of a filter, `Cin·kH·kW`.
  var patchSize: Int { inChannels * kernelHeight * kernelWidth }
  var outPlane: Int { outHeight * outWidth }

  /// Checks and records the sizes of a convolution of `input` `[B, Cin, H, W]` with `weight`
  /// `[Cout, Cin, kH, kW]`.
  ///
  /// - Precondition: ranks 4, matching `Cin`, `stride ≥ 1`, `padding ≥ 0`, a kernel no larger
  ///   than the padded input, and for reflection `padding < H` and `padding < W`.
  public init(
    input: [Int], weight: [Int], stride: Int, padding: Int, paddingMode: PaddingMode
  ) {
    precondition(
      input.count == 4 && weight.count == 4 && input[1] == weight[1],
      "conv2d needs input [B, Cin, H, W] and weight [Cout, Cin, kH, kW]: \(input), \(weight)")
    precondition(stride >= 1 && padding >= 0, "conv2d: stride \(stride), padding \(padding)")
    precondition(
      input[2] + 2 * padding >= weight[2] && input[3] + 2 * padding >= weight[3],
      "conv2d: kernel \(weight[2])×\(weight[3]) larger than padded input \(input) + 2·\(padding)")
    precondition(
      paddingMode == .zeros || (padding < input[2] && padding < input[3]),
      "conv2d: reflect padding \(padding) must be smaller than the input extents \(input)")
    (batch, inChannels, height, width) = (input[0], input[1], input[2], input[3])
    (outChannels, kernelHeight, kernelWidth) = (weight[0], weight[2], weight[3])
    (self.stride, self.padding, self.paddingMode) = (stride, padding, paddingMode)
  }

  /// Whether output planes are large enough (at least 1024 cells) for one GEMM per image to
  /// run near sgemm's peak; then the GEMMs read and write NCHW images in place.
  var multipliesPerImage: Bool { outPlane >= 1024 }

  /// How many images one GEMM covers: enough columns for sgemm to run near its peak, few
  /// enough that the unfolded input and the output block stay around 16 MB each, and the batch
  /// split into chunks of nearly equal size so that no GEMM is left with a sliver of it.
  var imagesPerChunk: Int {
    let columns = max(outPlane, min((1 << 22) / max(patchSize, 1), 16_384))
    let most = max(1, min(batch, columns / max(outPlane, 1)))
    let chunks = (batch + most - 1) / most
    return max(1, (batch + chunks - 1) / max(chunks, 1))
  }
}

extension Tensor {
  /// The 2-D cross-correlation of an NCHW batch with a bank of filters, plus a bias per output
  /// channel, as PyTorch's `conv2d`:
  /// ```
  /// y[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] · x̃[n, c, s·i + u, s·j + v]
  /// ```
  /// where `x̃` is the input padded by `p` on each side. The input is unfolded (im2col) a chunk
  /// of images at a time and multiplied by the weights with one `cblas_sgemm` per chunk.
  ///
  /// - Parameters:
  ///   - weight: `[Cout, Cin, kH, kW]`.
  ///   - bias: `[Cout]`, or `nil`.
  /// - Returns: `[B, Cout, (H + 2p − kH)/s + 1, (W + 2p − kW)/s + 1]`.
  /// - Precondition: see `ConvolutionGeometry.init`; `bias` has `Cout` elements.
  /// - Complexity: O(B · Cout · Cin · kH · kW · outH · outW).
  public func convolved(
    with weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
    paddingMode: PaddingMode = .zeros
  ) -> Tensor {
    let geometry = ConvolutionGeometry(
      input: shape, weight: weight.shape, stride: stride, padding: padding,
      paddingMode: paddingMode)
    precondition(
      bias == nil || bias!.count == geometry.outChannels,
      "conv2d: bias \(bias!.shape) for \(geometry.outChannels) output channels")
    let g = geometry
    let total = g.batch * g.outChannels * g.outPlane
    guard total > 0 else { return Tensor(zeros: outputShape(g)) }
    // 3×3 stride-1 convolutions: the tap GEMMs on 2×2 planes; with enough channels and tiles,
    // Winograd's F(2×2, 3×3) or F(4×4, 3×3).
    switch g.algorithm {
    case .im2col: break
    case .taps2x2: return tapsConvolved(g, weight: weight, bias: bias)
    case let algorithm:
      return winogradConvolved(g, weight: weight, bias: bias, algorithm: algorithm)
    }
    // Every element is written by `scatterBlock`.
    var out = [Float](uninitializedCount: total) { _ in }
    let padded = paddedInput(self, g)
    let chunk = g.imagesPerChunk
    // `unfold` and the GEMMs (β = 0) overwrite every element before it is read.
    var columns = [Float](uninitializedCount: g.patchSize * chunk * g.outPlane) { _ in }
    var block = [Float](
      uninitializedCount: g.multipliesPerImage ? 0 : g.outChannels * chunk * g.outPlane
    ) { _ in }
    let biasScalars = bias?.scalars ?? [Float](repeating: 0, count: g.outChannels)
    padded.withUnsafeBufferPointer { p in
      columns.withUnsafeMutableBufferPointer { c in
        block.withUnsafeMutableBufferPointer { y in
          out.withUnsafeMutableBufferPointer { o in
            weight.scalars.withUnsafeBufferPointer { w in
              biasScalars.withUnsafeBufferPointer { b in
                for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
                  let images = min(chunk, g.batch - first)
                  let width = images * g.outPlane
                  unfold(p.baseAddress!, into: c.baseAddress!, g, first: first, images: images)
                  if g.multipliesPerImage {
                    // Large planes: one GEMM per image, straight into the NCHW output.
                    for n in 0..<images {
                      cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.outChannels),
                        Int32(g.outPlane), Int32(g.patchSize), 1, w.baseAddress,
                        Int32(g.patchSize), c.baseAddress! + n * g.outPlane, Int32(width), 0,
                        o.baseAddress! + (first + n) * g.outChannels * g.outPlane,
                        Int32(g.outPlane))
                    }
                    if bias != nil {
                      addBias(b.baseAddress!, to: o.baseAddress!, g, first: first, images: images)
                    }
                  } else {
                    cblas_sgemm(
                      CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.outChannels),
                      Int32(width), Int32(g.patchSize), 1, w.baseAddress, Int32(g.patchSize),
                      c.baseAddress, Int32(width), 0, y.baseAddress, Int32(width))
                    scatterBlock(
                      y.baseAddress!, to: o.baseAddress!, bias: b.baseAddress!, g, first: first,
                      images: images)
                  }
                }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: outputShape(g), scalars: out)
  }

  /// The gradients of `input.convolved(with: weight, bias: …)` given the output gradient `self`:
  /// ```
  /// ∂L/∂w = Σ_chunks G · colᵀ,   ∂L/∂x = unpad(col2im(wᵀ · G)),   ∂L/∂b[o] = Σ_{n,i,j} G
  /// ```
  /// The adjoint of reflection padding adds the gradient of each mirrored cell back onto the
  /// cell it copied.
  ///
  /// - Parameters:
  ///   - input, weight: the operands of the forward pass.
  ///   - needInput, needWeight, needBias: which gradients to compute.
  /// - Returns: the requested gradients, `nil` for the others.
  /// - Precondition: this tensor has the forward output's shape.
  /// - Complexity: twice the forward pass's multiply-adds when both gradients are requested.
  public func convolutionPullback(
    input: Tensor, weight: Tensor, stride: Int, padding: Int, paddingMode: PaddingMode,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let g = ConvolutionGeometry(
      input: input.shape, weight: weight.shape, stride: stride, padding: padding,
      paddingMode: paddingMode)
    precondition(
      shape == outputShape(g), "conv2d pullback: gradient \(shape) for output \(outputShape(g))")
    // The adjoint of the tap GEMMs, F(2×2, 3×3) or F(4×4, 3×3) where the forward pass used it.
    switch g.algorithm {
    case .im2col: break
    case .taps2x2:
      return tapsConvolutionPullback(
        g, input: input, weight: weight, needInput: needInput, needWeight: needWeight,
        needBias: needBias)
    case let algorithm:
      return winogradConvolutionPullback(
        g, input: input, weight: weight, needInput: needInput, needWeight: needWeight,
        needBias: needBias, algorithm: algorithm)
    }
    let loops = (needInput || needWeight) && count > 0 && g.patchSize > 0
    // With one GEMM per image, each image's gradient is summed while it is still in cache.
    let fuseBias = needBias && loops && g.multipliesPerImage
    var biasTotals = [Double](repeating: 0, count: fuseBias ? g.outChannels : 0)
    let biasGradient = needBias && !fuseBias ? channelSums(of: self, g) : nil
    guard loops else {
      return (
        needInput ? Tensor(zeros: input.shape) : nil,
        needWeight ? Tensor(zeros: weight.shape) : nil, biasGradient
      )
    }
    let padded = needWeight ? paddedInput(input, g) : []
    let chunk = g.imagesPerChunk
    // `unfold` and the GEMMs (β = 0) overwrite every element before it is read.
    var columns = [Float](uninitializedCount: g.patchSize * chunk * g.outPlane) { _ in }
    var block = [Float](
      uninitializedCount: g.multipliesPerImage ? 0 : g.outChannels * chunk * g.outPlane
    ) { _ in }
    // The first GEMM into it has β = 0.
    var weightGradient = [Float](uninitializedCount: needWeight ? weight.count : 0) { _ in }
    var paddedGradient = [Float](
      repeating: 0, count: needInput ? g.batch * g.inChannels * g.paddedHeight * g.paddedWidth : 0)
    let (m, k) = (Int32(g.outChannels), Int32(g.patchSize))
    scalars.withUnsafeBufferPointer { gOut in
      padded.withUnsafeBufferPointer { p in
        columns.withUnsafeMutableBufferPointer { c in
          block.withUnsafeMutableBufferPointer { y in
            weight.scalars.withUnsafeBufferPointer { w in
              weightGradient.withUnsafeMutableBufferPointer { dw in
                paddedGradient.withUnsafeMutableBufferPointer { dp in
                  for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
                    let images = min(chunk, g.batch - first)
                    let width = Int32(images * g.outPlane)
                    if g.multipliesPerImage {
                      // Large planes: one GEMM per image, straight from the NCHW gradient.
                      let plane = Int32(g.outPlane)
                      if needWeight {
                        unfold(
                          p.baseAddress!, into: c.baseAddress!, g, first: first, images: images)
                      }
                      for n in 0..<images {
                        let gImage = gOut.baseAddress! + (first + n) * g.outChannels * g.outPlane
                        let column = c.baseAddress! + n * g.outPlane
                        if needWeight {
                          cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasTrans, m, k, plane, 1, gImage, plane,
                            column, width, first + n == 0 ? 0 : 1, dw.baseAddress, k)
                        }
                        if needInput {
                          cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, k, plane, m, 1, w.baseAddress,
                            k, gImage, plane, 0, column, width)
                        }
                        if fuseBias {
                          for o in 0..<g.outChannels {
                            let row = gImage + o * g.outPlane
                            biasTotals[o] += Double(contiguousSum(row, count: g.outPlane))
                          }
                        }
                      }
                      if needInput {
                        fold(c.baseAddress!, into: dp.baseAddress!, g, first: first, images: images)
                      }
                      continue
                    }
                    gatherBlock(gOut.baseAddress!, into: y.baseAddress!, g, first, images)
                    if needWeight {
                      unfold(p.baseAddress!, into: c.baseAddress!, g, first: first, images: images)
                      cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, m, k, width, 1, y.baseAddress,
                        width, c.baseAddress, width, first == 0 ? 0 : 1, dw.baseAddress, k)
                    }
                    if needInput {
                      cblas_sgemm(
                        CblasRowMajor, CblasTrans, CblasNoTrans, k, width, m, 1, w.baseAddress,
                        k, y.baseAddress, width, 0, c.baseAddress, width)
                      fold(c.baseAddress!, into: dp.baseAddress!, g, first: first, images: images)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return (
      needInput ? Tensor(shape: input.shape, scalars: unpaddedGradient(paddedGradient, g)) : nil,
      needWeight ? Tensor(shape: weight.shape, scalars: weightGradient) : nil,
      fuseBias
        ? Tensor(shape: [g.outChannels], scalars: biasTotals.map { Float($0) }) : biasGradient
    )
  }
}

private func outputShape(_ g: ConvolutionGeometry) -> [Int] {
  [g.batch, g.outChannels, g.outHeight, g.outWidth]
}

/// The index that reflection padding reads for position `i` of an axis of extent `n`
/// (`−n < i < 2n − 1`).
@inline(__always)
func reflected(_ i: Int, _ n: Int) -> Int {
  i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i)
}

/// The input with its border added, `[B, Cin, H + 2p, W + 2p]`; the input itself when `p = 0`.
private func paddedInput(_ x: Tensor, _ g: ConvolutionGeometry) -> [Float] {
  guard g.padding > 0 else { return x.scalars }
  let (h, w, hp, wp, pad) = (g.height, g.width, g.paddedHeight, g.paddedWidth, g.padding)
  let planes = g.batch * g.inChannels
  var out = [Float](repeating: 0, count: planes * hp * wp)
  let reflect = g.paddingMode == .reflect
  x.scalars.withUnsafeBufferPointer { src in
    out.withUnsafeMutableBufferPointer { dst in
      let (ps, pd) = (src.baseAddress!, dst.baseAddress!)
      Parallel.forEachChunk(count: planes, costPerItem: hp * wp) { range in
        for plane in range {
          let from = ps + plane * h * w
          let to = pd + plane * hp * wp
          for i in 0..<hp {
            let row = i - pad
            if !reflect && (row < 0 || row >= h) { continue }
            let source = from + reflected(row, h) * w
            let target = to + i * wp
            for j in 0..<w { target[pad + j] = source[j] }
            if reflect {
              for j in 0..<pad {
                target[j] = source[pad - j]
                target[pad + w + j] = source[w - 2 - j]
              }
            }
          }
        }
      }
    }
  }
  return out
}

/// The adjoint of `paddedInput`: the gradient of the unpadded input, with the gradient of
/// every mirrored cell added to the cell it was copied from.
private func unpaddedGradient(_ dp: [Float], _ g: ConvolutionGeometry) -> [Float] {
  guard g.padding > 0 else { return dp }
  let (h, w, hp, wp, pad) = (g.height, g.width, g.paddedHeight, g.paddedWidth, g.padding)
  let planes = g.batch * g.inChannels
  var out = [Float](repeating: 0, count: planes * h * w)
  let reflect = g.paddingMode == .reflect
  dp.withUnsafeBufferPointer { src in
    out.withUnsafeMutableBufferPointer { dst in
      let (ps, pd) = (src.baseAddress!, dst.baseAddress!)
      Parallel.forEachChunk(count: planes, costPerItem: hp * wp) { range in
        for plane in range {
          let from = ps + plane * hp * wp
          let to = pd + plane * h * w
          for i in 0..<hp {
            let row = i - pad
            if !reflect && (row < 0 || row >= h) { continue }
            let source = from + i * wp
            let target = to + reflected(row, h) * w
            for j in 0..<w { target[j] += source[pad + j] }
            if reflect {
              for j in 0..<pad {
                target[pad - j] += source[j]
                target[w - 2 - j] += source[pad + w + j]
              }
            }
          }
        }
      }
    }
  }
  return out
}

/// im2col for images `first..<first + images`: column `n·outPlane + i·outW + j` of row
/// `(c·kH + u)·kW + v` holds `x̃[first + n, c, s·i + u, s·j + v]`.
private func unfold(
  _ padded: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>,
  _ g: ConvolutionGeometry, first: Int, images: Int
) {
  let (hp, wp, oh, ow, s) = (g.paddedHeight, g.paddedWidth, g.outHeight, g.outWidth, g.stride)
  let width = images * g.outPlane
  Parallel.forEachChunk(count: images, costPerItem: g.patchSize * g.outPlane) { range in
    for n in range {
      let image = padded + (first + n) * g.inChannels * hp * wp
      if s == 2 {
        bayesagg_unfold_stride2(
          image, g.inChannels, hp, wp, g.kernelHeight, g.kernelWidth, oh, ow,
          columns + n * g.outPlane, width)
        continue
      }
      var row = 0
      for c in 0..<g.inChannels {
        for u in 0..<g.kernelHeight {
          for v in 0..<g.kernelWidth {
            let target = columns + row * width + n * g.outPlane
            let source = image + (c * hp + u) * wp + v
            if s == 1 {
              copyWindow(from: source, pitch: wp, to: target, rows: oh, columns: ow)
            } else {
              for i in 0..<oh {
                let from = source + s * i * wp
                let to = target + i * ow
                for j in 0..<ow { to[j] = from[s * j] }
              }
            }
            row += 1
          }
        }
      }
    }
  }
}

/// Copies a `rows × columns` window whose rows start `pitch` floats apart into consecutive
/// rows of `columns` floats, with whole-row vector moves for the narrow rows of small planes.
@inline(__always)
private func copyWindow(
  from source: UnsafePointer<Float>, pitch: Int, to target: UnsafeMutablePointer<Float>,
  rows: Int, columns: Int
) {
  let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
  let size = MemoryLayout<Float>.stride
  switch columns {
  case 2:
    for i in 0..<rows {
      let row = from.loadUnaligned(fromByteOffset: i * pitch * size, as: SIMD2<Float>.self)
      to.storeBytes(of: row, toByteOffset: i * 2 * size, as: SIMD2<Float>.self)
    }
  case 4:
    for i in 0..<rows {
      let row = from.loadUnaligned(fromByteOffset: i * pitch * size, as: SIMD4<Float>.self)
      to.storeBytes(of: row, toByteOffset: i * 4 * size, as: SIMD4<Float>.self)
    }
  case 8:
    for i in 0..<rows {
      let row = from.loadUnaligned(fromByteOffset: i * pitch * size, as: SIMD8<Float>.self)
      to.storeBytes(of: row, toByteOffset: i * 8 * size, as: SIMD8<Float>.self)
    }
  case 16:
    for i in 0..<rows {
      let row = from.loadUnaligned(fromByteOffset: i * pitch * size, as: SIMD16<Float>.self)
      to.storeBytes(of: row, toByteOffset: i * 16 * size, as: SIMD16<Float>.self)
    }
  default:
    for i in 0..<rows {
      (target + i * columns).update(from: source + i * pitch, count: columns)
    }
  }
}

/// The adjoint of `copyWindow`: adds consecutive rows of `columns` floats onto a window whose
/// rows start `pitch` floats apart.
@inline(__always)
private func addWindow(
  _ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, pitch: Int,
  rows: Int, columns: Int
) {
  let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
  let size = MemoryLayout<Float>.stride
  @inline(__always)
  func add<V: SIMD>(_: V.Type) where V.Scalar == Float {
    for i in 0..<rows {
      let offset = i * pitch * size
      let row = from.loadUnaligned(fromByteOffset: i * columns * size, as: V.self)
      let sum = to.loadUnaligned(fromByteOffset: offset, as: V.self) + row
      to.storeBytes(of: sum, toByteOffset: offset, as: V.self)
    }
  }
  switch columns {
  case 2: add(SIMD2<Float>.self)
  case 4: add(SIMD4<Float>.self)
  case 8: add(SIMD8<Float>.self)
  case 16: add(SIMD16<Float>.self)
  default:
    for i in 0..<rows {
      let (from, to) = (source + i * columns, target + i * pitch)
      for j in 0..<columns { to[j] += from[j] }
    }
  }
}

/// col2im, the adjoint of `unfold`: adds each column entry back onto the padded cell it came
/// from, for images `first..<first + images` of a padded-gradient buffer.
private func fold(
  _ columns: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
  _ g: ConvolutionGeometry, first: Int, images: Int
) {
  let (hp, wp, oh, ow, s) = (g.paddedHeight, g.paddedWidth, g.outHeight, g.outWidth, g.stride)
  let width = images * g.outPlane
  Parallel.forEachChunk(count: images, costPerItem: g.patchSize * g.outPlane) { range in
    for n in range {
      let image = padded + (first + n) * g.inChannels * hp * wp
      if s == 2 {
        bayesagg_fold_stride2(
          columns + n * g.outPlane, width, g.inChannels, hp, wp, g.kernelHeight, g.kernelWidth,
          oh, ow, image)
        continue
      }
      var row = 0
      for c in 0..<g.inChannels {
        for u in 0..<g.kernelHeight {
          for v in 0..<g.kernelWidth {
            let source = columns + row * width + n * g.outPlane
            let target = image + (c * hp + u) * wp + v
            if s == 1 {
              addWindow(source, to: target, pitch: wp, rows: oh, columns: ow)
            } else {
              for i in 0..<oh {
                let from = source + i * ow
                let to = target + s * i * wp
                for j in 0..<ow { to[s * j] += from[j] }
              }
            }
            row += 1
          }
        }
      }
    }
  }
}

/// Copies a GEMM result `[Cout, images·outPlane]` into NCHW output images `first…`, adding
/// the bias of each channel.
private func scatterBlock(
  _ block: UnsafePointer<Float>, to out: UnsafeMutablePointer<Float>,
  bias: UnsafePointer<Float>, _ g: ConvolutionGeometry, first: Int, images: Int
) {
  let (plane, channels) = (g.outPlane, g.outChannels)
  let width = images * plane
  Parallel.forEachChunk(count: images, costPerItem: channels * plane) { range in
    for n in range {
      for o in 0..<channels {
        let source = block + o * width + n * plane
        let target = out + ((first + n) * channels + o) * plane
        let b = bias[o]
        for j in 0..<plane { target[j] = source[j] + b }
      }
    }
  }
}

/// Adds the bias of each channel to NCHW output images `first..<first + images`.
private func addBias(
  _ bias: UnsafePointer<Float>, to out: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry,
  first: Int, images: Int
) {
  let (plane, channels) = (g.outPlane, g.outChannels)
  Parallel.forEachChunk(count: images, costPerItem: channels * plane) { range in
    for n in range {
      for o in 0..<channels {
        let target = out + ((first + n) * channels + o) * plane
        let b = bias[o]
        for j in 0..<plane { target[j] += b }
      }
    }
  }
}

/// The inverse copy of `scatterBlock` (without bias): NCHW output-gradient images `first…`
/// into a `[Cout, images·outPlane]` block.
private func gatherBlock(
  _ gradient: UnsafePointer<Float>, into block: UnsafeMutablePointer<Float>,
  _ g: ConvolutionGeometry, _ first: Int, _ images: Int
) {
  let (plane, channels) = (g.outPlane, g.outChannels)
  let width = images * plane
  Parallel.forEachChunk(count: images, costPerItem: channels * plane) { range in
    for n in range {
      for o in 0..<channels {
        let source = gradient + ((first + n) * channels + o) * plane
        let target = block + o * width + n * plane
        for j in 0..<plane { target[j] = source[j] }
      }
    }
  }
}

/// `Σ_{n,i,j} t[n, o, i, j]` for each channel `o` of an NCHW tensor; each plane is summed in
/// `Float`, the planes in `Double`.
func channelSums(of t: Tensor, _ g: ConvolutionGeometry) -> Tensor {
  let (plane, channels, batch) = (g.outPlane, g.outChannels, g.batch)
  let totals = t.scalars.withUnsafeBufferPointer { p in
    [Float](uninitializedCount: channels) { out in
      let source = p.baseAddress!
      Parallel.forEachChunk(count: channels, costPerItem: batch * plane) { range in
        for o in range {
          var total = 0.0
          for n in 0..<batch {
            total += Double(contiguousSum(source + (n * channels + o) * plane, count: plane))
          }
          out[o] = Float(total)
        }
      }
    }
  }
  return Tensor(shape: [channels], scalars: totals)
}
