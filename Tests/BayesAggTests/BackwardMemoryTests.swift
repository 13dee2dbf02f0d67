import Autodiff
import BayesAggTestSupport
import Layers
import Optimizers
import Tensors
import Testing

/// The memory-saving paths of the tape and the kernels give the same numbers as the plain ones.
@Suite("Backward pass memory")
struct BackwardMemoryTests {
  private func expectClose(
    _ actual: [Float], _ expected: [Float], _ label: String, tolerance: Double = 1e-6
  ) {
    BayesAggTestSupport.expectClose(
      actual.map(Double.init), shape: [actual.count], expected.map(Double.init),
      shape: [expected.count], tolerance: Tolerance(relative: tolerance, absolute: tolerance),
      label)
  }

  @Test("gradients(…) with respect to an inner node and a leaf, leaving leaves untouched")
  func gradientsOfInnerNodes() {
    var generator = RandomGenerator(seed: 21)
    let w = Variable(Tensor.randomNormal(shape: [3, 4], using: &generator), requiresGradient: true)
    let x = Variable(Tensor.randomNormal(shape: [2, 3], using: &generator))
    let hidden = x.matmul(w)
    let y = (hidden.relu() * hidden).sum()
    let rows = y.gradients(withRespectTo: [hidden, w])
    // ∂(relu(h)·h)/∂h = 2h where h > 0, 0 elsewhere.
    let expected = hidden.value.scalars.map { $0 > 0 ? 2 * $0 : 0 }
    expectClose(rows[0].scalars, expected, "gradient at the inner node")
    y.backward()
    expectClose(rows[1].scalars, w.gradient!.scalars, "gradient at the leaf")
    let again = y.gradients(withRespectTo: [w])
    expectClose(again[0].scalars, w.gradient!.scalars, "a second pass over the same graph")
  }

  @Test("a pass that releases the graph gives the same gradients and frees inner nodes")
  func releasingPass() {
    var generator = RandomGenerator(seed: 22)
    let w = Variable(Tensor.randomNormal(shape: [3, 4], using: &generator), requiresGradient: true)
    let x = Variable(Tensor.randomNormal(shape: [2, 3], using: &generator))
    func loss() -> (Variable, () -> Variable?) {
      let hidden = x.matmul(w)
      weak let weakHidden = hidden
      return ((hidden.elu() * hidden).sum(), { weakHidden })
    }
    let (retained, _) = loss()
    retained.backward()
    let reference = w.gradient!.scalars
    w.zeroGradient()
    let (released, inner) = loss()
    #expect(inner() != nil, "the graph keeps the inner node before the pass")
    released.backward(retainingGraph: false)
    expectClose(w.gradient!.scalars, reference, "leaf gradient of the releasing pass")
    #expect(inner() == nil, "the inner node is freed by the releasing pass")
    #expect(released.graphBytes() == released.value.count * MemoryLayout<Float>.stride)
    #expect(released.value.scalar.isFinite, "the output's value stays readable")
    released.backward()
    expectClose(w.gradient!.scalars, reference, "a pass over a released graph reaches no leaf")
  }

