import Autodiff
import BayesAggTestSupport
import Layers
import Tensors
import Testing

/// A 3×3 stride-1 convolution to compute both ways.
struct WinogradCase: CustomStringConvertible, Sendable {
  let input: [Int]
  let outChannels: Int
  var padding = 1
  var mode = PaddingMode.zeros
  var bias = true
  var description: String {
    "\(input) → \(outChannels), p \(padding) \(mode)\(bias ? ", bias" : "")"
  }
  var weight: [Int] { [outChannels, input[1], 3, 3] }
}

/// `max |a − e| / max |e|`: the worst error relative to the largest reference element.
///
/// Each output sums `9·Cin` products; both algorithms round every partial sum, so an
/// element's rounding error scales with the magnitude of those sums, not with the element
/// itself (which can cancel to nearly zero). The largest element stands for that scale.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
  precondition(actual.shape == expected.shape, "\(actual.shape) vs \(expected.shape)")
  var (error, scale) = (0.0, 0.0)
  for (a, e) in zip(actual.scalars, expected.scalars) {
    error = max(error, abs(Double(a) - Double(e)))
    scale = max(scale, abs(Double(e)))
  }
  return actual.scalars.contains { $0.isNaN } ? .infinity : error / max(scale, 1e-30)
}

/// The bound of `relativeError` between Winograd and im2col or the direct loops.
///
/// F(2×2, 3×3): about 100 times `Float`'s unit roundoff (6·10⁻⁸); the worst seen on these cases
/// is near 10⁻⁶. F(4×4, 3×3): its transforms scale the tile by up to 8 (`Aᵀ`) and 5 (`Bᵀ`) and
/// mix 36 products of both signs, so the rounding error of the sums grows by about an order of
/// magnitude; the worst seen on these cases is 1.1·10⁻⁵ (the forward pass of 256 channels of
/// 4×4), against 7·10⁻⁷ for F(2×2, 3×3).
func winogradTolerance(_ algorithm: ConvolutionAlgorithm) -> Double {
  algorithm == .winograd4x4 ? 1e-4 : 1e-5
}

/// Both Winograd algorithms, for parameterised tests.
let winogradAlgorithms: [ConvolutionAlgorithm] = [.winograd, .winograd4x4]

/// Odd, tiny and one-pixel planes, batches of 1 and 3, both paddings, with and without bias,
/// `Cin ≠ Cout`, channel counts off the vector width, padding 0 to 3; then ResNet-18's 3×3
/// stride-1 shapes at batch 32 (all but the 2×2 one choose Winograd; the 16×16 one spans two
/// chunks of images), CIFAR-MTL's, and chunks of unequal size; then planes up to 17×17 that
/// leave F(4×4, 3×3) partial tiles of every width, and padding 2 and 3 on larger planes.
let winogradCases: [WinogradCase] = [
  .init(input: [1, 3, 5, 7], outChannels: 4),
  .init(input: [3, 5, 5, 7], outChannels: 2, mode: .reflect, bias: false),
  .init(input: [3, 2, 3, 3], outChannels: 3, mode: .reflect),
  .init(input: [1, 4, 3, 3], outChannels: 9, bias: false),
  .init(input: [3, 4, 1, 1], outChannels: 6),
  .init(input: [1, 3, 2, 2], outChannels: 5, mode: .reflect, bias: false),
  .init(input: [3, 6, 2, 2], outChannels: 4),
  .init(input: [2, 6, 5, 7], outChannels: 5, padding: 0),
  .init(input: [2, 3, 4, 6], outChannels: 3, padding: 2, bias: false),
  .init(input: [2, 9, 7, 5], outChannels: 3, padding: 2, mode: .reflect),
  .init(input: [1, 3, 2, 3], outChannels: 2, padding: 3),
  .init(input: [3, 20, 9, 11], outChannels: 17, mode: .reflect),
  .init(input: [2, 16, 6, 6], outChannels: 24, bias: false),
  .init(input: [32, 64, 16, 16], outChannels: 64, bias: false),
  .init(input: [32, 128, 8, 8], outChannels: 128, bias: false),
  .init(input: [32, 256, 4, 4], outChannels: 256, bias: false),
  .init(input: [32, 512, 2, 2], outChannels: 512, bias: false),
  .init(input: [8, 160, 10, 10], outChannels: 160, mode: .reflect),
  .init(input: [8, 160, 3, 3], outChannels: 160, mode: .reflect),
  .init(input: [40, 64, 16, 16], outChannels: 48),
  .init(input: [2, 5, 17, 17], outChannels: 7, mode: .reflect),
  .init(input: [2, 8, 13, 11], outChannels: 3, padding: 0, bias: false),
  .init(input: [1, 6, 9, 10], outChannels: 6, padding: 3),
  .init(input: [3, 3, 6, 6], outChannels: 5, padding: 2, mode: .reflect),
  .init(input: [2, 17, 15, 9], outChannels: 33, bias: false),
]

