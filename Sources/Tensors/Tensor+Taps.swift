import CKernels
import CLinearAlgebra

extension ConvolutionGeometry {
  /// Whether the tap GEMMs (`ConvolutionAlgorithm.taps2x2`) can compute this convolution: a
  /// 3×3 kernel at stride 1 with one cell of zero padding over 2×2 planes, with at least one
  /// channel in and out.
  public var admitsTaps2x2: Bool {
    admitsWinograd && padding == 1 && paddingMode == .zeros && height == 2 && width == 2
  }

  /// Whether the tap GEMMs beat im2col and Winograd here: wherever they apply with at least 16
  /// channels in and out, `4·Cin ≥ Cout`, and a batch of at least 32, or at least 8 where the
  /// filters are small (`Cin·Cout ≤ 2¹⁴`).
  ///
  /// Per output and input channel they do the 4 multiply-adds that meet the input, as F(2×2,
  /// 3×3) does on its one tile a plane but with no transforms; im2col does 9. Each call also
  /// copies the filters (`[Cout, Cin, 9]` to `[Cout, 9, Cin]`), and the filter gradient back,
  /// which costs about as much as the saving where the batch is small against the filters.
  /// Measured forward + backward (both gradients), their time over im2col's, alternating in the
  /// same run, 2 cores: 0.77–0.82 on ResNet-18's 512 channels at batch 32, 0.66 at batch 64, but
  /// 1.02 at 16, 1.5 at 8 and 1.9 at 1; 0.68 on 256 channels, 0.34 on 64 and 0.24 on 32 at batch
  /// 32; 0.53 on 64 channels and 0.84 on 128 at batch 8, but 1.01 on 64 at batch 4; 0.18 on 16
  /// channels at batch 32 and 0.43 at batch 8; 0.26 on 512 → 16 channels, but 1.6 on 16 → 512,
  /// 1.07 on 64 → 512 and 1.11 on 32 → 256 (sgemms with few input channels are thin). These
  /// are with large allocations kept in the heap, as the `bayesagg` executable keeps them;
  /// where each call's two filter-sized buffers are fresh pages instead, faulting them in
  /// costs more than the saving (1.4 on 512 channels at batch 32). The filter copies have
  /// since become vector shuffles (`LOAD_TAPS`), which makes the tap path a little faster than
  /// these ratios say.
  var taps2x2Wins: Bool {
    admitsTaps2x2 && min(inChannels, outChannels) >= 16 && 4 * inChannels >= outChannels
      && (batch >= 32 || (batch >= 8 && inChannels * outChannels <= 1 << 14))
  }
}

/// One GEMM of `tapsConvolved`: the filter tap `tap` (`3u + v`) meets `positions` consecutive
/// pairs of output and input positions, from slot `output` and slot `input` of the row order
/// (slot `2i + j` for position `(i, j)`) or, if `byColumns`, of the column order (`2j + i`).
///
/// Tap `(u, v)` takes output `(i, j)` to input `(i + u − 1, j + v − 1)`. The centre tap pairs
/// each position with itself; a vertical neighbour (`u ≠ 1 = v`) pairs a row with the other,
/// consecutive in the row order; a horizontal one (`u = 1 ≠ v`) a column with the other,
/// consecutive in the column order; a corner one position with the opposite one.
struct TapBlock {
  let tap: Int
  let byColumns: Bool
  let output, input, positions: Int
  /// Whether this block's GEMM is the first to write its slots (β = 0): the centre tap writes
  /// all four of the row order, the two horizontal taps two each of the column order.
  var overwrites: Bool { byColumns || positions == 4 }

  /// The nine blocks, the ones that overwrite first.
  static let all: [TapBlock] = [
    .init(tap: 4, byColumns: false, output: 0, input: 0, positions: 4),
    .init(tap: 3, byColumns: true, output: 2, input: 0, positions: 2),
    .init(tap: 5, byColumns: true, output: 0, input: 2, positions: 2),
    .init(tap: 1, byColumns: false, output: 2, input: 0, positions: 2),
    .init(tap: 7, byColumns: false, output: 0, input: 2, positions: 2),
    .init(tap: 0, byColumns: false, output: 3, input: 0, positions: 1),
    .init(tap: 2, byColumns: false, output: 2, input: 1, positions: 1),
    .init(tap: 6, byColumns: false, output: 1, input: 2, positions: 1),
    .init(tap: 8, byColumns: false, output: 0, input: 3, positions: 1),
  ]
}

