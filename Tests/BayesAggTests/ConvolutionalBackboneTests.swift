import Autodiff
import Layers
import Tensors
import Testing

/// `Σ h ∘ w` for fixed random weights `w`, accumulated in Double.
private func weightedSum(_ h: Tensor, _ w: Tensor) -> Double {
  zip(h.scalars, w.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

@Suite("Convolutional backbones")
struct ConvolutionalBackboneTests {
  /// Batch normalisation makes this check delicate in Float: with few values per channel the
  /// normalised outputs barely depend on their inputs (two values normalise to ±1), and the
  /// rounding of each channel's mean moves all of its outputs together. So the input is large
  /// enough that the last stage keeps 2×2 maps over 4 images (16 values per channel), the
  /// projection weights `w` have mean zero, and errors are relative to the largest gradient.
  ///
  /// Every pass runs with OpenBLAS on one thread. Its thread count is process-wide and other
  /// tests change it while this one runs; with two threads instead of one the weighted sum moved
  /// by 5e-5 here (OpenBLAS's Haswell kernels), which is 0.013 in a difference over `2ε`. On a CI
  /// machine such a change between the `+ε` and `−ε` passes once put a derivative 18% off.
  @Test("ResNet-18 backward agrees with finite differences on a few parameters")
  func resNetFiniteDifferences() {
    BLASThreads.holdingOne { checkResNetFiniteDifferences() }
  }

  private func checkResNetFiniteDifferences() {
    var generator = RandomGenerator(seed: 21)
    let network = ResNet.resNet18(inputShape: [3, 64, 64], using: &generator)
    let x = Variable(Tensor.randomNormal(shape: [4, 3 * 64 * 64], using: &generator))
    let h = network(x)
    #expect(h.shape == [4, 256])
    let w = Tensor.randomNormal(shape: h.shape, using: &generator)
    h.backward(seed: w)

    let parameters = network.parameters
    let checked = [0, 1, parameters.count / 2, parameters.count - 3, parameters.count - 1]
    for index in checked {
      let parameter = parameters[index]
      let analytic = parameter.gradient!
      let scale = analytic.scalars.map { abs(Double($0)) }.max()!
      for element in [0, parameter.value.count / 2] {
        let original = parameter.value.scalars[element]
        let epsilon: Float = 2e-3
        parameter.value.scalars[element] = original + epsilon
        let plus = weightedSum(network(x).value, w)
        parameter.value.scalars[element] = original - epsilon
        let minus = weightedSum(network(x).value, w)
        parameter.value.scalars[element] = original
        let numeric = (plus - minus) / Double(2 * epsilon)
        let error = abs(Double(analytic.scalars[element]) - numeric) / max(1, scale)
        let place = "parameter \(index) \(parameter.shape) element \(element)"
        #expect(
          error < 2e-2,
          "\(place): analytic \(analytic.scalars[element]), numeric \(numeric)")
      }
    }
  }

  @Test("the CIFAR-MTL network maps 28×28 and 32×32 inputs to a 160-d representation")
  func cifarNetworkShapes() {
    var generator = RandomGenerator(seed: 2)
    for shape in [[1, 28, 28], [3, 32, 32]] {
      let network = CifarMTLNet(inputShape: shape, using: &generator)
      #expect(network.outputSize == 160)
      let x = Variable(
        Tensor.randomNormal(shape: [4, shape.reduce(1, *)], using: &generator))
      #expect(network(x).shape == [4, 160])
    }
  }

  @Test("batch norm updates running statistics in training and uses them in evaluation")
  func batchNormModes() {
    let norm = BatchNorm2d(channels: 1)
    // One channel, values 1…4: mean 2.5, biased variance 1.25, unbiased 5/3.
    let x = Variable(Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]))
    let y = norm(x)
    #expect(abs(norm.runningMean[0] - 0.25) < 1e-6)
    #expect(abs(norm.runningVariance[0] - (0.9 + 0.1 * 5 / 3)) < 1e-6)
    let expected = [1, 2, 3, 4].map { (Float($0) - 2.5) / (1.25 + 1e-5).squareRoot() }
    for (got, want) in zip(y.value.scalars, expected) { #expect(abs(got - want) < 1e-5) }
    norm.isTraining = false
    let z = norm(x)
    let scale = 1 / (norm.runningVariance[0] + 1e-5).squareRoot()
    for (got, input) in zip(z.value.scalars, x.value.scalars) {
      #expect(abs(got - (input - norm.runningMean[0]) * scale) < 1e-5)
    }
  }

  @Test("Kaiming-normal convolution weights have variance 2 / (out · k²)")
  func kaimingInitialisation() {
    var generator = RandomGenerator(seed: 4)
    let layer = Conv2d(
      inChannels: 64, outChannels: 128, kernelSize: 3, using: &generator)
    let w = layer.weight.value.scalars
    let variance = w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)
    #expect(abs(variance / (2.0 / (128 * 9)) - 1) < 0.03)
    #expect(layer.bias!.value.scalars.allSatisfy { $0 == 0 })
  }
}
