#if canImport(Glibc)
  import Glibc
#endif

/// Element-wise activation kernels and their derivatives: tight loops over raw buffers, split
/// over the cores for large tensors. The autodiff operations (`Variable.relu()`,
/// `Variable.elu(alpha:)`) call these.
extension Tensor {
  /// `max(x, 0)` element by element.
  ///
  /// - Complexity: O(n).
  public func relu() -> Tensor {
    unary { x in x > 0 ? x : 0 }
  }

  /// The gradient of ReLU at this input: `upstream` where the input is positive, 0 elsewhere
  /// (the derivative at 0 is taken as 0, as PyTorch does).
  ///
  /// - Precondition: `upstream` has this tensor's shape.
  /// - Complexity: O(n).
  public func reluPullback(_ upstream: Tensor) -> Tensor {
    binary(upstream) { x, g in x > 0 ? g : 0 }
  }

  /// The exponential linear unit, element by element:
  /// ```
  /// elu(x) = x if x > 0, α(eˣ − 1) otherwise
  /// ```
  ///
  /// - Complexity: O(n).
  public func elu(alpha: Float = 1) -> Tensor {
    unary { x in x > 0 ? x : alpha * expm1f(x) }
  }

  /// The gradient of ELU at input `x` (this tensor) with output `y = elu(x)`:
  /// ```
  /// ∂L/∂x = g if x > 0, g·(y + α) otherwise
  /// ```
  ///
  /// - Precondition: `upstream` and `output` have this tensor's shape.
  /// - Complexity: O(n).
  public func eluPullback(_ upstream: Tensor, output: Tensor, alpha: Float = 1) -> Tensor {
    precondition(
      shape == upstream.shape && shape == output.shape,
      "eluPullback: shapes \(shape), \(upstream.shape), \(output.shape) differ")
    var out = [Float](repeating: 0, count: count)
    scalars.withUnsafeBufferPointer { x in
      upstream.scalars.withUnsafeBufferPointer { g in
        output.scalars.withUnsafeBufferPointer { y in
          out.withUnsafeMutableBufferPointer { o in
            guard count > 0 else { return }
            let (px, pg, py, po) = (x.baseAddress!, g.baseAddress!, y.baseAddress!, o.baseAddress!)
            Parallel.forEachChunk(count: count) { range in
              for i in range { po[i] = px[i] > 0 ? pg[i] : pg[i] * (py[i] + alpha) }
            }
          }
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// `transform` applied to every element by a loop that the optimiser specialises for the
  /// closure (it is inlined at each call site above).
  @inline(__always)
  private func unary(_ transform: (Float) -> Float) -> Tensor {
    var out = [Float](repeating: 0, count: count)
    scalars.withUnsafeBufferPointer { a in
      out.withUnsafeMutableBufferPointer { o in
        guard let pa = a.baseAddress, let po = o.baseAddress else { return }
        Parallel.forEachChunk(count: a.count) { range in
          for i in range { po[i] = transform(pa[i]) }
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }

  /// `combine(self[i], other[i])` for equal shapes, like `unary`.
  @inline(__always)
  private func binary(_ other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
    precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
    var out = [Float](repeating: 0, count: count)
    scalars.withUnsafeBufferPointer { a in
      other.scalars.withUnsafeBufferPointer { b in
        out.withUnsafeMutableBufferPointer { o in
          guard let pa = a.baseAddress, let pb = b.baseAddress, let po = o.baseAddress else {
            return
          }
          Parallel.forEachChunk(count: a.count) { range in
            for i in range { po[i] = combine(pa[i], pb[i]) }
          }
        }
      }
    }
    return Tensor(shape: shape, scalars: out)
  }
}
