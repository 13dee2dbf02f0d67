import Tensors

#if canImport(Glibc)
  import Glibc
#endif

extension Variable {
  /// `max(x, 0)`; the gradient at 0 is taken as 0, as PyTorch does.
  public func relu() -> Variable {
    let x = value
    return Variable(value: x.relu(), parents: [self]) { g in [x.reluPullback(consume g)] }
  }

  /// The exponential linear unit (Clevert, Unterthiner, Hochreiter, ICLR 2016):
  /// ```
  /// elu(x) = x if x > 0, α(eˣ − 1) otherwise;   elu'(x) = 1 if x > 0, elu(x) + α otherwise
  /// ```
  public func elu(alpha: Float = 1) -> Variable {
    let x = value
    let y = x.elu(alpha: alpha)
    return Variable(value: y, parents: [self]) { g in
      [x.eluPullback(consume g, output: y, alpha: alpha)]
    }
  }

  /// The logistic function `σ(x) = 1 / (1 + e⁻ˣ)`, with `σ' = σ(1 − σ)`.
  public func sigmoid() -> Variable {
    let y = value.mapped(stableSigmoid)
    return Variable(value: y, parents: [self]) { g in
      [g * y.mapped { $0 * (1 - $0) }]
    }
  }

  /// The logarithm of the softmax along the last axis of a rank-2 variable:
  /// ```
  /// y_ij = x_ij − log Σ_k exp(x_ik);   ∂L/∂x_ij = g_ij − softmax_ij · Σ_k g_ik
  /// ```
  ///
  /// - Precondition: rank 2.
  public func logSoftmax() -> Variable {
    precondition(shape.count == 2, "logSoftmax needs [rows, classes], got \(shape)")
    let y = logSoftmaxRows(value)
    return Variable(value: y, parents: [self]) { g in
      let rows = g.shape[0]
      let columns = g.shape[1]
      var out = [Float](repeating: 0, count: g.count)
      for r in 0..<rows {
        var total: Float = 0
        for c in 0..<columns { total += g.scalars[r * columns + c] }
        for c in 0..<columns {
          let i = r * columns + c
          out[i] = g.scalars[i] - expf(y.scalars[i]) * total
        }
      }
      return [Tensor(shape: g.shape, scalars: out)]
    }
  }
}

/// `σ(x)` without overflow for large |x|.
@inline(__always)
public func stableSigmoid(_ x: Float) -> Float {
  if x >= 0 { return 1 / (1 + expf(-x)) }
  let e = expf(x)
  return e / (1 + e)
}

/// Row-wise log-softmax of a rank-2 tensor, shifted by each row's maximum for stability.
public func logSoftmaxRows(_ x: Tensor) -> Tensor {
  let rows = x.shape[0]
  let columns = x.shape[1]
  var out = [Float](repeating: 0, count: x.count)
  x.scalars.withUnsafeBufferPointer { p in
    for r in 0..<rows {
      let row = r * columns
      var top = -Float.infinity
      for c in 0..<columns { top = max(top, p[row + c]) }
      var total: Float = 0
      for c in 0..<columns { total += expf(p[row + c] - top) }
      let logTotal = top + logf(total)
      for c in 0..<columns { out[row + c] = p[row + c] - logTotal }
    }
  }
  return Tensor(shape: x.shape, scalars: out)
}
