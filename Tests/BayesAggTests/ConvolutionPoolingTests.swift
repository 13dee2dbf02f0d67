import Autodiff
import BayesAggTestSupport
import Layers
import Tensors
import Testing

/// `expectClose` for two tensors, shapes included.
private func expectClose(
  _ got: Tensor, _ want: Tensor, tolerance: Tolerance, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  expectClose(
    got.scalars.map(Double.init), shape: got.shape, want.scalars.map(Double.init),
    shape: want.shape, tolerance: tolerance, label, sourceLocation: sourceLocation)
}

@Suite("Convolution fused with max pooling")
struct ConvolutionPoolingTests {
  /// Shapes of the fused op against `conv2d` then `maxPool2d`; the last two span several chunks
  /// (over 2²⁰ floats of transient buffers), the last in chunks of unequal size (23 and 22).
  /// The first pools with padding 1.
  static let cases:
    [(input: [Int], weight: [Int], padding: Int, reflect: Bool, pool: Int, poolStride: Int)] = [
      ([2, 3, 9, 8], [4, 3, 3, 3], 1, false, 3, 2),
      ([3, 2, 11, 10], [5, 2, 3, 3], 1, true, 3, 3),
      ([2, 3, 8, 9], [4, 3, 3, 3], 0, false, 2, 2),
      ([2, 2, 9, 9], [3, 2, 1, 1], 0, false, 3, 2),
      ([31, 3, 32, 32], [8, 3, 3, 3], 1, true, 3, 3),
      ([45, 6, 20, 20], [12, 6, 3, 3], 1, false, 3, 3),
    ]

  @Test("values and all three gradients equal conv2d followed by maxPool2d", arguments: 0..<6)
  func matchesUnfusedOperations(_ index: Int) {
    let c = Self.cases[index]
    var generator = RandomGenerator(seed: UInt64(300 + index))
    let x = Variable(Tensor.randomNormal(shape: c.input, using: &generator), requiresGradient: true)
    let w = Variable(
      Tensor.randomNormal(shape: c.weight, using: &generator), requiresGradient: true)
    let b = Variable(
      Tensor.randomNormal(shape: [c.weight[0]], using: &generator), requiresGradient: true)
    let mode: PaddingMode = c.reflect ? .reflect : .zeros
    func run(_ body: () -> Variable) -> [Tensor] {
      for v in [x, w, b] { v.zeroGradient() }
      let y = body()
      var seedGenerator = RandomGenerator(seed: 7)
      y.backward(seed: Tensor.randomNormal(shape: y.shape, using: &seedGenerator))
      return [y.value, x.gradient!, w.gradient!, b.gradient!]
    }
    let separate = run {
      x.conv2d(weight: w, bias: b, padding: c.padding, paddingMode: mode)
        .maxPool2d(kernelSize: c.pool, stride: c.poolStride, padding: index == 0 ? 1 : 0)
    }
    let fused = run {
      x.conv2dMaxPooled(
        weight: w, bias: b, padding: c.padding, paddingMode: mode, poolSize: c.pool,
        poolStride: c.poolStride, poolPadding: index == 0 ? 1 : 0)
    }
    for (name, (got, want)) in zip(["value", "∂x", "∂w", "∂b"], zip(fused, separate)) {
      expectClose(
        got, want, tolerance: Tolerance(relative: 1e-5, absolute: 1e-4), "case \(index) \(name)")
    }
  }

