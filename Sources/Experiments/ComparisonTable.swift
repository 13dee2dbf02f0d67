import Foundation

/// A Markdown table of test scores: one column per run for a few runs, one row per run for
/// many.
public enum ComparisonTable {
  /// Formats the summaries' test metrics side by side: accuracy for classification tasks, MSE
  /// for regression tasks, then the mean accuracy and mean MSE, Δm% against STL when an `STL`
  /// run is among them, the best epoch and the time. Up to five runs are columns; more are rows.
  public static func markdown(_ runs: [(name: String, summary: RunSummary)]) -> String {
    guard let first = runs.first else { return "" }
    if runs.count > 5 { return rowPerRun(runs) }
    var lines: [String] = []
    lines.append("| task | metric | " + runs.map(\.name).joined(separator: " | ") + " |")
    lines.append("|---|---|" + runs.map { _ in "---:|" }.joined())
    for task in first.summary.test.tasks {
      let metric = task.accuracy == nil ? "MSE ↓" : "accuracy ↑"
      let cells = runs.map { run -> String in
        guard let scores = run.summary.test.task(task.task) else { return "—" }
        if let accuracy = scores.accuracy { return format(100 * accuracy, digits: 2) }
        return format(scores.mse ?? scores.loss, digits: 4)
      }
      lines.append("| \(task.task) | \(metric) | " + cells.joined(separator: " | ") + " |")
    }
    if first.summary.test.meanAccuracy != nil {
      let cells = runs.map { format(100 * ($0.summary.test.meanAccuracy ?? .nan), digits: 2) }
      lines.append("| **mean** | accuracy ↑ | " + cells.joined(separator: " | ") + " |")
    }
    if hasSeveralRegressionTasks(first.summary.test) {
      let cells = runs.map { format($0.summary.test.meanMSE ?? .nan, digits: 4) }
      lines.append("| **mean** | MSE ↓ | " + cells.joined(separator: " | ") + " |")
    }
    if let reference = runs.first(where: { $0.name == "STL" })?.summary.test {
      let cells = runs.map { format(deltaM($0.summary.test, reference: reference), digits: 2) }
      lines.append("| **Δm%** vs STL | ↓ | " + cells.joined(separator: " | ") + " |")
    }
    let epochs = runs.map { $0.summary.bestEpoch.map(String.init) ?? "per task" }
    lines.append("| best epoch | validation | " + epochs.joined(separator: " | ") + " |")
    let times = runs.map { format($0.summary.seconds, digits: 1) + " s" }
    lines.append("| time | wall clock | " + times.joined(separator: " | ") + " |")
    return lines.joined(separator: "\n") + "\n"
  }

  /// A method of a comparison that did not finish.
  public struct Failure: Sendable, Equatable {
    /// The method's display name, as in the table.
    public var name: String
    /// Its run folder, which holds `error.txt`, as the report should name it.
    public var folder: String
    /// Why it failed.
    public var reason: String

    public init(name: String, folder: String, reason: String) {
      self.name = name
      self.folder = folder
      self.reason = reason
    }
  }

  /// The whole `comparison.md`: a title, the table of the runs that finished, then each
  /// method that failed with its folder and its error.
  ///
  /// - Parameters:
  ///   - title: The heading, without the `#`.
  ///   - runs: The runs that finished, in the order they were asked for.
  ///   - failures: The methods that failed, in the same order.
  public static func report(
    title: String, runs: [(name: String, summary: RunSummary)], failures: [Failure] = []
  ) -> String {
    var text = "# \(title)\n"
    if !runs.isEmpty { text += "\n" + markdown(runs) }
    guard !failures.isEmpty else { return text }
    text += "\n**Failed** (no scores; each folder's error.txt says why):\n\n"
    for failure in failures {
      let reason = failure.reason.split(whereSeparator: \.isNewline).joined(separator: " ")
      text += "- **\(failure.name)** failed (`\(failure.folder)`): \(reason)\n"
    }
    return text
  }

  /// One row per run: the task scores, the means, Δm% (with an STL run), best epoch and time.
  static func rowPerRun(_ runs: [(name: String, summary: RunSummary)]) -> String {
    let first = runs[0].summary.test
    let reference = runs.first(where: { $0.name == "STL" })?.summary.test
    var header = ["method"]
    header += first.tasks.map { $0.task + ($0.accuracy == nil ? " MSE ↓" : " acc ↑") }
    if first.meanAccuracy != nil { header.append("mean acc ↑") }
    if hasSeveralRegressionTasks(first) { header.append("mean MSE ↓") }
    if reference != nil { header.append("Δm% ↓") }
    header += ["best epoch", "time"]
    var lines = ["| " + header.joined(separator: " | ") + " |"]
    lines.append("|---|" + String(repeating: "---:|", count: header.count - 1))
    for run in runs {
      let test = run.summary.test
      var cells = [run.name]
      for task in first.tasks {
        guard let scores = test.task(task.task) else {
          cells.append("—")
          continue
        }
        cells.append(
          scores.accuracy.map { format(100 * $0, digits: 2) }
            ?? format(scores.mse ?? scores.loss, digits: 4))
      }
      if first.meanAccuracy != nil {
        cells.append(format(100 * (test.meanAccuracy ?? .nan), digits: 2))
      }
      if hasSeveralRegressionTasks(first) {
        cells.append(format(test.meanMSE ?? .nan, digits: 4))
      }
      if let reference { cells.append(format(deltaM(test, reference: reference), digits: 2)) }
      cells.append(run.summary.bestEpoch.map(String.init) ?? "per task")
      cells.append(format(run.summary.seconds, digits: 1) + " s")
      lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Δm% = (1/K) Σ_k (−1)^{s_k} (M_k − M_STL,k) / M_STL,k × 100, with s_k = 1 where higher is
  /// better (accuracy) and 0 where lower is (MSE); lower is better. Tasks missing from either
  /// side, or with a zero reference, are left out; `nan` when none is left.
  public static func deltaM(_ metrics: SplitMetrics, reference: SplitMetrics) -> Double {
    var terms: [Double] = []
    for task in reference.tasks {
      guard let scores = metrics.task(task.task) else { continue }
      if let base = task.accuracy, let value = scores.accuracy, base != 0 {
        terms.append(-(value - base) / base)
      } else if let base = task.mse, let value = scores.mse, base != 0 {
        terms.append((value - base) / base)
      }
    }
    guard !terms.isEmpty else { return .nan }
    return 100 * terms.reduce(0, +) / Double(terms.count)
  }

  /// Whether a mean MSE says more than the one task's MSE.
  static func hasSeveralRegressionTasks(_ metrics: SplitMetrics) -> Bool {
    metrics.meanMSE != nil && metrics.tasks.filter { $0.mse != nil }.count > 1
  }

  /// `value` with `digits` decimals.
  static func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "—" }
    return String(format: "%.\(digits)f", value)
  }
}
