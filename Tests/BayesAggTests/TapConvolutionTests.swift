import Autodiff
import BayesAggTestSupport
import CKernels
import Tensors
import Testing

/// 2×2 planes under a 3×3 kernel with zero padding 1: batches of 1, odd and 32, channel counts
/// off the vector width, `Cin ≠ Cout`, with and without bias; then ResNet-18's last stage.
let tapCases: [WinogradCase] = [
  .init(input: [1, 3, 2, 2], outChannels: 5),
  .init(input: [3, 6, 2, 2], outChannels: 4, bias: false),
  .init(input: [1, 17, 2, 2], outChannels: 33),
  .init(input: [5, 20, 2, 2], outChannels: 7, bias: false),
  .init(input: [7, 48, 2, 2], outChannels: 24),
  .init(input: [32, 100, 2, 2], outChannels: 130, bias: false),
  .init(input: [32, 512, 2, 2], outChannels: 512, bias: false),
]

@Suite("Tap GEMMs for 3×3 convolutions of 2×2 planes")
struct TapConvolutionTests {
  @Test("forward, input and weight gradients equal im2col's", arguments: tapCases)
  func matchesIm2col(_ c: WinogradCase) {
    let fast = evaluate(c, .taps2x2, seed: 41)
    let reference = evaluate(c, .im2col, seed: 41)
    var errors = [
      ("output", relativeError(fast.output, reference.output)),
      ("input gradient", relativeError(fast.input!, reference.input!)),
      ("weight gradient", relativeError(fast.weight!, reference.weight!)),
    ]
    if c.bias { errors.append(("bias gradient", relativeError(fast.bias!, reference.bias!))) }
    for (name, error) in errors {
      #expect(error <= 1e-5, "\(c) \(name): relative error \(error)")
    }
  }

  @Test("forward equals the direct loops in Double", arguments: tapCases)
  func matchesDirectLoops(_ c: WinogradCase) {
    var generator = RandomGenerator(seed: 42)
    let x = Tensor.randomNormal(shape: c.input, using: &generator)
    let w = Tensor.randomNormal(shape: c.weight, using: &generator)
    let b = c.bias ? Tensor.randomNormal(shape: [c.outChannels], using: &generator) : nil
    let fast = ConvolutionAlgorithm.$forced.withValue(.taps2x2) {
      x.convolved(with: w, bias: b, padding: 1)
    }
    let bias = b ?? Tensor(zeros: [c.outChannels])
    let slow = directConvolution(x, w, bias, stride: 1, padding: 1, reflect: false)
    let error = relativeError(fast, slow)
    #expect(error <= 1e-5, "\(c): relative error \(error)")
  }

  @Test(
    "one gradient alone equals the same gradient computed with the other",
    arguments: [tapCases[0], tapCases[4]])
  func singleGradients(_ c: WinogradCase) {
    let both = evaluate(c, .taps2x2, seed: 43)
    let input = evaluate(c, .taps2x2, seed: 43, needWeight: false)
    let weight = evaluate(c, .taps2x2, seed: 43, needInput: false)
    #expect(input.weight == nil && weight.input == nil)
    let (sameInput, sameWeight) = (input.input == both.input, weight.weight == both.weight)
    #expect(sameInput)
    #expect(sameWeight)
  }

  @Test(
    "backward through Variable.conv2d agrees with central differences",
    arguments: [
      (WinogradCase(input: [8, 16, 2, 2], outChannels: 24), nil), (tapCases[3], .taps2x2),
    ] as [(WinogradCase, ConvolutionAlgorithm?)])
  func gradientCheck(_ c: WinogradCase, _ forced: ConvolutionAlgorithm?) {
    let g = ConvolutionGeometry(
      input: c.input, weight: c.weight, stride: 1, padding: 1, paddingMode: .zeros)
    #expect(forced != nil || g.algorithm == .taps2x2)
    var generator = RandomGenerator(seed: 44)
    let shapes = [c.input, c.weight] + (c.bias ? [[c.outChannels]] : [])
    let inputs = shapes.map { Tensor.randomNormal(shape: $0, using: &generator) }
    // Linear in each input: central differences have no truncation error.
    let report = ConvolutionAlgorithm.$forced.withValue(forced) {
      checkGradients(
        of: { v in v[0].conv2d(weight: v[1], bias: v.count > 2 ? v[2] : nil, padding: 1) },
        at: inputs, epsilon: 0.1)
    }
    #expect(report.checkedElements > 0)
    #expect(report.worstError < 2e-3, "\(c): \(report)")
  }

