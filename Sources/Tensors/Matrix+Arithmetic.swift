/// Element-wise arithmetic on matrices of equal shape.
extension Matrix {
  /// `A + B`, element-wise.
  ///
  /// - Precondition: equal shapes.
  public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
    precondition(lhs.shape == rhs.shape, "Matrix +: shapes \(lhs.shape) and \(rhs.shape) differ")
    var result = lhs
    for i in result.scalars.indices { result.scalars[i] += rhs.scalars[i] }
    return result
  }

  /// `A − B`, element-wise.
  ///
  /// - Precondition: equal shapes.
  public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
    precondition(lhs.shape == rhs.shape, "Matrix -: shapes \(lhs.shape) and \(rhs.shape) differ")
    var result = lhs
    for i in result.scalars.indices { result.scalars[i] -= rhs.scalars[i] }
    return result
  }

  /// `s · A`.
  public static func * (scale: Double, matrix: Matrix) -> Matrix {
    matrix.map { scale * $0 }
  }

  /// `A ∘ B`, the element-wise (Hadamard) product.
  ///
  /// - Precondition: equal shapes.
  public func hadamard(_ other: Matrix) -> Matrix {
    precondition(shape == other.shape, "Matrix ∘: shapes \(shape) and \(other.shape) differ")
    var result = self
    for i in result.scalars.indices { result.scalars[i] *= other.scalars[i] }
    return result
  }

  /// Adds `value` to every diagonal element.
  ///
  /// - Precondition: the matrix is square.
  public mutating func addToDiagonal(_ value: Double) {
    precondition(rows == columns, "Matrix.addToDiagonal: \(rows)×\(columns) is not square")
    for i in 0..<rows { scalars[i * columns + i] += value }
  }

  /// A square matrix with this one's lower triangle (the diagonal included) and its upper
  /// triangle left uninitialised, for a caller that writes it before reading it (as
  /// `symmetrizeFromLower` does): half the copying of the whole matrix.
  ///
  /// - Precondition: the matrix is square.
  public func lowerTriangleCopy() -> Matrix {
    precondition(rows == columns, "Matrix.lowerTriangleCopy: \(rows)×\(columns) is not square")
    let n = rows
    let copy = [Double](unsafeUninitializedCapacity: n * n) { buffer, initialized in
      scalars.withUnsafeBufferPointer { source in
        for i in 0..<n {
          (buffer.baseAddress! + i * n).initialize(
            from: source.baseAddress! + i * n, count: i + 1)
        }
      }
      initialized = n * n
    }
    return Matrix(rows: n, columns: n, scalars: copy)
  }

  /// Copies the lower triangle onto the upper one, making the matrix exactly symmetric.
  ///
  /// - Precondition: the matrix is square.
  public mutating func symmetrizeFromLower() {
    precondition(rows == columns, "Matrix.symmetrizeFromLower: \(rows)×\(columns) is not square")
    let n = rows
    guard n > 1 else { return }
    // Tiles of 32 × 32, so that the column reads of the lower triangle stay in cache.
    let tile = 32
    scalars.withUnsafeMutableBufferPointer { buffer in
      let a = buffer.baseAddress!
      for rowStart in stride(from: 0, to: n, by: tile) {
        for columnStart in stride(from: rowStart, to: n, by: tile) {
          for i in rowStart..<Swift.min(rowStart + tile, n) {
            let start = Swift.max(columnStart, i + 1)
            for j in start..<Swift.max(start, Swift.min(columnStart + tile, n)) {
              a[i * n + j] = a[j * n + i]
            }
          }
        }
      }
    }
  }
}
