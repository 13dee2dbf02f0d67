import Foundation

/// The folder a run writes: `config.json`, `metrics.jsonl` and `summary.json`.
///
/// Every file is written whole to a temporary name in the same folder and then renamed over
/// the old one, so a crash or a full disk never leaves a half-written result.
public struct RunDirectory: Sendable {
  public let url: URL

  /// Creates the folder (and its parents) if needed.
  ///
  /// - Throws: `ExperimentError` when the folder cannot be created.
  public init(_ url: URL) throws {
    self.url = url
    // Name the file that stands where a folder is needed, rather than a framework error code.
    var ancestor = url
    while ancestor.path != "/" && !ancestor.path.isEmpty {
      var isFolder: ObjCBool = false
      if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isFolder) {
        guard isFolder.boolValue else {
          throw ExperimentError(
            "cannot create the output folder \(url.path): \(ancestor.path) is a file; "
              + "choose another with --output")
        }
        break
      }
      ancestor.deleteLastPathComponent()
    }
    do {
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
      throw ExperimentError(
        "cannot create the output folder \(url.path): \(systemReason(error)); "
          + "choose another with --output")
    }
  }

  /// The files a run writes, in the order it writes them.
  public static let resultFiles = [
    "config.json", "metrics.jsonl", "summary.json", "model.safetensors", "error.txt",
  ]

  /// Removes the files an earlier run left here, so that none of them is taken for this run's.
  public func removeStaleResults() {
    for name in Self.resultFiles {
      try? FileManager.default.removeItem(at: url.appendingPathComponent(name))
    }
  }

  /// Writes `value` as pretty-printed JSON to `name`.
  public func writeJSON<Value: Encodable>(_ value: Value, to name: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try encoder.encode(value)
    data.append(0x0A)
    try writeAtomically(data, to: name)
  }

  /// Writes one compact JSON object per line to `name`.
  public func writeJSONLines<Value: Encodable>(_ values: [Value], to name: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var data = Data()
    for value in values {
      data.append(try encoder.encode(value))
      data.append(0x0A)
    }
    try writeAtomically(data, to: name)
  }

  /// Writes text to `name`.
  public func writeText(_ text: String, to name: String) throws {
    try writeAtomically(Data(text.utf8), to: name)
  }

  /// Writes `data` beside the target and renames it into place.
  public func writeAtomically(_ data: Data, to name: String) throws {
    let target = url.appendingPathComponent(name)
    let temporary = url.appendingPathComponent(".\(name).partial-\(getpid())")
    do {
      try data.write(to: temporary)
      if rename(temporary.path, target.path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw ExperimentError("cannot move \(temporary.path) to \(target.path): \(reason)")
      }
    } catch let error as ExperimentError {
      throw error
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw ExperimentError(
        "cannot write \(target.path): \(systemReason(error)); check the disk and "
          + "the folder's permissions")
    }
  }
}

/// The operating system's words for why a file operation failed ("Permission denied", "No such
/// file or directory"), from the POSIX error under a Foundation error; otherwise Foundation's
/// own description without its closing full stop.
func systemReason(_ error: any Error) -> String {
  let bridged = error as NSError
  if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? NSError,
    underlying.domain == NSPOSIXErrorDomain
  {
    return String(cString: strerror(Int32(underlying.code)))
  }
  if bridged.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(bridged.code))) }
  // Foundation on Linux often reports a Cocoa code with no POSIX error under it.
  if let cocoa = error as? CocoaError {
    let codes: [(CocoaError.Code, Int32)] = [
      (.fileNoSuchFile, ENOENT), (.fileReadNoSuchFile, ENOENT), (.fileWriteNoPermission, EACCES),
      (.fileReadNoPermission, EACCES), (.fileWriteOutOfSpace, ENOSPC),
      (.fileWriteVolumeReadOnly, EROFS), (.fileWriteFileExists, EEXIST),
    ]
    if let code = codes.first(where: { $0.0 == cocoa.code })?.1 {
      return String(cString: strerror(code))
    }
  }
  var text = error.localizedDescription
  while text.hasSuffix(".") { text.removeLast() }
  return text
}