/// The filters `[Cout, Cin, 3, 3]` as `[Cout, 9, Cin]`: tap `t` is the `Cout × Cin` matrix from
/// `t·Cin`, leading dimension `9·Cin`.
private func tapMajor(_ weight: Tensor) -> [Float] {
  let (filters, cin) = (weight.shape[0], weight.shape[1])
  // Every element is written by the kernel.
  var packed = [Float](uninitializedCount: weight.count) { _ in }
  weight.scalars.withUnsafeBufferPointer { w in
    packed.withUnsafeMutableBufferPointer { p in
      Parallel.forEachChunk(count: filters, costPerItem: 18 * cin) { range in
        bayesagg_taps_pack_weights(
          w.baseAddress!, p.baseAddress!, range.lowerBound, range.upperBound, cin)
      }
    }
  }
  return packed
}

/// An NCHW batch of 2×2 planes `[B, C, 2, 2]` as two `[C, 4, B]` matrices, `C × 4B`: the
/// positions in row order, then in column order.
private func planes(_ t: Tensor) -> (rows: [Float], columns: [Float]) {
  // Every element is written by the kernel.
  var rows = [Float](uninitializedCount: t.count) { _ in }
  var columns = [Float](uninitializedCount: t.count) { _ in }
  t.scalars.withUnsafeBufferPointer { x in
    rows.withUnsafeMutableBufferPointer { r in
      columns.withUnsafeMutableBufferPointer { c in
        bayesagg_taps_pack_planes(
          x.baseAddress!, r.baseAddress!, c.baseAddress!, t.shape[0], t.shape[1])
      }
    }
  }
  return (rows, columns)
}

/// `rows + columns` of `planes` back to NCHW `shape`, plus `bias` per channel.
private func unplaned(_ rows: [Float], _ columns: [Float], bias: Tensor?, shape: [Int]) -> Tensor {
  // Every element is written by the kernel.
  var out = [Float](uninitializedCount: rows.count) { _ in }
  rows.withUnsafeBufferPointer { r in
    columns.withUnsafeBufferPointer { c in
      out.withUnsafeMutableBufferPointer { y in
        (bias?.scalars ?? []).withUnsafeBufferPointer { b in
          bayesagg_taps_unpack_planes(
            r.baseAddress!, c.baseAddress!, bias == nil ? nil : b.baseAddress, y.baseAddress!,
            shape[0], shape[1])
        }
      }
    }
  }
  return Tensor(shape: shape, scalars: out)
}

