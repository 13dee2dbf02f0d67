import CZlib
import Foundation

/// Reads whole data files, decompressing gzip transparently.
public enum DataFile {
  /// The remedy suggested when a caller gives none.
  public static let defaultRemedy = "replace the file with an intact copy"

  /// The bytes of the file at `url`, inflated if the file starts with the gzip magic `1f 8b`.
  ///
  /// Files that do not start with the gzip magic are returned as they are. Concatenated gzip
  /// members are inflated one after another, as `gunzip` does.
  ///
  /// - Parameters:
  ///   - url: The file to read.
  ///   - remedy: What the user should do if the file is missing or damaged.
  /// - Returns: The file's (decompressed) contents.
  /// - Throws: `DatasetError` if the file is missing, unreadable, or holds a corrupt or
  ///   truncated gzip stream.
  /// - Complexity: O(n) in the decompressed size.
  public static func contents(of url: URL, remedy: String = defaultRemedy) throws -> [UInt8] {
    let raw = try rawContents(of: url, remedy: remedy)
    guard raw.count >= 2, raw[0] == 0x1f, raw[1] == 0x8b else { return raw }
    return try inflateGzip(raw, path: url.path, remedy: remedy)
  }

  /// The bytes of the file at `url`, exactly as stored.
  ///
  /// - Throws: `DatasetError` if the file is missing, is a folder, or cannot be read.
  public static func rawContents(of url: URL, remedy: String = defaultRemedy) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw DatasetError(.missing, path: url.path, problem: "no such file", remedy: remedy)
    }
    guard !isDirectory.boolValue else {
      throw DatasetError(
        .unreadable, path: url.path, problem: "is a folder, not a file", remedy: remedy)
    }
    do {
      return [UInt8](try Data(contentsOf: url))
    } catch {
      throw DatasetError(
        .unreadable, path: url.path, problem: "cannot be read (\(error.localizedDescription))",
        remedy: "check the file's permissions, or \(remedy)")
    }
  }

  /// Inflates one or more concatenated gzip members.
  ///
  /// - Throws: `DatasetError` of kind `.corruptCompression` for a damaged or truncated stream.
  static func inflateGzip(_ input: [UInt8], path: String, remedy: String) throws -> [UInt8] {
    precondition(input.count < Int(UInt32.max), "gzip input of \(input.count) bytes is too big")
    func corrupt(_ what: String) -> DatasetError {
      DatasetError(
        .corruptCompression, path: path, problem: "corrupt gzip stream: \(what)", remedy: remedy)
    }

    var stream = z_stream()
    // windowBits 15 + 16: the largest window, and expect a gzip (not zlib) header.
    let initStatus = inflateInit2_(
      &stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initStatus == Z_OK else {
      throw corrupt("zlib could not start inflating (status \(initStatus))")
    }
    defer { inflateEnd(&stream) }

    // The gzip trailer stores the uncompressed size modulo 2^32: a good capacity hint.
    let n = input.count
    var sizeHint = 0
    if n >= 18 {
      sizeHint = Int(input[n - 4]) | Int(input[n - 3]) << 8
      sizeHint |= Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
    }
    var output: [UInt8] = []
    output.reserveCapacity(min(sizeHint, 1 << 30))
    let chunkSize = 1 << 18
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    var status = Z_OK
    try input.withUnsafeBufferPointer { source in
      stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
      stream.avail_in = UInt32(source.count)
      while true {
        let produced = chunk.withUnsafeMutableBufferPointer { target -> Int in
          stream.next_out = target.baseAddress
          stream.avail_out = UInt32(chunkSize)
          status = inflate(&stream, Z_NO_FLUSH)
          return chunkSize - Int(stream.avail_out)
        }
        output.append(contentsOf: chunk[0..<produced])
        let consumed = source.count - Int(stream.avail_in)
        switch status {
        case Z_OK:
          continue
        case Z_STREAM_END:
          guard stream.avail_in > 0 else { return }
          // Another gzip member follows, or garbage does.
          guard stream.avail_in >= 2, source[consumed] == 0x1f, source[consumed + 1] == 0x8b
          else {
            throw corrupt("\(stream.avail_in) bytes of garbage after the end of the stream")
          }
          inflateReset(&stream)
        case Z_BUF_ERROR where stream.avail_in == 0:
          throw corrupt(
            "the stream ends early, after \(consumed) compressed and \(output.count) "
              + "decompressed bytes")
        default:
          let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
          throw corrupt("\(message) after \(consumed) compressed bytes")
        }
      }
    }
    return output
  }
}
