import Foundation

/// A Markdown table of test scores, one row per task and one column per run.
public enum ComparisonTable {
  /// Formats the summaries' test metrics side by side: accuracy for classification tasks, MSE
  /// for regression tasks, then the mean accuracy and mean MSE, the best epoch and the time.
  public static func markdown(_ runs: [(name: String, summary: RunSummary)]) -> String {
    guard let first = runs.first else { return "" }
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
    if first.summary.test.meanMSE != nil, first.summary.test.tasks.count > 1 {
      let cells = runs.map { format($0.summary.test.meanMSE ?? .nan, digits: 4) }
      lines.append("| **mean** | MSE ↓ | " + cells.joined(separator: " | ") + " |")
    }
    let epochs = runs.map { $0.summary.bestEpoch.map(String.init) ?? "per task" }
    lines.append("| best epoch | validation | " + epochs.joined(separator: " | ") + " |")
    let times = runs.map { format($0.summary.seconds, digits: 1) + " s" }
    lines.append("| time | wall clock | " + times.joined(separator: " | ") + " |")
    return lines.joined(separator: "\n") + "\n"
  }

  /// `value` with `digits` decimals.
  static func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "—" }
    return String(format: "%.\(digits)f", value)
  }
}
