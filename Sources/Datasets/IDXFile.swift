import Foundation

/// An unsigned-byte array read from an IDX file: its shape and its row-major elements.
public struct IDXArray: Sendable, Equatable {
  /// The dimensions, outermost first.
  public var shape: [Int]
  /// The elements in row-major order (last index fastest); `shape` multiplied out in length.
  public var elements: [UInt8]

  /// Creates an array from its shape and elements.
  ///
  /// - Precondition: `elements.count` is the product of `shape`, and no dimension is negative.
  public init(shape: [Int], elements: [UInt8]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
    precondition(
      elements.count == shape.reduce(1, *),
      "\(elements.count) elements do not fill shape \(shape)")
    self.shape = shape
    self.elements = elements
  }
}

/// Reads the IDX format of LeCun et al.'s MNIST files, as also used by Fashion-MNIST.
///
/// Layout: the magic `00 00 tt nn` (element type `tt`, number of dimensions `nn`), then `nn`
/// big-endian 32-bit dimensions, then the elements in row-major order. Only the element type
/// `0x08` (unsigned byte) is supported; it is the only one the MNIST family uses.
public enum IDXFile {
  /// The element type code of unsigned bytes.
  public static let unsignedByteType: UInt8 = 0x08

  /// Reads an IDX file, gzip-compressed or plain.
  ///
  /// - Parameters:
  ///   - url: The file to read.
  ///   - remedy: What the user should do if the file is missing or damaged.
  /// - Returns: The array the file holds.
  /// - Throws: `DatasetError` if the file is missing, its gzip stream is corrupt, its magic or
  ///   element type is wrong, or its payload is shorter or longer than its header says.
  /// - Complexity: O(n) in the decompressed size.
  public static func read(
    at url: URL, remedy: String = DataFile.defaultRemedy
  ) throws -> IDXArray {
    let raw = try DataFile.rawContents(of: url, remedy: remedy)
    guard raw.count >= 2, raw[0] == 0x1f, raw[1] == 0x8b else {
      return try decode(raw, path: url.path, remedy: remedy)
    }
    let inflated = try DataFile.inflateGzip(raw, path: url.path, remedy: remedy)
    return try decode(inflated, path: url.path, remedy: remedy, holder: "the decompressed file")
  }

  /// Decodes the (decompressed) bytes of an IDX file.
  ///
  /// - Parameters:
  ///   - bytes: The whole file, header included.
  ///   - path: The file's path, for error messages.
  ///   - remedy: What the user should do if the bytes are damaged.
  /// - Throws: `DatasetError`, as `read(at:remedy:)`.
  public static func decode(
    _ bytes: [UInt8], path: String, remedy: String = DataFile.defaultRemedy
  ) throws -> IDXArray {
    try decode(bytes, path: path, remedy: remedy, holder: "the file")
  }

  /// Decodes IDX bytes; `holder` names them in messages ("the file", "the decompressed file").
  static func decode(
    _ bytes: [UInt8], path: String, remedy: String, holder: String
  ) throws -> IDXArray {
    func failure(_ kind: DatasetError.Kind, _ problem: String) -> DatasetError {
      DatasetError(kind, path: path, problem: problem, remedy: remedy)
    }
    guard bytes.count >= 4 else {
      throw failure(
        .truncated, "truncated: \(bytes.count) bytes, too short for the 4-byte IDX magic")
    }
    guard bytes[0] == 0, bytes[1] == 0 else {
      let magic = bytes[0..<4].map { hex($0) }.joined(separator: " ")
      throw failure(.badHeader, "not an IDX file: magic \(magic), expected 00 00 08 nn")
    }
    guard bytes[2] == unsignedByteType else {
      throw failure(
        .badHeader,
        "unsupported IDX element type 0x\(hex(bytes[2])), only 0x08 (unsigned byte) is read")
    }
    let rank = Int(bytes[3])
    guard rank >= 1 else {
      throw failure(.badHeader, "IDX header declares 0 dimensions")
    }

    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else {
      throw failure(
        .truncated,
        "truncated: header of \(rank) dimensions needs \(headerSize) bytes but \(holder) holds "
          + "\(bytes.count)")
    }
    var shape: [Int] = []
    var payloadSize = 1
    for d in 0..<rank {
      let o = 4 + 4 * d
      let dimension =
        Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
      shape.append(dimension)
      let (product, overflow) = payloadSize.multipliedReportingOverflow(by: dimension)
      guard !overflow else {
        throw failure(.badHeader, "IDX dimensions \(shape) overflow the element count")
      }
      payloadSize = product
    }
    let expected = headerSize + payloadSize
    let described = "header says shape \(shape.map(String.init).joined(separator: "×"))"
    guard bytes.count >= expected else {
      throw failure(
        .truncated,
        "truncated: \(described) (\(expected) bytes) but \(holder) holds \(bytes.count) bytes")
    }
    guard bytes.count == expected else {
      throw failure(
        .trailingBytes,
        "\(bytes.count - expected) trailing bytes: \(described) (\(expected) bytes) but "
          + "\(holder) holds \(bytes.count) bytes")
    }

    return IDXArray(shape: shape, elements: Array(bytes[headerSize...]))
  }

  private static func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return byte < 16 ? "0" + digits : digits
  }
}
