import CLinearAlgebra

/// How a 2-D convolution is computed.
public enum ConvolutionAlgorithm: Sendable, Equatable {
  /// The input unfolded (im2col) and multiplied by the weights, `Cin·kH·kW` multiply-adds per
  /// output element; any kernel, stride and padding.
  case im2col
  /// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016): 16 multiply-adds per
  /// 2×2 tile of outputs and input channel instead of 36; 3×3 kernels at stride 1 only.
  case winograd

  /// The algorithm that convolutions use wherever it applies, inside `$forced.withValue(…)` on
  /// the current task or thread, in place of the measured choice; for tests and benchmarks.
  @TaskLocal public static var forced: ConvolutionAlgorithm? = nil
}

extension ConvolutionGeometry {
  /// Whether F(2×2, 3×3) can compute this convolution: a 3×3 kernel at stride 1, with at least
  /// one channel in and out.
  public var admitsWinograd: Bool {
    kernelHeight == 3 && kernelWidth == 3 && stride == 1 && inChannels > 0 && outChannels > 0
  }

  /// The algorithm that `convolved` and `convolutionPullback` use: `ConvolutionAlgorithm.forced`
  /// where it applies, else Winograd where it admits and wins (see `winogradWins`), else
  /// im2col.
  public var algorithm: ConvolutionAlgorithm {
    guard admitsWinograd else { return .im2col }
    if let forced = ConvolutionAlgorithm.forced { return forced }
    return winogradWins ? .winograd : .im2col
  }

  /// Whether Winograd beats im2col here: at least 16 channels in and out, and at least 64
  /// output tiles (2×2) in the batch.
  ///
  /// Measured forward + backward, Winograd's time over im2col's, batch 32 unless given: 0.59
  /// on 64 channels of 16×16, 0.57 on 128 of 8×8, 0.61 on 256 of 4×4, but 1.09 on 512 of 2×2
  /// (32 tiles), 1.05 on 256 of 4×4 at batch 8 (32 tiles), 0.82 at batch 16 (64 tiles); 0.57
  /// on CIFAR-MTL's 160 channels of 10×10 and 0.71 of 3×3 at batch 128; 0.94 on 16 channels of
  /// 16×16. With few tiles the 16 sgemms are thin, `[tiles × Cin]·[Cin × Cout]`, and bound by
  /// reading the transformed filters, 16/9 the size of the weights, three times a step.
  var winogradWins: Bool {
    let tiles = batch * ((outHeight + 1) / 2) * ((outWidth + 1) / 2)
    return min(inChannels, outChannels) >= 16 && tiles >= 64
  }
}

/// The tiling of one F(2×2, 3×3) convolution and the layout of its scratch buffers.
///
/// Output tile `(ti, tj)` covers output rows `2ti, 2ti + 1` and columns `2tj, 2tj + 1` and reads
/// the 4×4 window of the padded input at rows and columns `2ti…2ti + 3`, `2tj…2tj + 3`. The
/// tiled input holds `2·tileRows + 2` rows and columns, with zeros past an odd padded plane, so
/// that every window lies inside it. Scratch buffers keep channels innermost (`[…, channel]`),
/// rounded up to a whole number of vectors (`inStride`, `outStride`).
struct WinogradPlan {
  let geometry: ConvolutionGeometry
  let tileRows, tileColumns: Int
  let inStride, outStride: Int
  let imagesPerChunk: Int
  /// For each row (column) of the tiled input, the input row (column) it copies, or −1 for a
  /// zero.
  let rowSource, columnSource: [Int]

  var tilesPerImage: Int { tileRows * tileColumns }
  var windowRows: Int { 2 * tileRows + 2 }
  var windowColumns: Int { 2 * tileColumns + 2 }

  /// The channels of one vector of the C kernels.
  static let lanes = 16

  /// The floats from the start of one element `ξ` of `tiles` transformed tiles (`stride`
  /// floats each) to the next: one vector more than they need, so that the 16 elements, which
  /// the transforms read or write together, fall on different cache sets rather than all on
  /// the same one when the size is a multiple of 4 KB.
  func spacing(tiles: Int, stride: Int) -> Int { tiles * stride + Self.lanes }

