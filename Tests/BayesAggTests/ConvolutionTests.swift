import Autodiff
import BayesAggTestSupport
import Tensors
import Testing

/// A gradient case whose first input may be a shuffled grid of well-separated values, so that
/// max pooling has no ties and no near-ties that a finite-difference step could cross.
struct ConvolutionGradientCase: CustomStringConvertible, Sendable {
  let name: String
  let shapes: [[Int]]
  var distinctFirstInput = false
  let function: @Sendable ([Variable]) -> Variable
  var description: String { name }
}

/// `count` distinct values `0.05·π(i) − 0.025·count` for a fixed permutation π.
func shuffledGrid(_ shape: [Int]) -> Tensor {
  let count = shape.reduce(1, *)
  let scalars = (0..<count).map { i in
    Float((i * 7919) % count) * 0.05 - 0.025 * Float(count)
  }
  return Tensor(shape: shape, scalars: scalars)
}

private func conv(
  _ v: [Variable], stride: Int = 1, padding: Int = 0, mode: PaddingMode = .zeros
) -> Variable {
  v[0].conv2d(
    weight: v[1], bias: v.count > 2 ? v[2] : nil, stride: stride, padding: padding,
    paddingMode: mode)
}

let convolutionGradientCases: [ConvolutionGradientCase] = [
  .init(
    name: "conv 3×3, stride 1, zero padding, bias", shapes: [[2, 3, 5, 4], [4, 3, 3, 3], [4]]
  ) { conv($0, padding: 1) },
  .init(name: "conv 3×3, stride 2, reflect padding 2", shapes: [[1, 2, 7, 6], [3, 2, 3, 3]]) {
    conv($0, stride: 2, padding: 2, mode: .reflect)
  },
  .init(
    name: "conv 3×3, stride 2, zero padding, bias", shapes: [[2, 2, 6, 5], [3, 2, 3, 3], [3]]
  ) { conv($0, stride: 2, padding: 1) },
  .init(
    name: "conv 3×3, stride 1, reflect padding, bias", shapes: [[2, 2, 4, 5], [3, 2, 3, 3], [3]]
  ) { conv($0, padding: 1, mode: .reflect) },
  .init(name: "conv 1×1, no padding, bias", shapes: [[2, 3, 4, 5], [5, 3, 1, 1], [5]]) {
    conv($0)
  },
  .init(
    name: "conv 7×7, stride 2, reflect padding 3, bias",
    shapes: [[1, 2, 9, 8], [2, 2, 7, 7], [2]]
  ) { conv($0, stride: 2, padding: 3, mode: .reflect) },
  .init(name: "conv 7×7, stride 1, no padding", shapes: [[2, 1, 8, 7], [3, 1, 7, 7]]) { conv($0) },
  .init(name: "max pool 3, stride 3", shapes: [[2, 2, 7, 9]], distinctFirstInput: true) {
    $0[0].maxPool2d(kernelSize: 3)
  },
  .init(name: "max pool 3, stride 2, padding 1", shapes: [[2, 2, 6, 5]], distinctFirstInput: true) {
    $0[0].maxPool2d(kernelSize: 3, stride: 2, padding: 1)
  },
  .init(name: "global average pool", shapes: [[2, 3, 4, 5]]) { $0[0].globalAveragePool() },
  .init(name: "flattened", shapes: [[2, 3, 2, 2]]) { $0[0].flattened() * $0[0].flattened() },
  .init(name: "batch norm [B, C, H, W], training", shapes: [[4, 3, 2, 3], [3], [3]]) {
    $0[0].batchNormalized(scale: $0[1], shift: $0[2]).output
  },
  .init(name: "batch norm [B, C], training", shapes: [[5, 3], [3], [3]]) {
    $0[0].batchNormalized(scale: $0[1], shift: $0[2]).output
  },
  .init(name: "channel affine", shapes: [[2, 3, 2, 2]]) {
    $0[0].channelAffine(scale: [1.5, -0.5, 2], shift: [0.1, 0.2, -0.3])
  },
  .init(name: "conv, ELU, channel-bias add", shapes: [[2, 2, 6, 6], [3, 2, 3, 3], [3, 1, 1]]) {
    v in v[0].conv2d(weight: v[1], padding: 1, paddingMode: .reflect).elu() + v[2]
  },
  .init(name: "channel-bias add, bias first", shapes: [[3, 1, 1], [2, 3, 4, 4]]) { $0[0] - $0[1] },
]

@Suite("Convolutional operations")
struct ConvolutionTests {
  @Test("backward agrees with central differences", arguments: convolutionGradientCases)
  func gradientCheck(_ testCase: ConvolutionGradientCase) {
    var generator = RandomGenerator(seed: 23)
    var inputs = testCase.shapes.map { Tensor.randomNormal(shape: $0, using: &generator) }
    if testCase.distinctFirstInput { inputs[0] = shuffledGrid(testCase.shapes[0]) }
    let report = checkGradients(of: testCase.function, at: inputs, epsilon: 1e-2)
    #expect(report.checkedElements > 0)
    #expect(report.worstError < 2e-3, "\(testCase.name): \(report)")
  }

