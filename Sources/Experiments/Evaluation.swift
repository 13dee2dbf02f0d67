import Aggregation
import Autodiff
import Foundation
import Layers
import Tensors

/// Scores a model on a split, in batches, without keeping any graph.
struct Evaluator {
  let groups: [TaskGroupDescription]
  /// Per regression group, the full-data posterior mean `[O, d]` to predict with instead of the
  /// trained head (BayesAgg-MTL, as the seed evaluates); `nil` entries use the head.
  var regressionMeans: [Int: Matrix] = [:]

  func evaluate(_ model: MultiTaskModel, on data: MultiTaskData, batchSize: Int = 256)
    -> SplitMetrics
  {
    let taskCount = groups.reduce(0) { $0 + $1.kind.taskCount }
    var lossSums = [Double](repeating: 0, count: taskCount)
    var correct = [Int](repeating: 0, count: taskCount)
    var counts = [Int](repeating: 0, count: taskCount)
    var start = 0
    while start < data.count {
      let rows = Array(start..<min(start + batchSize, data.count))
      start += batchSize
      let batch = data.rows(rows)
      let h = Variable.withoutRecording { model.backbone(Variable(batch.inputs)).value }
      var task = 0
      for (g, group) in groups.enumerated() {
        let outputs = predictions(group: g, head: model.heads[g], h: h)
        accumulate(
          group.kind, outputs: outputs, labels: batch.labels[g], firstTask: task,
          lossSums: &lossSums, correct: &correct, counts: &counts)
        task += group.kind.taskCount
      }
    }
    var metrics: [TaskMetrics] = []
    var task = 0
    for group in groups {
      for name in group.taskNames {
        let n = counts[task]
        let loss = n > 0 ? lossSums[task] / Double(n) : 0
        switch group.kind {
        case .regression:
          metrics.append(
            TaskMetrics(
              task: name, kind: "regression", accuracy: nil, loss: loss,
              mse: loss, count: n))
        case .binary, .multiclass:
          let accuracy = n > 0 ? Double(correct[task]) / Double(n) : 0
          metrics.append(
            TaskMetrics(
              task: name, kind: group.kind.label, accuracy: accuracy,
              loss: loss, mse: nil, count: n))
        }
        task += 1
      }
    }
    return SplitMetrics(tasks: metrics)
  }

  /// The head's outputs `[B, O]`, or the posterior-mean predictions of a regression group.
  private func predictions(group g: Int, head: Linear, h: Tensor) -> Tensor {
    if let mean = regressionMeans[g] {
      let weights = Tensor(shape: [mean.rows, mean.columns], scalars: mean.scalars.map(Float.init))
      return matmul(h, weights, transposeB: true)
    }
    return head(Variable(h)).value
  }

  private func accumulate(
    _ kind: TaskGroupKind, outputs: Tensor, labels: [Float], firstTask: Int,
    lossSums: inout [Double], correct: inout [Int], counts: inout [Int]
  ) {
    let rows = outputs.shape[0]
    let width = outputs.shape[1]
    let z = outputs.scalars
    switch kind {
    case .regression(let outputCount), .binary(let outputCount):
      for b in 0..<rows {
        for o in 0..<outputCount {
          let y = labels[b * outputCount + o]
          guard !y.isNaN else { continue }
          let p = z[b * width + o]
          let t = firstTask + o
          counts[t] += 1
          if case .regression = kind {
            lossSums[t] += Double((p - y) * (p - y))
          } else {
            lossSums[t] += Double(max(p, 0) - p * y + log1pf(expf(-abs(p))))
            if (p > 0) == (y > 0.5) { correct[t] += 1 }
          }
        }
      }
    case .multiclass(let classes):
      let logProbabilities = logSoftmaxRows(outputs).scalars
      for b in 0..<rows {
        let y = labels[b]
        guard !y.isNaN else { continue }
        let label = Int(y)
        counts[firstTask] += 1
        lossSums[firstTask] -= Double(logProbabilities[b * classes + label])
        var best = 0
        for c in 1..<classes where z[b * width + c] > z[b * width + best] { best = c }
        if best == label { correct[firstTask] += 1 }
      }
    }
  }
}

extension TaskGroupKind {
  /// `binary`, `multiclass` or `regression`.
  public var label: String {
    switch self {
    case .regression: "regression"
    case .binary: "binary"
    case .multiclass: "multiclass"
    }
  }
}
