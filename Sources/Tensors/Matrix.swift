/// A dense, row-major matrix of `Double`, the value type of the posterior algebra.
///
/// Storage is a Swift array, so copies are cheap until one of them is mutated
/// (copy-on-write). Element `(i, j)` lives at `scalars[i * columns + j]`. The heavy kernels
/// (products, factorisations) are in `Matrix+LinearAlgebra.swift` and call BLAS and LAPACK.
public struct Matrix: Equatable, Sendable {
  /// The number of rows.
  public private(set) var rows: Int
  /// The number of columns.
  public private(set) var columns: Int
  /// The elements in row-major order.
  ///
  /// Element writes through `scalars[k]` are in place (no observer, so no copy once the
  /// storage is uniquely referenced). Keep `scalars.count == rows * columns`: every kernel
  /// checks it with a precondition.
  public var scalars: [Double]

  /// Creates a matrix from row-major scalars.
  ///
  /// - Precondition: `rows ≥ 0`, `columns ≥ 0` and `scalars.count == rows * columns`.
  public init(rows: Int, columns: Int, scalars: [Double]) {
    precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)×\(columns)")
    precondition(
      scalars.count == rows * columns,
      "Matrix: \(scalars.count) scalars do not fill a \(rows)×\(columns) matrix")
    self.rows = rows
    self.columns = columns
    self.scalars = scalars
  }

  /// Creates a `rows × columns` matrix with every element equal to `value`.
  ///
  /// - Precondition: `rows ≥ 0` and `columns ≥ 0`.
  public init(rows: Int, columns: Int, repeating value: Double = 0) {
    precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)×\(columns)")
    self.init(rows: rows, columns: columns, scalars: Array(repeating: value, count: rows * columns))
  }

  /// A `rows × columns` matrix of zeros.
  public static func zeros(rows: Int, columns: Int) -> Matrix {
    Matrix(rows: rows, columns: columns)
  }

  /// The `n × n` identity matrix, scaled by `scale`.
  ///
  /// - Precondition: `n ≥ 0`.
  public static func identity(_ n: Int, scale: Double = 1) -> Matrix {
    var result = Matrix(rows: n, columns: n)
    for i in 0..<n { result.scalars[i * n + i] = scale }
    return result
  }

  /// Creates a matrix from nested rows, `[[a, b], [c, d]]`.
  ///
  /// An empty array gives the `0 × 0` matrix.
  /// - Precondition: every row has the same length.
  public init(_ nestedRows: [[Double]]) {
    let columns = nestedRows.first?.count ?? 0
    for (i, row) in nestedRows.enumerated() {
      precondition(
        row.count == columns, "Matrix: row \(i) has \(row.count) elements, row 0 has \(columns)")
    }
    self.init(rows: nestedRows.count, columns: columns, scalars: nestedRows.flatMap { $0 })
  }

  /// A one-column matrix holding `vector`.
  public init(column vector: [Double]) {
    self.init(rows: vector.count, columns: 1, scalars: vector)
  }

  /// `[rows, columns]`.
  public var shape: [Int] { [rows, columns] }

  /// Traps if `scalars` no longer fills `rows × columns` (a caller changed its count).
  @inlinable
  public func checkStorage(_ caller: String = #function) {
    precondition(
      scalars.count == rows * columns,
      "Matrix.\(caller): \(scalars.count) scalars do not fill a \(rows)×\(columns) matrix")
  }

  /// Element `(i, j)`.
  ///
  /// - Precondition: `0 ≤ i < rows` and `0 ≤ j < columns`.
  @inlinable
  public subscript(i: Int, j: Int) -> Double {
    get {
      precondition(
        i >= 0 && i < rows && j >= 0 && j < columns,
        "Matrix: index (\(i), \(j)) outside \(rows)×\(columns)")
      return scalars[i * columns + j]
    }
    set {
      precondition(
        i >= 0 && i < rows && j >= 0 && j < columns,
        "Matrix: index (\(i), \(j)) outside \(rows)×\(columns)")
      scalars[i * columns + j] = newValue
    }
  }

  /// Row `i` as an array.
  ///
  /// - Precondition: `0 ≤ i < rows`.
  public func row(_ i: Int) -> [Double] {
    precondition(i >= 0 && i < rows, "Matrix: row \(i) outside 0..<\(rows)")
    return Array(scalars[(i * columns)..<((i + 1) * columns)])
  }

  /// Column `j` as an array.
  ///
  /// - Precondition: `0 ≤ j < columns`.
  public func column(_ j: Int) -> [Double] {
    precondition(j >= 0 && j < columns, "Matrix: column \(j) outside 0..<\(columns)")
    return (0..<rows).map { scalars[$0 * columns + j] }
  }

  /// The main diagonal, of length `min(rows, columns)`.
  public var diagonal: [Double] {
    (0..<Swift.min(rows, columns)).map { scalars[$0 * columns + $0] }
  }

  /// The transpose, `Aᵀ[j, i] = A[i, j]`.
  ///
  /// - Complexity: O(rows · columns).
  public func transposed() -> Matrix {
    var result = [Double](repeating: 0, count: scalars.count)
    scalars.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { target in
        for i in 0..<rows {
          for j in 0..<columns { target[j * rows + i] = source[i * columns + j] }
        }
      }
    }
    return Matrix(rows: columns, columns: rows, scalars: result)
  }

  /// The same scalars read as a `rows × columns` matrix.
  ///
  /// - Precondition: `rows * columns == self.rows * self.columns`.
  public func reshaped(rows: Int, columns: Int) -> Matrix {
    precondition(
      rows * columns == scalars.count,
      "Matrix: cannot reshape \(self.rows)×\(self.columns) to \(rows)×\(columns)")
    return Matrix(rows: rows, columns: columns, scalars: scalars)
  }

  /// The rows listed in `indices`, in that order.
  ///
  /// - Precondition: every index is in `0..<rows`.
  public func gatheringRows(_ indices: [Int]) -> Matrix {
    var result = [Double]()
    result.reserveCapacity(indices.count * columns)
    for i in indices {
      precondition(i >= 0 && i < rows, "Matrix: row \(i) outside 0..<\(rows)")
      result.append(contentsOf: scalars[(i * columns)..<((i + 1) * columns)])
    }
    return Matrix(rows: indices.count, columns: columns, scalars: result)
  }

  /// The contiguous block of columns `range`.
  ///
  /// - Precondition: `range` lies in `0..<columns`.
  public func slicingColumns(_ range: Range<Int>) -> Matrix {
    precondition(
      range.lowerBound >= 0 && range.upperBound <= columns,
      "Matrix: columns \(range) outside 0..<\(columns)")
    var result = [Double]()
    result.reserveCapacity(rows * range.count)
    for i in 0..<rows {
      let start = i * columns
      result.append(contentsOf: scalars[(start + range.lowerBound)..<(start + range.upperBound)])
    }
    return Matrix(rows: rows, columns: range.count, scalars: result)
  }

  /// `[A, v]`: this matrix with one more column, equal to `value` in every row.
  public func appendingColumn(repeating value: Double) -> Matrix {
    var result = [Double]()
    result.reserveCapacity(rows * (columns + 1))
    for i in 0..<rows {
      result.append(contentsOf: scalars[(i * columns)..<((i + 1) * columns)])
      result.append(value)
    }
    return Matrix(rows: rows, columns: columns + 1, scalars: result)
  }

  /// Whether every element is finite (no NaN, no ±∞).
  ///
  /// - Complexity: O(rows · columns), in vectors of eight (see `allFinite`).
  public var isFinite: Bool { scalars.withUnsafeBufferPointer(allFinite) }

  /// The element-wise map `f(A[i, j])`.
  public func map(_ transform: (Double) throws -> Double) rethrows -> Matrix {
    Matrix(rows: rows, columns: columns, scalars: try scalars.map(transform))
  }
}