/// The forward output and the three gradients of one case under `algorithm` (`nil`: the
/// automatic choice).
func evaluate(
  _ c: WinogradCase, _ algorithm: ConvolutionAlgorithm?, seed: UInt64,
  needInput: Bool = true, needWeight: Bool = true
) -> (output: Tensor, input: Tensor?, weight: Tensor?, bias: Tensor?) {
  var generator = RandomGenerator(seed: seed)
  let x = Tensor.randomNormal(shape: c.input, using: &generator)
  let w = Tensor.randomNormal(shape: c.weight, using: &generator)
  let b = c.bias ? Tensor.randomNormal(shape: [c.outChannels], using: &generator) : nil
  return ConvolutionAlgorithm.$forced.withValue(algorithm) {
    let y = x.convolved(with: w, bias: b, padding: c.padding, paddingMode: c.mode)
    let g = Tensor.randomNormal(shape: y.shape, using: &generator)
    let gradients = g.convolutionPullback(
      input: x, weight: w, stride: 1, padding: c.padding, paddingMode: c.mode,
      needInput: needInput, needWeight: needWeight, needBias: c.bias)
    return (y, gradients.input, gradients.weight, gradients.bias)
  }
}

@Suite("Winograd F(2×2, 3×3) and F(4×4, 3×3) convolutions")
struct WinogradTests {
  @Test(
    "forward, input and weight gradients equal im2col's",
    arguments: winogradAlgorithms, winogradCases)
  func matchesIm2col(_ algorithm: ConvolutionAlgorithm, _ c: WinogradCase) {
    let fast = evaluate(c, algorithm, seed: 31)
    let reference = evaluate(c, .im2col, seed: 31)
    let errors = [
      ("output", relativeError(fast.output, reference.output)),
      ("input gradient", relativeError(fast.input!, reference.input!)),
      ("weight gradient", relativeError(fast.weight!, reference.weight!)),
    ]
    let tolerance = winogradTolerance(algorithm)
    for (name, error) in errors {
      #expect(error < tolerance, "\(algorithm) \(c) \(name): relative error \(error)")
    }
    if c.bias {
      #expect(relativeError(fast.bias!, reference.bias!) < tolerance, "\(c) bias")
    }
  }

  @Test(
    "one gradient alone equals the same gradient computed with the other",
    arguments: winogradAlgorithms, [winogradCases[1], winogradCases[11], winogradCases[14]])
  func singleGradients(_ algorithm: ConvolutionAlgorithm, _ c: WinogradCase) {
    let both = evaluate(c, algorithm, seed: 32)
    let input = evaluate(c, algorithm, seed: 32, needWeight: false)
    let weight = evaluate(c, algorithm, seed: 32, needInput: false)
    #expect(input.weight == nil && weight.input == nil)
    let (sameInput, sameWeight) = (input.input == both.input, weight.weight == both.weight)
    #expect(sameInput)
    #expect(sameWeight)
  }

