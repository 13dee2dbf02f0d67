/// A data file or folder that cannot be used: what is wrong, where, and how to fix it.
///
/// Readers throw this for bad data or a bad environment (a missing file, a truncated download, a
/// corrupt gzip stream). A broken caller contract is a `precondition` instead.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The broad class of the problem, for callers and tests that branch on it.
  public enum Kind: String, Sendable, Equatable {
    /// The file or folder does not exist.
    case missing
    /// The file exists but the operating system would not read it.
    case unreadable
    /// The gzip stream is damaged or ends early.
    case corruptCompression
    /// The header or metadata does not describe a supported array.
    case badHeader
    /// The file holds fewer bytes than its header or metadata promises.
    case truncated
    /// The file holds more bytes than its header or metadata promises.
    case trailingBytes
    /// Two files or fields that must agree do not.
    case inconsistent
    /// A stored value lies outside its documented range.
    case valueOutOfRange
  }

  /// The broad class of the problem.
  public var kind: Kind
  /// The file or folder at fault.
  public var path: String
  /// What is wrong, with the numbers involved.
  public var problem: String
  /// What the user can do about it.
  public var remedy: String

  /// Creates an error about the file or folder at `path`.
  public init(_ kind: Kind, path: String, problem: String, remedy: String) {
    self.kind = kind
    self.path = path
    self.problem = problem
    self.remedy = remedy
  }

  /// One line: `path: problem; remedy`.
  public var description: String {
    "\(path): \(problem); \(remedy)"
  }
}
