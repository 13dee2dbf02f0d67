import Foundation

/// The parts of a repository dataset's `dataset.json` that the readers check against.
struct DatasetMetadata: Decodable {
  /// One headerless binary array of the dataset.
  struct ArrayInfo: Decodable {
    var file: String
    var dtype: String
    var shape: [Int]
    var bytes: Int?
  }

  var name: String?
  var arrays: [String: ArrayInfo]
  var columns: [String]?

  /// Reads `dataset.json` from `directory`.
  ///
  /// - Throws: `DatasetError` if the file is missing or is not the expected JSON.
  static func load(directory: URL, remedy: String) throws -> DatasetMetadata {
    let url = directory.appendingPathComponent("dataset.json")
    let bytes = try DataFile.rawContents(of: url, remedy: remedy)
    do {
      return try JSONDecoder().decode(DatasetMetadata.self, from: Data(bytes))
    } catch {
      throw DatasetError(
        .badHeader, path: url.path, problem: "not the expected dataset description (\(error))",
        remedy: remedy)
    }
  }

  /// The description of array `name`, checked to have `dtype` and a rank of `rank`.
  ///
  /// - Throws: `DatasetError` if the array is not described or differs.
  func array(
    _ name: String, dtype: String, rank: Int, directory: URL, remedy: String
  ) throws -> ArrayInfo {
    let path = directory.appendingPathComponent("dataset.json").path
    guard let info = arrays[name] else {
      throw DatasetError(
        .badHeader, path: path, problem: "describes no array named \"\(name)\"", remedy: remedy)
    }
    guard info.dtype == dtype, info.shape.count == rank, info.shape.allSatisfy({ $0 >= 0 }) else {
      throw DatasetError(
        .badHeader, path: path,
        problem: "array \"\(name)\" is \(info.dtype) of shape \(info.shape), expected \(dtype) "
          + "with \(rank) dimensions", remedy: remedy)
    }
    // Every extent after the first must be positive, and the whole array must fit in memory.
    var elements = 1
    for extent in info.shape {
      let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
      guard !overflow, product <= 1 << 34 else {
        throw DatasetError(
          .badHeader, path: path,
          problem: "array \"\(name)\" declares shape \(info.shape), far larger than any file of "
            + "this data set", remedy: remedy)
      }
      elements = product
    }
    guard info.shape.dropFirst().allSatisfy({ $0 > 0 }) else {
      throw DatasetError(
        .badHeader, path: path,
        problem: "array \"\(name)\" declares shape \(info.shape), with an empty dimension",
        remedy: remedy)
    }
    return info
  }
}

extension DataFile {
  /// The bytes of a headerless array file, checked to hold exactly `expectedBytes`.
  ///
  /// - Parameter description: What the bytes should hold, e.g. "344×11 float32".
  /// - Throws: `DatasetError` if the file is missing, shorter or longer.
  static func exactContents(
    of url: URL, expectedBytes: Int, description: String, remedy: String
  ) throws -> [UInt8] {
    let bytes = try rawContents(of: url, remedy: remedy)
    let claim = "dataset.json says \(description) (\(expectedBytes) bytes)"
    guard bytes.count >= expectedBytes else {
      throw DatasetError(
        .truncated, path: url.path,
        problem: "truncated: \(claim) but the file holds \(bytes.count) bytes", remedy: remedy)
    }
    guard bytes.count == expectedBytes else {
      throw DatasetError(
        .trailingBytes, path: url.path,
        problem: "\(bytes.count - expectedBytes) trailing bytes: \(claim) but the file holds "
          + "\(bytes.count) bytes", remedy: remedy)
    }
    return bytes
  }
}
