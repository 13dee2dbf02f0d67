import Tensors

/// BayesAgg-MTL: Bayesian aggregation of task gradients in the shared representation.
///
/// Achituve, Diamant, Netzer, Chechik, Fetaya, "Bayesian Uncertainty for Gradient Aggregation
/// in Multi-Task Learning", ICML 2024. Each task group keeps a Gaussian posterior over its
/// last-layer parameters given the representation `h`; the posterior induces a distribution
/// over each task's gradient in `h`, per datum and dimension; tasks are combined by precision
/// weighting (`precisionWeightedAggregate`).
///
/// Use: at the first batch of each epoch, call `updateFullDataPosteriors` with the previous
/// epoch's detached features and labels; at every batch call `representationGradient` and
/// backpropagate its result from `h`. The heads' own gradients come from the summed task
/// losses, elsewhere.
///
/// Labels are `Double` matrices, one per group, NaN marking a missing label: regression
/// `[B, O]` values, binary `[B, O]` in {0, 1}, multiclass `[B, 1]` class indices.
public final class BayesAggMTL {
  /// The task groups, in the model's order.
  public let groups: [TaskGroupKind]
  /// The representation size `d`.
  public let representationSize: Int
  /// The hyper-parameters.
  public var configuration: BayesAggConfiguration
  /// Each group's full-data posterior, `nil` until `updateFullDataPosteriors` runs.
  public private(set) var fullDataPosteriors: [GroupPosterior?]
  /// The batch posteriors of the last `representationGradient` call.
  public private(set) var lastBatchPosteriors: [GroupPosterior] = []
  /// The gradient moments of the last `representationGradient` call, one per group.
  public private(set) var lastMoments: [TaskMoments] = []
  private var quadratureRule: GaussHermiteRule?

  /// Creates the aggregator with no full-data posterior (batch priors are `N(0, γI)`).
  ///
  /// - Precondition: at least one group, `d ≥ 1`, every group has at least one output and a
  ///   multiclass group at least two classes.
  public init(
    groups: [TaskGroupKind], representationSize d: Int, configuration: BayesAggConfiguration
  ) {
    precondition(!groups.isEmpty, "BayesAggMTL: no task groups")
    precondition(d >= 1, "BayesAggMTL: representation size \(d) must be ≥ 1")
    for (g, kind) in groups.enumerated() {
      switch kind {
      case .regression(let outputs), .binary(let outputs):
        precondition(outputs >= 1, "BayesAggMTL: group \(g) (\(kind)) has no outputs")
      case .multiclass(let classes):
        precondition(classes >= 2, "BayesAggMTL: group \(g) has \(classes) classes, needs ≥ 2")
      }
    }
    self.groups = groups
    self.representationSize = d
    self.configuration = configuration
    self.fullDataPosteriors = Array(repeating: nil, count: groups.count)
  }

  /// The total number of tasks `T` (regression outputs, binary outputs, multiclass groups).
  public var taskCount: Int { groups.reduce(0) { $0 + $1.taskCount } }

  /// Recomputes every group's full-data posterior from prior `N(0, γI)`.
  ///
  /// Classification posteriors are one Newton step from the current `heads`.
  /// - Parameters:
  ///   - features: The previous epoch's detached representations, `[n, d]`.
  ///   - labels: Their labels, one matrix per group (see the type's documentation).
  ///   - heads: The current heads, one per group (regression heads are not used).
  /// - Throws: `BayesAggError` for non-finite features or weights or invalid labels;
  ///   `LinearAlgebraError` if a precision does not factorise.
  /// - Precondition: shapes agree with the groups and with `d`.
  /// - Complexity: O(n · d²) per regression or binary output, O(n · K² · d² + K³d³) per
  ///   multiclass group.
  public func updateFullDataPosteriors(features: Matrix, labels: [Matrix], heads: [TaskHead])
    throws
  {
    try validate(features, labels: labels, heads: heads, caller: "updateFullDataPosteriors")
    fullDataPosteriors = try groups.indices.map { g in
      try posterior(
        group: g, features: features, labels: labels[g], head: heads[g], prior: nil,
        name: "full-data posterior of task group \(g)")
    }
  }

