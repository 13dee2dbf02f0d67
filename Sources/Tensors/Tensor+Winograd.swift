import CLinearAlgebra

/// How a 2-D convolution is computed.
public enum ConvolutionAlgorithm: Sendable, Equatable {
  /// The input unfolded (im2col) and multiplied by the weights, `Cin·kH·kW` multiply-adds per
  /// output element; any kernel, stride and padding.
  case im2col
  /// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016): 16 multiply-adds per
  /// 2×2 tile of outputs and input channel instead of 36; 3×3 kernels at stride 1 only.
  case winograd
  /// Winograd's F(4×4, 3×3) (Lavin & Gray, CVPR 2016): 36 multiply-adds per 4×4 tile of outputs
  /// and input channel instead of 144, with costlier 6×6 transforms and a larger rounding
  /// error; 3×3 kernels at stride 1 only.
  case winograd4x4
  /// For a 3×3 kernel at stride 1 with zero padding 1 over 2×2 planes (ResNet-18's last
  /// stage): one sgemm per filter tap over the positions it pairs, 16 multiply-adds per output
  /// and input channel instead of 36, skipping the taps that meet the padding.
  case taps2x2

  /// The algorithm that convolutions use wherever it applies, inside `$forced.withValue(…)` on
  /// the current task or thread, in place of the measured choice; for tests and benchmarks.
  @TaskLocal public static var forced: ConvolutionAlgorithm? = nil
}

extension ConvolutionGeometry {
  /// Whether F(2×2, 3×3) and F(4×4, 3×3) can compute this convolution: a 3×3 kernel at stride
  /// 1, with at least one channel in and out.
  public var admitsWinograd: Bool {
    kernelHeight == 3 && kernelWidth == 3 && stride == 1 && inChannels > 0 && outChannels > 0
  }

  /// The algorithm that `convolved` and `convolutionPullback` use: `ConvolutionAlgorithm.forced`
  /// where it applies, else the tap GEMMs where they win (see `taps2x2Wins`), else F(4×4, 3×3)
  /// where it wins (see `winograd4x4Wins`), else F(2×2, 3×3) where it wins (see
  /// `winogradWins`), else im2col.
  public var algorithm: ConvolutionAlgorithm {
    guard admitsWinograd else { return .im2col }
    if let forced = ConvolutionAlgorithm.forced, forced != .taps2x2 || admitsTaps2x2 {
      return forced
    }
    if taps2x2Wins { return .taps2x2 }
    if winograd4x4Wins { return .winograd4x4 }
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
  /// reading the transformed filters, 16/9 the size of the weights, three times a step. These
  /// ratios predate the split of the per-element sgemms over the cores
  /// (`Parallel.forEachBLASChunk`), which made Winograd faster still: the rule is conservative.
  var winogradWins: Bool {
    let tiles = batch * ((outHeight + 1) / 2) * ((outWidth + 1) / 2)
    return min(inChannels, outChannels) >= 16 && tiles >= 64
  }

  /// Whether F(4×4, 3×3) beats F(2×2, 3×3) and im2col here: where F(2×2, 3×3) beats im2col
  /// (`winogradWins`) and the batch has at least `¾·max(Cin, Cout)` output tiles of 4×4.
  ///
  /// Measured forward + backward (both gradients), F(4×4)'s time over F(2×2)'s, alternating in
  /// the same run, the range over runs, batch 32 unless given: 0.46–0.70 on 64 channels of
  /// 16×16 (512 tiles of 4×4), 0.77–0.78 on 128 of 8×8 (128 tiles), but 1.05–1.58 on 256 of
  /// 4×4 (32 tiles), 1.32–1.55 at batch 64, 0.95–1.04 at batch 128, 0.91–0.96 on 256 of 8×8
  /// (128 tiles); 0.73–0.75 on CIFAR-MTL's 160 channels of 3×3 and 0.89 of 10×10 at batch 128;
  /// 0.51 on 16 channels of 16×16, 0.66 on 64 of 8×8, 0.83 on 64 of 17×17. Each of the 36
  /// sgemms, `[tiles × Cin]·[Cin × Cout]`, reads its transformed filters (36/9 the size of the
  /// weights) for `2·tiles` flops per element, so with few tiles against many channels it is
  /// bound by memory and F(2×2)'s 16 sgemms over four times the tiles win.
  var winograd4x4Wins: Bool {
    let tiles = batch * ((outHeight + 3) / 4) * ((outWidth + 3) / 4)
    return winogradWins && 4 * tiles >= 3 * max(inChannels, outChannels)
  }
}

/// The tiling of one F(m×m, 3×3) convolution, `m = tile` (2 or 4), and the layout of its
/// scratch buffers.
///
/// Output tile `(ti, tj)` covers output rows `m·ti…m·ti + m − 1` and columns `m·tj…m·tj + m − 1`
/// and reads the `(m + 2)×(m + 2)` window of the padded input at rows `m·ti…m·ti + m + 1` and
/// columns `m·tj…m·tj + m + 1`. The tiled input holds `m·tileRows + 2` rows and `m·tileColumns
/// + 2` columns, with zeros past the padded plane, so that every window lies inside it. Scratch
/// buffers keep channels innermost (`[…, channel]`), rounded up to a whole number of vectors
/// (`inStride`, `outStride`).
struct WinogradPlan {
  let geometry: ConvolutionGeometry
  /// The side `m` of an output tile: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3).
  let tile: Int
  let tileRows, tileColumns: Int
  let inStride, outStride: Int
  let imagesPerChunk: Int
  /// For each row (column) of the tiled input, the input row (column) it copies, or −1 for a
  /// zero.
  let rowSource, columnSource: [Int]