  @Test(
    "forward equals the direct loops in Double",
    arguments: winogradAlgorithms, winogradCases.prefix(13) + winogradCases.suffix(5))
  func matchesDirectLoops(_ algorithm: ConvolutionAlgorithm, _ c: WinogradCase) {
    var generator = RandomGenerator(seed: 33)
    let x = Tensor.randomNormal(shape: c.input, using: &generator)
    let w = Tensor.randomNormal(shape: c.weight, using: &generator)
    let b = Tensor.randomNormal(shape: [c.outChannels], using: &generator)
    let fast = ConvolutionAlgorithm.$forced.withValue(algorithm) {
      x.convolved(with: w, bias: b, padding: c.padding, paddingMode: c.mode)
    }
    let slow = directConvolution(
      x, w, b, stride: 1, padding: c.padding, reflect: c.mode == .reflect)
    let error = relativeError(fast, slow)
    #expect(error < winogradTolerance(algorithm), "\(algorithm) \(c): relative error \(error)")
  }

  @Test(
    "the Winograd pullback is the adjoint of the Winograd forward map",
    arguments: winogradAlgorithms)
  func pullbackIsAdjoint(_ algorithm: ConvolutionAlgorithm) {
    let cases = [winogradCases[2], winogradCases[9], winogradCases[11], winogradCases[20]]
    for c in cases + [winogradCases[23]] {
      var generator = RandomGenerator(seed: 34)
      let x = Tensor.randomNormal(shape: c.input, using: &generator)
      let w = Tensor.randomNormal(shape: c.weight, using: &generator)
      ConvolutionAlgorithm.$forced.withValue(algorithm) {
        let y = x.convolved(with: w, bias: nil, padding: c.padding, paddingMode: c.mode)
        let g = Tensor.randomNormal(shape: y.shape, using: &generator)
        let gradients = g.convolutionPullback(
          input: x, weight: w, stride: 1, padding: c.padding, paddingMode: c.mode,
          needInput: true, needWeight: true, needBias: false)
        let direct = dot(g, y)
        let scale = max(1, abs(direct))
        #expect(abs(dot(gradients.input!, x) - direct) / scale < 1e-5, "\(algorithm) \(c)")
        #expect(abs(dot(gradients.weight!, w) - direct) / scale < 1e-5, "\(algorithm) \(c)")
      }
    }
  }

  @Test(
    "backward through Variable.conv2d agrees with central differences where Winograd is chosen",
    arguments: [
      (WinogradCase(input: [4, 16, 8, 8], outChannels: 16, mode: .reflect), nil),
      (WinogradCase(input: [2, 16, 9, 15], outChannels: 24, bias: false), nil),
      (WinogradCase(input: [4, 16, 8, 8], outChannels: 16, mode: .reflect), .winograd),
      (WinogradCase(input: [2, 16, 9, 15], outChannels: 24, bias: false), .winograd),
      (WinogradCase(input: [2, 16, 7, 5], outChannels: 16, padding: 2), .winograd4x4),
    ] as [(WinogradCase, ConvolutionAlgorithm?)])
  func gradientCheck(_ c: WinogradCase, _ forced: ConvolutionAlgorithm?) {
    let g = ConvolutionGeometry(
      input: c.input, weight: c.weight, stride: 1, padding: c.padding, paddingMode: c.mode)
    // Unforced, these shapes have enough 4×4 tiles for F(4×4, 3×3) (see `winograd4x4Wins`).
    #expect(forced != nil || g.algorithm == .winograd4x4)
    var generator = RandomGenerator(seed: 35)
    let shapes = [c.input, c.weight] + (c.bias ? [[c.outChannels]] : [])
    let inputs = shapes.map { Tensor.randomNormal(shape: $0, using: &generator) }
    // The convolution is linear in each input, so central differences have no truncation
    // error and a wide step only shrinks the rounding noise of the 4096 summed outputs.
    let report = ConvolutionAlgorithm.$forced.withValue(forced) {
      checkGradients(
        of: { v in
          v[0].conv2d(
            weight: v[1], bias: v.count > 2 ? v[2] : nil, padding: c.padding,
            paddingMode: c.mode)
        }, at: inputs, epsilon: 0.1)
    }
    #expect(report.checkedElements > 0)
    #expect(report.worstError < 2e-3, "\(c): \(report)")
  }

