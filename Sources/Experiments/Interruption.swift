import Synchronization

/// A request to stop early, made by a signal such as Ctrl-C's `SIGINT`. Training honours it
/// between steps: the run ends as a failed one does, with `error.txt` saying so and
/// `metrics.jsonl` keeping the epochs that finished.
public enum Interruption {
  private static let pending = Atomic<Int32>(0)

  /// The signal that asked to stop, or `nil`.
  public static var signal: Int32? {
    let value = pending.load(ordering: .relaxed)
    return value == 0 ? nil : value
  }

  /// Asks every run in this process to stop after its current step.
  public static func request(signal: Int32) { pending.store(signal, ordering: .relaxed) }
}

/// A run stopped by `Interruption`.
public struct InterruptedError: Error, CustomStringConvertible, Sendable {
  /// The signal that stopped it.
  public var signal: Int32
  /// Where training stopped, e.g. "during epoch 3 of 50, before step 12".
  public var location: String

  public init(signal: Int32, location: String) {
    self.signal = signal
    self.location = location
  }

  /// The conventional exit code of a process stopped by `signal`.
  public var exitCode: Int32 { 128 + signal }

  public var description: String {
    let names: [Int32: String] = [2: "SIGINT", 15: "SIGTERM", 1: "SIGHUP"]
    return "interrupted by \(names[signal] ?? "signal \(signal)") \(location); metrics.jsonl "
      + "keeps the epochs that finished"
  }
}
