// Kernel file: the tile transforms of Winograd's F(2×2, 3×3) (Lavin & Gray, CVPR 2016) and the
// copies between NCHW tensors and the channel-innermost scratch buffers they work on. Every
// transform handles `WinogradPlan.lanes` channels of one tile with vector arithmetic; the
// scratch buffers round channels up to a multiple of that width, so no loop has a tail.

/// The vector of channels that one transform step handles.
typealias WinogradLanes = SIMD8<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> WinogradLanes {
  UnsafeRawPointer(p).loadUnaligned(as: WinogradLanes.self)
}

@inline(__always)
private func store(_ v: WinogradLanes, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: WinogradLanes.self)
}

@inline(__always)
private func add(_ v: WinogradLanes, _ p: UnsafeMutablePointer<Float>) {
  store(load(p) + v, p)
}

/// Copies images `first..<first + images` of an NCHW input into a tiled buffer
/// `[images, windowRows, windowColumns, inStride]`, adding the padding (zeros or reflection),
/// the zero row and column that complete the last tiles of odd planes, and zero channels up to
/// `inStride`.
func packInput(
  _ x: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  first: Int, images: Int
) {
  let g = plan.geometry
  let (rows, columns, stride, channels) =
    (plan.windowRows, plan.windowColumns, plan.inStride, g.inChannels)
  let plane = g.height * g.width
  plan.rowSource.withUnsafeBufferPointer { rowSource in
    plan.columnSource.withUnsafeBufferPointer { columnSource in
      Parallel.forEachChunk(count: images * rows, costPerItem: columns * stride) { range in
        for item in range {
          let (n, i) = (item / rows, item % rows)
          let target = tiled + item * columns * stride
          let row = rowSource[i]
          guard row >= 0 else {
            target.update(repeating: 0, count: columns * stride)
            continue
          }
          let source = x + (first + n) * channels * plane + row * g.width
          for j in 0..<columns {
            let cell = target + j * stride
            let column = columnSource[j]
            guard column >= 0 else {
              cell.update(repeating: 0, count: stride)
              continue
            }
            for c in 0..<channels { cell[c] = source[c * plane + column] }
            for c in channels..<stride { cell[c] = 0 }
          }
        }
      }
    }
  }
}

/// The adjoint of `packInput`: adds each cell of a tiled gradient that `packInput` copied from
/// the input back onto the input cell it came from, for images `first..<first + images`.
func unpackInputGradient(
  _ tiled: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  first: Int, images: Int
) {
  let g = plan.geometry
  let (rows, columns, stride, channels) =
    (plan.windowRows, plan.windowColumns, plan.inStride, g.inChannels)
  let plane = g.height * g.width
  plan.rowSource.withUnsafeBufferPointer { rowSource in
    plan.columnSource.withUnsafeBufferPointer { columnSource in
      Parallel.forEachChunk(count: images * channels, costPerItem: rows * columns) { range in
        for item in range {
          let (n, c) = (item / channels, item % channels)
          let target = dx + (first * channels + item) * plane
          let source = tiled + n * rows * columns * stride + c
          for i in 0..<rows where rowSource[i] >= 0 {
            let (from, to) = (source + i * columns * stride, target + rowSource[i] * g.width)
            for j in 0..<columns where columnSource[j] >= 0 {
              to[columnSource[j]] += from[j * stride]
            }
          }
        }
      }
    }
  }
}

/// Copies the interior of a tiled output `[images, 2·tileRows, 2·tileColumns, outStride]` into
/// NCHW images `first..<first + images`, adding the bias of each channel.
func unpackOutput(
  _ tiled: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
  bias: UnsafePointer<Float>?, _ plan: WinogradPlan, first: Int, images: Int
) {
  let g = plan.geometry
  let (columns, stride, channels) = (2 * plan.tileColumns, plan.outStride, g.outChannels)
  let (oh, ow) = (g.outHeight, g.outWidth)
  Parallel.forEachChunk(count: images * channels, costPerItem: oh * ow) { range in
    for item in range {
      let (n, o) = (item / channels, item % channels)
      let target = y + (first * channels + item) * oh * ow
      let source = tiled + n * 2 * plan.tileRows * columns * stride + o
      let b = bias?[o] ?? 0
      for i in 0..<oh {
        let (from, to) = (source + i * columns * stride, target + i * ow)
        for j in 0..<ow { to[j] = from[j * stride] + b }
      }
    }
  }
}

