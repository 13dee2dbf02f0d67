import Autodiff
import Layers
import Optimizers
import Tensors
import Testing

@Suite("Layers and optimisers")
struct TrainingPiecesTests {
  @Test("Adam with weight decay matches torch.optim.Adam's update rule over two steps")
  func adamMatchesTorchRule() {
    let theta = Variable(Tensor(shape: [3], scalars: [1, -2, 0.5]), requiresGradient: true)
    let adam = Adam(groups: [
      ParameterGroup(
        parameters: [theta], learningRate: 0.1,
        weightDecay: 0.01)
    ])
    // Expected values from the update rule evaluated in float64 by NumPy.
    let expected: [[Float]] = [[0.9, -1.90000001, 0.4], [0.92717184, -1.92501788, 0.30676016]]
    let gradients: [[Float]] = [[0.3, -0.1, 2.0], [-0.5, 0.2, 1.0]]
    for (gradient, want) in zip(gradients, expected) {
      theta.gradient = Tensor(shape: [3], scalars: gradient)
      adam.step()
      for (got, w) in zip(theta.value.scalars, want) { #expect(abs(got - w) < 2e-6) }
    }
  }

  @Test("the vectorised Adam kernel gives the scalar formula's bits on a long, split array")
  func adamKernelMatchesScalarFormula() {
    // 100 003 elements: split over the cores, with vector remainders on every level.
    var generator = RandomGenerator(seed: 12)
    let n = 100_003
    var theta = Tensor.randomNormal(shape: [n], using: &generator).scalars
    let gradient = Tensor.randomNormal(shape: [n], using: &generator).scalars
    var first = Tensor.randomNormal(shape: [n], using: &generator).scalars
    var second = Tensor.randomNormal(shape: [n], using: &generator).scalars.map { $0 * $0 }
    let (stepSize, correction, decay): (Float, Float, Float) = (0.003, 0.02, 0.01)
    let (beta1, beta2, epsilon): (Float, Float, Float) = (0.9, 0.999, 1e-8)
    var expected = theta
    var expectedFirst = first
    var expectedSecond = second
    for i in 0..<n {
      let g = gradient[i] + decay * expected[i]
      let m = beta1 * expectedFirst[i] + (1 - beta1) * g
      let v = beta2 * expectedSecond[i] + (1 - beta2) * g * g
      (expectedFirst[i], expectedSecond[i]) = (m, v)
      expected[i] -= stepSize * m / (v.squareRoot() / correction + epsilon)
    }
    adamUpdate(
      &theta, gradient: gradient, firstMoment: &first, secondMoment: &second,
      stepSize: stepSize, secondMomentCorrection: correction, weightDecay: decay, beta1: beta1,
      beta2: beta2, epsilon: epsilon)
    #expect(theta.map(\.bitPattern) == expected.map(\.bitPattern))
    #expect(first.map(\.bitPattern) == expectedFirst.map(\.bitPattern))
    #expect(second.map(\.bitPattern) == expectedSecond.map(\.bitPattern))
  }

  @Test("a parameter without a gradient is left alone")
  func adamSkipsMissingGradient() {
    let theta = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGradient: true)
    Adam(groups: [ParameterGroup(parameters: [theta], learningRate: 1, weightDecay: 1)]).step()
    #expect(theta.value.scalars == [1, 2])
  }

  @Test("gradient-norm clipping rescales to the limit and reports the old norm")
  func clipping() {
    let a = Variable(Tensor(shape: [2], scalars: [0, 0]), requiresGradient: true)
    let b = Variable(Tensor(shape: [1], scalars: [0]), requiresGradient: true)
    a.gradient = Tensor(shape: [2], scalars: [3, 0])
    b.gradient = Tensor(shape: [1], scalars: [4])
    let norm = clipGradientNorm([a, b], maxNorm: 1)
    #expect(abs(norm - 5) < 1e-6)
    let clipped = (a.gradient!.scalars + b.gradient!.scalars).map { $0 * $0 }.reduce(0, +)
    #expect(abs(clipped.squareRoot() - 1) < 1e-5)
    let small = clipGradientNorm([a, b], maxNorm: 10)
    #expect(abs(small - 1) < 1e-5)
    #expect(abs(a.gradient!.scalars[0] - 0.6) < 1e-5)
  }

  @Test("the multi-step schedule drops ×0.1 at 60% and 80% of the epochs")
  func schedule() {
    let schedule = MultiStepSchedule.seedDefault(epochs: 50)
    #expect(schedule.milestones == [30, 40])
    #expect(schedule.learningRateFactor(atEpoch: 29) == 1)
    #expect(abs(schedule.learningRateFactor(atEpoch: 30) - 0.1) < 1e-7)
    #expect(abs(schedule.learningRateFactor(atEpoch: 49) - 0.01) < 1e-8)
  }

  @Test("Linear initialisation follows PyTorch's uniform bound 1/√in")
  func linearInitialisation() {
    var generator = RandomGenerator(seed: 3)
    let layer = Linear(inputSize: 100, outputSize: 200, using: &generator)
    let w = layer.weight.value.scalars
    #expect(w.allSatisfy { abs($0) <= 0.1 })
    let variance = w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)
    // Uniform on [−b, b) has variance b²/3 = 1/300.
    #expect(abs(variance - 1.0 / 300) < 2e-4)
    #expect(layer.bias!.value.scalars.allSatisfy { abs($0) <= 0.1 })
  }

  @Test("Linear computes x Wᵀ + b")
  func linearForward() {
    var generator = RandomGenerator(seed: 1)
    let layer = Linear(inputSize: 2, outputSize: 1, using: &generator)
    layer.weight.value = Tensor(shape: [1, 2], scalars: [2, -1])
    layer.bias!.value = Tensor(shape: [1], scalars: [0.5])
    let y = layer(Variable(Tensor(shape: [2, 2], scalars: [1, 1, 3, 2])))
    #expect(y.value.scalars == [1.5, 4.5])
  }
}
