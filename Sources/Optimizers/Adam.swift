import Autodiff
import Tensors

#if canImport(Glibc)
  import Glibc
#endif

/// Parameters that share a learning rate, a weight decay and a gradient-norm limit.
public struct ParameterGroup {
  public var parameters: [Variable]
  public var learningRate: Float
  public var weightDecay: Float
  /// When set, the group's gradients are rescaled to at most this total L2 norm before a step.
  public var maxGradientNorm: Float?

  public init(
    parameters: [Variable], learningRate: Float, weightDecay: Float = 0,
    maxGradientNorm: Float? = nil
  ) {
    self.parameters = parameters
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    self.maxGradientNorm = maxGradientNorm
  }
}

/// Adam (Kingma and Ba, ICLR 2015) with L2 weight decay added to the gradient, as
/// `torch.optim.Adam` applies it:
/// ```
/// g ← ∇ + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
/// θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
/// ```
/// A parameter without a gradient is skipped, as in PyTorch.
public final class Adam {
  public var groups: [ParameterGroup]
  /// Each group's learning rate at creation; schedules scale from these.
  public let initialLearningRates: [Float]
  public let beta1: Float
  public let beta2: Float
  public let epsilon: Float
  /// Each parameter's moments, in a class so that a step updates them in place.
  private var states: [ObjectIdentifier: AdamState] = [:]

  public init(
    groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
  ) {
    self.groups = groups
    self.initialLearningRates = groups.map(\.learningRate)
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
  }

  /// Clips each group's gradients to its norm limit, then updates every parameter that has a
  /// gradient.
  public func step() {
    for group in groups {
      if let limit = group.maxGradientNorm {
        clipGradientNorm(group.parameters, maxNorm: limit)
      }
      for parameter in group.parameters {
        guard let gradient = parameter.gradient else { continue }
        update(parameter, gradient: gradient, group: group)
      }
    }
  }

  /// Sets every group's learning rate to its initial value times `factor`.
  public func setLearningRateFactor(_ factor: Float) {
    for i in groups.indices { groups[i].learningRate = initialLearningRates[i] * factor }
  }

  private func update(_ parameter: Variable, gradient: Tensor, group: ParameterGroup) {
    let key = ObjectIdentifier(parameter)
    let count = parameter.value.count
    let state = states[key] ?? AdamState(count: count)
    states[key] = state
    state.steps += 1
    let t = state.steps
    let biasCorrection1 = 1 - powf(beta1, Float(t))
    let biasCorrection2Root = (1 - powf(beta2, Float(t))).squareRoot()
    adamUpdate(
      &parameter.value.scalars, gradient: gradient.scalars, firstMoment: &state.firstMoment,
      secondMoment: &state.secondMoment, stepSize: group.learningRate / biasCorrection1,
      secondMomentCorrection: biasCorrection2Root, weightDecay: group.weightDecay, beta1: beta1,
      beta2: beta2, epsilon: epsilon)
  }
}

/// Adam's running moments of one parameter and the number of steps taken.
private final class AdamState {
  var firstMoment: [Float]
  var secondMoment: [Float]
  var steps = 0

  init(count: Int) {
    firstMoment = [Float](repeating: 0, count: count)
    secondMoment = [Float](repeating: 0, count: count)
  }
}

/// Rescales the gradients of `parameters` so that their joint L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does (factor `maxNorm / (norm + 1e-6)` when below 1).
///
/// - Returns: the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
  var total = 0.0
  for parameter in parameters {
    guard let gradient = parameter.gradient else { continue }
    for g in gradient.scalars { total += Double(g) * Double(g) }
  }
  let norm = Float(total.squareRoot())
  let factor = maxNorm / (norm + 1e-6)
  if factor < 1 {
    for parameter in parameters { parameter.gradient?.scale(by: factor) }
  }
  return norm
}
