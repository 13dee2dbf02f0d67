import CKernels

// Kernel file: the copies between NCHW tensors and the channel-innermost scratch buffers of
// Winograd's F(2×2, 3×3) and F(4×4, 3×3) (Lavin & Gray, CVPR 2016), and the parallel loops over
// the tile transforms, which live in C (`CKernels/Winograd.c`, `CKernels/Winograd4x4.c`) to run
// on AVX-512 where the processor has it. Every transform handles `WinogradPlan.lanes` channels
// of one tile with vector arithmetic; the scratch buffers round channels up to a multiple of
// that width, so no loop has a tail.

/// Copies images `first..<first + images` of an NCHW input into a tiled buffer
/// `[images, windowRows, windowColumns, inStride]`, adding the padding (zeros or reflection),
/// the zero row and column that complete the last tiles of odd planes, and zero channels up to
/// `inStride`.
func packInput(
  _ x: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  first: Int, images: Int
) {
  plan.withSource(first: first) { source in
    var shape = plan.shape(tiles: images * plan.tilesPerImage)
    let items = images * plan.inStride / WinogradPlan.lanes
    Parallel.forEachChunk(count: items, costPerItem: 32 * plan.windowRows * plan.windowColumns) {
      range in
      bayesagg_winograd_pack_input(x, tiled, range.lowerBound, range.upperBound, &shape, source)
    }
  }
}

/// The adjoint of `packInput`: the input gradient of images `first..<first + images` (which it
/// overwrites) from a tiled gradient, each border cell's gradient added to the cell it copied.
/// The tiled gradient is left in an unspecified state.
func unpackInputGradient(
  _ tiled: UnsafeMutablePointer<Float>, into dx: UnsafeMutablePointer<Float>,
  _ plan: WinogradPlan, first: Int, images: Int
) {
  plan.withSource(first: first) { source in
    var shape = plan.shape(tiles: images * plan.tilesPerImage)
    let items = images * plan.inStride / WinogradPlan.lanes
    Parallel.forEachChunk(count: items, costPerItem: 32 * plan.windowRows * plan.windowColumns) {
      range in
      bayesagg_winograd_unpack_input_gradient(
        tiled, dx, range.lowerBound, range.upperBound, &shape, source)
    }
  }
}

/// Copies the interior of a tiled output `[images, m·tileRows, m·tileColumns, outStride]` into
/// NCHW images `first..<first + images`, adding the bias of each channel.
func unpackOutput(
  _ tiled: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
  bias: UnsafePointer<Float>?, _ plan: WinogradPlan, first: Int, images: Int
) {
  let g = plan.geometry
  var shape = plan.shape(tiles: images * plan.tilesPerImage)
  let items = images * plan.outStride / WinogradPlan.lanes
  Parallel.forEachChunk(count: items, costPerItem: 32 * g.outPlane) { range in
    bayesagg_winograd_unpack_output(
      tiled, y, bias, range.lowerBound, range.upperBound, &shape, first, g.outChannels,
      g.outHeight, g.outWidth)
  }
}

/// The inverse copy of `unpackOutput` (without bias): NCHW output-gradient images
/// `first..<first + images` into a tiled buffer `[images, m·tileRows, m·tileColumns,
/// outStride]`, with zeros in the cells past odd planes and in the channels past `Cout`.
func packOutputGradient(
  _ dy: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  first: Int, images: Int
) {
  let g = plan.geometry
  var shape = plan.shape(tiles: images * plan.tilesPerImage)
  let items = images * plan.outStride / WinogradPlan.lanes
  Parallel.forEachChunk(count: items, costPerItem: 32 * g.outPlane) { range in
    bayesagg_winograd_pack_output_gradient(
      dy, tiled, range.lowerBound, range.upperBound, &shape, first, g.outChannels,
      g.outHeight, g.outWidth)
  }
}

extension WinogradPlan {
  /// The sizes the C kernels read, for a chunk of `tiles` tiles.
  func shape(tiles: Int) -> bayesagg_winograd_shape {
    bayesagg_winograd_shape(
      tile: tile, tiles: tiles, tiles_per_image: tilesPerImage, tile_rows: tileRows,
      tile_columns: tileColumns, window_rows: windowRows, window_columns: windowColumns,
      in_stride: inStride, out_stride: outStride,
      in_spacing: spacing(tiles: tiles, stride: inStride),
      out_spacing: spacing(tiles: tiles, stride: outStride))
  }

  /// Calls `body` with where the tiled input of images `first…` comes from.
  func withSource(first: Int, _ body: (UnsafePointer<bayesagg_winograd_source>) -> Void) {
    let g = geometry
    rowSource.withUnsafeBufferPointer { rows in
      columnSource.withUnsafeBufferPointer { columns in
        var source = bayesagg_winograd_source(
          first: first, channels: g.inChannels, height: g.height, width: g.width,
          padding: g.padding, rows: rows.baseAddress, columns: columns.baseAddress)
        body(&source)
      }
    }
  }
}

