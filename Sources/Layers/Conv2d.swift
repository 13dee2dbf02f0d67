import Autodiff
import Foundation
import Tensors

/// A 2-D convolution over `[B, C, H, W]` batches, as `torch.nn.Conv2d` with square kernels.
public final class Conv2d: ParameterContainer {
  /// `[outChannels, inChannels, kernelSize, kernelSize]`.
  public var weight: Variable
  public var bias: Variable?
  public let stride: Int
  public let padding: Int
  public let paddingMode: PaddingMode
  /// The shape of the last input, for profiling.
  public private(set) var lastInputShape: [Int]?

  /// Creates a convolution with Kaiming-normal weights (He et al., ICCV 2015; `mode="fan_out"`,
  /// ReLU gain, as torchvision's ResNet initialises them): `N(0, 2 / (out · k²))`, and a zero
  /// bias.
  ///
  /// - Precondition: positive channel counts and kernel size, positive stride, padding ≥ 0.
  public init(
    inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    paddingMode: PaddingMode = .zeros, hasBias: Bool = true,
    using generator: inout RandomGenerator
  ) {
    precondition(
      inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
      "Conv2d(\(inChannels) → \(outChannels), k \(kernelSize), s \(stride), p \(padding))")
    let fanOut = Float(outChannels * kernelSize * kernelSize)
    weight = Variable(
      Tensor.randomNormal(
        shape: [outChannels, inChannels, kernelSize, kernelSize],
        standardDeviation: (2 / fanOut).squareRoot(), using: &generator),
      requiresGradient: true)
    bias = hasBias ? Variable(Tensor(zeros: [outChannels]), requiresGradient: true) : nil
    self.stride = stride
    self.padding = padding
    self.paddingMode = paddingMode
  }

  public var outChannels: Int { weight.shape[0] }
  public var kernelSize: Int { weight.shape[2] }

  /// Multiply-adds ×2 of one forward pass over an input of `shape` `[B, C, H, W]`.
  public func forwardFlops(inputShape shape: [Int]) -> Double {
    let outHeight = (shape[2] + 2 * padding - kernelSize) / stride + 1
    let outWidth = (shape[3] + 2 * padding - kernelSize) / stride + 1
    return 2 * Double(shape[0] * outHeight * outWidth * outChannels)
      * Double(weight.shape[1] * kernelSize * kernelSize)
  }
  public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

  /// Applies the convolution to `[B, inChannels, H, W]`.
  public func callAsFunction(_ x: Variable) -> Variable {
    lastInputShape = x.shape
    return x.conv2d(
      weight: weight, bias: bias, stride: stride, padding: padding, paddingMode: paddingMode)
  }

  /// This convolution as a block of `Variable.convolutionPoolingChain` (then max pooling over
  /// `poolSize` windows and ELU), for an input of `inputShape`, which profiling reads back.
  /// - Precondition: the convolution keeps the plane's size (stride 1, `2·padding + 1` wide).
  public func poolingBlock(inputShape: [Int], poolSize: Int, eluAlpha: Float = 1)
    -> ConvolutionPoolingBlock
  {
    precondition(
      stride == 1 && 2 * padding + 1 == kernelSize,
      "poolingBlock: the CIFAR-MTL network computes its shapes for size-preserving convolutions")
    lastInputShape = inputShape
    return ConvolutionPoolingBlock(
      weight: weight, bias: bias, stride: stride, padding: padding, paddingMode: paddingMode,
      poolSize: poolSize, eluAlpha: eluAlpha)
  }

  /// Applies the convolution and then max pooling over `poolSize` windows (stride
  /// `poolSize`) as one operation that never holds the whole convolution output.
  public func callAsFunction(_ x: Variable, maxPoolingOver poolSize: Int) -> Variable {
    lastInputShape = x.shape
    return x.conv2dMaxPooled(
      weight: weight, bias: bias, stride: stride, padding: padding, paddingMode: paddingMode,
      poolSize: poolSize)
  }
}

/// Batch normalisation over the channels of `[B, C, H, W]` (Ioffe and Szegedy, ICML 2015), as
/// `torch.nn.BatchNorm2d`: batch statistics in training, updating running statistics with
/// momentum 0.1 (the running variance from the unbiased batch variance); running statistics in
/// evaluation.
public final class BatchNorm2d: ParameterContainer {
  /// γ, `[C]`, initially 1.
  public var scale: Variable
  /// β, `[C]`, initially 0.
  public var shift: Variable
  public private(set) var runningMean: [Float]
  public private(set) var runningVariance: [Float]
  public let momentum: Float
  public let epsilon: Float
  public var isTraining = true

  public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
    precondition(channels > 0, "BatchNorm2d(\(channels))")
    scale = Variable(Tensor(repeating: 1, shape: [channels]), requiresGradient: true)
    shift = Variable(Tensor(zeros: [channels]), requiresGradient: true)
    runningMean = [Float](repeating: 0, count: channels)
    runningVariance = [Float](repeating: 1, count: channels)
    self.momentum = momentum
    self.epsilon = epsilon
  }

  public var parameters: [Variable] { [scale, shift] }

  /// Normalises `x`, then applies ReLU when `rectified` (in the same pass while training).
  public func callAsFunction(_ x: Variable, rectified: Bool = false) -> Variable {
    if isTraining {
      let result = x.batchNormalized(
        scale: scale, shift: shift, epsilon: epsilon, rectified: rectified)
      for c in runningMean.indices {
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * result.mean[c]
        runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * result.variance[c]
      }
      return result.output
    }
    let gamma = scale.value.scalars
    let beta = shift.value.scalars
    var a = [Float](repeating: 0, count: gamma.count)
    var b = a
    for c in gamma.indices {
      a[c] = gamma[c] / (runningVariance[c] + epsilon).squareRoot()
      b[c] = beta[c] - runningMean[c] * a[c]
    }
    let y = x.channelAffine(scale: a, shift: b)
    return rectified ? y.relu() : y
  }
}