  var tilesPerImage: Int { tileRows * tileColumns }
  var windowRows: Int { tile * tileRows + 2 }
  var windowColumns: Int { tile * tileColumns + 2 }
  /// The elements of a transformed tile, `(m + 2)²`: 16 sgemms a pass for F(2×2, 3×3), 36 for
  /// F(4×4, 3×3).
  var elements: Int { (tile + 2) * (tile + 2) }

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

  /// The most floats of transformed tiles, `elements · tiles · stride`, that a chunk of images
  /// holds in one buffer (4 MB).
  static let transformedFloatsPerChunk = 1 << 20

  /// The plan of `algorithm`, `.winograd` or `.winograd4x4`, for `g`.
  init(_ g: ConvolutionGeometry, _ algorithm: ConvolutionAlgorithm) {
    precondition(g.admitsWinograd, "Winograd needs a 3×3 kernel at stride 1: \(g)")
    precondition(
      algorithm == .winograd || algorithm == .winograd4x4, "WinogradPlan of \(algorithm) for \(g)")
    geometry = g
    tile = algorithm == .winograd4x4 ? 4 : 2
    (tileRows, tileColumns) = ((g.outHeight + tile - 1) / tile, (g.outWidth + tile - 1) / tile)
    let lanes = Self.lanes
    inStride = (g.inChannels + lanes - 1) / lanes * lanes
    outStride = (g.outChannels + lanes - 1) / lanes * lanes
    // Enough images that the GEMMs have a few hundred columns, few enough that the transformed
    // tiles of a chunk stay in the last-level cache; chunks of nearly equal size.
    let perImage = (tile + 2) * (tile + 2) * tileRows * tileColumns * max(inStride, outStride)
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
    rowSource = sources(tile * tileRows + 2, extent: g.height, padded: g.paddedHeight)
    columnSource = sources(tile * tileColumns + 2, extent: g.width, padded: g.paddedWidth)
  }
}

/// The transformed filters `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]`, `[elements, Cout, Cin]` at
/// `WinogradPlan.weightSpacing`.
private func transformedWeights(_ weight: Tensor, _ plan: WinogradPlan) -> [Float] {
  let (outChannels, inChannels) = (weight.shape[0], weight.shape[1])
  let spacing = WinogradPlan.weightSpacing(outChannels: outChannels, inChannels: inChannels)
  return [Float](uninitializedCount: plan.elements * spacing) { u in
    weight.scalars.withUnsafeBufferPointer { w in
      transformWeights(
        w.baseAddress!, into: u, plan, outChannels: outChannels, inChannels: inChannels)
    }
  }
}

/// The weight gradient `∂w[o, c] = Gᵀ ∂U[·, o, c] G` from `∂U`, `[elements, Cout, Cin]` at
/// `WinogradPlan.weightSpacing`.
private func weightGradient(_ du: [Float], shape: [Int], _ plan: WinogradPlan) -> Tensor {
  let scalars = [Float](uninitializedCount: shape.reduce(1, *)) { dw in
    du.withUnsafeBufferPointer { du in
      weightGradients(
        du.baseAddress!, into: dw, plan, outChannels: shape[0], inChannels: shape[1])
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
  /// Winograd's F(m×m, 3×3) (Lavin & Gray, CVPR 2016), `m` = 2 or 4 as `algorithm` says: per
  /// m×m output tile,
  /// ```
  /// Y = Aᵀ [Σ_c (G w[o, c] Gᵀ) ⊙ (Bᵀ d[c] B)] A + b[o]
  /// ```
  /// where `d[c]` is the tile's (m + 2)×(m + 2) window of channel `c` of the padded input. The
  /// sum over channels is `(m + 2)²` sgemms `M[ξ] = V[ξ] U[ξ]ᵀ`, `[tiles × Cin]·[Cin × Cout]`,
  /// one per element `ξ` of the transformed tile, split over the cores by element with one BLAS
  /// thread each (`Parallel.forEachBLASChunk`). The matrices are in `transformInput`,
  /// `transformOutput` and `transformWeights`.
  ///
  /// - Precondition: `g.admitsWinograd`; `g` describes this tensor and `weight`; `algorithm` is
  ///   `.winograd` or `.winograd4x4`.
  /// - Complexity: O(B · outH · outW · Cout · Cin · (m + 2)²/m²) multiply-adds in the sgemms (4
  ///   for m = 2, 2.25 for m = 4), against `·9` for im2col, plus O(B · outH · outW · (Cin +
  ///   Cout) + Cout · Cin) for the transforms.
  func winogradConvolved(
    _ g: ConvolutionGeometry, weight: Tensor, bias: Tensor?, algorithm: ConvolutionAlgorithm
  ) -> Tensor {
    let plan = WinogradPlan(g, algorithm)
    let chunk = plan.imagesPerChunk
    let u = transformedWeights(weight, plan)
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
    let elements = plan.elements
    var v = [Float](
      uninitializedCount: elements * plan.spacing(tiles: tiles, stride: plan.inStride)
    ) { _ in }
    var m = scratch(
      elements * plan.spacing(tiles: tiles, stride: plan.outStride),
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
                    // Small sgemms, one per element: split over the cores by element.
                    Parallel.forEachBLASChunk(count: elements) { range in
                      for xi in range {
                        cblas_sgemm(
                          CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count),
                          Int32(g.outChannels), Int32(g.inChannels), 1, pv + xi * vSpacing,
                          Int32(plan.inStride), u.baseAddress! + xi * uSpacing,
                          Int32(g.inChannels), 0, pm + xi * mSpacing, Int32(plan.outStride))
                      }
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

  /// `convolutionPullback` for a 3×3 kernel at stride 1 by F(m×m, 3×3) (`algorithm`), the
  /// adjoint of `winogradConvolved`: with `∂M = A ∂Y Aᵀ` per tile (shared by both gradients),
  /// ```
  /// ∂w[o, c] = Gᵀ [Σ_tiles ∂M[o] ⊙ (Bᵀ d[c] B)] G,   ∂d[c] = B [Σ_o U[o, c] ⊙ ∂M[o]] Bᵀ
  /// ```
  /// each sum over `(m + 2)²` sgemms; the window gradients `∂d` of overlapping tiles add up,
  /// and the adjoint of the padding takes them back to the input. This is the exact adjoint of
  /// the forward algorithm, so it needs no rotated kernel and handles any padding, zeros or
  /// reflection, and odd planes.
  ///
  /// - Precondition: `g.admitsWinograd`; `g` describes `input` and `weight`; this tensor has
  ///   the forward output's shape; `algorithm` is `.winograd` or `.winograd4x4`.
  /// - Complexity: about twice `winogradConvolved` when both gradients are requested.
  func winogradConvolutionPullback(
    _ g: ConvolutionGeometry, input: Tensor, weight: Tensor, needInput: Bool, needWeight: Bool,
    needBias: Bool, algorithm: ConvolutionAlgorithm
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let biasGradient = needBias ? channelSums(of: self, g) : nil
    guard (needInput || needWeight) && count > 0 && g.inChannels > 0 else {
      return (
        needInput ? Tensor(zeros: input.shape) : nil,
        needWeight ? Tensor(zeros: weight.shape) : nil, biasGradient
      )
    }
    let plan = WinogradPlan(g, algorithm)
    let chunk = plan.imagesPerChunk
    let u = needInput ? transformedWeights(weight, plan) : []
    let uSpacing = WinogradPlan.weightSpacing(outChannels: g.outChannels, inChannels: g.inChannels)
    let windowFloats = plan.windowRows * plan.windowColumns * plan.inStride
    let outputFloats = plan.tile * plan.tile * plan.tilesPerImage * plan.outStride
    // Overwritten before they are read, except `v`'s channels past `Cin`, which the sgemms
    // into it leave alone: zero, as `transformInput` would make them.
    var tiled = [Float](uninitializedCount: chunk * max(windowFloats, outputFloats)) { _ in }
    let (tiles, elements) = (chunk * plan.tilesPerImage, plan.elements)
    var v = scratch(
      elements * plan.spacing(tiles: tiles, stride: plan.inStride),
      zeroed: plan.inStride > g.inChannels)
    var dm = [Float](
      uninitializedCount: elements * plan.spacing(tiles: tiles, stride: plan.outStride)
    ) { _ in }
    // The first sgemm into it has β = 0.
    var du = [Float](uninitializedCount: needWeight ? elements * uSpacing : 0) { _ in }
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
                        Parallel.forEachBLASChunk(count: elements) { range in
                          for xi in range {
                            cblas_sgemm(
                              CblasRowMajor, CblasTrans, CblasNoTrans, cout, cin, Int32(count),
                              1, pm + xi * mSpacing, outStride, pv + xi * vSpacing, inStride,
                              first == 0 ? 0 : 1, du.baseAddress! + xi * uSpacing, cin)
                          }
                        }
                      }
                      if needInput {
                        Parallel.forEachBLASChunk(count: elements) { range in
                          for xi in range {
                            cblas_sgemm(
                              CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), cin, cout,
                              1, pm + xi * mSpacing, outStride, u.baseAddress! + xi * uSpacing,
                              cin, 0, pv + xi * vSpacing, inStride)
                          }
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
      needWeight ? weightGradient(du, shape: weight.shape, plan) : nil, biasGradient
    )
  }
}
