import CZlib
import Datasets
import Foundation
import Testing

/// A fresh, empty folder under the system's temporary directory, removed by `remove()`.
struct TemporaryFolder {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "bayesagg-dataset-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  /// The URL of `name` inside the folder.
  func file(_ name: String) -> URL {
    url.appendingPathComponent(name)
  }

  /// Writes `bytes` as they are.
  func writePlain(_ bytes: [UInt8], to name: String) throws {
    try Data(bytes).write(to: file(name))
  }

  /// Writes `bytes` gzip-compressed through zlib's `gzwrite`.
  func writeGzip(_ bytes: [UInt8], to name: String) throws {
    let path = file(name).path
    let handle = try #require(gzopen(path, "wb"))
    let written = bytes.withUnsafeBufferPointer { buffer in
      gzwrite(handle, buffer.baseAddress, UInt32(buffer.count))
    }
    #expect(gzclose(handle) == Z_OK)
    #expect(Int(written) == bytes.count)
  }

  func remove() {
    try? FileManager.default.removeItem(at: url)
  }
}

/// The bytes of an unsigned-byte IDX file: magic, big-endian dimensions, then `elements`.
func idxBytes(
  shape: [Int], elements: [UInt8], typeCode: UInt8 = 0x08, zeroPrefix: [UInt8] = [0, 0]
) -> [UInt8] {
  var bytes = zeroPrefix + [typeCode, UInt8(shape.count)]
  for dimension in shape {
    let d = UInt32(dimension)
    bytes += [UInt8(d >> 24), UInt8((d >> 16) & 0xff), UInt8((d >> 8) & 0xff), UInt8(d & 0xff)]
  }
  return bytes + elements
}

/// Runs `body`, expects a `DatasetError` of `kind`, and returns it for further checks.
@discardableResult
func expectDatasetError(
  _ kind: DatasetError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) -> DatasetError? {
  do {
    try body()
    Issue.record(
      "expected a DatasetError of kind \(kind), nothing was thrown",
      sourceLocation: sourceLocation)
  } catch let error as DatasetError {
    #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(
      !error.description.contains("\n"), "not one line: \(error)",
      sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected a DatasetError, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}
