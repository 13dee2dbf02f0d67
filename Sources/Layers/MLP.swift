import Autodiff
import Tensors

/// A multi-layer perceptron backbone: `Linear → activation` for each hidden size. Its output is
/// the shared representation `h`.
public final class MLP: ParameterContainer {
  /// The layers in order.
  public let layers: [Linear]
  /// The nonlinearity after every layer, the last included.
  public let activation: Activation

  /// Creates the backbone `inputSize → hiddenSizes[0] → … → hiddenSizes.last`.
  ///
  /// - Precondition: at least one hidden size.
  public init(
    inputSize: Int, hiddenSizes: [Int], activation: Activation,
    using generator: inout RandomGenerator
  ) {
    precondition(!hiddenSizes.isEmpty, "an MLP backbone needs at least one layer")
    var layers: [Linear] = []
    var size = inputSize
    for hidden in hiddenSizes {
      layers.append(Linear(inputSize: size, outputSize: hidden, using: &generator))
      size = hidden
    }
    self.layers = layers
    self.activation = activation
  }

  /// The size of the representation.
  public var outputSize: Int { layers.last!.outputSize }

  public var parameters: [Variable] { layers.flatMap(\.parameters) }

  /// The representation of a `[B, inputSize]` batch.
  public func callAsFunction(_ x: Variable) -> Variable {
    layers.reduce(x) { h, layer in activation(layer(h)) }
  }
}

/// A shared backbone and one linear head per task group.
public final class MultiTaskModel: ParameterContainer {
  public let backbone: any Backbone
  public let heads: [Linear]

  public init(backbone: any Backbone, heads: [Linear]) {
    precondition(
      heads.allSatisfy { $0.inputSize == backbone.outputSize },
      "every head must read the \(backbone.outputSize)-d representation")
    self.backbone = backbone
    self.heads = heads
  }

  /// Switches batch normalisation between batch statistics (training) and running ones.
  public var isTraining: Bool {
    get { backbone.isTraining }
    set { backbone.isTraining = newValue }
  }

  /// The backbone's parameters: the ones every task shares.
  public var sharedParameters: [Variable] { backbone.parameters }
  /// The heads' parameters.
  public var headParameters: [Variable] { heads.flatMap(\.parameters) }
  public var parameters: [Variable] { sharedParameters + headParameters }
}
