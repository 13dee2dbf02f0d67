import Autodiff
import BayesAggTestSupport
import Tensors
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Values computed once with PyTorch 2.13 (CPU) from the same exactly representable inputs;
/// the tests do not need Python.
@Suite("Convolutional operations: known answers and large tensors")
struct ConvolutionKnownAnswerTests {
  private func sequence(_ count: Int, _ f: (Int) -> Double) -> [Float] {
    (0..<count).map { Float(f($0)) }
  }

  private func expectClose(_ actual: [Float], _ expected: [Float], _ label: String) {
    BayesAggTestSupport.expectClose(
      actual.map(Double.init), shape: [actual.count], expected.map(Double.init),
      shape: [expected.count], tolerance: Tolerance(relative: 1e-6, absolute: 1e-6), label)
  }

  @Test("conv2d with reflect padding 1 and stride 2 matches torch.nn.Conv2d")
  func reflectConvolution() {
    let x = Tensor(shape: [1, 2, 5, 4], scalars: sequence(40) { Double(($0 * 7) % 11 - 5) / 4 })
    let w = Tensor(shape: [3, 2, 3, 3], scalars: sequence(54) { Double(($0 * 5) % 13 - 6) / 8 })
    let b = Tensor(shape: [3], scalars: [0.5, -0.25, 1])
    let y = Variable(x).conv2d(
      weight: Variable(w), bias: Variable(b), stride: 2, padding: 1, paddingMode: .reflect)
    #expect(y.shape == [1, 3, 3, 2])
    expectClose(
      y.value.scalars,
      [
        1.03125, 3.78125, -0.84375, 0.1875, 0.09375, 0.09375, 0.09375, -0.5, -1.0625, -3.375, 1.0,
        -2.6875, -0.0625, 0.46875, -0.5, -1.6875, 1.875, -1.03125,
      ], "conv2d")
  }

  @Test("max pool 3, stride 2, padding 1 matches torch.nn.functional.max_pool2d")
  func paddedMaxPool() {
    let x = Tensor(
      shape: [1, 2, 5, 6], scalars: sequence(60) { Double(($0 * 37) % 101) / 10 - 5 })
    let (y, argmax) = x.maxPooled(kernelSize: 3, stride: 2, padding: 1)
    #expect(y.shape == [1, 2, 3, 3])
    expectClose(
      y.scalars,
      [
        0.699999988079071, 4.400000095367432, 3.4000000953674316, 4.699999809265137,
        4.699999809265137, 3.700000047683716, 4.699999809265137, 4.699999809265137, 4.0, 5.0,
        4.300000190734863, 3.299999952316284, 4.599999904632568, 4.599999904632568,
        3.5999999046325684, 4.599999904632568, 4.599999904632568, 3.9000000953674316,
      ], "max pool")
    #expect(argmax == [7, 8, 5, 19, 19, 16, 19, 19, 27, 0, 8, 5, 19, 19, 16, 19, 19, 27])
  }

  @Test("max pool sends the gradient to the first maximum on ties")
  func maxPoolTies() {
    let x = Variable(Tensor(shape: [1, 1, 2, 2], scalars: [1, 3, 3, 2]), requiresGradient: true)
    x.maxPool2d(kernelSize: 2).backward()
    #expect(x.gradient?.scalars == [0, 1, 0, 0])
  }

