import Aggregation
import Optimizers

/// Every setting of one run, resolved: recipe defaults overridden by the user's options.
/// Written to `config.json` so that a run can be repeated.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
  public var recipe: String
  public var method: Method
  public var epochs: Int
  public var batchSize: Int
  public var learningRate: Float
  public var weightDecay: Float
  public var seed: UInt64
  /// Linear-scalarization epochs before the method takes over (the recipe proposes some for
  /// BayesAgg-MTL, none for the others).
  public var lsEpochs: Int
  /// BayesAgg-MTL's prior variance γ.
  public var gamma: Double
  /// BayesAgg-MTL's power α for regression tasks.
  public var regressionPower: Double
  /// BayesAgg-MTL's power α for classification tasks.
  public var classificationPower: Double
  /// Monte-Carlo samples S for classification moments.
  public var samples: Int
  /// `monte-carlo` or `quadrature` (binary outputs and two-class groups only).
  public var moments: String
  public var headMaxGradientNorm: Float?
  public var sharedMaxGradientNorm: Float?
  /// The shared network: `mlp`, `cnn`, `resnet18` or `resnet34`.
  public var backbone: BackboneKind
  /// The hidden sizes of an MLP backbone.
  public var hiddenSizes: [Int]
  /// Gauss–Hermite nodes for `quadrature` moments.
  public var quadratureNodes: Int = 200
  /// Where the data were read from, default folders resolved: the Fashion-MNIST folder and the
  /// repository's Data folder (`nil` for the one the recipe does not read).
  public var fashionDirectory: String?
  public var dataDirectory: String?
  /// The comparison methods' hyper-parameters.
  public var methodSettings = MethodSettings()
  /// Epochs (0-based) at whose start the learning rate drops ×0.1, or `nil` for the seed's
  /// milestones, 60% and 80% of `epochs` rounded down (`MultiStepSchedule.seedDefault`).
  public var learningRateMilestones: [Int]?

  /// The learning-rate schedule these settings give.
  public var schedule: MultiStepSchedule {
    learningRateMilestones.map { MultiStepSchedule(milestones: $0) }
      ?? .seedDefault(epochs: epochs)
  }

  /// The configuration a recipe proposes for `method`.
  public init(recipe: Recipe, method: Method, seed: UInt64 = 0) {
    let d = recipe.defaults
    self.recipe = recipe.name
    self.method = method
    epochs = d.epochs
    batchSize = d.batchSize
    learningRate = d.learningRate
    weightDecay = d.weightDecay
    self.seed = seed
    lsEpochs = method == .bayesagg ? d.lsEpochs : 0
    gamma = d.gamma
    regressionPower = d.regressionPower
    classificationPower = d.classificationPower
    samples = 1024
    moments = "monte-carlo"
    headMaxGradientNorm = d.headMaxGradientNorm
    sharedMaxGradientNorm = d.sharedMaxGradientNorm
    backbone = recipe.defaultBackbone
    hiddenSizes = recipe.hiddenSizes
    learningRateMilestones = d.learningRateMilestones
  }

  /// Checks ranges that the trainer relies on.
  ///
  /// - Throws: `ExperimentError` naming the bad setting and its allowed range.
  public func validate() throws {
    func require(_ condition: Bool, _ message: String) throws {
      if !condition { throw ExperimentError(message) }
    }
    try require(
      epochs >= 1 && epochs <= 1_000_000, "--epochs must be between 1 and 1000000 (got \(epochs))")
    try require(
      batchSize >= 1 && batchSize <= 1 << 24,
      "--batch-size must be between 1 and \(1 << 24) (got \(batchSize))")
    try require(
      learningRate > 0 && learningRate.isFinite,
      "--lr must be a positive number (got \(learningRate))")
    try require(
      weightDecay >= 0 && weightDecay.isFinite,
      "--weight-decay must be ≥ 0 (got \(weightDecay))")
    try require(lsEpochs >= 0, "--ls-epochs must be ≥ 0 (got \(lsEpochs))")
    try require(
      (learningRateMilestones ?? []).allSatisfy { $0 >= 0 },
      "--lr-milestones must list epochs ≥ 0 (got \(learningRateMilestones ?? []))")
    try require(gamma > 0 && gamma.isFinite, "--gamma must be a positive number (got \(gamma))")
    try require(
      regressionPower >= 0 && regressionPower.isFinite,
      "--alpha-regression must be ≥ 0 (got \(regressionPower))")
    try require(
      classificationPower >= 0 && classificationPower.isFinite,
      "--alpha-classification must be ≥ 0 (got \(classificationPower))")
    // A bound keeps the sizes of the sample buffers (draws × parameters, batch × draws) from
    // overflowing: --samples 9223372036854775807 trapped. 2^20 is 1024 times the seed's 1024.
    try require(
      samples >= 1 && samples <= 1 << 20,
      "--samples must be between 1 and \(1 << 20) (got \(samples))")
    try require(
      ["monte-carlo", "quadrature"].contains(moments),
      "--moments must be monte-carlo or quadrature (got \(moments))")
    try require(
      !hiddenSizes.isEmpty && hiddenSizes.allSatisfy { $0 >= 1 && $0 <= 65536 },
      "--hidden must list layer sizes between 1 and 65536 (got \(hiddenSizes))")
    try methodSettings.validate()
    try require(
      method == .ls || method == .stl || lsEpochs < epochs,
      "--ls-epochs (\(lsEpochs)) must be less than --epochs (\(epochs)), or \(method.displayName) "
        + "never runs: every epoch would be linear scalarization"
        + (method == .bayesagg
          ? " (the recipe proposes LS epochs for bayesagg; --ls-epochs 0 "
            + "turns them off)" : ""))
  }

  /// Checks the settings, and that the backbone fits the recipe's inputs.
  ///
  /// - Throws: `ExperimentError` naming the bad setting.
  public func validate(for recipe: Recipe) throws {
    try validate()
    let shape = recipe.inputShape
    guard backbone.isConvolutional else { return }
    guard shape.count == 3 else {
      throw ExperimentError(
        "--backbone \(backbone.rawValue) needs image inputs, but \(recipe.name) has rows of "
          + "\(recipe.train.featureCount) features; use --backbone mlp")
    }
    let smallest = backbone == .cnn ? 27 : 32
    guard shape[1] >= smallest, shape[2] >= smallest else {
      throw ExperimentError(
        "--backbone \(backbone.rawValue) needs images of at least \(smallest)×\(smallest), but "
          + "\(recipe.name) has \(shape[1])×\(shape[2]); use --backbone mlp")
    }
  }

  /// Writes every setting, unset ones as `null`, so that config.json lists them all.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(recipe, forKey: .recipe)
    try c.encode(method, forKey: .method)
    try c.encode(backbone, forKey: .backbone)
    try c.encode(hiddenSizes, forKey: .hiddenSizes)
    try c.encode(epochs, forKey: .epochs)
    try c.encode(batchSize, forKey: .batchSize)
    try c.encode(learningRate, forKey: .learningRate)
    try c.encode(weightDecay, forKey: .weightDecay)
    try c.encode(seed, forKey: .seed)
    try c.encode(lsEpochs, forKey: .lsEpochs)
    try c.encode(schedule.milestones, forKey: .learningRateMilestones)
    try c.encode(gamma, forKey: .gamma)
    try c.encode(regressionPower, forKey: .regressionPower)
    try c.encode(classificationPower, forKey: .classificationPower)
    try c.encode(samples, forKey: .samples)
    try c.encode(moments, forKey: .moments)
    try c.encode(quadratureNodes, forKey: .quadratureNodes)
    try c.encode(headMaxGradientNorm, forKey: .headMaxGradientNorm)
    try c.encode(sharedMaxGradientNorm, forKey: .sharedMaxGradientNorm)
    try c.encode(fashionDirectory, forKey: .fashionDirectory)
    try c.encode(dataDirectory, forKey: .dataDirectory)
    try c.encode(methodSettings, forKey: .methodSettings)
  }

  /// BayesAgg-MTL's settings.
  public var bayesAgg: BayesAggConfiguration {
    BayesAggConfiguration(
      gamma: gamma, regressionPower: regressionPower, classificationPower: classificationPower,
      samples: samples, momentMethod: moments == "quadrature" ? .quadrature : .monteCarlo,
      quadratureNodes: quadratureNodes)
  }
}