  /// `spacing` for the transformed filters `U[ξ]`, `Cout × Cin` each.
  static func weightSpacing(outChannels: Int, inChannels: Int) -> Int {
    outChannels * inChannels + lanes
  }

  /// The most floats of transformed tiles, `16 · tiles · stride`, that a chunk of images
  /// holds in one buffer (4 MB).
  static let transformedFloatsPerChunk = 1 << 20

  init(_ g: ConvolutionGeometry) {
    precondition(g.admitsWinograd, "Winograd F(2×2, 3×3) needs a 3×3 kernel at stride 1: \(g)")
    geometry = g
    (tileRows, tileColumns) = ((g.outHeight + 1) / 2, (g.outWidth + 1) / 2)
    let lanes = Self.lanes
    inStride = (g.inChannels + lanes - 1) / lanes * lanes
    outStride = (g.outChannels + lanes - 1) / lanes * lanes
    // Enough images that the GEMMs have a few hundred columns, few enough that the transformed
    // tiles of a chunk stay in the last-level cache; chunks of nearly equal size.
    let perImage = 16 * tileRows * tileColumns * max(inStride, outStride)
    let most = max(1, min(g.batch, Self.transformedFloatsPerChunk / perImage))
    let chunks = (g.batch + most - 1) / most
    imagesPerChunk = max(1, (g.batch + chunks - 1) / max(chunks, 1))
    func sources(_ count: Int, extent: Int, padded: Int) -> [Int] {
      (0..<count).map { i in
        let u = i - g.padding
        if i >= padded { return -1 }
        if u >= 0 && u < extent { return u }
        return g.paddingMode == .reflect ? reflected(u, extent) : -1
      }
    }
    rowSource = sources(2 * tileRows + 2, extent: g.height, padded: g.paddedHeight)
    columnSource = sources(2 * tileColumns + 2, extent: g.width, padded: g.paddedWidth)
  }
}

/// The transformed filters `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]`, `[16, Cout, Cin]` at
/// `WinogradPlan.weightSpacing`.
private func transformedWeights(_ weight: Tensor) -> [Float] {
  let (outChannels, inChannels) = (weight.shape[0], weight.shape[1])
  let spacing = WinogradPlan.weightSpacing(outChannels: outChannels, inChannels: inChannels)
  return [Float](uninitializedCount: 16 * spacing) { u in
    weight.scalars.withUnsafeBufferPointer { w in
      transformWeights(w.baseAddress!, into: u, outChannels: outChannels, inChannels: inChannels)
    }
  }
}

/// The weight gradient `∂w[o, c] = Gᵀ ∂U[·, o, c] G` from `∂U`, `[16, Cout, Cin]` at
/// `WinogradPlan.weightSpacing`.
private func weightGradient(_ du: [Float], shape: [Int]) -> Tensor {
  let scalars = [Float](uninitializedCount: shape.reduce(1, *)) { dw in
    du.withUnsafeBufferPointer { du in
      weightGradients(du.baseAddress!, into: dw, outChannels: shape[0], inChannels: shape[1])
    }
  }
  return Tensor(shape: shape, scalars: scalars)
}

/// A scratch buffer of `count` floats, zeros only when `zeroed`, else left for the caller to
/// overwrite.
private func scratch(_ count: Int, zeroed: Bool) -> [Float] {
  zeroed ? [Float](repeating: 0, count: count) : [Float](uninitializedCount: count) { _ in }
}

