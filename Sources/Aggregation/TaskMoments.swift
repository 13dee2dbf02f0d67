import Foundation
import Tensors

/// The mean and variance of each task's gradient in the representation, per datum and per
/// dimension.
///
/// `mean` and `variance` are `[B, T·d]`: row `b` holds task 0's `d` values, then task 1's, and
/// so on (the row-major layout of a `[B, T, d]` array). A task whose label is missing for a
/// datum is absent: it gets zero weight in the aggregation.
public struct TaskMoments: Sendable {
  /// `E[g]`, `[B, T·d]`.
  public var mean: Matrix
  /// `Var[g]` before any floor or power, `[B, T·d]`.
  public var variance: Matrix
  /// `present[b · T + t]`: whether task `t` has a label for datum `b`.
  public var present: [Bool]
  /// The number of tasks `T`.
  public let taskCount: Int
  /// The representation size `d`.
  public let representationSize: Int
  /// Whether `mean` and `variance` are Monte-Carlo estimates from `Float` products. Their
  /// precision weights are then computed in `Float` too (`bayesagg_inverse_powers_float`,
  /// relative error about 1e-7 · (1 + |α ln v|)), far below the sampling error of about 1/√S;
  /// exact moments get weights within 2 ulp of `pow` in `Double`.
  public var isMonteCarloEstimate = false

  /// All-zero moments with every task absent.
  public init(batchSize: Int, taskCount: Int, representationSize: Int) {
    mean = Matrix(rows: batchSize, columns: taskCount * representationSize)
    variance = mean
    present = [Bool](repeating: false, count: batchSize * taskCount)
    self.taskCount = taskCount
    self.representationSize = representationSize
  }

  /// Moments whose `mean` and `variance` are left uninitialised, every task absent, for a
  /// caller that writes every element (zeros for the absent tasks) before any is read.
  ///
  /// This saves zero-filling two `[B, T·d]` arrays that are about to be overwritten (several
  /// megabytes for 20 binary outputs).
  init(uninitializedBatchSize batch: Int, taskCount: Int, representationSize: Int) {
    let count = batch * taskCount * representationSize
    func uninitialized() -> [Double] {
      [Double](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
    mean = Matrix(rows: batch, columns: taskCount * representationSize, scalars: uninitialized())
    variance = Matrix(
      rows: batch, columns: taskCount * representationSize, scalars: uninitialized())
    present = [Bool](repeating: false, count: batch * taskCount)
    self.taskCount = taskCount
    self.representationSize = representationSize
  }

  /// The batch size `B`.
  public var batchSize: Int { mean.rows }

  /// Marks task `t` present for datum `b`.
  public mutating func setPresent(_ b: Int, _ t: Int) { present[b * taskCount + t] = true }

  /// Whether task `t` has a label for datum `b`.
  public func isPresent(_ b: Int, task t: Int) -> Bool { present[b * taskCount + t] }

  /// `Σ_g = max(Var, floor)^α`, the variances the aggregation divides by, `[B, T·d]`.
  public func clampedVariance(power: Double, floor: Double) -> Matrix {
    variance.map { Foundation.pow(Swift.max($0, floor), power) }
  }
}
