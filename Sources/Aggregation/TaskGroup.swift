import Tensors

/// The kind of a task group: what its head predicts and which loss it trains with.
///
/// Tasks in the aggregation: each regression output and each binary output is one task; a
/// multiclass group is one task.
public enum TaskGroupKind: Sendable, Equatable {
  /// `outputs` real targets, squared error `(y − wᵀh)²` each.
  case regression(outputs: Int)
  /// `outputs` independent binary targets in {0, 1}, sigmoid and binary cross-entropy each.
  case binary(outputs: Int)
  /// One target among `classes`, softmax and cross-entropy.
  case multiclass(classes: Int)

  /// The number of rows of the head's weight (outputs, or classes).
  public var headOutputs: Int {
    switch self {
    case .regression(let outputs), .binary(let outputs): outputs
    case .multiclass(let classes): classes
    }
  }

  /// The number of label columns: one per output, or one class index.
  public var labelColumns: Int {
    switch self {
    case .regression(let outputs), .binary(let outputs): outputs
    case .multiclass: 1
    }
  }

  /// The number of tasks the group contributes to the aggregation.
  public var taskCount: Int { labelColumns }

  /// Whether the group's variances use `regressionPower` (else `classificationPower`).
  public var isRegression: Bool {
    if case .regression = self { return true }
    return false
  }
}

/// The last linear layer of one task group: logits (or predictions) `W h + b`.
public struct TaskHead: Sendable {
  /// `[O, d]`: one row per output or class.
  public var weight: Matrix
  /// `[O]`.
  public var bias: [Double]

  /// Creates a head from its weight `[O, d]` and bias `[O]`.
  ///
  /// - Precondition: `bias.count == weight.rows`.
  public init(weight: Matrix, bias: [Double]) {
    precondition(
      bias.count == weight.rows,
      "TaskHead: bias has \(bias.count) elements, weight has \(weight.rows) rows")
    self.weight = weight
    self.bias = bias
  }

  /// `W̃ = [W | b]`, shape `[O, d + 1]`, flattened row-major: the parameters as the posterior
  /// orders them.
  var parameters: [Double] {
    var result = [Double]()
    result.reserveCapacity(weight.rows * (weight.columns + 1))
    for o in 0..<weight.rows {
      result.append(contentsOf: weight.row(o))
      result.append(bias[o])
    }
    return result
  }
}

/// How the mean and variance of a classification task's gradient are computed.
public enum MomentMethod: Sendable, Equatable {
  /// Monte Carlo over posterior samples (the reference's method; the default).
  case monteCarlo
  /// Gauss–Hermite quadrature over the logit, for binary outputs and two-class groups; groups
  /// of more than two classes still use Monte Carlo.
  case quadrature
}

extension MomentMethod {
  /// Whether a group of `kind` computes its moments from `samples` posterior draws: every
  /// classification group under `.monteCarlo`; under `.quadrature` only groups of more than two
  /// classes (`BayesAggMTL.gradientMoments`).
  public func drawsSamples(for kind: TaskGroupKind) -> Bool {
    switch kind {
    case .regression: false
    case .binary: self == .monteCarlo
    case .multiclass(let classes): self == .monteCarlo || classes > 2
    }
  }
}

/// The hyper-parameters of BayesAgg-MTL.
public struct BayesAggConfiguration: Sendable, Equatable {
  /// The prior variance γ of every head parameter: prior `N(0, γI)`.
  public var gamma: Double
  /// The power α applied to regression tasks' variances, `v = max(σ², floor)^α`.
  public var regressionPower: Double
  /// The power α applied to classification tasks' variances.
  public var classificationPower: Double
  /// The number `S` of posterior samples for Monte-Carlo moments.
  public var samples: Int
  /// Monte Carlo (default) or quadrature for classification moments.
  public var momentMethod: MomentMethod
  /// The floor applied to variances before the power (1e-8 in the reference).
  public var varianceFloor: Double
  /// The number of Gauss–Hermite nodes for `.quadrature`.
  public var quadratureNodes: Int

  /// Creates a configuration.
  ///
  /// - Precondition: `gamma > 0`, powers `≥ 0`, `samples ≥ 1`, `varianceFloor > 0`,
  ///   `quadratureNodes ≥ 1`.
  public init(
    gamma: Double, regressionPower: Double, classificationPower: Double, samples: Int = 1024,
    momentMethod: MomentMethod = .monteCarlo, varianceFloor: Double = 1e-8,
    quadratureNodes: Int = 200
  ) {
    precondition(gamma > 0 && gamma.isFinite, "BayesAggConfiguration: gamma \(gamma) must be > 0")
    precondition(
      regressionPower >= 0 && classificationPower >= 0,
      "BayesAggConfiguration: powers \(regressionPower), \(classificationPower) must be ≥ 0")
    precondition(samples >= 1, "BayesAggConfiguration: samples \(samples) must be ≥ 1")
    precondition(varianceFloor > 0, "BayesAggConfiguration: varianceFloor must be > 0")
    precondition(quadratureNodes >= 1, "BayesAggConfiguration: quadratureNodes must be ≥ 1")
    self.gamma = gamma
    self.regressionPower = regressionPower
    self.classificationPower = classificationPower
    self.samples = samples
    self.momentMethod = momentMethod
    self.varianceFloor = varianceFloor
    self.quadratureNodes = quadratureNodes
  }
}

/// Bad data given to BayesAgg-MTL: non-finite features or weights, labels out of range.
public struct BayesAggError: Error, CustomStringConvertible, Sendable {
  /// Where the problem was found, e.g. `"representationGradient, task group 2"`.
  public var location: String
  /// What is wrong and how to fix it.
  public var message: String

  public var description: String { "BayesAgg-MTL, \(location): \(message)" }
}
