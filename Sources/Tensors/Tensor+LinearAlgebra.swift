import CLinearAlgebra

/// The product of two matrices through `cblas_sgemm`, with either operand optionally transposed:
/// `op(a) · op(b)`.
///
/// - Precondition: both operands have rank 2 and their inner extents agree.
/// - Complexity: O(m·n·k).
public func matmul(
  _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor {
  precondition(a.rank == 2 && b.rank == 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
  let m = transposeA ? a.shape[1] : a.shape[0]
  let k = transposeA ? a.shape[0] : a.shape[1]
  let kB = transposeB ? b.shape[1] : b.shape[0]
  let n = transposeB ? b.shape[0] : b.shape[1]
  precondition(
    k == kB,
    "matmul: inner extents differ: \(a.shape)\(transposeA ? "ᵀ" : "") · "
      + "\(b.shape)\(transposeB ? "ᵀ" : "")")
  var out = [Float](repeating: 0, count: m * n)
  guard m > 0, n > 0, k > 0 else { return Tensor(shape: [m, n], scalars: out) }
  a.scalars.withUnsafeBufferPointer { pa in
    b.scalars.withUnsafeBufferPointer { pb in
      out.withUnsafeMutableBufferPointer { pc in
        cblas_sgemm(
          CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
          transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
          pa.baseAddress, Int32(a.shape[1]), pb.baseAddress, Int32(b.shape[1]), 0,
          pc.baseAddress, Int32(n))
      }
    }
  }
  return Tensor(shape: [m, n], scalars: out)
}