extension Matrix: CustomStringConvertible {
  public var description: String {
    let body = (0..<rows).map { i in row(i).map { "\($0)" }.joined(separator: ", ") }
    return "Matrix \(rows)×\(columns) [" + body.map { "[\($0)]" }.joined(separator: ", ") + "]"
  }
}

/// Whether every value is finite, by sums of `x − x`: 0 for a finite `x`, NaN for NaN or ±∞,
/// and a NaN stays in the sum. Vectors of eight in two independent sums; the scalar loop with
/// `isFinite` took 6 µs for a 161 × 161 precision, a twelfth of its Cholesky factorisation.
func allFinite(_ values: UnsafeBufferPointer<Double>) -> Bool {
  guard let base = values.baseAddress else { return true }
  let raw = UnsafeRawPointer(base)
  let vectors = values.count / 16 * 2
  var (first, second) = (SIMD8<Double>(), SIMD8<Double>())
  var v = 0
  while v < vectors {
    let a = raw.loadUnaligned(fromByteOffset: v * 64, as: SIMD8<Double>.self)
    let b = raw.loadUnaligned(fromByteOffset: (v + 1) * 64, as: SIMD8<Double>.self)
    first += a - a
    second += b - b
    v += 2
  }
  var total = (first + second).sum()
  for x in values[(vectors * 8)...] { total += x - x }
  return total == 0
}
