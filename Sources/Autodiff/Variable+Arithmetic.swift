import Tensors

extension Variable {
  /// Element-wise sum with broadcasting; each operand's gradient is summed back to its shape.
  public static func + (lhs: Variable, rhs: Variable) -> Variable {
    Variable(value: lhs.value + rhs.value, parents: [lhs, rhs]) { g in
      [g.summed(toShape: lhs.shape), g.summed(toShape: rhs.shape)]
    }
  }

  /// Element-wise difference with broadcasting.
  public static func - (lhs: Variable, rhs: Variable) -> Variable {
    Variable(value: lhs.value - rhs.value, parents: [lhs, rhs]) { g in
      [g.summed(toShape: lhs.shape), (-g).summed(toShape: rhs.shape)]
    }
  }

  /// Element-wise product with broadcasting: `∂(a·b)/∂a = b`, `∂(a·b)/∂b = a`.
  public static func * (lhs: Variable, rhs: Variable) -> Variable {
    Variable(value: lhs.value * rhs.value, parents: [lhs, rhs]) { g in
      [(g * rhs.value).summed(toShape: lhs.shape), (g * lhs.value).summed(toShape: rhs.shape)]
    }
  }

  /// Element-wise quotient with broadcasting: `∂(a/b)/∂a = 1/b`, `∂(a/b)/∂b = −a/b²`.
  public static func / (lhs: Variable, rhs: Variable) -> Variable {
    Variable(value: lhs.value / rhs.value, parents: [lhs, rhs]) { g in
      let gA = g / rhs.value
      let gB = -(gA * lhs.value / rhs.value)
      return [gA.summed(toShape: lhs.shape), gB.summed(toShape: rhs.shape)]
    }
  }

  /// Multiplication by a constant.
  public static func * (lhs: Variable, rhs: Float) -> Variable {
    Variable(value: lhs.value * rhs, parents: [lhs]) { g in [g * rhs] }
  }

  /// Multiplication by a constant.
  public static func * (lhs: Float, rhs: Variable) -> Variable { rhs * lhs }

  /// Negation.
  public static prefix func - (operand: Variable) -> Variable { operand * -1 }

  /// The matrix product `op(self) · op(other)` through sgemm.
  ///
  /// ```
  /// C = A·B:  ∂L/∂A = G·Bᵀ,  ∂L/∂B = Aᵀ·G
  /// ```
  /// With transposed operands the same identities hold for `op(A)` and `op(B)`.
  ///
  /// - Precondition: rank-2 operands with matching inner extents.
  public func matmul(_ other: Variable, transposeA: Bool = false, transposeB: Bool = false)
    -> Variable
  {
    let a = self
    let b = other
    let value = Tensors.matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
    return Variable(value: value, parents: [a, b]) { g in
      let gradA: Tensor? =
        a.requiresGradient
        ? (transposeA
          ? Tensors.matmul(b.value, g, transposeA: transposeB, transposeB: true)
          : Tensors.matmul(g, b.value, transposeB: !transposeB))
        : nil
      let gradB: Tensor? =
        b.requiresGradient
        ? (transposeB
          ? Tensors.matmul(g, a.value, transposeA: true, transposeB: transposeA)
          : Tensors.matmul(a.value, g, transposeA: !transposeA))
        : nil
      return [gradA, gradB]
    }
  }

  /// The same values under a new shape.
  public func reshaped(to newShape: [Int]) -> Variable {
    let oldShape = shape
    return Variable(value: value.reshaped(to: newShape), parents: [self]) { g in
      [g.reshaped(to: oldShape)]
    }
  }

  /// Sums along `axes`, keeping them with extent 1.
  public func sum(alongAxes axes: [Int]) -> Variable {
    let inputShape = shape
    return Variable(value: value.sum(alongAxes: axes), parents: [self]) { g in
      [Tensor(zeros: inputShape) + g]
    }
  }

  /// The mean along `axes`, keeping them with extent 1.
  public func mean(alongAxes axes: [Int]) -> Variable {
    let n = axes.reduce(1) { $0 * shape[$1] }
    return sum(alongAxes: axes) * (1 / Float(max(n, 1)))
  }

  /// The sum of all elements, as a rank-0 variable.
  public func sum() -> Variable {
    let inputShape = shape
    return Variable(value: Tensor(value.sum()), parents: [self]) { g in
      [Tensor(repeating: g.scalar, shape: inputShape)]
    }
  }

  /// The sum of several variables of one shape (for example the task losses).
  ///
  /// - Precondition: at least one term, all of one shape.
  public static func sum(_ terms: [Variable]) -> Variable {
    precondition(!terms.isEmpty, "sum of no terms")
    var total = terms[0].value
    for term in terms.dropFirst() { total.add(term.value) }
    return Variable(value: total, parents: terms) { g in terms.map { _ in g } }
  }

  /// The columns `range` of a rank-2 variable.
  ///
  /// - Precondition: rank 2 and `range` within the columns.
  public func columns(_ range: Range<Int>) -> Variable {
    precondition(
      rank2 && range.lowerBound >= 0 && range.upperBound <= shape[1],
      "columns \(range) of shape \(shape)")
    let rows = shape[0]
    let columns = shape[1]
    let width = range.count
    var out = [Float](repeating: 0, count: rows * width)
    for r in 0..<rows {
      for c in 0..<width { out[r * width + c] = value.scalars[r * columns + range.lowerBound + c] }
    }
    return Variable(value: Tensor(shape: [rows, width], scalars: out), parents: [self]) { g in
      var grad = [Float](repeating: 0, count: rows * columns)
      for r in 0..<rows {
        for c in 0..<width { grad[r * columns + range.lowerBound + c] = g.scalars[r * width + c] }
      }
      return [Tensor(shape: [rows, columns], scalars: grad)]
    }
  }

  private var rank2: Bool { shape.count == 2 }
}