  /// The aggregated gradient of the task losses in the representation, `[B, d]`.
  ///
  /// Computes each group's batch posterior (prior: its full-data posterior, or `N(0, γI)`
  /// before the first one), the moments of each task's gradient, and their precision-weighted
  /// mean over tasks divided by `B`. Backpropagate the result from `h`.
  /// - Parameters:
  ///   - h: The detached representation, `[B, d]`.
  ///   - labels: One label matrix per group (see the type's documentation).
  ///   - heads: The current heads, one per group.
  ///   - generator: The source of Monte-Carlo draws.
  /// - Returns: `g`, `[B, d]`.
  /// - Throws: `BayesAggError` for non-finite `h` or weights or invalid labels;
  ///   `LinearAlgebraError` if a precision does not factorise.
  /// - Precondition: shapes agree with the groups and with `d`.
  /// - Complexity: regression O(B · d² + d³) per group; binary O(O · (S · B · d + d³));
  ///   multiclass O(S · K · d · (B + K · d) + K³d³).
  public func representationGradient(
    _ h: Matrix, labels: [Matrix], heads: [TaskHead], using generator: inout RandomGenerator
  ) throws -> Matrix {
    try validate(h, labels: labels, heads: heads, caller: "representationGradient")
    var posteriors: [GroupPosterior] = []
    var moments: [TaskMoments] = []
    var powers: [Double] = []
    for g in groups.indices {
      let (posterior, groupMoments) = try batchPosteriorAndMoments(
        group: g, h: h, labels: labels[g], head: heads[g], using: &generator)
      posteriors.append(posterior)
      moments.append(groupMoments)
      powers.append(
        groups[g].isRegression ? configuration.regressionPower : configuration.classificationPower)
    }
    lastBatchPosteriors = posteriors
    lastMoments = moments
    return precisionWeightedAggregate(
      moments, powers: powers, varianceFloor: configuration.varianceFloor)
  }

  /// The full-data posterior mean `[O, d]` of a regression group, `nil` before the first
  /// `updateFullDataPosteriors` or for a classification group.
  ///
  /// The reference evaluates regression tasks with this mean instead of the trained head.
  /// - Precondition: `group` is a valid index.
  public func regressionPosteriorMean(group: Int) -> Matrix? {
    precondition(groups.indices.contains(group), "regressionPosteriorMean: no group \(group)")
    guard case .regression(let posterior)? = fullDataPosteriors[group] else { return nil }
    return posterior.means
  }

  /// Forgets the full-data posteriors: batch priors go back to `N(0, γI)`.
  public func resetFullDataPosteriors() {
    fullDataPosteriors = Array(repeating: nil, count: groups.count)
  }

  // MARK: - Pieces

  /// The posterior of group `g` given `features` and `labels`, from `prior` or `N(0, γI)`.
  func posterior(
    group g: Int, features: Matrix, labels: Matrix, head: TaskHead, prior: GroupPosterior?,
    name: String
  ) throws -> GroupPosterior {
    let gamma = configuration.gamma
    switch groups[g] {
    case .regression:
      var regressionPrior: RegressionPosterior?
      if case .regression(let p)? = prior { regressionPrior = p }
      return .regression(
        try RegressionPosterior.fit(
          features: features, labels: labels, prior: regressionPrior, gamma: gamma, name: name))
    case .binary:
      var binaryPrior: [GaussianPosterior]?
      if case .binary(let p)? = prior { binaryPrior = p }
      return .binary(
        try binaryPosteriors(
          features: features, labels: labels, head: head, priors: binaryPrior, gamma: gamma,
          name: name))
    case .multiclass:
      var multiclassPrior: GaussianPosterior?
      if case .multiclass(let p)? = prior { multiclassPrior = p }
      return .multiclass(
        try multiclassPosterior(
          features: features, labels: labels, head: head, prior: multiclassPrior, gamma: gamma,
          name: name))
    }
  }

