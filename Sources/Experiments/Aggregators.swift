import Aggregation
import Tensors

/// The gradient-aggregation rule of `method`.
///
/// - Precondition: `method.family == .gradientAggregation`.
func makeAggregator(_ method: Method, settings: MethodSettings) -> any JacobianAggregator {
  switch method {
  case .mgda: return MGDA()
  case .cagrad: return CAGrad(c: settings.cagradC)
  case .upgrad: return UPGrad()
  case .dualproj: return DualProj()
  default: return NotYetAvailable(name: method.displayName)
  }
}

/// Placeholder while the rules are merged.
struct NotYetAvailable: JacobianAggregator {
  var name: String
  mutating func aggregate(_ jacobian: Matrix, using generator: inout RandomGenerator) throws
    -> [Double]
  {
    throw AggregationError(method: name, "not available yet")
  }
}