  @Test("batch norm in training mode matches torch.nn.BatchNorm2d, with unbiased variance")
  func batchNormForward() {
    let x = Tensor(
      shape: [3, 2, 2, 2],
      scalars: sequence(24) { Double(($0 * 7) % 11 - 5) / 4 + Double($0 % 3) * 0.5 })
    let (y, mean, variance) = Variable(x).batchNormalized(
      scale: Variable(Tensor(shape: [2], scalars: [1.5, -0.5])),
      shift: Variable(Tensor(shape: [2], scalars: [0.25, 2])))
    expectClose(
      y.value.scalars,
      [
        -2.521517753601074, 1.523400068283081, 0.6245294809341431, 1.9728354215621948,
        1.9369261264801025, 2.239680290222168, 1.7855491638183594, 2.0883030891418457,
        -0.2743411958217621, 1.0739648342132568, 0.1750941276550293, -0.7237765192985535,
        2.0883030891418457, 2.391057252883911, 1.0286641120910645, 2.239680290222168,
        -0.7237765192985535, 3.321141481399536, -0.2743411958217621, -1.1732118129730225,
        1.3314180374145508, 2.5424342155456543, 2.8451883792877197, 1.4827951192855835,
      ], "batch norm output")
    expectClose(mean, [0.2916666567325592, 0.6458333134651184], "batch mean")
    expectClose(variance, [0.759469747543335, 0.743844747543335], "unbiased variance")
  }

  @Test("ELU's negative branch is within one ulp of expm1f, from −∞ to 0")
  func eluAgainstExpm1f() {
    var xs: [Float] = [
      0, -0.0, -.leastNonzeroMagnitude, -.leastNormalMagnitude, -1e-30, -.infinity,
    ]
    var x: Float = -1e-12
    while x > -120 {
      xs.append(x)
      x *= 1.0137
    }
    let y = Tensor(shape: [xs.count], scalars: xs).elu(alpha: 1)
    var worst = 0
    for (value, result) in zip(xs, y.scalars) {
      let error = ulps(result, expm1f(value))
      if error > worst { worst = error }
      #expect(error <= 1, "elu(\(value)) = \(result), expm1f gives \(expm1f(value))")
    }
    #expect(Tensor(shape: [1], scalars: [.nan]).elu().scalars[0].isNaN)
  }

  @Test("parallel element-wise kernels equal scalar loops on large tensors")
  func largeElementwise() {
    var generator = RandomGenerator(seed: 5)
    let shape = [3, 5, 97, 101]
    let a = Tensor.randomNormal(shape: shape, using: &generator)
    let b = Tensor.randomNormal(shape: shape, using: &generator)
    let bias = Tensor.randomNormal(shape: [5, 1, 1], using: &generator)
    let plane = 97 * 101
    #expect((a + b).scalars == zip(a.scalars, b.scalars).map { $0 + $1 })
    #expect((a * b).scalars == zip(a.scalars, b.scalars).map { $0 * $1 })
    #expect(
      (a - bias).scalars == a.scalars.indices.map { a.scalars[$0] - bias.scalars[$0 / plane % 5] })
    #expect(
      (bias - a).scalars == a.scalars.indices.map { bias.scalars[$0 / plane % 5] - a.scalars[$0] })
    var sum = a
    sum.add(b)
    #expect(sum == a + b)
    #expect(a.relu().scalars == a.scalars.map { max($0, 0) })
    #expect(zip(a.elu().scalars, a.scalars).allSatisfy { ulps($0, $1 > 0 ? $1 : expm1f($1)) <= 1 })
    let y = a.elu()
    let expected = a.scalars.indices.map { i in
      a.scalars[i] > 0 ? b.scalars[i] : b.scalars[i] * (y.scalars[i] + 1)
    }
    #expect(a.eluPullback(b, output: y).scalars == expected)
    let channelTotals = a.summed(toShape: [5, 1, 1]).scalars
    for c in 0..<5 {
      var total = 0.0
      for n in 0..<3 {
        for j in 0..<plane { total += Double(a.scalars[(n * 5 + c) * plane + j]) }
      }
      #expect(abs(Double(channelTotals[c]) - total) < 1e-2)
    }
  }
}

/// How many representable floats lie between `a` and `b` (same sign assumed).
func ulps(_ a: Float, _ b: Float) -> Int {
  if a == b { return 0 }
  return abs(Int(a.bitPattern) - Int(b.bitPattern))
}