/// The input transform `V = Bᵀ d B` of every tile of a tiled input, into `[elements, tiles,
/// stride]`, where `d` is the (m + 2)×(m + 2) window of the tile, rows and columns
/// `m·t…m·t + m + 1`; for F(2×2, 3×3) (interpolation points 0, ±1, ∞) and F(4×4, 3×3) (0, ±1,
/// ±2, ∞):
/// ```
///                           ⎡4  0 −5  0  1  0⎤
///      ⎡1  0 −1  0⎤         ⎢0 −4 −4  1  1  0⎥
/// Bᵀ = ⎢0  1  1  0⎥    Bᵀ = ⎢0  4 −4 −1  1  0⎥
///      ⎢0 −1  1  0⎥         ⎢0 −2 −1  2  1  0⎥
///      ⎣0  1  0 −1⎦         ⎢0  2 −1 −2  1  0⎥
///                           ⎣0  4  0 −5  0  1⎦
/// ```
func transformInput(
  _ tiled: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  var shape = plan.shape(tiles: tiles)
  let kernel = plan.tile == 4 ? bayesagg_winograd4_input : bayesagg_winograd_input
  Parallel.forEachChunk(count: tiles, costPerItem: 2 * plan.elements * plan.inStride) { range in
    kernel(tiled, v, range.lowerBound, range.upperBound, &shape)
  }
}

/// The adjoint of `transformInput`: adds `B ∂V Bᵀ` of every tile of `[elements, tiles, stride]`
/// onto the tile's window of a tiled gradient (windows of neighbouring tiles overlap, so each
/// thread takes whole images or whole blocks of 16 channels).
///
/// - Precondition: the tiled gradient holds zeros, or a sum to add to.
func transformInputGradient(
  _ dv: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  images: Int
) {
  var shape = plan.shape(tiles: images * plan.tilesPerImage)
  let items = images * plan.inStride / WinogradPlan.lanes
  let kernel =
    plan.tile == 4 ? bayesagg_winograd4_input_gradient : bayesagg_winograd_input_gradient
  Parallel.forEachChunk(count: items, costPerItem: 48 * plan.tilesPerImage * plan.elements) {
    range in
    kernel(dv, tiled, range.lowerBound, range.upperBound, &shape)
  }
}

/// The output transform `Y = Aᵀ M A` of every tile of `[elements, tiles, stride]`, into a tiled
/// output `[images, m·tileRows, m·tileColumns, stride]`; for F(2×2, 3×3) and F(4×4, 3×3):
/// ```
///                           ⎡1  1  1  1  1  0⎤
///      ⎡1  1  1  0⎤         ⎢0  1 −1  2 −2  0⎥
/// Aᵀ = ⎣0  1 −1 −1⎦    Aᵀ = ⎢0  1  1  4  4  0⎥
///                           ⎣0  1 −1  8 −8  1⎦
/// ```
func transformOutput(
  _ m: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  var shape = plan.shape(tiles: tiles)
  let kernel = plan.tile == 4 ? bayesagg_winograd4_output : bayesagg_winograd_output
  Parallel.forEachChunk(count: tiles, costPerItem: plan.elements * plan.outStride) { range in
    kernel(m, tiled, range.lowerBound, range.upperBound, &shape)
  }
}

/// The adjoint of `transformOutput`: `∂M = A ∂Y Aᵀ` of every m×m tile of a tiled output
/// gradient, into `[elements, tiles, stride]`.
func transformOutputGradient(
  _ tiled: UnsafePointer<Float>, into dm: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  var shape = plan.shape(tiles: tiles)
  let kernel =
    plan.tile == 4 ? bayesagg_winograd4_output_gradient : bayesagg_winograd_output_gradient
  Parallel.forEachChunk(count: tiles, costPerItem: plan.elements * plan.outStride) { range in
    kernel(tiled, dm, range.lowerBound, range.upperBound, &shape)
  }
}

/// The transformed filters `U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]`, `[elements, Cout, Cin]`, of
/// weights `[Cout, Cin, 3, 3]`; for F(2×2, 3×3) and F(4×4, 3×3):
/// ```
///                                  ⎡ 1/4    0     0  ⎤
///     ⎡ 1    0    0 ⎤              ⎢−1/6  −1/6  −1/6 ⎥
/// G = ⎢1/2  1/2  1/2⎥          G = ⎢−1/6   1/6  −1/6 ⎥
///     ⎢1/2 −1/2  1/2⎥              ⎢1/24  1/12   1/6 ⎥
///     ⎣ 0    0    1 ⎦              ⎢1/24 −1/12   1/6 ⎥
///                                  ⎣  0     0     1  ⎦
/// ```
/// F(4×4, 3×3)'s factors 1/6, 1/12 and 1/24 are rounded to `Float`; every other factor of the
/// transforms is exact.
///
/// - Complexity: O(Cout · Cin).
func transformWeights(
  _ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  outChannels: Int, inChannels: Int
) {
  let spacing = WinogradPlan.weightSpacing(outChannels: outChannels, inChannels: inChannels)
  let kernel = plan.tile == 4 ? bayesagg_winograd4_weights : bayesagg_winograd_weights
  Parallel.forEachChunk(count: outChannels, costPerItem: 2 * plan.elements * inChannels) {
    range in
    kernel(w, u, spacing, range.lowerBound, range.upperBound, outChannels, inChannels)
  }
}

/// The adjoint of `transformWeights`: `∂w[o, c] = Gᵀ ∂U[·, o, c] G`, `[Cout, Cin, 3, 3]`.
///
/// - Complexity: O(Cout · Cin).
func weightGradients(
  _ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  outChannels: Int, inChannels: Int
) {
  let spacing = WinogradPlan.weightSpacing(outChannels: outChannels, inChannels: inChannels)
  let kernel =
    plan.tile == 4
    ? bayesagg_winograd4_weight_gradients : bayesagg_winograd_weight_gradients
  Parallel.forEachChunk(count: outChannels, costPerItem: 2 * plan.elements * inChannels) {
    range in
    kernel(du, spacing, dw, range.lowerBound, range.upperBound, outChannels, inChannels)
  }
}