  @Test(
    "ResNet-18 at batch 32 runs its 3×3 stride-1 convolutions by F(4×4, 3×3), F(2×2, 3×3) and taps")
  func resNetDispatch() {
    var generator = RandomGenerator(seed: 36)
    let network = ResNet.resNet18(inputShape: [3, 64, 64], using: &generator)
    _ = Variable.withoutRecording {
      network(Variable(Tensor.randomNormal(shape: [32, 3 * 64 * 64], using: &generator)))
    }
    var chosen: [ConvolutionAlgorithm: Int] = [:]
    for layer in network.convolutions {
      let shape = layer.lastInputShape!
      let g = ConvolutionGeometry(
        input: shape, weight: layer.weight.shape, stride: layer.stride,
        padding: layer.padding, paddingMode: layer.paddingMode)
      // The last stage's 2×2 planes take the tap GEMMs (see `taps2x2Wins`); the third stage's
      // 4×4 planes have 32 tiles of 4×4 for 256 channels (see `winograd4x4Wins`).
      let expected: ConvolutionAlgorithm =
        layer.kernelSize != 3 || layer.stride != 1
        ? .im2col : shape[2] == 2 ? .taps2x2 : shape[2] == 4 ? .winograd : .winograd4x4
      #expect(g.algorithm == expected, "\(g)")
      chosen[g.algorithm, default: 0] += 1
    }
    #expect(
      chosen[.winograd4x4] == 7 && chosen[.winograd] == 3 && chosen[.taps2x2] == 3, "\(chosen)")
  }

  @Test("CIFAR-MTL keeps its 3-channel first layer on im2col; a forced choice needs 3×3, stride 1")
  func cifarDispatch() {
    let first = ConvolutionGeometry(
      input: [128, 3, 32, 32], weight: [160, 3, 3, 3], stride: 1, padding: 1,
      paddingMode: .reflect)
    let later = ConvolutionGeometry(
      input: [128, 160, 10, 10], weight: [160, 160, 3, 3], stride: 1, padding: 1,
      paddingMode: .reflect)
    let last = ConvolutionGeometry(
      input: [128, 160, 3, 3], weight: [160, 160, 3, 3], stride: 1, padding: 1,
      paddingMode: .reflect)
    #expect(first.algorithm == .im2col)
    #expect(later.algorithm == .winograd4x4)
    #expect(last.algorithm == .winograd4x4)
    let strided = ConvolutionGeometry(
      input: [2, 64, 16, 16], weight: [128, 64, 3, 3], stride: 2, padding: 1,
      paddingMode: .zeros)
    for algorithm in winogradAlgorithms {
      ConvolutionAlgorithm.$forced.withValue(algorithm) {
        #expect(strided.algorithm == .im2col)
        #expect(first.algorithm == algorithm)
        #expect(last.algorithm == algorithm)
      }
    }
  }

  @Test(
    "the default path computes ResNet-18 shapes exactly as the forced chosen algorithm does",
    arguments: [(winogradCases[14], .winograd4x4), (winogradCases[15], .winograd)]
      as [(WinogradCase, ConvolutionAlgorithm)])
  func defaultRunsWinograd(_ c: WinogradCase, _ chosen: ConvolutionAlgorithm) {
    // The three algorithms round differently, so bitwise equality with one and not the others
    // shows which one ran.
    // One OpenBLAS thread for all four, whose bits are compared (see `chainMatchesBlocks`).
    let (automatic, other, plain, reference) = BLASThreads.holdingOne {
      let automatic = evaluate(c, chosen, seed: 37)
      let other = evaluate(c, chosen == .winograd ? .winograd4x4 : .winograd, seed: 37)
      let plain = ConvolutionAlgorithm.$forced.withValue(nil) {
        var generator = RandomGenerator(seed: 37)
        let x = Tensor.randomNormal(shape: c.input, using: &generator)
        let w = Tensor.randomNormal(shape: c.weight, using: &generator)
        return x.convolved(with: w, bias: nil, padding: c.padding, paddingMode: c.mode)
      }
      return (automatic, other, plain, evaluate(c, .im2col, seed: 37))
    }
    let (sameAsChosen, sameAsIm2col) = (plain == automatic.output, plain == reference.output)
    let sameAsOther = plain == other.output
    #expect(sameAsChosen)
    #expect(!sameAsIm2col)
    #expect(!sameAsOther)
  }
}
