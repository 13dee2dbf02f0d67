import Autodiff
import Tensors

/// A fully connected layer `y = x Wᵀ + b`, with `W` of shape `[out, in]` as in PyTorch.
public final class Linear: ParameterContainer {
  /// The weights, `[outputSize, inputSize]`. Replaced (not mutated) by optimisers.
  public var weight: Variable
  /// The bias, `[outputSize]`, or `nil` for a layer without one.
  public var bias: Variable?

  /// Creates a layer initialised as `torch.nn.Linear` is: weights and bias uniform on
  /// `[−1/√in, 1/√in)` (Kaiming-uniform with `a = √5`, He et al., ICCV 2015).
  ///
  /// - Precondition: positive sizes.
  public init(
    inputSize: Int, outputSize: Int, hasBias: Bool = true, using generator: inout RandomGenerator
  ) {
    precondition(inputSize > 0 && outputSize > 0, "Linear(\(inputSize) → \(outputSize))")
    let bound = 1 / Float(inputSize).squareRoot()
    weight = Variable(
      Tensor.randomUniform(
        shape: [outputSize, inputSize], lower: -bound, upper: bound, using: &generator),
      requiresGradient: true)
    bias =
      hasBias
      ? Variable(
        Tensor.randomUniform(shape: [outputSize], lower: -bound, upper: bound, using: &generator),
        requiresGradient: true)
      : nil
  }

  public var inputSize: Int { weight.shape[1] }
  public var outputSize: Int { weight.shape[0] }

  public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

  /// Applies the layer to a `[B, in]` batch.
  public func callAsFunction(_ x: Variable) -> Variable {
    let product = x.matmul(weight, transposeB: true)
    guard let bias else { return product }
    return product + bias
  }
}