  /// Group `g`'s batch posterior (prior: its full-data posterior, or `N(0, γI)`) and the
  /// moments of each of its tasks' gradients in `h`.
  ///
  /// A binary group's Monte-Carlo moments are computed with its posteriors, each output's right
  /// after its own on the same worker (`binaryPosteriorsAndMonteCarloMoments`); every other
  /// case computes the posterior, then the moments.
  func batchPosteriorAndMoments(
    group g: Int, h: Matrix, labels: Matrix, head: TaskHead,
    using generator: inout RandomGenerator
  ) throws -> (GroupPosterior, TaskMoments) {
    let name = "batch posterior of task group \(g)"
    let samples = configuration.samples
    let quadrature = configuration.momentMethod == .quadrature
    if case .binary = groups[g], !quadrature {
      var priors: [GaussianPosterior]?
      if case .binary(let p)? = fullDataPosteriors[g] { priors = p }
      let (posteriors, moments) = try binaryPosteriorsAndMonteCarloMoments(
        h: h, labels: labels, head: head, priors: priors, gamma: configuration.gamma,
        name: name, samples: samples, using: &generator)
      return (.binary(posteriors), moments)
    }
    let posterior = try posterior(
      group: g, features: h, labels: labels, head: head, prior: fullDataPosteriors[g],
      name: name)
    switch posterior {
    case .regression(let p):
      return (posterior, p.gradientMoments(h: h, labels: labels))
    case .binary(let p):
      // By quadrature: Monte Carlo returned above.
      return (
        posterior,
        binaryQuadratureMoments(h: h, labels: labels, posteriors: p, rule: try rule())
      )
    case .multiclass(let p):
      let classes = p.mean.count / (h.columns + 1)
      if quadrature && classes == 2 {
        return (
          posterior,
          twoClassQuadratureMoments(h: h, labels: labels, posterior: p, rule: try rule())
        )
      }
      // Limitation: more than two classes need a (K − 1)-dimensional integral, so the
      // quadrature option falls back to Monte Carlo there.
      return (
        posterior,
        multiclassMonteCarloMoments(
          h: h, labels: labels, posterior: p, classes: classes, samples: samples,
          using: &generator)
      )
    }
  }

  private func rule() throws -> GaussHermiteRule {
    if let quadratureRule, quadratureRule.nodes.count == configuration.quadratureNodes {
      return quadratureRule
    }
    let rule = try GaussHermiteRule(count: configuration.quadratureNodes)
    quadratureRule = rule
    return rule
  }

  /// Checks shapes (precondition) and values (throws).
  private func validate(_ h: Matrix, labels: [Matrix], heads: [TaskHead], caller: String) throws {
    let (batch, d) = (h.rows, representationSize)
    precondition(
      h.columns == d, "\(caller): representation is \(h.rows)×\(h.columns), expected d = \(d)")
    precondition(
      labels.count == groups.count && heads.count == groups.count,
      "\(caller): \(labels.count) label matrices and \(heads.count) heads for \(groups.count) "
        + "groups")
    guard h.isFinite else {
      throw BayesAggError(
        location: caller,
        message: "the representation has NaN or infinite values; lower the learning rate or "
          + "check the inputs")
    }
    for (g, kind) in groups.enumerated() {
      let (label, head) = (labels[g], heads[g])
      precondition(
        label.rows == batch && label.columns == kind.labelColumns,
        "\(caller): group \(g) (\(kind)) labels are \(label.rows)×\(label.columns), expected "
          + "\(batch)×\(kind.labelColumns)")
      precondition(
        head.weight.rows == kind.headOutputs && head.weight.columns == d,
        "\(caller): group \(g) (\(kind)) head weight is \(head.weight.rows)×"
          + "\(head.weight.columns), expected \(kind.headOutputs)×\(d)")
      guard head.weight.isFinite && head.bias.allSatisfy({ $0.isFinite }) else {
        throw BayesAggError(
          location: "\(caller), task group \(g)",
          message: "the head's weights or bias have NaN or infinite values")
      }
      for (i, y) in label.scalars.enumerated() where !y.isNaN {
        let valid: Bool
        switch kind {
        case .regression: valid = y.isFinite
        case .binary: valid = y == 0 || y == 1
        case .multiclass(let classes):
          valid = y >= 0 && y < Double(classes) && y == y.rounded()
        }
        guard valid else {
          throw BayesAggError(
            location: "\(caller), task group \(g)",
            message: "label \(y) at row \(i / label.columns), column \(i % label.columns) is "
              + "not valid for \(kind) (use NaN for a missing label)")
        }
      }
    }
  }
}
