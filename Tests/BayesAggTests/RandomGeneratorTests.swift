import Foundation
import Tensors
import Testing

/// `P(X ≤ x)` for a standard normal `X`.
private func normalCDF(_ x: Double) -> Double {
  0.5 * erfc(-x / 2.0.squareRoot())
}

/// `count` Ziggurat draws from `seed`, by the `Float` or the `Double` generator.
private func zigguratDraws(_ count: Int, seed: UInt64, float: Bool) -> [Double] {
  var generator = RandomGenerator(seed: seed)
  if float {
    var draws = [Float](repeating: 0, count: count)
    draws.withUnsafeMutableBufferPointer { generator.fillZigguratNormal($0) }
    return draws.map { Double($0) }
  }
  var draws = [Double](repeating: 0, count: count)
  draws.withUnsafeMutableBufferPointer { generator.fillZigguratNormal($0) }
  return draws
}

// Statistical checks of the bulk normal generator. Each bound is about five standard errors
// (two for the chi-square, in units of its own spread: six), so a correct generator fails
// with negligible probability and the seeds are fixed; a wrong table, a missing wedge or tail,
// or a biased sign would fail by many standard errors.
@Suite("Ziggurat normal generator")
struct ZigguratNormalTests {
  static let count = 1 << 22

  @Test(
    "mean, variance, skewness and kurtosis match N(0, 1) within five standard errors",
    arguments: [false, true])
  func moments(float: Bool) {
    let draws = zigguratDraws(Self.count, seed: 101, float: float)
    let n = Double(draws.count)
    var sums = [Double](repeating: 0, count: 5)
    for x in draws {
      let x2 = x * x
      sums[1] += x
      sums[2] += x2
      sums[3] += x2 * x
      sums[4] += x2 * x2
    }
    let (mean, second, third, fourth) = (sums[1] / n, sums[2] / n, sums[3] / n, sums[4] / n)
    // Standard errors: Var[x] = 1, Var[x²] = 2, Var[x³] = 15, Var[x⁴] = 96.
    #expect(abs(mean) < 5 / n.squareRoot(), "mean \(mean)")
    #expect(abs(second - 1) < 5 * (2 / n).squareRoot(), "E[x²] \(second)")
    #expect(abs(third) < 5 * (15 / n).squareRoot(), "E[x³] \(third)")
    #expect(abs(fourth - 3) < 5 * (96 / n).squareRoot(), "E[x⁴] \(fourth)")
  }

  @Test(
    "the tails beyond 3, beyond the Ziggurat's R and beyond 4.5 have the normal mass",
    arguments: [false, true])
  func tails(float: Bool) {
    let draws = zigguratDraws(Self.count, seed: 102, float: float)
    let n = Double(draws.count)
    for threshold in [3.0, 3.442619855899, 4.5] {
      let observed = Double(draws.lazy.filter { abs($0) > threshold }.count)
      let expected = 2 * normalCDF(-threshold) * n
      #expect(
        abs(observed - expected) < 5 * expected.squareRoot() + 1,
        "P(|x| > \(threshold)): \(observed) draws, expected \(expected)")
      let positive = Double(draws.lazy.filter { $0 > threshold }.count)
      #expect(
        abs(positive - expected / 2) < 5 * (expected / 2).squareRoot() + 1,
        "P(x > \(threshold)): \(positive) draws, expected \(expected / 2)")
    }
  }

  @Test(
    "a histogram of 82 bins passes a chi-square test against N(0, 1)", arguments: [false, true])
  func histogram(float: Bool) {
    let draws = zigguratDraws(Self.count, seed: 103, float: float)
    // Bins of width 0.1 on [−4, 4) and one for each tail.
    var counts = [Double](repeating: 0, count: 82)
    for x in draws {
      let bin = x < -4 ? 0 : x >= 4 ? 81 : 1 + min(Int(((x + 4) * 10).rounded(.down)), 79)
      counts[bin] += 1
    }
    let edges = [-Double.infinity] + (0...80).map { -4 + Double($0) / 10 } + [.infinity]
    var chiSquare = 0.0
    for bin in 0..<82 {
      let lower = edges[bin].isInfinite ? 0 : normalCDF(edges[bin])
      let upper = edges[bin + 1].isInfinite ? 1 : normalCDF(edges[bin + 1])
      let expected = (upper - lower) * Double(draws.count)
      chiSquare += (counts[bin] - expected) * (counts[bin] - expected) / expected
    }
    // 81 degrees of freedom: mean 81, standard deviation √162 ≈ 12.7.
    #expect(chiSquare < 81 + 6 * 162.0.squareRoot(), "χ² = \(chiSquare)")
  }

  @Test("successive draws are uncorrelated, and their squares too", arguments: [false, true])
  func independence(float: Bool) {
    let draws = zigguratDraws(Self.count, seed: 104, float: float)
    let n = Double(draws.count - 1)
    var (lagged, laggedSquares) = (0.0, 0.0)
    for i in 1..<draws.count {
      lagged += draws[i - 1] * draws[i]
      laggedSquares += (draws[i - 1] * draws[i - 1] - 1) * (draws[i] * draws[i] - 1)
    }
    #expect(abs(lagged / n) < 5 / n.squareRoot(), "lag-1 correlation \(lagged / n)")
    #expect(
      abs(laggedSquares / n) < 5 * 2 / n.squareRoot(),
      "lag-1 covariance of squares \(laggedSquares / n)")
  }

  @Test("the same seed gives the same draws, another seed others", arguments: [false, true])
  func reproducible(float: Bool) {
    // An odd count: the last 64-bit draw of the Float generator is used by half.
    let first = zigguratDraws(10_001, seed: 105, float: float)
    #expect(first == zigguratDraws(10_001, seed: 105, float: float))
    #expect(first != zigguratDraws(10_001, seed: 106, float: float))
    #expect(Array(first.prefix(500)) == zigguratDraws(500, seed: 105, float: float))
  }
}
