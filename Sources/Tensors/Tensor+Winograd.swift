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
  /// Whether F(2×2, 3×3) can compute this convolution: a 3×3 kernel at stride 1.
  public var admitsWinograd: Bool { kernelHeight == 3 && kernelWidth == 3 && stride == 1 }

  /// The algorithm that `convolved` and `convolutionPullback` use: `ConvolutionAlgorithm.forced`
  /// where it applies, else Winograd where it admits and wins (see `winogradWins`), else
  /// im2col.
  public var algorithm: ConvolutionAlgorithm {
    guard admitsWinograd else { return .im2col }
    if let forced = ConvolutionAlgorithm.forced { return forced }
    return winogradWins ? .winograd : .im2col
  }

  /// Whether Winograd beats im2col here, as measured on the ResNet-18 and CIFAR-MTL shapes.
  var winogradWins: Bool { min(inChannels, outChannels) >= 16 }
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

  /// The most floats of transformed tiles, `16 · tiles · stride`, that a chunk of images
  /// holds in one buffer (4 MB).
  static let transformedFloatsPerChunk = 1 << 20

  init(_ g: ConvolutionGeometry) {
    precondition(g.admitsWinograd, "Winograd F(2×2, 3×3) needs a 3×3 kernel at stride 1: \(g)")
    geometry = g
    (tileRows, tileColumns) = ((g.outHeight + 1) / 2, (g.outWidth + 1) / 2)
    let lanes = WinogradLanes.scalarCount
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

/// The 16×9 matrix `T` of the weight transform, `U = G g Gᵀ` read as `vec(U) = T vec(g)`:
/// `T[4a + b, 3u + v] = G[a, u] · G[b, v]`, with
/// ```
///     ⎡ 1    0    0 ⎤
/// G = ⎢1/2  1/2  1/2⎥
///     ⎢1/2 −1/2  1/2⎥
///     ⎣ 0    0    1 ⎦
/// ```
/// Its entries (0, ±1/4, ±1/2, 1) are exact in `Float`.
private let winogradWeightTransform: [Float] = {
  let g: [[Float]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
  var t = [Float](repeating: 0, count: 16 * 9)
  for a in 0..<4 {
    for b in 0..<4 {
      for u in 0..<3 {
        for v in 0..<3 { t[(4 * a + b) * 9 + 3 * u + v] = g[a][u] * g[b][v] }
      }
    }
  }
  return t
}()

/// The transformed filters `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]`, `[16, Cout, Cin]`, by one sgemm
/// `U = T wᵀ` over all `Cout·Cin` filters.
///
/// - Complexity: O(Cout · Cin).
private func transformedWeights(_ weight: Tensor) -> [Float] {
  let pairs = weight.shape[0] * weight.shape[1]
  return [Float](uninitializedCount: 16 * pairs) { u in
    weight.scalars.withUnsafeBufferPointer { w in
      winogradWeightTransform.withUnsafeBufferPointer { t in
        cblas_sgemm(
          CblasRowMajor, CblasNoTrans, CblasTrans, 16, Int32(pairs), 9, 1, t.baseAddress, 9,
          w.baseAddress, 9, 0, u, Int32(pairs))
      }
    }
  }
}

/// The adjoint of `transformedWeights`: `∂w[o, c] = Gᵀ ∂U[·, o, c] G`, by one sgemm
/// `∂w = ∂Uᵀ T`.
///
/// - Complexity: O(Cout · Cin).
private func weightGradient(_ du: [Float], shape: [Int]) -> Tensor {
  let pairs = shape[0] * shape[1]
  let scalars = [Float](uninitializedCount: 9 * pairs) { dw in
    du.withUnsafeBufferPointer { u in
      winogradWeightTransform.withUnsafeBufferPointer { t in
        cblas_sgemm(
          CblasRowMajor, CblasTrans, CblasNoTrans, Int32(pairs), 9, 16, 1, u.baseAddress,
          Int32(pairs), t.baseAddress, 9, 0, dw, 9)
      }
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
    let tiles = chunk * plan.tilesPerImage
    let u = transformedWeights(weight)
    // Every element is written by `unpackOutput`.
    var out = [Float](uninitializedCount: g.batch * g.outChannels * g.outPlane) { _ in }
    // Each buffer is overwritten before it is read; the sgemms leave the channels of `m` past
    // `Cout` alone, so they stay zero.
    var tiled = [Float](
      uninitializedCount: chunk * plan.windowRows * plan.windowColumns
        * max(plan.inStride, plan.outStride)
    ) { _ in }
    var v = [Float](uninitializedCount: 16 * tiles * plan.inStride) { _ in }
    var m = scratch(16 * tiles * plan.outStride, zeroed: plan.outStride > g.outChannels)
    let (cin, cout) = (Int32(g.inChannels), Int32(g.outChannels))
    scalars.withUnsafeBufferPointer { x in
      u.withUnsafeBufferPointer { u in
        tiled.withUnsafeMutableBufferPointer { tiled in
          v.withUnsafeMutableBufferPointer { v in
            m.withUnsafeMutableBufferPointer { m in
              out.withUnsafeMutableBufferPointer { y in
                let biasScalars = bias?.scalars ?? []
                biasScalars.withUnsafeBufferPointer { b in
                  let (pt, pv, pm) = (tiled.baseAddress!, v.baseAddress!, m.baseAddress!)
                  for first in Swift.stride(from: 0, to: g.batch, by: chunk) {
                    let images = min(chunk, g.batch - first)
                    let count = images * plan.tilesPerImage
                    packInput(x.baseAddress!, into: pt, plan, first: first, images: images)
                    transformInput(pt, into: pv, plan, tiles: count)
                    for xi in 0..<16 {
                      cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), cout, cin, 1,
                        pv + xi * count * plan.inStride, Int32(plan.inStride),
                        u.baseAddress! + xi * g.outChannels * g.inChannels, cin, 0,
                        pm + xi * count * plan.outStride, Int32(plan.outStride))
                    }
                    transformOutput(pm, into: pt, plan, tiles: count)
                    unpackOutput(
                      pt, into: y.baseAddress!, bias: bias == nil ? nil : b.baseAddress, plan,
                      first: first,
                      images: images)
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
  /// adjoint of the padding takes them back to the input.
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
    let tiles = chunk * plan.tilesPerImage
    let u = needInput ? transformedWeights(weight) : []
    let windowFloats = plan.windowRows * plan.windowColumns * plan.inStride
    let outputFloats = 4 * plan.tilesPerImage * plan.outStride
    // Overwritten before they are read, except `v`'s channels past `Cin`, which the sgemms
    // into it leave alone: zero, as `transformInput` would make them.
    var tiled = [Float](uninitializedCount: chunk * max(windowFloats, outputFloats)) { _ in }
    var v = scratch(16 * tiles * plan.inStride, zeroed: plan.inStride > g.inChannels)
    var dm = [Float](uninitializedCount: 16 * tiles * plan.outStride) { _ in }
    // The first sgemm into it has β = 0.
    var du = [Float](
      uninitializedCount: needWeight ? 16 * g.outChannels * g.inChannels : 0
    ) { _ in }
    var dx = [Float](repeating: 0, count: needInput ? input.count : 0)
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
                      packOutputGradient(
                        gy.baseAddress!, into: pt, plan, first: first, images: images)
                      transformOutputGradient(pt, into: pm, plan, tiles: count)
                      if needWeight {
                        packInput(x.baseAddress!, into: pt, plan, first: first, images: images)
                        transformInput(pt, into: pv, plan, tiles: count)
                        for xi in 0..<16 {
                          cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, cout, cin, Int32(count), 1,
                            pm + xi * count * plan.outStride, outStride,
                            pv + xi * count * plan.inStride, inStride, first == 0 ? 0 : 1,
                            du.baseAddress! + xi * g.outChannels * g.inChannels, cin)
                        }
                      }
                      if needInput {
                        for xi in 0..<16 {
                          cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), cin, cout, 1,
                            pm + xi * count * plan.outStride, outStride,
                            u.baseAddress! + xi * g.outChannels * g.inChannels, cin, 0,
                            pv + xi * count * plan.inStride, inStride)
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
