import BayesAggTestSupport
import Tensors
import Testing

/// Planes for the 3×3, stride-2, padding-1 pooling kernel: one cell, one row, odd and even
/// extents, and the ResNet stem's 32×32.
let stemPoolingShapes: [[Int]] = [
  [1, 1, 1, 1], [2, 1, 1, 6], [1, 2, 5, 1], [2, 3, 9, 8], [1, 2, 8, 9], [2, 4, 32, 32],
]

@Suite("Max pooling over ResNet's stem windows (3×3, stride 2, padding 1)")
struct StemPoolingTests {
  @Test(
    "values and the pullback from the input equal the generic search's, ties, NaNs and −∞",
    arguments: stemPoolingShapes)
  func matchesGenericSearch(_ shape: [Int]) {
    var generator = RandomGenerator(seed: 61)
    // Rounded values make ties common; a few NaNs and −∞ test the order of the choice.
    var values = Tensor.randomNormal(shape: shape, using: &generator).scalars.map {
      ($0 * 2).rounded()
    }
    for i in values.indices where i % 13 == 5 { values[i] = .nan }
    for i in values.indices where i % 7 == 3 { values[i] = -.infinity }
    let x = Tensor(shape: shape, scalars: values)
    // `maxPooled` searches each window in Swift and returns the chosen indices.
    let (y, argmax) = x.maxPooled(kernelSize: 3, stride: 2, padding: 1)
    let pooled = x.maxPooledValues(kernelSize: 3, stride: 2, padding: 1)
    #expect(pooled.shape == y.shape)
    let same = zip(pooled.scalars, y.scalars).allSatisfy {
      $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN)
    }
    #expect(same, "\(shape): values differ")
    let g = Tensor.randomNormal(shape: y.shape, using: &generator)
    let stored = g.maxPoolPullback(inputShape: x.shape, argmax: argmax)
    let found = g.maxPoolPullback(input: x, kernelSize: 3, stride: 2, padding: 1)
    #expect(found.scalars == stored.scalars, "\(shape): gradients differ")
  }
}
