/// The scores of one task on one split.
public struct TaskMetrics: Sendable, Codable, Equatable {
  public var task: String
  /// `binary`, `multiclass` or `regression`.
  public var kind: String
  /// The fraction of correct predictions (classification tasks).
  public var accuracy: Double?
  /// The mean loss over labelled samples: BCE, cross-entropy or squared error.
  public var loss: Double
  /// The mean squared error (regression tasks, in standardised units).
  public var mse: Double?
  /// The number of labelled samples scored.
  public var count: Int
}

/// The scores of every task on one split, with the summaries used for model selection.
public struct SplitMetrics: Sendable, Codable, Equatable {
  public var tasks: [TaskMetrics]
  /// The mean accuracy over classification tasks.
  public var meanAccuracy: Double?
  /// The mean MSE over regression tasks.
  public var meanMSE: Double?
  /// The mean loss over tasks.
  public var meanLoss: Double
  /// Higher is better: the mean accuracy when every task is a classification task, otherwise
  /// the negated mean task loss.
  public var selectionScore: Double

  public init(tasks: [TaskMetrics]) {
    self.tasks = tasks
    let accuracies = tasks.compactMap(\.accuracy)
    let errors = tasks.compactMap(\.mse)
    meanAccuracy = accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count)
    meanMSE = errors.isEmpty ? nil : errors.reduce(0, +) / Double(errors.count)
    meanLoss = tasks.isEmpty ? 0 : tasks.map(\.loss).reduce(0, +) / Double(tasks.count)
    if let meanAccuracy, errors.isEmpty {
      selectionScore = meanAccuracy
    } else {
      selectionScore = -meanLoss
    }
  }

  /// The metrics of the task called `name`.
  public func task(_ name: String) -> TaskMetrics? { tasks.first { $0.task == name } }
}

/// One line of `metrics.jsonl`.
public struct EpochRecord: Sendable, Codable, Equatable {
  public var epoch: Int
  /// The task trained (single-task learning only).
  public var task: String?
  /// `ls` during the linear-scalarization warm-up, else the method's name.
  public var phase: String
  public var trainLoss: Double
  public var seconds: Double
  public var learningRate: Float
  public var validation: SplitMetrics
  public var test: SplitMetrics
}

/// `summary.json`: the epoch with the best validation score and its test scores.
public struct RunSummary: Sendable, Codable, Equatable {
  public var recipe: String
  public var method: String
  public var bestEpoch: Int?
  public var validation: SplitMetrics
  public var test: SplitMetrics
  public var seconds: Double
  /// Single-task learning: the best epoch of each task's network.
  public var bestEpochPerTask: [String: Int]?
}
