import Foundation

/// The Palmer penguins table: 344 birds, 11 numeric columns, NaN where a value is missing.
///
/// Gorman, Williams and Fraser, "Ecological sexual dimorphism and environmental variability
/// within a community of Antarctic penguins (genus Pygoscelis)", PLoS ONE 9(3):e90081, 2014;
/// Horst, Hill and Gorman, palmerpenguins R package, 2020. Classes are coded as floats
/// (species 0 Adelie, 1 Chinstrap, 2 Gentoo; see the dataset's README for all codes).
public struct PenguinsTable: Sendable, Equatable {
  /// The number of rows (birds).
  public let rowCount: Int
  /// The column names, in storage order.
  public let columnNames: [String]
  /// All values, row-major (`rowCount * columnNames.count`); NaN marks a missing value.
  public let values: [Float]

  /// Creates a table from row-major values.
  ///
  /// - Precondition: `values.count == rowCount * columnNames.count`.
  public init(rowCount: Int, columnNames: [String], values: [Float]) {
    precondition(
      values.count == rowCount * columnNames.count,
      "\(values.count) values do not fill \(rowCount) rows × \(columnNames.count) columns")
    self.rowCount = rowCount
    self.columnNames = columnNames
    self.values = values
  }

  /// The name of this dataset's folder inside the repository's `Data` folder.
  public static let folderName = "penguins"

  /// Loads `table.f32`, checked against the shape and column names in `dataset.json`.
  ///
  /// - Parameter directory: The dataset folder; by default `Data/penguins` of the repository.
  /// - Throws: `DatasetError` if a file is missing, the byte count disagrees with the declared
  ///   shape, or the column names disagree with the shape.
  public static func load(directory: URL? = nil) throws -> PenguinsTable {
    let folder = try directory ?? DataLocation.dataset(folderName)
    let remedy =
      "restore Data/\(folderName) from the repository (check it with `sha256sum -c SHA256SUMS`)"
    let metadata = try DatasetMetadata.load(directory: folder, remedy: remedy)
    let info = try metadata.array(
      "table", dtype: "float32", rank: 2, directory: folder, remedy: remedy)
    let (rows, columns) = (info.shape[0], info.shape[1])
    let names = metadata.columns ?? []
    guard names.count == columns else {
      throw DatasetError(
        .inconsistent, path: folder.appendingPathComponent("dataset.json").path,
        problem: "lists \(names.count) column names for a table of \(columns) columns",
        remedy: remedy)
    }
    let bytes = try DataFile.exactContents(
      of: folder.appendingPathComponent(info.file),
      expectedBytes: rows * columns * MemoryLayout<Float>.size,
      description: "\(rows)×\(columns) float32", remedy: remedy)

    // Little-endian IEEE-754 binary32, whatever the host's byte order.
    var values = [Float](repeating: 0, count: rows * columns)
    for i in values.indices {
      let o = 4 * i
      let bits =
        UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16
        | UInt32(bytes[o + 3]) << 24
      values[i] = Float(bitPattern: bits)
    }
    return PenguinsTable(rowCount: rows, columnNames: names, values: values)
  }

  /// The position of the column called `name`, or nil if there is none.
  public func columnIndex(named name: String) -> Int? {
    columnNames.firstIndex(of: name)
  }

  /// The values of the column called `name`, NaN where missing.
  ///
  /// - Precondition: the table has a column called `name`.
  public func column(named name: String) -> [Float] {
    guard let index = columnIndex(named: name) else {
      preconditionFailure("no column \"\(name)\"; the columns are \(columnNames)")
    }
    return column(at: index)
  }

  /// The values of column `index`, NaN where missing.
  ///
  /// - Precondition: `0 <= index < columnNames.count`.
  public func column(at index: Int) -> [Float] {
    let width = columnNames.count
    precondition(index >= 0 && index < width, "column \(index) is outside 0..<\(width)")
    return (0..<rowCount).map { values[$0 * width + index] }
  }

  /// The value at `row` in the column called `name`, or nil if it is missing.
  ///
  /// - Precondition: the row exists and the table has a column called `name`.
  public subscript(row: Int, name: String) -> Float? {
    guard let index = columnIndex(named: name) else {
      preconditionFailure("no column \"\(name)\"; the columns are \(columnNames)")
    }
    precondition(row >= 0 && row < rowCount, "row \(row) is outside 0..<\(rowCount)")
    let value = values[row * columnNames.count + index]
    return value.isNaN ? nil : value
  }

  /// How many values are missing (NaN) in the column called `name`.
  public func missingCount(named name: String) -> Int {
    column(named: name).count { $0.isNaN }
  }

  /// The rows that have a value in every one of the columns called `names`.
  public func completeRows(in names: [String]) -> [Int] {
    let indices = names.map { name -> Int in
      guard let index = columnIndex(named: name) else {
        preconditionFailure("no column \"\(name)\"; the columns are \(columnNames)")
      }
      return index
    }
    let width = columnNames.count
    return (0..<rowCount).filter { row in
      indices.allSatisfy { !values[row * width + $0].isNaN }
    }
  }
}