/// The inverse copy of `unpackOutput` (without bias): NCHW output-gradient images
/// `first..<first + images` into a tiled buffer `[images, 2·tileRows, 2·tileColumns,
/// outStride]`, with zeros in the cells past odd planes and in the channels past `Cout`.
func packOutputGradient(
  _ dy: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  first: Int, images: Int
) {
  let g = plan.geometry
  let (rows, columns, stride, channels) =
    (2 * plan.tileRows, 2 * plan.tileColumns, plan.outStride, g.outChannels)
  let (oh, ow) = (g.outHeight, g.outWidth)
  Parallel.forEachChunk(count: images * rows, costPerItem: columns * stride) { range in
    for item in range {
      let (n, i) = (item / rows, item % rows)
      let target = tiled + item * columns * stride
      guard i < oh else {
        target.update(repeating: 0, count: columns * stride)
        continue
      }
      let source = dy + (first + n) * channels * oh * ow + i * ow
      for j in 0..<columns {
        let cell = target + j * stride
        guard j < ow else {
          cell.update(repeating: 0, count: stride)
          continue
        }
        for o in 0..<channels { cell[o] = source[o * oh * ow + j] }
        for o in channels..<stride { cell[o] = 0 }
      }
    }
  }
}

/// The input transform `V = Bᵀ d B` of every tile of a tiled input, into `[16, tiles, stride]`:
/// ```
///      ⎡1  0 −1  0⎤
/// Bᵀ = ⎢0  1  1  0⎥
///      ⎢0 −1  1  0⎥
///      ⎣0  1  0 −1⎦
/// ```
/// where `d` is the 4×4 window of the tile, rows and columns `2t…2t + 3`.
func transformInput(
  _ tiled: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  let (stride, rows, columns) = (plan.inStride, plan.windowRows, plan.windowColumns)
  let (perImage, tileColumns) = (plan.tilesPerImage, plan.tileColumns)
  let spacing = tiles * stride
  Parallel.forEachChunk(count: tiles, costPerItem: 16 * stride) { range in
    for t in range {
      let (n, r) = (t / perImage, t % perImage)
      let (ti, tj) = (r / tileColumns, r % tileColumns)
      let window = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride
      let out = v + t * stride
      for c in Swift.stride(from: 0, to: stride, by: WinogradLanes.scalarCount) {
        let p = window + c
        // e = d B, one row of the window at a time.
        @inline(__always)
        func row(_ i: Int) -> (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes) {
          let q = p + i * columns * stride
          let (d0, d1, d2, d3) = (
            load(q), load(q + stride), load(q + 2 * stride), load(q + 3 * stride)
          )
          return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
        }
        let (e0, e1, e2, e3) = (row(0), row(1), row(2), row(3))
        // V = Bᵀ e, stored as V[ξ = 4i + k].
        let o = out + c
        store(e0.0 - e2.0, o)
        store(e0.1 - e2.1, o + spacing)
        store(e0.2 - e2.2, o + 2 * spacing)
        store(e0.3 - e2.3, o + 3 * spacing)
        store(e1.0 + e2.0, o + 4 * spacing)
        store(e1.1 + e2.1, o + 5 * spacing)
        store(e1.2 + e2.2, o + 6 * spacing)
        store(e1.3 + e2.3, o + 7 * spacing)
        store(e2.0 - e1.0, o + 8 * spacing)
        store(e2.1 - e1.1, o + 9 * spacing)
        store(e2.2 - e1.2, o + 10 * spacing)
        store(e2.3 - e1.3, o + 11 * spacing)
        store(e1.0 - e3.0, o + 12 * spacing)
        store(e1.1 - e3.1, o + 13 * spacing)
        store(e1.2 - e3.2, o + 14 * spacing)
        store(e1.3 - e3.3, o + 15 * spacing)
      }
    }
  }
}

/// The adjoint of `transformInput`: adds `B ∂V Bᵀ` of every tile of `[16, tiles, stride]` onto
/// the tile's 4×4 window of a tiled gradient (windows of neighbouring tiles overlap).
///
/// - Precondition: the tiled gradient holds zeros, or a sum to add to.
func transformInputGradient(
  _ dv: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  images: Int
) {
  let (stride, rows, columns) = (plan.inStride, plan.windowRows, plan.windowColumns)
  let (perImage, tileColumns) = (plan.tilesPerImage, plan.tileColumns)
  let spacing = images * perImage * stride
  let blocks = stride / WinogradLanes.scalarCount
  // Windows overlap, so each thread takes whole images, or whole blocks of channels.
  Parallel.forEachChunk(count: images * blocks, costPerItem: perImage * 32 * 8) { range in
    for item in range {
      let (n, c) = (item / blocks, item % blocks * WinogradLanes.scalarCount)
      for r in 0..<perImage {
        let t = n * perImage + r
        let (ti, tj) = (r / tileColumns, r % tileColumns)
        let p = dv + t * stride + c
        // f = ∂V Bᵀ, one row i of ∂V at a time.
        @inline(__always)
        func row(_ i: Int) -> (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes) {
          let q = p + 4 * i * spacing
          let (v0, v1, v2, v3) = (
            load(q), load(q + spacing), load(q + 2 * spacing), load(q + 3 * spacing)
          )
          return (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)
        }
        let (f0, f1, f2, f3) = (row(0), row(1), row(2), row(3))
        // ∂d = B f, added onto the window.
        let w = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride + c
        @inline(__always)
        func addRow(
          _ i: Int, _ x: (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes)
        ) {
          let q = w + i * columns * stride
          add(x.0, q)
          add(x.1, q + stride)
          add(x.2, q + 2 * stride)
          add(x.3, q + 3 * stride)
        }
        addRow(0, f0)
        addRow(1, (f1.0 - f2.0 + f3.0, f1.1 - f2.1 + f3.1, f1.2 - f2.2 + f3.2, f1.3 - f2.3 + f3.3))
        addRow(2, (f1.0 + f2.0 - f0.0, f1.1 + f2.1 - f0.1, f1.2 + f2.2 - f0.2, f1.3 + f2.3 - f0.3))
        addRow(3, (-f3.0, -f3.1, -f3.2, -f3.3))
      }
    }
  }
}