  @Test("a node the output does not depend on gets zeros, and no leaf is touched")
  func unrelatedNode() {
    let a = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGradient: true)
    let b = Variable(Tensor(shape: [3], scalars: [1, 2, 3]), requiresGradient: true)
    let rows = (a * a).sum().gradients(withRespectTo: [b, a])
    #expect(rows[0].scalars == [0, 0, 0])
    #expect(rows[1].scalars == [2, 4])
    #expect(a.gradient == nil && b.gradient == nil)
  }

  @Test("in-place pullbacks leave a gradient that someone else holds unchanged")
  func inPlacePullbacksCopyShared() {
    let x = Tensor(shape: [4], scalars: [-1, 2, -3, 4])
    let upstream = Tensor(shape: [4], scalars: [1, 1, 1, 1])
    let relu = x.reluPullback(upstream)
    let elu = x.eluPullback(upstream, output: x.elu())
    #expect(relu.scalars == [0, 1, 0, 1])
    #expect(elu.scalars[1] == 1 && elu.scalars[0] < 1)
    #expect(upstream.scalars == [1, 1, 1, 1])
  }

  @Test("the index-free max-pool pullback matches the one from stored indices")
  func maxPoolPullbackFromInput() {
    var generator = RandomGenerator(seed: 5)
    // Rounded values make ties common.
    let x = Tensor.randomNormal(shape: [2, 3, 9, 8], using: &generator).mapped {
      ($0 * 2).rounded()
    }
    for (k, s, p) in [(3, 3, 0), (3, 2, 1), (2, 2, 0)] {
      let (y, argmax) = x.maxPooled(kernelSize: k, stride: s, padding: p)
      expectClose(
        x.maxPooledValues(kernelSize: k, stride: s, padding: p).scalars, y.scalars,
        "values k \(k) s \(s) p \(p)")
      let g = Tensor.randomNormal(shape: y.shape, using: &generator)
      let stored = g.maxPoolPullback(inputShape: x.shape, argmax: argmax)
      let found = g.maxPoolPullback(input: x, kernelSize: k, stride: s, padding: p)
      #expect(found.scalars == stored.scalars, "k \(k) s \(s) p \(p)")
    }
  }

  @Test("batch norm's pullback agrees with central differences on a 4-D batch")
  func batchNormGradient() {
    let report = checkGradients(
      of: { v in
        let y = v[0].batchNormalized(scale: v[1], shift: v[2]).output
        return (y * y * v[0]).sum()
      },
      at: [
        Tensor(shape: [3, 2, 5, 7], scalars: (0..<210).map { Float(($0 * 37) % 23) / 7 - 1.5 }),
        Tensor(shape: [2], scalars: [1.5, -0.5]), Tensor(shape: [2], scalars: [0.25, 2]),
      ], epsilon: 1e-2)
    #expect(report.worstError < 5e-3, "\(report)")
  }

  @Test("batch norm fused with ReLU equals batch norm then ReLU, forward and backward")
  func fusedBatchNormReLU() {
    var generator = RandomGenerator(seed: 13)
    let x = Tensor.randomNormal(shape: [4, 3, 5, 6], using: &generator)
    let g = Tensor.randomNormal(shape: x.shape, using: &generator)
    func run(fused: Bool) -> [Tensor] {
      let input = Variable(x, requiresGradient: true)
      let scale = Variable(Tensor(shape: [3], scalars: [1.5, -0.5, 1]), requiresGradient: true)
      let shift = Variable(Tensor(shape: [3], scalars: [0.25, 0.5, -0.1]), requiresGradient: true)
      let y =
        fused
        ? input.batchNormalized(scale: scale, shift: shift, rectified: true).output
        : input.batchNormalized(scale: scale, shift: shift).output.relu()
      y.backward(seed: g)
      return [y.value, input.gradient!, scale.gradient!, shift.gradient!]
    }
    let (fused, plain) = (run(fused: true), run(fused: false))
    for (name, (a, b)) in zip(["output", "∂x", "∂γ", "∂β"], zip(fused, plain)) {
      expectClose(a.scalars, b.scalars, name, tolerance: 1e-5)
    }
    let report = checkGradients(
      of: { v in v[0].batchNormalized(scale: v[1], shift: v[2], rectified: true).output },
      at: [
        shuffledGrid([3, 2, 4, 5]), Tensor(shape: [2], scalars: [1.5, 0.7]),
        Tensor(shape: [2], scalars: [0.25, -0.3]),
      ], epsilon: 1e-3)
    #expect(report.worstError < 5e-3, "\(report)")
  }

  @Test("the BatchNorm2d layer's rectified form in evaluation mode is normalisation then ReLU")
  func batchNormLayerEvaluation() {
    var generator = RandomGenerator(seed: 17)
    let norm = BatchNorm2d(channels: 2)
    let x = Variable(Tensor.randomNormal(shape: [3, 2, 2, 2], using: &generator))
    _ = norm(x)
    norm.isTraining = false
    #expect(norm(x, rectified: true).value == norm(x).relu().value)
  }

  @Test("without recording, operations return constants with the same values")
  func withoutRecording() {
    var generator = RandomGenerator(seed: 8)
    let layer = Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, using: &generator)
    let x = Variable(Tensor.randomNormal(shape: [2, 2, 5, 5], using: &generator))
    let recorded = layer(x).elu().maxPool2d(kernelSize: 2)
    let constant = Variable.withoutRecording { layer(x).elu().maxPool2d(kernelSize: 2) }
    #expect(recorded.requiresGradient && !constant.requiresGradient)
    #expect(constant.value == recorded.value)
    #expect(constant.graphBytes() == constant.value.count * MemoryLayout<Float>.stride)
    #expect(Variable.isRecording)
  }

  @Test("Adam's in-place update keeps its moments across steps")
  func adamAcrossSteps() {
    let theta = Variable(Tensor(shape: [2], scalars: [1, -1]), requiresGradient: true)
    let adam = Adam(groups: [ParameterGroup(parameters: [theta], learningRate: 0.1)])
    for _ in 0..<3 {
      theta.gradient = Tensor(shape: [2], scalars: [1, -2])
      adam.step()
    }
    // A constant gradient makes m̂/√v̂ = sign(g) at every step: three steps of 0.1.
    expectClose(theta.value.scalars, [0.7, -0.7], "three steps", tolerance: 1e-5)
  }
}