  @Test("ties go to the first element in row-major order and a NaN wins, as in maxPool2d")
  func tiesAndNaN() {
    // A 1×1 identity convolution hands the input to the pooling unchanged.
    let nan = Float.nan
    let plane: [Float] = [
      1, 5, 5, 0, 2, 2, 7, 7, 1,
      5, 3, 1, nan, 0, 2, 1, 7, 7,
      2, 2, 5, 1, nan, 2, 7, 1, 7,
      4, 4, 4, -1, -1, -1, 0, 0, 0,
      4, 4, 4, -1, -1, -1, 0, 0, 0,
      4, 4, 4, -1, -1, -2, 0, 0, -0.0,
    ]
    let x = Variable(Tensor(shape: [1, 1, 6, 9], scalars: plane), requiresGradient: true)
    let identity = Variable(Tensor(shape: [1, 1, 1, 1], scalars: [1]))
    let seed = Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
    func run(_ body: () -> Variable) -> (value: [Float], gradient: [Float]) {
      x.zeroGradient()
      let y = body()
      y.backward(seed: seed)
      return (y.value.scalars, x.gradient!.scalars)
    }
    let fused = run { x.conv2dMaxPooled(weight: identity, poolSize: 3) }
    let reference = run { x.maxPool2d(kernelSize: 3) }
    #expect(fused.value.map(\.bitPattern) == reference.value.map(\.bitPattern))
    #expect(fused.value[0] == 5 && fused.value[1].isNaN && fused.value[2] == 7)
    #expect(fused.gradient == reference.gradient)
    // The first 5 (row 0, column 1), the first NaN (row 1), the first 7 (row 0, column 6).
    #expect(fused.gradient[1] == 1 && fused.gradient[12] == 2 && fused.gradient[6] == 3)
  }

  @Test(
    "wide rows, whose windows are found by sliding maxima, break ties and NaNs alike",
    arguments: [(3, 33), (2, 34), (3, 48), (4, 40)])
  func wideRowTiesAndNaN(poolSize: Int, width: Int) {
    // Values from a small set, so most windows hold ties, some of them NaNs or signed zeros.
    var generator = RandomGenerator(seed: UInt64(width))
    let choices: [Float] = [0, -0.0, 1, 1, 2, .nan]
    let (planes, height) = (5, 2 * poolSize + 1)
    let values = (0..<(planes * height * width)).map { _ in
      choices[Int(generator.nextUniform() * Double(choices.count)) % choices.count]
    }
    // One channel per image and a 1×1 identity convolution, which hands each plane to the
    // pooling unchanged (a mixing of channels would spread the NaNs).
    let x = Variable(
      Tensor(shape: [planes, 1, height, width], scalars: values), requiresGradient: true)
    let identity = Variable(Tensor(shape: [1, 1, 1, 1], scalars: [1]))
    let pooled = [planes, 1, height / poolSize, width / poolSize]
    let seed = Tensor(
      shape: pooled, scalars: (0..<pooled.reduce(1, *)).map { Float($0 % 7 + 1) })
    func run(_ body: () -> Variable) -> (value: [UInt32], gradient: [Float]) {
      x.zeroGradient()
      let y = body()
      y.backward(seed: seed)
      return (y.value.scalars.map(\.bitPattern), x.gradient!.scalars)
    }
    let fused = run { x.conv2dMaxPooled(weight: identity, poolSize: poolSize) }
    let reference = run { x.maxPool2d(kernelSize: poolSize) }
    #expect(fused.value == reference.value, "k = \(poolSize), width \(width)")
    #expect(fused.gradient == reference.gradient, "k = \(poolSize), width \(width)")
  }

  @Test("backward agrees with central differences")
  func gradientCheck() {
    var generator = RandomGenerator(seed: 31)
    // Distinct, well-separated inputs and a positive weight keep the pooled maxima apart.
    let inputs = [
      shuffledGrid([2, 2, 7, 8]),
      Tensor.randomNormal(shape: [3, 2, 3, 3], using: &generator),
      Tensor.randomNormal(shape: [3], using: &generator),
    ]
    // ε = 4e-3: at 1e-3 the rounding of the Float sum alone put the worst element at 1.7e-3
    // (2.5e-3 with OpenBLAS's kernels without FMA); at 4e-3 it is 4–6e-4.
    let report = checkGradients(
      of: { v in
        v[0].conv2dMaxPooled(
          weight: v[1], bias: v[2], padding: 1, paddingMode: .reflect, poolSize: 2)
      }, at: inputs, epsilon: 4e-3)
    #expect(report.checkedElements > 0)
    #expect(report.worstError < 2e-3, "\(report)")
  }