/// The output transform `Y = Aᵀ M A` of every tile of `[16, tiles, stride]`, into a tiled
/// output `[images, 2·tileRows, 2·tileColumns, stride]`:
/// ```
///      ⎡1  1  1  0⎤
/// Aᵀ = ⎣0  1 −1 −1⎦
/// ```
func transformOutput(
  _ m: UnsafePointer<Float>, into tiled: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  let (stride, columns) = (plan.outStride, 2 * plan.tileColumns)
  let (perImage, tileColumns, rows) = (plan.tilesPerImage, plan.tileColumns, 2 * plan.tileRows)
  let spacing = tiles * stride
  Parallel.forEachChunk(count: tiles, costPerItem: 16 * stride) { range in
    for t in range {
      let (n, r) = (t / perImage, t % perImage)
      let (ti, tj) = (r / tileColumns, r % tileColumns)
      let out = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride
      for c in Swift.stride(from: 0, to: stride, by: WinogradLanes.scalarCount) {
        let p = m + t * stride + c
        // s = M A, one row i of M at a time.
        @inline(__always)
        func row(_ i: Int) -> (WinogradLanes, WinogradLanes) {
          let q = p + 4 * i * spacing
          let (m0, m1, m2, m3) = (
            load(q), load(q + spacing), load(q + 2 * spacing), load(q + 3 * spacing)
          )
          return (m0 + m1 + m2, m1 - m2 - m3)
        }
        let (s0, s1, s2, s3) = (row(0), row(1), row(2), row(3))
        let o = out + c
        store(s0.0 + s1.0 + s2.0, o)
        store(s0.1 + s1.1 + s2.1, o + stride)
        store(s1.0 - s2.0 - s3.0, o + columns * stride)
        store(s1.1 - s2.1 - s3.1, o + (columns + 1) * stride)
      }
    }
  }
}

/// The adjoint of `transformOutput`: `∂M = A ∂Y Aᵀ` of every 2×2 tile of a tiled output
/// gradient, into `[16, tiles, stride]`.
func transformOutputGradient(
  _ tiled: UnsafePointer<Float>, into dm: UnsafeMutablePointer<Float>, _ plan: WinogradPlan,
  tiles: Int
) {
  let (stride, columns) = (plan.outStride, 2 * plan.tileColumns)
  let (perImage, tileColumns, rows) = (plan.tilesPerImage, plan.tileColumns, 2 * plan.tileRows)
  let spacing = tiles * stride
  Parallel.forEachChunk(count: tiles, costPerItem: 16 * stride) { range in
    for t in range {
      let (n, r) = (t / perImage, t % perImage)
      let (ti, tj) = (r / tileColumns, r % tileColumns)
      let window = tiled + ((n * rows + 2 * ti) * columns + 2 * tj) * stride
      let out = dm + t * stride
      for c in Swift.stride(from: 0, to: stride, by: WinogradLanes.scalarCount) {
        let p = window + c
        let (y00, y01) = (load(p), load(p + stride))
        let (y10, y11) = (load(p + columns * stride), load(p + (columns + 1) * stride))
        // e = ∂Y Aᵀ per row, then ∂M = A e.
        let e0 = (y00, y00 + y01, y00 - y01, -y01)
        let e1 = (y10, y10 + y11, y10 - y11, -y11)
        let o = out + c
        @inline(__always)
        func storeRow(
          _ i: Int, _ x: (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes)
        ) {
          let q = o + 4 * i * spacing
          store(x.0, q)
          store(x.1, q + spacing)
          store(x.2, q + 2 * spacing)
          store(x.3, q + 3 * spacing)
        }
        storeRow(0, e0)
        storeRow(1, (e0.0 + e1.0, e0.1 + e1.1, e0.2 + e1.2, e0.3 + e1.3))
        storeRow(2, (e0.0 - e1.0, e0.1 - e1.1, e0.2 - e1.2, e0.3 - e1.3))
        storeRow(3, (-e1.0, -e1.1, -e1.2, -e1.3))
      }
    }
  }
}
