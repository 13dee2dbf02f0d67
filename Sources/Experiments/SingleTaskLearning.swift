import Aggregation

/// Single-task learning: one network per task, each trained by itself with the sum of its one
/// loss. The reference point of the Δm metric.
public struct SingleTaskLearning {
  public let recipe: Recipe
  public let configuration: TrainingConfiguration
  /// Asked before every step of every task's network (see `Trainer.stopRequest`).
  public var stopRequest: () -> Int32? = { Interruption.signal }

  public init(recipe: Recipe, configuration: TrainingConfiguration) {
    self.recipe = recipe
    self.configuration = configuration
  }

  /// Trains every task's network in turn.
  ///
  /// - Returns: every epoch record (each names its task) and, per task, the best validation
  ///   epoch's scores; the summaries' task lists are in the recipe's task order.
  public func run(onEvent: (TrainingEvent) -> Void = { _ in }) throws -> (
    records: [EpochRecord], validation: SplitMetrics, test: SplitMetrics, bestEpochs: [String: Int]
  ) {
    var records: [EpochRecord] = []
    var validation: [TaskMetrics] = []
    var test: [TaskMetrics] = []
    var bestEpochs: [String: Int] = [:]
    for (task, single) in singleTaskRecipes() {
      var taskConfiguration = configuration
      taskConfiguration.method = .ls
      let trainer = try Trainer(recipe: single, configuration: taskConfiguration)
      trainer.stopRequest = stopRequest
      let taskRecords = try trainer.run { event in
        switch event {
        case .epochStarted(let epoch, let epochs, _, _):
          onEvent(.epochStarted(epoch: epoch, epochs: epochs, phase: "stl", task: task))
        case .epochFinished(let record):
          onEvent(.epochFinished(named(record, task)))
        case .step:
          onEvent(event)
        }
      }.map { named($0, task) }
      records += taskRecords
      guard let best = bestRecord(taskRecords) else { continue }
      bestEpochs[task] = best.epoch
      validation += best.validation.tasks
      test += best.test.tasks
    }
    return (records, SplitMetrics(tasks: validation), SplitMetrics(tasks: test), bestEpochs)
  }

  /// One recipe per task, holding only that task's labels and a one-task group.
  func singleTaskRecipes() -> [(String, Recipe)] {
    var result: [(String, Recipe)] = []
    for (g, group) in recipe.groups.enumerated() {
      let columns = group.kind.taskCount
      for (t, name) in group.taskNames.enumerated() {
        let kind: TaskGroupKind
        switch group.kind {
        case .binary: kind = .binary(outputs: 1)
        case .regression: kind = .regression(outputs: 1)
        case .multiclass: kind = group.kind
        }
        func only(_ data: MultiTaskData) -> MultiTaskData {
          let values = stride(from: t, to: data.labels[g].count, by: columns).map {
            data.labels[g][$0]
          }
          return MultiTaskData(inputs: data.inputs, labels: [values])
        }
        var single = recipe
        single.groups = [TaskGroupDescription(kind: kind, taskNames: [name])]
        single.train = only(recipe.train)
        single.validation = only(recipe.validation)
        single.test = only(recipe.test)
        result.append((name, single))
      }
    }
    return result
  }
}

/// A single-task record labelled with its task.
private func named(_ record: EpochRecord, _ task: String) -> EpochRecord {
  var named = record
  named.task = task
  named.phase = "stl"
  return named
}

/// The record with the highest validation selection score (the earliest on ties).
func bestRecord(_ records: [EpochRecord]) -> EpochRecord? {
  records.reduce(nil) { best, record in
    guard let best else { return record }
    return record.validation.selectionScore > best.validation.selectionScore ? record : best
  }
}