  @Test("the graph keeps the input and a byte per pooled cell, not the convolution output")
  func keepsNoConvolutionOutput() {
    var generator = RandomGenerator(seed: 5)
    let x = Variable(Tensor.randomNormal(shape: [4, 3, 32, 32], using: &generator))
    let w = Variable(
      Tensor.randomNormal(shape: [16, 3, 3, 3], using: &generator), requiresGradient: true)
    let y = x.conv2dMaxPooled(weight: w, padding: 1, paddingMode: .reflect, poolSize: 3)
    let floats = x.value.count + w.value.count + y.value.count
    #expect(y.graphBytes() == 4 * floats + y.value.count)
    let unfused = x.conv2d(weight: w, padding: 1, paddingMode: .reflect).maxPool2d(kernelSize: 3)
    #expect(unfused.graphBytes() == 4 * (floats + 4 * 16 * 32 * 32))
  }

  @Test("the CIFAR-MTL network's fused blocks equal the seed's conv → ELU → pool")
  func networkBlockMatchesSeedOrder() {
    var generator = RandomGenerator(seed: 6)
    let layer = Conv2d(
      inChannels: 2, outChannels: 5, kernelSize: 3, padding: 1, paddingMode: .reflect,
      using: &generator)
    let x = Variable(
      Tensor.randomNormal(shape: [3, 2, 11, 10], using: &generator), requiresGradient: true)
    let seed = Tensor.randomNormal(shape: [3, 5, 3, 3], using: &generator)
    func run(_ block: (Variable) -> Variable) -> [Tensor] {
      layer.zeroGradients()
      x.zeroGradient()
      let y = block(x)
      y.backward(seed: seed)
      return [y.value, x.gradient!, layer.weight.gradient!, layer.bias!.gradient!]
    }
    let seedOrder = run { layer($0).elu().maxPool2d(kernelSize: 3) }
    let ours = run { layer($0, maxPoolingOver: 3).elu() }
    // One chunk: the same GEMMs and the same sums, so the results agree to the last bit.
    for (a, b) in zip(ours, seedOrder) { #expect(a == b) }
  }

  /// Three blocks as in the CIFAR-MTL network (the middle one without bias, zero padding) on
  /// `images` images, by the chain with `chunk` images per backward chunk and by the
  /// blocks one by one: value and every gradient.
  static func chainAndBlocks(images: Int, chunk: Int, inputNeedsGradient: Bool) -> (
    chain: [Tensor], blocks: [Tensor]
  ) {
    var generator = RandomGenerator(seed: 8)
    let x = Variable(
      Tensor.randomNormal(shape: [images, 2, 27, 28], using: &generator),
      requiresGradient: inputNeedsGradient)
    let layers = [(2, true, PaddingMode.reflect), (6, false, .zeros), (6, true, .reflect)].map {
      Conv2d(
        inChannels: $0.0, outChannels: 6, kernelSize: 3, padding: 1, paddingMode: $0.2,
        hasBias: $0.1, using: &generator)
    }
    let seed = Tensor.randomNormal(shape: [images, 6, 1, 1], using: &generator)
    func run(_ forward: () -> Variable) -> [Tensor] {
      for layer in layers { layer.zeroGradients() }
      x.zeroGradient()
      let y = forward()
      y.backward(seed: seed)
      return [y.value] + (inputNeedsGradient ? [x.gradient!] : [])
        + layers.flatMap { $0.parameters.map { $0.gradient! } }
    }
    let chain = run {
      var shape = x.shape
      let blocks = layers.map { layer in
        defer { shape = [shape[0], 6, shape[2] / 3, shape[3] / 3] }
        return layer.poolingBlock(inputShape: shape, poolSize: 3, eluAlpha: 0.7)
      }
      return x.convolutionPoolingChain(blocks, imagesPerChunk: chunk)
    }
    let separate = run {
      layers.reduce(x) { y, layer in layer(y, maxPoolingOver: 3).elu(alpha: 0.7) }
    }
    return (chain, separate)
  }

  @Test(
    "the streamed chain of blocks equals the blocks one by one, in values and gradients",
    arguments: [(7, 3, true), (7, 7, false), (5, 2, false), (4, 16, true)])
  func chainMatchesBlocks(images: Int, chunk: Int, inputNeedsGradient: Bool) {
    // Bits are compared across two runs, so both run their GEMMs on one OpenBLAS thread: other
    // tests' aggregations lower the shared thread count while they run, and OpenBLAS can
    // round differently by thread count (its factorisations do; one CI run saw these differ).
    let (chain, blocks) = BLASThreads.holdingOne {
      Self.chainAndBlocks(images: images, chunk: chunk, inputNeedsGradient: inputNeedsGradient)
    }
    #expect(chain.count == blocks.count)
    // The forward pass is the same operations: the same bits.
    #expect(chain[0] == blocks[0])
    for (index, (got, want)) in zip(chain, blocks).enumerated().dropFirst() {
      #expect(got.shape == want.shape)
      // The parameters' gradients are sums over chunks in another order; one chunk of the
      // whole batch gives the blocks' own sums exactly.
      if chunk >= images {
        #expect(got == want, "gradient \(index)")
      } else {
        expectClose(
          got, want, tolerance: Tolerance(relative: 1e-5, absolute: 1e-5), "gradient \(index)")
      }
    }
  }

  @Test("the chain keeps each block's output and a byte per pooled cell, not the pooled values")
  func chainKeepsBlockOutputs() {
    var generator = RandomGenerator(seed: 9)
    let x = Variable(Tensor.randomNormal(shape: [3, 2, 27, 27], using: &generator))
    let layers = (0..<2).map { index in
      Conv2d(
        inChannels: index == 0 ? 2 : 4, outChannels: 4, kernelSize: 3, padding: 1,
        using: &generator)
    }
    let blocks = [
      layers[0].poolingBlock(inputShape: [3, 2, 27, 27], poolSize: 3),
      layers[1].poolingBlock(inputShape: [3, 4, 9, 9], poolSize: 3),
    ]
    let y = x.convolutionPoolingChain(blocks)
    #expect(y.shape == [3, 4, 3, 3])
    let parameters = layers.flatMap(\.parameters).reduce(0) { $0 + $1.value.count }
    let (first, second) = (3 * 4 * 9 * 9, 3 * 4 * 3 * 3)
    // Floats: input, parameters, block 1's output, the value; bytes: one per pooled cell.
    #expect(
      y.graphBytes() == 4 * (x.value.count + parameters + first + second) + first + second)
    let separate = layers.reduce(x) { $1($0, maxPoolingOver: 3).elu() }
    // Block by block, the pooled values before each ELU are nodes too.
    #expect(separate.graphBytes() == y.graphBytes() + 4 * (first + second))
  }

  @Test("ELU's pullback from its output equals the one from its input, bitwise, NaN included")
  func eluPullbackFromOutput() {
    var generator = RandomGenerator(seed: 10)
    let x = Tensor(
      shape: [1037],
      scalars: (0..<1030).map { _ in Float(generator.nextNormal() * 5) }
        + [0, -0, .nan, -.infinity, .infinity, 1e-30, -1e-30])
    let upstream = Tensor.randomNormal(shape: [1037], using: &generator)
    for alpha: Float in [1, 0.3] {
      let y = x.elu(alpha: alpha)
      let fromInput = x.eluPullback(upstream, output: y, alpha: alpha)
      let fromOutput = upstream.eluPullback(output: y, alpha: alpha)
      #expect(
        zip(fromInput.scalars, fromOutput.scalars).allSatisfy { $0.bitPattern == $1.bitPattern })
    }
  }
}
