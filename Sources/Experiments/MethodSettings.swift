import Aggregation

/// Where the gradient-aggregation rules take the Jacobian of the task losses.
public enum JacobianSpace: String, Sendable, Codable, CaseIterable {
  /// In the shared parameters: one backward pass through the backbone per task.
  case shared
  /// In the representation `h` (the "upper bound" variant of Sener and Koltun, 2018): the
  /// rows are `∂L_k/∂h`, flattened, and the combination is backpropagated once.
  case representation
}

/// The hyper-parameters of the comparison methods, with their papers' defaults.
public struct MethodSettings: Sendable, Codable, Equatable {
  /// Gradient aggregation: the Jacobian's space.
  public var jacobianSpace: JacobianSpace = .shared
  /// DWA's temperature `T`.
  public var dwaTemperature: Double = 2
  /// CAGrad's radius `c`.
  public var cagradC: Double = 0.4
  /// Nash-MTL's bound on the norm of the combined gradient.
  public var nashMaxNorm: Double = 1
  /// How many steps Nash-MTL keeps its weights before solving for new ones.
  public var nashUpdateEvery: Int = 1
  /// FAMO's learning rate for its task logits.
  public var famoLearningRate: Double = 0.025
  /// FAMO's L2 decay γ of its task logits.
  public var famoDecay: Double = 1e-3
  /// GradVac's EMA rate β of the similarity targets.
  public var gradVacBeta: Double = 0.5
  /// Aligned-MTL's scale: `min`, `median` or `mean` of the kept eigenvalues.
  public var alignedScale: String = "min"

  public init() {}

  /// Checks the ranges.
  ///
  /// - Throws: `ExperimentError` naming the option.
  public func validate() throws {
    func require(_ condition: Bool, _ message: String) throws {
      if !condition { throw ExperimentError(message) }
    }
    try require(
      dwaTemperature > 0 && dwaTemperature.isFinite,
      "--dwa-temperature must be positive (got \(dwaTemperature))")
    try require(cagradC >= 0 && cagradC.isFinite, "--cagrad-c must be ≥ 0 (got \(cagradC))")
    try require(
      nashMaxNorm >= 0 && nashMaxNorm.isFinite,
      "--nash-max-norm must be ≥ 0 (0 turns the bound off; got \(nashMaxNorm))")
    try require(
      nashUpdateEvery >= 1, "--nash-update-every must be at least 1 (got \(nashUpdateEvery))")
    try require(
      famoLearningRate > 0 && famoLearningRate.isFinite,
      "--famo-lr must be positive (got \(famoLearningRate))")
    try require(famoDecay >= 0 && famoDecay.isFinite, "--famo-decay must be ≥ 0 (got \(famoDecay))")
    try require(
      gradVacBeta > 0 && gradVacBeta <= 1, "--gradvac-beta must be in (0, 1] (got \(gradVacBeta))")
    try require(
      AlignedMTL.ScaleMode(rawValue: alignedScale) != nil,
      "--aligned-mtl-scale must be min, median or mean (got \(alignedScale))")
  }
}

/// The loss-weighting rule of `method`.
///
/// - Precondition: `method.family == .lossWeighting`.
func makeLossWeighting(_ method: Method, settings: MethodSettings, learningRate: Double)
  -> any LossWeighting
{
  switch method {
  case .ls: return LinearScalarization()
  case .si: return ScaleInvariantWeighting()
  case .rlw: return RandomLossWeighting()
  case .dwa: return DynamicWeightAverage(temperature: settings.dwaTemperature)
  case .uw: return UncertaintyWeighting(learningRate: learningRate)
  case .famo: return FAMO(learningRate: settings.famoLearningRate, decay: settings.famoDecay)
  default: preconditionFailure("\(method) is not a loss-weighting method")
  }
}
