import Aggregation
import Tensors

/// One head of the model and the tasks it carries.
///
/// A binary group has one task per output, a regression group one per output, a multiclass
/// group is one task. The kind decides the loss, the metric and BayesAgg-MTL's posterior.
public struct TaskGroupDescription: Sendable, Equatable {
  public var kind: TaskGroupKind
  /// One name per task of the group.
  public var taskNames: [String]

  public init(kind: TaskGroupKind, taskNames: [String]) {
    precondition(
      taskNames.count == kind.taskCount,
      "\(kind) carries \(kind.taskCount) tasks, got \(taskNames.count) names")
    self.kind = kind
    self.taskNames = taskNames
  }

  /// The number of head outputs (logits or predictions).
  public var outputCount: Int { kind.headOutputs }
}

/// Inputs and labels of one split, in memory.
///
/// Labels are stored per group as `[N, tasks]` row-major floats: regression values, binary
/// targets in {0, 1}, or class indices; NaN marks a missing label.
public struct MultiTaskData: Sendable {
  /// The inputs, `[N, features]`.
  public var inputs: Tensor
  /// The labels of each group, `[N × taskCount]`.
  public var labels: [[Float]]

  public init(inputs: Tensor, labels: [[Float]]) {
    self.inputs = inputs
    self.labels = labels
  }

  public var count: Int { inputs.shape[0] }
  public var featureCount: Int { inputs.shape[1] }

  /// The rows `indices`, in that order.
  public func rows(_ indices: [Int]) -> MultiTaskData {
    let width = featureCount
    var x = [Float](repeating: 0, count: indices.count * width)
    inputs.scalars.withUnsafeBufferPointer { source in
      for (row, index) in indices.enumerated() {
        for j in 0..<width { x[row * width + j] = source[index * width + j] }
      }
    }
    let groupLabels = labels.map { column -> [Float] in
      let tasks = count > 0 ? column.count / count : 0
      var out = [Float](repeating: 0, count: indices.count * tasks)
      for (row, index) in indices.enumerated() {
        for t in 0..<tasks { out[row * tasks + t] = column[index * tasks + t] }
      }
      return out
    }
    return MultiTaskData(
      inputs: Tensor(shape: [indices.count, width], scalars: x),
      labels: groupLabels)
  }
}
