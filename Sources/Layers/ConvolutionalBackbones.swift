import Autodiff
import Tensors

/// The seed's CIFAR-MTL network: three blocks of 3×3 convolution (padding 1, reflect) → ELU →
/// 3×3 max-pool, `width` channels each, then batch normalisation over the channels. The
/// flattened output is the representation (`width` values for 28×28 to 32×32 inputs).
public final class CifarMTLNet: Backbone {
  public let convolutions: [Conv2d]
  public let normalization: BatchNorm2d
  /// `[channels, height, width]` of one input.
  public let inputShape: [Int]
  public let outputSize: Int

  /// - Precondition: the input survives three 3×3 poolings (height and width ≥ 27).
  public init(inputShape: [Int], width: Int = 160, using generator: inout RandomGenerator) {
    precondition(inputShape.count == 3, "CifarMTLNet input shape [C, H, W], got \(inputShape)")
    var (height, breadth) = (inputShape[1], inputShape[2])
    var convolutions: [Conv2d] = []
    var channels = inputShape[0]
    for _ in 0..<3 {
      convolutions.append(
        Conv2d(
          inChannels: channels, outChannels: width, kernelSize: 3, padding: 1,
          paddingMode: .reflect, using: &generator))
      channels = width
      height /= 3
      breadth /= 3
    }
    precondition(height >= 1 && breadth >= 1, "input \(inputShape) is too small for 3 poolings")
    self.convolutions = convolutions
    normalization = BatchNorm2d(channels: width)
    self.inputShape = inputShape
    outputSize = width * height * breadth
  }

  public var isTraining: Bool {
    get { normalization.isTraining }
    set { normalization.isTraining = newValue }
  }

  public var parameters: [Variable] {
    convolutions.flatMap(\.parameters) + normalization.parameters
  }

  public func callAsFunction(_ x: Variable) -> Variable {
    let images = x.reshaped(to: [x.shape[0]] + inputShape)
    // ELU is increasing, so pooling first gives the seed's elu-then-pool exactly (the same
    // maxima, the same gradients) while ELU and its saved output cover a ninth of the cells.
    // The pooling is fused with the convolution, so its full output is never held, and the
    // three blocks are one operation whose backward pass streams chunks of images through
    // all of them, so no block's input gradient is held for the whole batch either.
    var shape = images.shape
    let blocks = convolutions.map { convolution in
      let block = convolution.poolingBlock(inputShape: shape, poolSize: 3)
      shape = [shape[0], convolution.outChannels, shape[2] / 3, shape[3] / 3]
      return block
    }
    let y = images.convolutionPoolingChain(blocks)
    let normalized = normalization(y)
    return normalized.reshaped(to: [x.shape[0], outputSize])
  }
}

/// A residual block of two 3×3 convolutions with batch normalisation (He, Zhang, Ren, Sun,
/// CVPR 2016), with a 1×1 projection on the skip path when the shape changes.
public final class BasicBlock: ParameterContainer {
  let conv1: Conv2d
  let norm1: BatchNorm2d
  let conv2: Conv2d
  let norm2: BatchNorm2d
  let projection: (Conv2d, BatchNorm2d)?

  public init(
    inChannels: Int, outChannels: Int, stride: Int, using generator: inout RandomGenerator
  ) {
    conv1 = Conv2d(
      inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride,
      padding: 1, hasBias: false, using: &generator)
    norm1 = BatchNorm2d(channels: outChannels)
    conv2 = Conv2d(
      inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1,
      hasBias: false, using: &generator)
    norm2 = BatchNorm2d(channels: outChannels)
    projection =
      stride != 1 || inChannels != outChannels
      ? (
        Conv2d(
          inChannels: inChannels, outChannels: outChannels, kernelSize: 1, stride: stride,
          hasBias: false, using: &generator),
        BatchNorm2d(channels: outChannels)
      ) : nil
  }

  var norms: [BatchNorm2d] { [norm1, norm2] + (projection.map { [$0.1] } ?? []) }
  var convolutions: [Conv2d] { [conv1, conv2] + (projection.map { [$0.0] } ?? []) }

  public var parameters: [Variable] {
    conv1.parameters + norm1.parameters + conv2.parameters + norm2.parameters
      + (projection.map { $0.0.parameters + $0.1.parameters } ?? [])
  }

  public func callAsFunction(_ x: Variable) -> Variable {
    let y = norm2(conv2(norm1(conv1(x), rectified: true)))
    let skip = projection.map { $0.1($0.0(x)) } ?? x
    return (y + skip).relu()
  }
}

/// ResNet-18 or ResNet-34 (He et al., CVPR 2016) with the seed's head: a 7×7 stride-2 stem,
/// max-pool, four stages (64, 128, 256, 512 channels), global average pooling, and a
/// 512 → `representationSize` linear layer with ELU as the representation.
public final class ResNet: Backbone {
  let stem: Conv2d
  let stemNorm: BatchNorm2d
  let blocks: [BasicBlock]
  let projection: Linear
  public let inputShape: [Int]
  public let outputSize: Int
  public var isTraining = true {
    didSet { for norm in norms { norm.isTraining = isTraining } }
  }

  /// - Parameter blocksPerStage: `[2, 2, 2, 2]` for ResNet-18, `[3, 4, 6, 3]` for ResNet-34.
  public init(
    inputShape: [Int], blocksPerStage: [Int], representationSize: Int = 256,
    using generator: inout RandomGenerator
  ) {
    precondition(inputShape.count == 3, "ResNet input shape [C, H, W], got \(inputShape)")
    stem = Conv2d(
      inChannels: inputShape[0], outChannels: 64, kernelSize: 7, stride: 2, padding: 3,
      hasBias: false, using: &generator)
    stemNorm = BatchNorm2d(channels: 64)
    var blocks: [BasicBlock] = []
    var channels = 64
    for (stage, count) in blocksPerStage.enumerated() {
      let width = 64 << stage
      for index in 0..<count {
        let stride = index == 0 && stage > 0 ? 2 : 1
        blocks.append(
          BasicBlock(
            inChannels: channels, outChannels: width, stride: stride, using: &generator))
        channels = width
      }
    }
    self.blocks = blocks
    projection = Linear(inputSize: channels, outputSize: representationSize, using: &generator)
    self.inputShape = inputShape
    outputSize = representationSize
  }

  /// ResNet-18: two blocks per stage.
  public static func resNet18(inputShape: [Int], using generator: inout RandomGenerator)
    -> ResNet
  {
    ResNet(inputShape: inputShape, blocksPerStage: [2, 2, 2, 2], using: &generator)
  }

  /// ResNet-34: 3, 4, 6 and 3 blocks.
  public static func resNet34(inputShape: [Int], using generator: inout RandomGenerator)
    -> ResNet
  {
    ResNet(inputShape: inputShape, blocksPerStage: [3, 4, 6, 3], using: &generator)
  }

  var norms: [BatchNorm2d] { [stemNorm] + blocks.flatMap(\.norms) }

  public var convolutions: [Conv2d] { [stem] + blocks.flatMap(\.convolutions) }

  public var parameters: [Variable] {
    stem.parameters + stemNorm.parameters + blocks.flatMap(\.parameters) + projection.parameters
  }

  public func callAsFunction(_ x: Variable) -> Variable {
    var y = x.reshaped(to: [x.shape[0]] + inputShape)
    y = stemNorm(stem(y), rectified: true).maxPool2d(kernelSize: 3, stride: 2, padding: 1)
    for block in blocks { y = block(y) }
    return projection(y.globalAveragePool()).elu()
  }
}
