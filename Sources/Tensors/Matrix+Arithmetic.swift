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
