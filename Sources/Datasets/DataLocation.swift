import Foundation

/// Where the repository's `Data` folder is at run time.
public enum DataLocation {
  /// The environment variable that overrides the `Data` folder.
  public static let environmentVariable = "BAYESAGG_DATA"

  /// This file's path at build time; the package root lies above it.
  private static let thisSourceFile = #filePath

  /// The repository's `Data` folder: `$BAYESAGG_DATA` if set, else the `Data` folder at the root
  /// of the package this source file was built from.
  ///
  /// - Throws: `DatasetError` if the folder does not exist.
  public static var repositoryData: URL {
    get throws {
      try repositoryData(environment: ProcessInfo.processInfo.environment)
    }
  }

  /// The `Data` folder, reading the override from `environment` instead of the process's.
  ///
  /// - Parameters:
  ///   - environment: Environment variables; only `BAYESAGG_DATA` is consulted.
  ///   - sourceFile: A file inside the package, from which the package root is found; by default
  ///     this source file, as it was when the package was built.
  /// - Throws: `DatasetError` if the folder does not exist.
  public static func repositoryData(
    environment: [String: String], sourceFile: String? = nil
  ) throws -> URL {
    let sourceFile = sourceFile ?? thisSourceFile
    if let override = environment[environmentVariable], !override.isEmpty {
      let url = URL(fileURLWithPath: override, isDirectory: true)
      guard isDirectory(url) else {
        throw DatasetError(
          .missing, path: url.path,
          problem: "\(environmentVariable) names a folder that does not exist",
          remedy: "set \(environmentVariable) to the repository's Data folder, or unset it")
      }
      return url
    }

    // Walk up from the source file to the folder holding Package.swift.
    var folder = URL(fileURLWithPath: sourceFile).deletingLastPathComponent()
    while folder.path != "/" {
      let manifest = folder.appendingPathComponent("Package.swift")
      if FileManager.default.fileExists(atPath: manifest.path) {
        let data = folder.appendingPathComponent("Data", isDirectory: true)
        guard isDirectory(data) else {
          throw DatasetError(
            .missing, path: data.path, problem: "the repository has no Data folder",
            remedy: "check out the full repository, or set \(environmentVariable) to a copy "
              + "of its Data folder")
        }
        return data
      }
      folder.deleteLastPathComponent()
    }
    throw DatasetError(
      .missing, path: sourceFile,
      problem: "no Package.swift above this source file, so the Data folder cannot be found",
      remedy: "set \(environmentVariable) to the repository's Data folder")
  }

  /// The folder of one dataset inside the repository's `Data` folder, e.g. `"penguins"`.
  ///
  /// - Throws: `DatasetError` if the `Data` folder or the dataset's folder does not exist.
  public static func dataset(_ name: String) throws -> URL {
    let url = try repositoryData.appendingPathComponent(name, isDirectory: true)
    guard isDirectory(url) else {
      throw DatasetError(
        .missing, path: url.path, problem: "no such dataset folder",
        remedy: "check out the full repository, or set \(environmentVariable) to a Data folder "
          + "that holds \(name)")
    }
    return url
  }

  private static func isDirectory(_ url: URL) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
      && isDirectory.boolValue
  }
}
