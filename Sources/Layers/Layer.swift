import Autodiff
import Tensors

/// Something with trainable parameters.
public protocol ParameterContainer: AnyObject {
  /// The trainable leaves, in a fixed order.
  var parameters: [Variable] { get }
}

extension ParameterContainer {
  /// The total number of trainable scalars.
  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

  /// Clears every parameter's gradient.
  public func zeroGradients() {
    for parameter in parameters { parameter.zeroGradient() }
  }
}

/// A nonlinearity between layers.
public enum Activation: String, Sendable, CaseIterable {
  case relu
  case elu

  /// Applies the nonlinearity.
  public func callAsFunction(_ x: Variable) -> Variable {
    switch self {
    case .relu: x.relu()
    case .elu: x.elu()
    }
  }
}
