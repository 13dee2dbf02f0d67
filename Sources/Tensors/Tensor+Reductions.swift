extension Tensor {
  /// The sum of all elements, accumulated in `Double`.
  public func sum() -> Float {
    scalars.withUnsafeBufferPointer { buffer in
      var total = 0.0
      for x in buffer { total += Double(x) }
      return Float(total)
    }
  }

  /// Sums along `axes`, keeping each reduced axis with extent 1.
  ///
  /// - Precondition: every axis is in `0..<rank`.
  public func sum(alongAxes axes: [Int]) -> Tensor {
    var target = shape
    for axis in axes {
      precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for shape \(shape)")
      target[axis] = 1
    }
    return summed(toShape: target)
  }

  /// Sums along `axes` and removes them from the shape.
  public func sum(squeezingAxes axes: [Int]) -> Tensor {
    let kept = sum(alongAxes: axes)
    let newShape = shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    return kept.reshaped(to: newShape)
  }

  /// The mean along `axes`, keeping each reduced axis with extent 1.
  public func mean(alongAxes axes: [Int]) -> Tensor {
    let n = axes.reduce(1) { $0 * shape[$1] }
    return sum(alongAxes: axes) * (1 / Float(max(n, 1)))
  }

  /// The index of the largest element of each row of a rank-2 tensor.
  ///
  /// - Precondition: rank 2 with at least one column.
  public func argmaxRows() -> [Int] {
    precondition(rank == 2 && shape[1] > 0, "argmaxRows needs a [rows, columns] tensor: \(shape)")
    let columns = shape[1]
    return (0..<shape[0]).map { row in
      var best = 0
      for c in 1..<columns where scalars[row * columns + c] > scalars[row * columns + best] {
        best = c
      }
      return best
    }
  }
}
