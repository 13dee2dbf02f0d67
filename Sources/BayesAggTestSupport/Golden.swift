import Foundation
import Tensors

/// A numeric array read from a golden JSON file: nested lists flattened row-major, with shape.
public struct GoldenArray: Sendable {
  /// The extent of each axis; `[]` for a scalar.
  public var shape: [Int]
  /// The elements in row-major order.
  public var scalars: [Double]

  /// The single element of a scalar (or one-element array).
  ///
  /// - Precondition: exactly one element.
  public var scalar: Double {
    precondition(scalars.count == 1, "GoldenArray: shape \(shape) is not a scalar")
    return scalars[0]
  }

  /// A 1-D array `[n]` as `[n, 1]`, a 2-D array as is, a higher one as `[first, rest…]`.
  public var matrix: Matrix {
    switch shape.count {
    case 0: return Matrix(rows: 1, columns: 1, scalars: scalars)
    case 1: return Matrix(rows: shape[0], columns: 1, scalars: scalars)
    default:
      return Matrix(rows: shape[0], columns: scalars.count / max(shape[0], 1), scalars: scalars)
    }
  }

  /// The same elements as a row `[1, n]`.
  public var rowMatrix: Matrix { Matrix(rows: 1, columns: scalars.count, scalars: scalars) }
}

/// A failure to read a golden file: which file, where, and what was wrong.
public struct GoldenError: Error, CustomStringConvertible {
  /// The file.
  public var file: String
  /// The problem.
  public var message: String

  public var description: String { "golden file \(file): \(message)" }
}

/// One case of a golden file: named inputs and outputs.
///
/// `@unchecked Sendable`: the JSON values are Foundation property-list types (arrays,
/// dictionaries, numbers, strings) that nothing mutates after parsing.
public struct GoldenCase: @unchecked Sendable {
  /// The case's name.
  public var name: String
  /// The raw JSON inputs.
  public var inputs: [String: Any]
  /// The raw JSON outputs.
  public var outputs: [String: Any]
  /// The raw `check` object, if any.
  public var check: [String: Any]

  /// Input `key` as an array.
  ///
  /// - Throws: `GoldenError` if the key is absent or not numeric.
  public func input(_ key: String) throws -> GoldenArray {
    try goldenArray(inputs[key], "\(name).inputs.\(key)")
  }

  /// Output `key` as an array; a dotted key (`"mc_reference.E_g"`) descends into objects.
  ///
  /// - Throws: `GoldenError` if the key is absent or not numeric.
  public func output(_ key: String) throws -> GoldenArray {
    var value: Any? = outputs
    for part in key.split(separator: ".") { value = (value as? [String: Any])?[String(part)] }
    return try goldenArray(value, "\(name).outputs.\(key)")
  }

  /// Whether output `key` exists.
  public func hasOutput(_ key: String) -> Bool { outputs[key] != nil }

  /// Input `key` as a string, if it is one.
  public func string(_ key: String) -> String? { inputs[key] as? String }
}

/// A golden file: `{family, notes, tolerance, versions, cases}`.
///
/// `@unchecked Sendable` for the same reason as `GoldenCase`.
public struct GoldenFile: @unchecked Sendable {
  /// The file's URL.
  public var url: URL
  /// Which checks apply, e.g. `"regression"`.
  public var family: String
  /// The raw tolerance object.
  public var tolerance: [String: Any]
  /// The cases.
  public var cases: [GoldenCase]

  /// Reads and parses `url`.
  ///
  /// - Throws: `GoldenError` (or a Foundation error) if the file is unreadable or malformed.
  public init(contentsOf url: URL) throws {
    let data = try Data(contentsOf: url)
    guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw GoldenError(file: url.lastPathComponent, message: "the root is not an object")
    }
    guard let family = root["family"] as? String, let cases = root["cases"] as? [[String: Any]]
    else {
      throw GoldenError(file: url.lastPathComponent, message: "missing `family` or `cases`")
    }
    self.url = url
    self.family = family
    self.tolerance = root["tolerance"] as? [String: Any] ?? [:]
    self.cases = try cases.enumerated().map { i, raw in
      guard let inputs = raw["inputs"] as? [String: Any],
        let outputs = raw["outputs"] as? [String: Any]
      else {
        throw GoldenError(file: url.lastPathComponent, message: "case \(i) lacks inputs/outputs")
      }
      return GoldenCase(
        name: raw["name"] as? String ?? "case \(i)", inputs: inputs, outputs: outputs,
        check: raw["check"] as? [String: Any] ?? [:])
    }
  }

  /// Every `*.json` file in `directory`, sorted by name.
  ///
  /// - Throws: `GoldenError` or a Foundation error if the folder or a file cannot be read.
  public static func all(in directory: URL) throws -> [GoldenFile] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
      .filter { $0.hasSuffix(".json") }.sorted()
    return try names.map { try GoldenFile(contentsOf: directory.appendingPathComponent($0)) }
  }
}

/// Flattens a JSON number or nested list of numbers.
private func goldenArray(_ value: Any?, _ path: String) throws -> GoldenArray {
  guard let value else { throw GoldenError(file: path, message: "absent") }
  var shape: [Int] = []
  var probe: Any = value
  while let list = probe as? [Any] {
    shape.append(list.count)
    guard let first = list.first else { break }
    probe = first
  }
  var scalars: [Double] = []
  scalars.reserveCapacity(shape.reduce(1, *))
  func flatten(_ item: Any, depth: Int) throws {
    if let list = item as? [Any] {
      guard depth < shape.count, list.count == shape[depth] else {
        throw GoldenError(file: path, message: "ragged nested list at depth \(depth)")
      }
      for element in list { try flatten(element, depth: depth + 1) }
    } else if let number = item as? NSNumber, depth == shape.count {
      scalars.append(number.doubleValue)
    } else if item is NSNull {
      scalars.append(.nan)
    } else {
      throw GoldenError(file: path, message: "non-numeric element \(item)")
    }
  }
  try flatten(value, depth: 0)
  return GoldenArray(shape: shape, scalars: scalars)
}
