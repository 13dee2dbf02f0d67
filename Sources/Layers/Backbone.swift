import Autodiff
import Tensors

/// The shared part of a multi-task network: maps a batch of inputs, one flattened example per
/// row, to the representation `h` of shape `[B, outputSize]`.
public protocol Backbone: ParameterContainer {
  /// The size `d` of the representation.
  var outputSize: Int { get }
  /// Whether batch statistics are used and updated (training) or running ones (evaluation).
  var isTraining: Bool { get set }
  /// The representation of a `[B, inputSize]` batch.
  func callAsFunction(_ x: Variable) -> Variable
  /// The convolution layers, for profiling.
  var convolutions: [Conv2d] { get }
}

extension Backbone {
  public var convolutions: [Conv2d] { [] }
}

extension MLP: Backbone {
  /// An MLP behaves the same in training and evaluation.
  public var isTraining: Bool {
    get { true }
    set {}
  }
}
