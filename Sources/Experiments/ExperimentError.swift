/// A problem with a run's settings or inputs that the user can fix: the message says what is
/// wrong and what to do.
public struct ExperimentError: Error, CustomStringConvertible, Sendable, Equatable {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
