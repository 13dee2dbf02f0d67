/// Per-column standardisation fitted on training rows only: `z = (x − mean) / std`.
///
/// ```
/// mean_j = (1/n_j) Σ_{i ∈ train, x_ij not NaN} x_ij
/// std_j  = sqrt((1/n_j) Σ_{i ∈ train, x_ij not NaN} (x_ij − mean_j)²)
/// ```
///
/// Missing values (NaN) are left out of the statistics and stay NaN when applied. The standard
/// deviation is the population one (divide by n). A column with no spread among its observed
/// training values gets std 1, and a column with no observed training value gets mean 0 and
/// std 1, so that applying never divides by zero.
public struct Standardizer: Sendable, Equatable {
  /// The per-column means of the training rows.
  public let means: [Float]
  /// The per-column standard deviations of the training rows.
  public let standardDeviations: [Float]

  /// Creates a standardiser from given statistics.
  ///
  /// - Precondition: the arrays have equal length and every std is positive.
  public init(means: [Float], standardDeviations: [Float]) {
    precondition(
      means.count == standardDeviations.count,
      "\(means.count) means but \(standardDeviations.count) standard deviations")
    precondition(
      standardDeviations.allSatisfy { $0 > 0 },
      "standard deviations must be positive: \(standardDeviations)")
    self.means = means
    self.standardDeviations = standardDeviations
  }

  /// Fits the statistics of each column on the rows `trainingRows` of a row-major table.
  ///
  /// - Parameters:
  ///   - values: A row-major table, `values.count` a multiple of `columnCount`.
  ///   - columnCount: The number of columns.
  ///   - trainingRows: The rows the statistics come from; no validation or test row belongs here.
  /// - Precondition: `columnCount > 0`, the table is whole, and every row index exists.
  /// - Complexity: O(trainingRows.count × columnCount).
  public init(fitting values: [Float], columnCount: Int, trainingRows: [Int]) {
    precondition(columnCount > 0, "column count \(columnCount) is not positive")
    precondition(
      values.count % columnCount == 0,
      "\(values.count) values do not fill rows of \(columnCount) columns")
    let rowCount = values.count / columnCount
    precondition(
      trainingRows.allSatisfy { $0 >= 0 && $0 < rowCount },
      "a training row lies outside 0..<\(rowCount)")

    var sums = [Double](repeating: 0, count: columnCount)
    var counts = [Int](repeating: 0, count: columnCount)
    for row in trainingRows {
      for column in 0..<columnCount where !values[row * columnCount + column].isNaN {
        sums[column] += Double(values[row * columnCount + column])
        counts[column] += 1
      }
    }
    let means = (0..<columnCount).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : 0 }
    var squares = [Double](repeating: 0, count: columnCount)
    for row in trainingRows {
      for column in 0..<columnCount where !values[row * columnCount + column].isNaN {
        let deviation = Double(values[row * columnCount + column]) - means[column]
        squares[column] += deviation * deviation
      }
    }
    let deviations = (0..<columnCount).map { column -> Float in
      guard counts[column] > 0 else { return 1 }
      let std = Float((squares[column] / Double(counts[column])).squareRoot())
      return std > 0 && std.isFinite ? std : 1
    }
    self.init(means: means.map { Float($0) }, standardDeviations: deviations)
  }

  /// The number of columns this standardiser expects.
  public var columnCount: Int { means.count }

  /// Standardises every row of a row-major table; NaN stays NaN.
  ///
  /// - Precondition: `values.count` is a multiple of `columnCount`.
  /// - Complexity: O(values.count).
  public func applied(to values: [Float]) -> [Float] {
    precondition(
      values.count % columnCount == 0,
      "\(values.count) values do not fill rows of \(columnCount) columns")
    var result = values
    for i in result.indices {
      let column = i % columnCount
      result[i] = (result[i] - means[column]) / standardDeviations[column]
    }
    return result
  }

  /// Maps standardised values back to the original scale; NaN stays NaN.
  ///
  /// - Precondition: `values.count` is a multiple of `columnCount`.
  public func inverted(_ values: [Float]) -> [Float] {
    precondition(
      values.count % columnCount == 0,
      "\(values.count) values do not fill rows of \(columnCount) columns")
    var result = values
    for i in result.indices {
      let column = i % columnCount
      result[i] = result[i] * standardDeviations[column] + means[column]
    }
    return result
  }
}
