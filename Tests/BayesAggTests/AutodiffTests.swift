import Autodiff
import BayesAggTestSupport
import Tensors
import Testing

/// A case for the gradient checker: a name, input shapes and the function to check.
struct GradientCase: CustomStringConvertible, Sendable {
  let name: String
  let shapes: [[Int]]
  let function: @Sendable ([Variable]) -> Variable
  var description: String { name }
}

private let binaryTargets: [Float] = [1, 0, 1, 1, 0, 0]
private let mask: [Bool] = [true, true, false, true, true, true]

let gradientCases: [GradientCase] = [
  GradientCase(name: "add, same shape", shapes: [[3, 4], [3, 4]]) { $0[0] + $0[1] },
  GradientCase(name: "add, bias broadcast", shapes: [[3, 4], [4]]) { $0[0] + $0[1] },
  GradientCase(name: "subtract, column broadcast", shapes: [[3, 4], [3, 1]]) { $0[0] - $0[1] },
  GradientCase(name: "multiply, general broadcast", shapes: [[2, 1, 4], [3, 1]]) { $0[0] * $0[1] },
  GradientCase(name: "divide", shapes: [[3, 4], [4]]) { v in
    v[0] / (v[1] * v[1] + Variable(Tensor(1)))
  },
  GradientCase(name: "scalar multiply and negate", shapes: [[5]]) { -(3 * $0[0]) },
  GradientCase(name: "matmul", shapes: [[3, 5], [5, 2]]) { $0[0].matmul($0[1]) },
  GradientCase(name: "matmul, Bᵀ", shapes: [[3, 5], [2, 5]]) {
    $0[0].matmul($0[1], transposeB: true)
  },
  GradientCase(name: "matmul, Aᵀ", shapes: [[5, 3], [5, 2]]) {
    $0[0].matmul($0[1], transposeA: true)
  },
  GradientCase(name: "matmul, Aᵀ Bᵀ", shapes: [[5, 3], [2, 5]]) {
    $0[0].matmul($0[1], transposeA: true, transposeB: true)
  },
  GradientCase(name: "reshape", shapes: [[2, 6]]) {
    $0[0].reshaped(to: [3, 4]) * $0[0].reshaped(to: [3, 4])
  },
  GradientCase(name: "sum along axis 0", shapes: [[3, 4]]) { $0[0].sum(alongAxes: [0]) },
  GradientCase(name: "mean along axis 1", shapes: [[3, 4]]) { $0[0].mean(alongAxes: [1]) },
  GradientCase(name: "sum of all", shapes: [[3, 4]]) { ($0[0] * $0[0]).sum() },
  GradientCase(name: "sum of terms", shapes: [[3], [3], [3]]) { Variable.sum($0) },
  GradientCase(name: "columns", shapes: [[3, 5]]) { $0[0].columns(1..<4) },
  GradientCase(name: "ReLU", shapes: [[4, 5]]) { $0[0].relu() },
  GradientCase(name: "ELU", shapes: [[4, 5]]) { $0[0].elu() },
  GradientCase(name: "sigmoid", shapes: [[4, 5]]) { $0[0].sigmoid() },
  GradientCase(name: "log-softmax", shapes: [[4, 5]]) { $0[0].logSoftmax() },
  GradientCase(name: "MSE with mask", shapes: [[6]]) {
    Loss.meanSquaredError($0[0], targets: [0.5, -1, 2, 0, 1, 3], mask: mask)
  },
  GradientCase(name: "BCE with logits and mask", shapes: [[6, 1]]) {
    Loss.binaryCrossEntropyWithLogits($0[0], targets: binaryTargets, mask: mask)
  },
  GradientCase(name: "cross-entropy with mask", shapes: [[6, 3]]) {
    Loss.crossEntropy($0[0], labels: [0, 2, 1, 1, 0, 2], mask: mask)
  },
]

@Suite("Autodiff")
struct AutodiffTests {
  @Test("backward agrees with central differences", arguments: gradientCases)
  func gradientCheck(_ testCase: GradientCase) {
    var generator = RandomGenerator(seed: 11)
    // Keep inputs away from ReLU's kink so that the difference quotient is well defined.
    let inputs = testCase.shapes.map { shape in
      Tensor.randomNormal(shape: shape, using: &generator).mapped { abs($0) < 0.05 ? 0.3 : $0 }
    }
    let report = checkGradients(of: testCase.function, at: inputs, epsilon: 1e-2)
    #expect(report.checkedElements > 0)
    #expect(report.worstError < 2e-3, "\(testCase.name): \(report)")
  }

  @Test("the checker reports a wrong pullback")
  func checkerCatchesWrongGradient() {
    let report = checkGradients(
      of: { v in
        Variable(value: v[0].value * 2, parents: [v[0]]) { g in [g * 3] }
      }, at: [Tensor(shape: [3], scalars: [1, 2, 3])])
    #expect(report.worstError > 0.4)
  }

  @Test("two backward passes over one graph accumulate, and gradients(…) leaves leaves alone")
  func repeatedBackward() {
    let x = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGradient: true)
    let y = x * x
    y.backward(seed: Tensor(shape: [2], scalars: [1, 0]))
    y.backward(seed: Tensor(shape: [2], scalars: [0, 1]))
    #expect(x.gradient?.scalars == [2, 4])
    let rows = y.gradients(seed: Tensor(shape: [2], scalars: [1, 1]), withRespectTo: [x])
    #expect(rows[0].scalars == [2, 4])
    #expect(x.gradient?.scalars == [2, 4])
  }

  @Test("a backward pass from an inner node with a supplied seed reaches only its inputs")
  func backwardFromRepresentation() {
    let w = Variable(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), requiresGradient: true)
    let x = Variable(Tensor(shape: [1, 2], scalars: [1, -1]))
    let h = x.matmul(w)
    h.backward(seed: Tensor(shape: [1, 2], scalars: [0.5, 2]))
    #expect(w.gradient?.scalars == [0.5, 2, -0.5, -2])
  }

  @Test("losses with every label missing are zero and send no gradient")
  func allMissing() {
    let z = Variable(Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), requiresGradient: true)
    let loss = Loss.crossEntropy(z, labels: [0, 1, 0], mask: [false, false, false])
    loss.backward()
    #expect(loss.value.scalar == 0)
    #expect(z.gradient?.scalars.allSatisfy { $0 == 0 } == true)
  }

  @Test("BCE is stable for large logits")
  func stableBCE() {
    let z = Variable(Tensor(shape: [2], scalars: [80, -80]))
    let loss = Loss.binaryCrossEntropyWithLogits(z, targets: [0, 1])
    #expect(abs(loss.value.scalar - 80) < 1e-3)
  }
}