  /// Shapes for the im2col-versus-loops property; the last ones span several GEMM chunks.
  static let directCases:
    [(shape: [Int], weight: [Int], stride: Int, padding: Int, reflect: Bool)] = [
      ([2, 3, 5, 4], [4, 3, 3, 3], 1, 1, false),
      ([1, 2, 7, 6], [3, 2, 3, 3], 2, 2, true),
      ([3, 4, 6, 6], [2, 4, 1, 1], 1, 0, false),
      ([2, 2, 9, 8], [3, 2, 7, 7], 2, 3, true),
      ([2, 3, 8, 5], [2, 3, 2, 4], 3, 1, false),
      ([20, 2, 32, 32], [3, 2, 3, 3], 1, 1, true),
      ([40, 3, 12, 12], [5, 3, 5, 5], 2, 0, false),
      ([3, 300, 25, 25], [2, 300, 3, 3], 1, 1, false),
      ([2, 3, 24, 22], [2, 3, 3, 3], 2, 1, false),
      // Zero padding is left implicit: borders wider than a kernel offset, a stride-2 stem on
      // planes large enough for one GEMM per image, and a strided 1×1 projection.
      ([2, 2, 7, 6], [3, 2, 3, 3], 2, 2, false),
      ([2, 3, 64, 64], [4, 3, 7, 7], 2, 3, false),
      ([4, 6, 8, 8], [5, 6, 1, 1], 2, 0, false),
      ([3, 2, 5, 9], [2, 2, 3, 5], 1, 2, false),
    ]

  @Test("conv2d by im2col and sgemm equals the direct loops", arguments: 0..<directCases.count)
  func matchesDirectLoops(_ index: Int) {
    let c = Self.directCases[index]
    var generator = RandomGenerator(seed: UInt64(100 + index))
    let x = Tensor.randomNormal(shape: c.shape, using: &generator)
    let w = Tensor.randomNormal(shape: c.weight, using: &generator)
    let b = Tensor.randomNormal(shape: [c.weight[0]], using: &generator)
    let mode: PaddingMode = c.reflect ? .reflect : .zeros
    let fast = x.convolved(
      with: w, bias: b, stride: c.stride, padding: c.padding, paddingMode: mode)
    let slow = directConvolution(x, w, b, stride: c.stride, padding: c.padding, reflect: c.reflect)
    expectClose(
      fast.scalars.map(Double.init), shape: fast.shape, slow.scalars.map(Double.init),
      shape: slow.shape, tolerance: Tolerance(relative: 1e-5, absolute: 1e-4), "conv2d")
  }

  @Test("the conv2d pullback is the adjoint of the forward map", arguments: 0..<directCases.count)
  func pullbackIsAdjoint(_ index: Int) {
    // Without bias the convolution is bilinear: ⟨G, conv(x, w)⟩ = ⟨∂x, x⟩ = ⟨∂w, w⟩.
    let c = Self.directCases[index]
    var generator = RandomGenerator(seed: UInt64(200 + index))
    let x = Tensor.randomNormal(shape: c.shape, using: &generator)
    let w = Tensor.randomNormal(shape: c.weight, using: &generator)
    let mode: PaddingMode = c.reflect ? .reflect : .zeros
    let y = x.convolved(with: w, bias: nil, stride: c.stride, padding: c.padding, paddingMode: mode)
    let g = Tensor.randomNormal(shape: y.shape, using: &generator)
    let gradients = g.convolutionPullback(
      input: x, weight: w, stride: c.stride, padding: c.padding, paddingMode: mode,
      needInput: true, needWeight: true, needBias: true)
    let direct = dot(g, y)
    let scale = max(1, abs(direct))
    #expect(abs(dot(gradients.input!, x) - direct) / scale < 1e-4)
    #expect(abs(dot(gradients.weight!, w) - direct) / scale < 1e-4)
    #expect(
      abs(Double(gradients.bias!.sum()) - Double(g.sum())) / max(1, abs(Double(g.sum()))) < 1e-4)
  }
}

func dot(_ a: Tensor, _ b: Tensor) -> Double {
  zip(a.scalars, b.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// The convolution written as its definition, seven nested loops in `Double`.
func directConvolution(
  _ x: Tensor, _ w: Tensor, _ b: Tensor, stride: Int, padding: Int, reflect: Bool
) -> Tensor {
  let (batch, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
  let oh = (h + 2 * padding - kh) / stride + 1
  let ow = (wd + 2 * padding - kw) / stride + 1
  func source(_ i: Int, _ n: Int) -> Int? {
    if i >= 0 && i < n { return i }
    guard reflect else { return nil }
    return i < 0 ? -i : 2 * (n - 1) - i
  }
  var out = [Float](repeating: 0, count: batch * cout * oh * ow)
  for n in 0..<batch {
    for o in 0..<cout {
      for i in 0..<oh {
        for j in 0..<ow {
          var total = Double(b.scalars[o])
          for c in 0..<cin {
            for u in 0..<kh {
              guard let r = source(i * stride + u - padding, h) else { continue }
              for v in 0..<kw {
                guard let s = source(j * stride + v - padding, wd) else { continue }
                total +=
                  Double(w.scalars[((o * cin + c) * kh + u) * kw + v])
                  * Double(x.scalars[((n * cin + c) * h + r) * wd + s])
              }
            }
          }
          out[((n * cout + o) * oh + i) * ow + j] = Float(total)
        }
      }
    }
  }
  return Tensor(shape: [batch, cout, oh, ow], scalars: out)
}