extension Tensor {
  /// `convolved(with:bias:stride:padding:paddingMode:)` for a 3×3 kernel at stride 1 with one
  /// cell of zero padding over 2×2 planes, by the taps that meet the input: output position
  /// `p = (i, j)` meets input position `q` through tap `(qi − i + 1, qj − j + 1)` only,
  /// ```
  /// y[:, p] = b + Σ_q W[tap(p, q)] · x[:, q]
  /// ```
  /// with `W[t]` the `Cout × Cin` matrix of tap `t`, 16 of the 36 (position, tap) pairs. Each
  /// tap is one sgemm over the batches of all the pairs it serves (`TapBlock`).
  ///
  /// - Precondition: `g.admitsTaps2x2`; `g` describes this tensor and `weight`.
  /// - Complexity: O(B · Cout · Cin · 16) multiply-adds in the sgemms, against `·36` for
  ///   im2col, plus O(Cout · Cin · 9 + B · (Cin + Cout)) for the copies.
  func tapsConvolved(_ g: ConvolutionGeometry, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(g.admitsTaps2x2, "tap GEMMs need 3×3, stride 1, zero padding 1, 2×2: \(g)")
    let w = tapMajor(weight)
    let x = planes(self)
    let (batch, cin, cout) = (g.batch, g.inChannels, g.outChannels)
    // The blocks that overwrite come first and together write every element.
    var rows = [Float](uninitializedCount: cout * 4 * batch) { _ in }
    var columns = [Float](uninitializedCount: cout * 4 * batch) { _ in }
    let width = Int32(4 * batch)
    w.withUnsafeBufferPointer { w in
      x.rows.withUnsafeBufferPointer { xr in
        x.columns.withUnsafeBufferPointer { xc in
          rows.withUnsafeMutableBufferPointer { yr in
            columns.withUnsafeMutableBufferPointer { yc in
              for block in TapBlock.all {
                let (source, target) =
                  block.byColumns
                  ? (xc.baseAddress!, yc.baseAddress!) : (xr.baseAddress!, yr.baseAddress!)
                cblas_sgemm(
                  CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout),
                  Int32(block.positions * batch), Int32(cin), 1,
                  w.baseAddress! + block.tap * cin, Int32(9 * cin),
                  source + block.input * batch, width, block.overwrites ? 0 : 1,
                  target + block.output * batch, width)
              }
            }
          }
        }
      }
    }
    return unplaned(rows, columns, bias: bias, shape: [batch, cout, 2, 2])
  }

  /// `convolutionPullback` for the geometry of `tapsConvolved`, its adjoint: with `G[p]` the
  /// output gradient at position `p`,
  /// ```
  /// ∂x[:, q] = Σ_p W[tap(p, q)]ᵀ · G[p],   ∂W[t] = Σ_{(p, q): tap(p, q) = t} G[p] · x[:, q]ᵀ
  /// ```
  /// one sgemm per tap for each.
  ///
  /// - Precondition: `g.admitsTaps2x2`; `g` describes `input` and `weight`; this tensor has
  ///   the forward output's shape.
  /// - Complexity: about twice `tapsConvolved` when both gradients are requested.
  func tapsConvolutionPullback(
    _ g: ConvolutionGeometry, input: Tensor, weight: Tensor, needInput: Bool, needWeight: Bool,
    needBias: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    precondition(g.admitsTaps2x2, "tap GEMMs need 3×3, stride 1, zero padding 1, 2×2: \(g)")
    let biasGradient = needBias ? channelSums(of: self, g) : nil
    guard (needInput || needWeight) && count > 0 else {
      return (
        needInput ? Tensor(zeros: input.shape) : nil,
        needWeight ? Tensor(zeros: weight.shape) : nil, biasGradient
      )
    }
    let (batch, cin, cout) = (g.batch, g.inChannels, g.outChannels)
    let gy = planes(self)
    let x = needWeight ? planes(input) : (rows: [], columns: [])
    let w = needInput ? tapMajor(weight) : []
    // Every element is written by an sgemm with β = 0 before any other reads it.
    var dwPacked = [Float](uninitializedCount: needWeight ? weight.count : 0) { _ in }
    var dxRows = [Float](uninitializedCount: needInput ? input.count : 0) { _ in }
    var dxColumns = [Float](uninitializedCount: needInput ? input.count : 0) { _ in }
    let width = Int32(4 * batch)
    gy.rows.withUnsafeBufferPointer { gr in
      gy.columns.withUnsafeBufferPointer { gc in
        x.rows.withUnsafeBufferPointer { xr in
          x.columns.withUnsafeBufferPointer { xc in
            w.withUnsafeBufferPointer { w in
              dwPacked.withUnsafeMutableBufferPointer { dw in
                dxRows.withUnsafeMutableBufferPointer { dr in
                  dxColumns.withUnsafeMutableBufferPointer { dc in
                    for block in TapBlock.all {
                      let gBlock =
                        (block.byColumns ? gc.baseAddress! : gr.baseAddress!) + block.output * batch
                      let k = Int32(block.positions * batch)
                      if needWeight {
                        let xBlock =
                          (block.byColumns ? xc.baseAddress! : xr.baseAddress!) + block.input
                          * batch
                        cblas_sgemm(
                          CblasRowMajor, CblasNoTrans, CblasTrans, Int32(cout), Int32(cin), k, 1,
                          gBlock, width, xBlock, width, 0,
                          dw.baseAddress! + block.tap * cin, Int32(9 * cin))
                      }
                      if needInput {
                        let dxBlock =
                          (block.byColumns ? dc.baseAddress! : dr.baseAddress!) + block.input
                          * batch
                        cblas_sgemm(
                          CblasRowMajor, CblasTrans, CblasNoTrans, Int32(cin), k, Int32(cout), 1,
                          w.baseAddress! + block.tap * cin, Int32(9 * cin), gBlock, width,
                          block.overwrites ? 0 : 1, dxBlock, width)
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
    var dw: Tensor? = nil
    if needWeight {
      var scalars = [Float](uninitializedCount: weight.count) { _ in }
      dwPacked.withUnsafeBufferPointer { p in
        scalars.withUnsafeMutableBufferPointer { s in
          Parallel.forEachChunk(count: cout, costPerItem: 18 * cin) { range in
            bayesagg_taps_unpack_weights(
              p.baseAddress!, s.baseAddress!, range.lowerBound, range.upperBound, cin)
          }
        }
      }
      dw = Tensor(shape: weight.shape, scalars: scalars)
    }
    return (
      needInput ? unplaned(dxRows, dxColumns, bias: nil, shape: input.shape) : nil, dw,
      biasGradient
    )
  }
}