extension Tensor {
  /// `convolved(with:bias:stride:padding:paddingMode:)` for a 3×3 kernel at stride 1 by
  /// Winograd's F(2×2, 3×3) (Lavin & Gray, CVPR 2016): per 2×2 output tile,
  /// ```
  /// Y = Aᵀ [Σ_c (G w[o, c] Gᵀ) ⊙ (Bᵀ d[c] B)] A + b[o]
  /// ```
  /// where `d[c]` is the tile's 4×4 window of channel `c` of the padded input. The sum over
  /// channels is 16 sgemms `M[ξ] = V[ξ] U[ξ]ᵀ`, `[tiles × Cin]·[Cin × Cout]`, one per element
  /// `ξ` of the 4×4 transformed tile.
  ///
  /// - Precondition: `g.admitsWinograd`; `g` describes this tensor and `weight`.
  /// - Complexity: O(B · outH · outW · Cout · Cin · 4) multiply-adds in the sgemms, against
  ///   `·9` for im2col, plus O(B · outH · outW · (Cin + Cout) + Cout · Cin) for the transforms.
  func winogradConvolved(
    _ g: ConvolutionGeometry, weight: Tensor, bias: Tensor?
  ) -> Tensor {
    let plan = WinogradPlan(g)
    let chunk = plan.imagesPerChunk
    let u = transformedWeights(weight)
    let uSpacing = WinogradPlan.weightSpacing(outChannels: g.outChannels, inChannels: g.inChannels)
    // Every element is written by `unpackOutput`.
    var out = [Float](uninitializedCount: g.batch * g.outChannels * g.outPlane) { _ in }
    // Overwritten before they are read, except `m`'s channels past `Cout`, which the sgemms
    // leave alone: zero, as the transforms expect.
    var tiled = [Float](
      uninitializedCount: chunk * plan.windowRows * plan.windowColumns
        * max(plan.inStride, plan.outStride)
    ) { _ in }
    let tiles = chunk * plan.tilesPerImage
    var v = [Float](uninitializedCount: 16 * plan.spacing(tiles: tiles, stride: plan.inStride)) {
      _ in
    }
    var m = scratch(
      16 * plan.spacing(tiles: tiles, stride: plan.outStride),
      zeroed: plan.outStride > g.outChannels)
    let biasScalars = bias?.scalars ?? []
    scalars.withUnsafeBufferPointer { x in
      u.withUnsafeBufferPointer { u in
        tiled.withUnsafeMutableBufferPointer { tiled in
          v.withUnsafeMutableBufferPointer { v in
            m.withUnsafeMutableBufferPointer { m in
              out.withUnsafeMutableBufferPointer { y in
                biasScalars.withUnsafeBufferPointer { b in
                  let (pt, pv, pm) = (tiled.baseAddress!, v.baseAddress!, m.baseAddress!)
                  for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
                    let images = min(chunk, g.batch - first)
                    let count = images * plan.tilesPerImage
                    let vSpacing = plan.spacing(tiles: count, stride: plan.inStride)
                    let mSpacing = plan.spacing(tiles: count, stride: plan.outStride)
                    packInput(x.baseAddress!, into: pt, plan, first: first, images: images)
                    transformInput(pt, into: pv, plan, tiles: count)
                    for xi in 0..<16 {
                      cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count),
                        Int32(g.outChannels), Int32(g.inChannels), 1, pv + xi * vSpacing,
                        Int32(plan.inStride), u.baseAddress! + xi * uSpacing,
                        Int32(g.inChannels), 0, pm + xi * mSpacing, Int32(plan.outStride))
                    }
                    transformOutput(pm, into: pt, plan, tiles: count)
                    unpackOutput(
                      pt, into: y.baseAddress!, bias: bias == nil ? nil : b.baseAddress, plan,
                      first: first, images: images)
                  }
                }
              }
            }
          }
        }
      }
    }
    return Tensor(shape: [g.batch, g.outChannels, g.outHeight, g.outWidth], scalars: out)
  }

  /// `convolutionPullback` for a 3×3 kernel at stride 1 by F(2×2, 3×3), the adjoint of
  /// `winogradConvolved`: with `∂M = A ∂Y Aᵀ` per tile (shared by both gradients),
  /// ```
  /// ∂w[o, c] = Gᵀ [Σ_tiles ∂M[o] ⊙ (Bᵀ d[c] B)] G,   ∂d[c] = B [Σ_o U[o, c] ⊙ ∂M[o]] Bᵀ
  /// ```
  /// each sum over 16 sgemms; the window gradients `∂d` of overlapping tiles add up, and the
  /// adjoint of the padding takes them back to the input. This is the exact adjoint of the
  /// forward algorithm, so it needs no rotated kernel and handles any padding, zeros or
  /// reflection, and odd planes.
  ///
  /// - Precondition: `g.admitsWinograd`; `g` describes `input` and `weight`; this tensor has
  ///   the forward output's shape.
  /// - Complexity: about twice `winogradConvolved` when both gradients are requested.
  func winogradConvolutionPullback(
    _ g: ConvolutionGeometry, input: Tensor, weight: Tensor, needInput: Bool, needWeight: Bool,
    needBias: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let biasGradient = needBias ? channelSums(of: self, g) : nil
    guard (needInput || needWeight) && count > 0 && g.inChannels > 0 else {
      return (
        needInput ? Tensor(zeros: input.shape) : nil,
        needWeight ? Tensor(zeros: weight.shape) : nil, biasGradient
      )
    }
    let plan = WinogradPlan(g)
    let chunk = plan.imagesPerChunk
    let u = needInput ? transformedWeights(weight) : []
    let uSpacing = WinogradPlan.weightSpacing(outChannels: g.outChannels, inChannels: g.inChannels)
    let windowFloats = plan.windowRows * plan.windowColumns * plan.inStride
    let outputFloats = 4 * plan.tilesPerImage * plan.outStride
    // Overwritten before they are read, except `v`'s channels past `Cin`, which the sgemms
    // into it leave alone: zero, as `transformInput` would make them.
    var tiled = [Float](uninitializedCount: chunk * max(windowFloats, outputFloats)) { _ in }
    let tiles = chunk * plan.tilesPerImage
    var v = scratch(
      16 * plan.spacing(tiles: tiles, stride: plan.inStride),
      zeroed: plan.inStride > g.inChannels)
    var dm = [Float](
      uninitializedCount: 16 * plan.spacing(tiles: tiles, stride: plan.outStride)
    ) { _ in }
    // The first sgemm into it has β = 0.
    var du = [Float](uninitializedCount: needWeight ? 16 * uSpacing : 0) { _ in }
    // Every element is written by `unpackInputGradient`.
    var dx = [Float](uninitializedCount: needInput ? input.count : 0) { _ in }
    let (cin, cout) = (Int32(g.inChannels), Int32(g.outChannels))
    let (inStride, outStride) = (Int32(plan.inStride), Int32(plan.outStride))
    scalars.withUnsafeBufferPointer { gy in
      input.scalars.withUnsafeBufferPointer { x in
        u.withUnsafeBufferPointer { u in
          tiled.withUnsafeMutableBufferPointer { tiled in
            v.withUnsafeMutableBufferPointer { v in
              dm.withUnsafeMutableBufferPointer { dm in
                du.withUnsafeMutableBufferPointer { du in
                  dx.withUnsafeMutableBufferPointer { dx in
                    let (pt, pv, pm) = (tiled.baseAddress!, v.baseAddress!, dm.baseAddress!)
                    for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
                      let images = min(chunk, g.batch - first)
                      let count = images * plan.tilesPerImage
                      let vSpacing = plan.spacing(tiles: count, stride: plan.inStride)
                      let mSpacing = plan.spacing(tiles: count, stride: plan.outStride)
                      packOutputGradient(
                        gy.baseAddress!, into: pt, plan, first: first, images: images)
                      transformOutputGradient(pt, into: pm, plan, tiles: count)
                      if needWeight {
                        packInput(x.baseAddress!, into: pt, plan, first: first, images: images)
                        transformInput(pt, into: pv, plan, tiles: count)
                        for xi in 0..<16 {
                          cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, cout, cin, Int32(count), 1,
                            pm + xi * mSpacing, outStride, pv + xi * vSpacing, inStride,
                            first == 0 ? 0 : 1, du.baseAddress! + xi * uSpacing, cin)
                        }
                      }
                      if needInput {
                        for xi in 0..<16 {
                          cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), cin, cout, 1,
                            pm + xi * mSpacing, outStride, u.baseAddress! + xi * uSpacing, cin,
                            0, pv + xi * vSpacing, inStride)
                        }
                        pt.update(repeating: 0, count: images * windowFloats)
                        transformInputGradient(pv, into: pt, plan, images: images)
                        unpackInputGradient(
                          pt, into: dx.baseAddress!, plan, first: first, images: images)
                      }
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
      needInput ? Tensor(shape: input.shape, scalars: dx) : nil,
      needWeight ? weightGradient(du, shape: weight.shape) : nil, biasGradient
    )
  }
}