  @Test(
    "the filter copies are the transpose [Cout, Cin, 9] → [Cout, 9, Cin] and back, bit for bit",
    arguments: [1, 15, 16, 17, 33, 48, 100])
  func filterPacking(_ inChannels: Int) {
    // Distinct values, so that any misplaced float shows; filters 1 and 2 of 4 only.
    let (filters, size) = (4, 9 * inChannels)
    let w = (0..<filters * size).map { Float($0) + 0.5 }
    var packed = [Float](repeating: -1, count: w.count)
    var back = [Float](repeating: -1, count: w.count)
    bayesagg_taps_pack_weights(w, &packed, 1, 3, inChannels)
    bayesagg_taps_unpack_weights(packed, &back, 1, 3, inChannels)
    var (misplaced, touched) = (0, 0)
    for o in 0..<filters {
      for c in 0..<inChannels {
        for t in 0..<9 {
          let (source, target) = (o * size + 9 * c + t, o * size + t * inChannels + c)
          if o == 1 || o == 2 {
            if packed[target] != w[source] || back[source] != w[source] { misplaced += 1 }
          } else if packed[target] != -1 || back[source] != -1 {
            touched += 1
          }
        }
      }
    }
    #expect(misplaced == 0, "Cin \(inChannels): \(misplaced) floats misplaced")
    #expect(touched == 0, "Cin \(inChannels): \(touched) floats of other filters written")
  }

  @Test("the tap GEMMs apply only to 3×3, stride 1, zero padding 1 over 2×2 planes")
  func dispatch() {
    func geometry(
      _ input: [Int], _ out: Int, kernel: Int = 3, stride: Int = 1, padding: Int = 1,
      mode: PaddingMode = .zeros
    ) -> ConvolutionGeometry {
      ConvolutionGeometry(
        input: input, weight: [out, input[1], kernel, kernel], stride: stride,
        padding: padding, paddingMode: mode)
    }
    let stage4 = geometry([32, 512, 2, 2], 512)
    #expect(stage4.algorithm == .taps2x2)
    #expect(geometry([8, 16, 2, 2], 24).algorithm == .taps2x2)
    // Too few channels, too small a batch for the filters, or too few input channels.
    for g in [
      geometry([32, 8, 2, 2], 512), geometry([1, 16, 2, 2], 16), geometry([16, 512, 2, 2], 512),
      geometry([32, 64, 2, 2], 512),
    ] {
      #expect(g.admitsTaps2x2 && g.algorithm == .im2col, "\(g)")
    }
    let others = [
      geometry([32, 512, 2, 2], 512, mode: .reflect), geometry([32, 512, 2, 2], 512, padding: 2),
      geometry([32, 512, 2, 3], 512), geometry([32, 256, 4, 4], 256),
      geometry([32, 256, 4, 4], 512, stride: 2),
      geometry([32, 512, 2, 2], 512, kernel: 1, padding: 0),
    ]
    for g in others {
      #expect(!g.admitsTaps2x2 && g.algorithm != .taps2x2, "\(g)")
      // Forced where they do not apply, the measured choice stands.
      let measured = g.algorithm
      ConvolutionAlgorithm.$forced.withValue(.taps2x2) { #expect(g.algorithm == measured) }
    }
    for algorithm in [ConvolutionAlgorithm.im2col, .winograd, .winograd4x4] {
      ConvolutionAlgorithm.$forced.withValue(algorithm) { #expect(stage4.algorithm == algorithm) }
    }
  }

  @Test("the default path on ResNet-18's last stage is the tap GEMMs, bit for bit")
  func defaultRunsTaps() {
    let c = tapCases[6]
    // One OpenBLAS thread for all three, whose bits are compared (see `chainMatchesBlocks`).
    let (chosen, plain, reference) = BLASThreads.holdingOne {
      (
        evaluate(c, .taps2x2, seed: 45), evaluate(c, nil, seed: 45),
        evaluate(c, .im2col, seed: 45)
      )
    }
    let (sameAsTaps, sameAsIm2col) = (
      plain.output == chosen.output, plain.output == reference.output
    )
    #expect(sameAsTaps)
    #expect(!sameAsIm2col)
    #expect(plain.weight == chosen.weight && plain.input == chosen.input)
  }
}
