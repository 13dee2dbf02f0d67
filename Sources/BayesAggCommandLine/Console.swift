import Foundation

/// Where the tool writes: results to standard output, progress and errors to standard error.
/// Progress redraws one line on a terminal and prints plain lines in a log.
public final class Console {
  private let writeOut: (String) -> Void
  private let writeError: (String) -> Void
  /// Whether standard error is a terminal (progress redraws in place).
  public let isInteractive: Bool
  private var lastRedraw = Date.distantPast
  private var lineIsOpen = false

  public init(
    isInteractive: Bool, writeOut: @escaping (String) -> Void,
    writeError: @escaping (String) -> Void
  ) {
    self.isInteractive = isInteractive
    self.writeOut = writeOut
    self.writeError = writeError
  }

  /// The process's own streams.
  public static func standard() -> Console {
    Console(
      isInteractive: isatty(STDERR_FILENO) == 1,
      writeOut: { text in
        FileHandle.standardOutput.write(Data(text.utf8))
      },
      writeError: { text in
        FileHandle.standardError.write(Data(text.utf8))
      })
  }

  /// A line of results.
  public func print(_ line: String) {
    closeProgressLine()
    writeOut(line + "\n")
  }

  /// A line of diagnostics.
  public func note(_ line: String) {
    closeProgressLine()
    writeError(line + "\n")
  }

  /// Redraws the progress line on a terminal, at most ten times a second; silent in logs.
  public func progress(_ line: String) {
    guard isInteractive else { return }
    let now = Date()
    guard now.timeIntervalSince(lastRedraw) >= 0.1 else { return }
    lastRedraw = now
    writeError("\r\u{1B}[K" + line)
    lineIsOpen = true
  }

  private func closeProgressLine() {
    if lineIsOpen {
      writeError("\r\u{1B}[K")
      lineIsOpen = false
    }
  }
}

/// `m:ss` or `h:mm:ss`.
func clock(_ seconds: Double) -> String {
  guard seconds.isFinite, seconds >= 0 else { return "?" }
  let total = Int(seconds.rounded())
  let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60)
  let twoDigits = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
  return h > 0 ? "\(h):\(twoDigits(m)):\(twoDigits(s))" : "\(m):\(twoDigits(s))"
}
