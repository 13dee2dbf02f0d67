import Foundation
import Tensors
import Testing

@testable import Aggregation

@Suite("Loss weighting: LS, SI, RLW, DWA, UW, FAMO")
struct LossWeightingTests {
  @Test("LS weights every loss by 1")
  func linearScalarization() {
    var rule = LinearScalarization()
    var generator = RandomGenerator(seed: 1)
    #expect(rule.weights(for: [0.3, 7, 2], using: &generator) == [1, 1, 1])
  }

  @Test("SI weights by 1/L, so w·L = 1 whatever each loss's scale, and stays finite at 0")
  func scaleInvariant() {
    var rule = ScaleInvariantWeighting()
    var generator = RandomGenerator(seed: 1)
    let losses = [0.25, 4, 1e-3]
    let weights = rule.weights(for: losses, using: &generator)
    for (w, loss) in zip(weights, losses) { #expect(abs(w * loss - 1) < 1e-12) }
    let zero = rule.weights(for: [0, 1], using: &generator)
    #expect(zero.allSatisfy(\.isFinite) && zero[0] == 1e8)
  }

  @Test("RLW draws positive weights summing to 1, the same for the same seed")
  func randomWeights() {
    var rule = RandomLossWeighting()
    var a = RandomGenerator(seed: 7)
    var b = RandomGenerator(seed: 7)
    var c = RandomGenerator(seed: 8)
    var mean = [Double](repeating: 0, count: 3)
    var differs = false
    for _ in 0..<2000 {
      let w = rule.weights(for: [1, 1, 1], using: &a)
      #expect(w == rule.weights(for: [1, 1, 1], using: &b))
      differs = differs || w != rule.weights(for: [1, 1, 1], using: &c)
      #expect(w.allSatisfy { $0 > 0 } && abs(w.reduce(0, +) - 1) < 1e-12)
      for k in 0..<3 { mean[k] += w[k] / 2000 }
    }
    #expect(differs)
    // By symmetry each task's mean weight is 1/3.
    for m in mean { #expect(abs(m - 1.0 / 3) < 0.02) }
  }

  @Test("DWA uses 1 for two epochs, then K·softmax(r/T) of the loss ratios")
  func dynamicWeightAverage() {
    var rule = DynamicWeightAverage(temperature: 2)
    var generator = RandomGenerator(seed: 1)
    #expect(rule.weights(for: [1, 1], using: &generator) == [1, 1])
    rule.epochFinished(meanLosses: [2, 4])
    #expect(rule.weights(for: [1, 1], using: &generator) == [1, 1])
    rule.epochFinished(meanLosses: [1, 4])
    let w = rule.weights(for: [1, 1], using: &generator)
    let e0 = exp(0.5 / 2)
    let e1 = exp(1.0 / 2)
    #expect(abs(w[0] - 2 * e0 / (e0 + e1)) < 1e-12)
    #expect(abs(w[1] - 2 * e1 / (e0 + e1)) < 1e-12)
    // The task whose loss stalled gets more weight.
    #expect(w[1] > w[0])
  }

  @Test("UW starts at weight ½ and learns s_k → log L_k, i.e. weight ½/L_k")
  func uncertaintyWeighting() {
    var rule = UncertaintyWeighting(learningRate: 0.05)
    var generator = RandomGenerator(seed: 1)
    let losses = [4.0, 0.25]
    #expect(rule.weights(for: losses, using: &generator) == [0.5, 0.5])
    for _ in 0..<3000 {
      _ = rule.weights(for: losses, using: &generator)
      rule.stepFinished(before: losses, after: nil)
    }
    for (s, loss) in zip(rule.logVariances, losses) { #expect(abs(s - log(loss)) < 0.02) }
    let w = rule.weights(for: losses, using: &generator)
    for (w, loss) in zip(w, losses) { #expect(abs(w * loss - 0.5) < 0.02) }
  }

  @Test("FAMO starts at w ∝ 1/L and lowers the weight of the task that improved most")
  func famo() {
    var rule = FAMO()
    var generator = RandomGenerator(seed: 1)
    let before = [2.0, 0.5, 1.0]
    let w = rule.weights(for: before, using: &generator)
    let inverseSum = before.reduce(0) { $0 + 1 / $1 }
    for (w, loss) in zip(w, before) { #expect(abs(w - (1 / loss) / inverseSum) < 1e-6) }
    rule.stepFinished(before: before, after: [1.0, 0.5, 1.0])
    #expect(rule.logits[0] < rule.logits[1] && rule.logits[0] < rule.logits[2])
    let next = rule.weights(for: before, using: &generator)
    #expect(next[0] < w[0])
    #expect(next.allSatisfy { $0.isFinite })
  }

  @Test("FAMO and SI stay finite when a loss is exactly zero")
  func zeroLosses() {
    var famo = FAMO()
    var generator = RandomGenerator(seed: 1)
    let w = famo.weights(for: [0, 1], using: &generator)
    famo.stepFinished(before: [0, 1], after: [0, 0.5])
    #expect(w.allSatisfy(\.isFinite) && famo.logits.allSatisfy(\.isFinite))
  }
}
