import BayesAggTestSupport
import CKernels
import Foundation
import Tensors
import Testing

@testable import Aggregation

/// A classification problem of `groups` at representation size `d`, with some labels missing.
private struct ClassificationProblem {
  var groups: [TaskGroupKind]
  var h: Matrix
  var labels: [Matrix]
  var heads: [TaskHead]

  init(groups: [TaskGroupKind], batch: Int, d: Int, seed: UInt64) {
    var generator = RandomGenerator(seed: seed)
    self.groups = groups
    h = randomMatrix(batch, d, &generator)
    labels = groups.map { kind in
      Matrix(
        rows: batch, columns: kind.labelColumns,
        scalars: (0..<(batch * kind.labelColumns)).map { _ in
          if generator.next() % 7 == 0 { return .nan }
          if case .multiclass(let classes) = kind {
            return Double(generator.next() % UInt64(classes))
          }
          return Double(generator.next() % 2)
        })
    }
    heads = groups.map { kind in
      TaskHead(
        weight: 0.3 * randomMatrix(kind.headOutputs, d, &generator),
        bias: (0..<kind.headOutputs).map { _ in 0.1 * generator.nextNormal() })
    }
  }

  /// The aggregator's gradient and moments with `method`.
  func run(_ method: MomentMethod, samples: Int = 1024, seed: UInt64 = 7) throws -> (
    Matrix, [TaskMoments]
  ) {
    let model = BayesAggMTL(
      groups: groups, representationSize: h.columns,
      configuration: BayesAggConfiguration(
        gamma: 0.5, regressionPower: 0.5, classificationPower: 0.5, samples: samples,
        momentMethod: method))
    var generator = RandomGenerator(seed: seed)
    let g = try model.representationGradient(h, labels: labels, heads: heads, using: &generator)
    return (g, model.lastMoments)
  }
}

@Suite("Monte-Carlo kernels")
struct MonteCarloKernelTests {
  @Test("inverse powers are within 2 ulp of 1 / pow(max(v, floor), α), special values included")
  func inversePowers() {
    var generator = RandomGenerator(seed: 12)
    // Log-uniform over 2⁻¹⁰⁰⁰…2¹⁰⁰⁰, then values at the edges of the kernel's range.
    var variances = (0..<4099).map { _ in pow(2, 2000 * generator.nextUniform() - 1000) }
    variances += [
      0, -1, 1e-9, 1e-8, 1, 2, 1.4142135623730951, 1.4142135623730950, 0.7071067811865476,
      .leastNormalMagnitude, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, .nan,
    ]
    let floors = [1e-8, Double.leastNonzeroMagnitude]
    for (floor, power) in [(1e-8, 0.0005), (1e-8, 0.25), (1e-8, 3.7), (floors[1], 1.5)] {
      var precisions = [Double](repeating: -1, count: variances.count)
      bayesagg_inverse_powers(variances, &precisions, variances.count, floor, power)
      for (v, p) in zip(variances, precisions) {
        let expected = 1 / pow(max(v, floor), power)
        if expected.isNaN || expected == 0 || expected.isInfinite {
          #expect(p.bitPattern == expected.bitPattern, "v = \(v), α = \(power)")
          continue
        }
        let ulps = abs(p - expected) / expected.ulp
        #expect(ulps <= 2, "v = \(v), floor = \(floor), α = \(power): \(p) vs \(expected)")
      }
    }
  }

  @Test("inverse powers of variances in the aggregation's range are within 2 ulp of pow")
  func inversePowersTypicalRange() {
    var generator = RandomGenerator(seed: 13)
    // Variances over 1e-9…1e7 with the floor 1e-8, none out of the vector pass's range, so
    // the scalar second pass is skipped; then a NaN, which brings it back for that element.
    let variances = (0..<3203).map { _ in pow(10, 16 * generator.nextUniform() - 9) } + [1e7]
    for power in [0.0005, 1e-7, 0, 0.1, 0.3, 1.5] {
      var precisions = [Double](repeating: -1, count: variances.count)
      bayesagg_inverse_powers(variances, &precisions, variances.count, 1e-8, power)
      for (v, p) in zip(variances, precisions) {
        let expected = 1 / pow(max(v, 1e-8), power)
        #expect(abs(p - expected) / expected.ulp <= 2, "v = \(v), α = \(power): \(p)")
      }
    }
    var withNaN = Array(variances.prefix(40))
    withNaN[17] = .nan
    var precisions = [Double](repeating: -1, count: withNaN.count)
    bayesagg_inverse_powers(withNaN, &precisions, withNaN.count, 1e-8, 0.1)
    #expect(precisions[17].isNaN)
    for i in withNaN.indices where i != 17 {
      let expected = 1 / pow(max(withNaN[i], 1e-8), 0.1)
      #expect(abs(precisions[i] - expected) <= 2 * expected.ulp)
    }
  }

  @Test("Float inverse powers are within 1e-6 · (1 + |α ln v|) of pow, special values exact")
  func floatInversePowers() {
    var generator = RandomGenerator(seed: 14)
    // Log-uniform over 2⁻¹⁰⁰⁰…2¹⁰⁰⁰: most values fall outside Float's range or make |α ln v|
    // exceed 80 at the larger powers, and go through `pow`; then the edges of that range.
    var variances = (0..<4099).map { _ in pow(2, 2000 * generator.nextUniform() - 1000) }
    variances += (0..<4099).map { _ in pow(10, 16 * generator.nextUniform() - 9) }
    variances += [
      0, -1, 1e-9, 1e-8, 1, 2, 1.4142135623730951, 0.7071067811865476,
      Double(Float.leastNormalMagnitude),
      Double(Float.greatestFiniteMagnitude), .leastNonzeroMagnitude, .greatestFiniteMagnitude,
      .infinity, .nan,
    ]
    for (floor, power) in [(1e-8, 0.0005), (1e-8, 0.1), (1e-8, 0.25), (1e-8, 3.7), (1e-300, 1.5)] {
      var precisions = [Double](repeating: -1, count: variances.count)
      bayesagg_inverse_powers_float(variances, &precisions, variances.count, floor, power)
      for (v, p) in zip(variances, precisions) {
        let clamped = max(v, floor)
        let expected = 1 / pow(clamped, power)
        if expected.isNaN || expected == 0 || expected.isInfinite {
          #expect(p.bitPattern == expected.bitPattern, "v = \(v), α = \(power)")
          continue
        }
        let bound = 1e-6 * (1 + abs(power * log(clamped)))
        #expect(abs(p - expected) <= bound * expected, "v = \(v), α = \(power): \(p)")
      }
    }
  }

  @Test("floatMatrixMultiply agrees with matmul, with transposes and wider leading dimensions")
  func floatProducts() {
    var generator = RandomGenerator(seed: 31)
    let a = randomMatrix(5, 7, &generator)
    let b = randomMatrix(7, 4, &generator)
    let expected = matmul(a, b, alpha: 0.5)
    let (fa, fb) = (a.scalars.map { Float($0) }, b.scalars.map { Float($0) })
    let ta = a.transposed().scalars.map { Float($0) }
    let tb = b.transposed().scalars.map { Float($0) }
    for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
      // C is stored with two spare columns, which must stay untouched.
      var c = [Float](repeating: 9, count: 5 * 6)
      floatMatrixMultiply(
        transposeA: transposeA, transposeB: transposeB, m: 5, n: 4, k: 7, alpha: 0.5,
        a: transposeA ? ta : fa, lda: transposeA ? 5 : 7, b: transposeB ? tb : fb,
        ldb: transposeB ? 7 : 4, c: &c, ldc: 6)
      for i in 0..<5 {
        for j in 0..<4 {
          #expect(abs(Double(c[i * 6 + j]) - expected[i, j]) < 1e-5 * (1 + abs(expected[i, j])))
        }
        #expect(c[i * 6 + 4] == 9 && c[i * 6 + 5] == 9)
      }
    }
  }

  @Test("Z L⁻¹ by the Float inverse matches the Double triangular solve")
  func triangularProduct() throws {
    var generator = RandomGenerator(seed: 32)
    let a = randomMatrix(30, 12, &generator)
    let precision = matmul(a, a, transposeA: true) + Matrix.identity(12, scale: 0.1)
    let factor = try precision.cholesky()
    let z = randomMatrix(20, 12, &generator)
    let expected = factor.rightSolveLower(z)
    let inverse = factor.lowerInverseAsFloat()
    for i in 0..<12 {
      for j in (i + 1)..<12 { #expect(inverse[i * 12 + j] == 0, "L⁻¹ is lower triangular") }
    }
    var samples = z.scalars.map { Float($0) }
    inverse.withUnsafeBufferPointer { triangle in
      samples.withUnsafeMutableBufferPointer {
        floatMultiplyByLowerTriangle(rows: 20, size: 12, triangle: triangle, inPlace: $0)
      }
    }
    let scale = expected.scalars.map { abs($0) }.max()!
    for (actual, wanted) in zip(samples, expected.scalars) {
      #expect(abs(Double(actual) - wanted) < 1e-5 * scale)
    }
  }

  @Test("Matrix.gram agrees with AᵀA and is exactly symmetric")
  func gram() {
    var generator = RandomGenerator(seed: 35)
    let a = randomMatrix(9, 4, &generator)
    let expected = matmul(a, a, transposeA: true)
    let gram = a.scalars.withUnsafeBufferPointer { Matrix.gram(rows: 9, columns: 4, of: $0) }
    expectClose(gram, expected, tolerance: Tolerance(relative: 1e-12, absolute: 1e-12), "AᵀA")
    #expect(gram == gram.transposed())
    let empty = a.scalars.withUnsafeBufferPointer { Matrix.gram(rows: 0, columns: 4, of: $0) }
    #expect(empty == Matrix(rows: 4, columns: 4))
  }

  @Test("addGramToLower adds AᵀA to the lower triangle and leaves the upper one")
  func addGramToLower() {
    var generator = RandomGenerator(seed: 43)
    for (rows, columns) in [(9, 4), (3, 17), (0, 5)] {
      let a = randomMatrix(rows, columns, &generator)
      let start = randomMatrix(columns, columns, &generator)
      var sum = start
      a.scalars.withUnsafeBufferPointer { sum.addGramToLower(rows: rows, columns: columns, of: $0) }
      let expected = start + matmul(a, a, transposeA: true)
      for i in 0..<columns {
        for j in 0..<columns {
          if j <= i {
            #expect(abs(sum[i, j] - expected[i, j]) <= 1e-12 * (1 + abs(expected[i, j])))
          } else {
            #expect(sum[i, j] == start[i, j])
          }
        }
      }
    }
  }

  @Test("a Cholesky solve of one vector agrees with the solve of a one-column matrix")
  func choleskySolveVector() throws {
    var generator = RandomGenerator(seed: 44)
    for n in [1, 7, 40] {
      let a = randomMatrix(n + 2, n, &generator)
      let precision = matmul(a, a, transposeA: true) + Matrix.identity(n, scale: 0.3)
      let factor = try precision.cholesky()
      let b = (0..<n).map { _ in generator.nextNormal() }
      let x = factor.solve(b)
      let wanted = factor.solve(Matrix(column: b)).scalars
      let back = matmul(precision, Matrix(column: x)).scalars
      for i in 0..<n {
        #expect(abs(x[i] - wanted[i]) <= 1e-10 * (1 + abs(wanted[i])))
        #expect(abs(back[i] - b[i]) <= 1e-9 * (1 + abs(b[i])))
      }
    }
  }

  @Test("fewer samples than chunks still give finite moments")
  func fewSamples() throws {
    let problem = ClassificationProblem(
      groups: [.binary(outputs: 2), .multiclass(classes: 3)], batch: 5, d: 4, seed: 36)
    for samples in [1, 3] {
      let (g, moments) = try problem.run(.monteCarlo, samples: samples)
      #expect(g.isFinite)
      #expect(moments.allSatisfy { $0.mean.isFinite && $0.variance.isFinite })
    }
  }

  @Test("the same seed gives the same Monte-Carlo gradient; another seed a different one")
  func deterministic() throws {
    let problem = ClassificationProblem(
      groups: [.binary(outputs: 5), .multiclass(classes: 3)], batch: 9, d: 6, seed: 33)
    // One BLAS thread throughout, whatever other tests do meanwhile (see `seededMonteCarlo`).
    let (first, again, other) = try BLASThreads.holdingOne {
      (
        try problem.run(.monteCarlo, seed: 1).0, try problem.run(.monteCarlo, seed: 1).0,
        try problem.run(.monteCarlo, seed: 2).0
      )
    }
    #expect(first == again)
    #expect(first != other)
  }

  @Test(
    "binary and two-class Monte-Carlo moments agree with quadrature within the sampling error",
    arguments: [1024, 8192])
  func agreesWithQuadrature(samples: Int) throws {
    let problem = ClassificationProblem(
      groups: [.binary(outputs: 4), .multiclass(classes: 2)], batch: 11, d: 7, seed: 34)
    let (_, exact) = try problem.run(.quadrature)
    let (_, estimate) = try problem.run(.monteCarlo, samples: samples, seed: UInt64(samples))
    let root = Double(samples).squareRoot()
    for (group, (q, mc)) in zip(exact, estimate).enumerated() {
      #expect(q.present == mc.present)
      let largestVariance = q.variance.scalars.max()!
      for i in q.mean.scalars.indices {
        let spread = max(q.variance.scalars[i], 0).squareRoot()
        #expect(
          abs(mc.mean.scalars[i] - q.mean.scalars[i]) <= 5 * spread / root + 1e-6,
          "group \(group) E_g[\(i)]: \(mc.mean.scalars[i]) vs \(q.mean.scalars[i])")
        #expect(
          abs(mc.variance.scalars[i] - q.variance.scalars[i])
            <= 5 * largestVariance * (2 / Double(samples)).squareRoot() + 1e-12,
          "group \(group) Var_g[\(i)]: \(mc.variance.scalars[i]) vs \(q.variance.scalars[i])")
      }
    }
  }
}

/// `fastExp` with its reduction and polynomial as fused multiply-adds, operation for operation
/// as `fast_exp_fused` in FloatMath.h (`a.addingProduct(b, c)` is `fma(b, c, a)`).
private func fusedFastExp(_ x: Float) -> Float {
  let x = min(max(x, -87), 87)
  let shifted = Float(12_582_912).addingProduct(x, 1.442_695_04)
  let n = shifted - 12_582_912
  let power = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
  let r = x.addingProduct(-n, 0.693_359_375).addingProduct(n, 2.121_944_4e-4)
  var p: Float = 1.987_569_15e-4
  let coefficients: [Float] = [
    1.398_199_95e-3, 8.333_451_9e-3, 4.166_579_59e-2, 1.666_666_55e-1, 5.000_000_12e-1,
  ]
  for coefficient in coefficients { p = coefficient.addingProduct(p, r) }
  return (r.addingProduct(p * r, r) + 1) * power
}

@Suite("Monte-Carlo C kernels")
struct MonteCarloCKernelTests {
  @Test("binary residuals in C equal the Swift fastExp formula (or its fused form) bitwise")
  func binaryResiduals() {
    var generator = RandomGenerator(seed: 37)
    // Logits over the whole clamped range and beyond, including ±0 and huge values.
    var logits = (0..<1037).map { _ in Float(generator.nextNormal() * 30) }
    logits += [0, -0, 87, -87, 88, -88, 1e30, -1e30, 1e-30]
    // The fused exponential is within 1 ulp of the unfused one.
    for x in logits {
      let (fused, plain) = (fusedFastExp(-x), fastExp(-x))
      #expect(abs(fused - plain) <= plain.ulp, "e^\(-x): \(fused) vs \(plain)")
    }
    let exponential = bayesagg_binary_residuals_fused() != 0 ? fusedFastExp : fastExp
    for target: Float in [0, 1] {
      let expected = logits.map { 1 / (1 + exponential(-$0)) - target }
      for count in [logits.count, 17, 1] {
        var residuals = Array(logits[..<count])
        var squares = [Float](repeating: .nan, count: count)
        bayesagg_binary_residuals(&residuals, &squares, count, target)
        for i in 0..<count {
          #expect(residuals[i].bitPattern == expected[i].bitPattern, "logit \(logits[i])")
          #expect(squares[i].bitPattern == (expected[i] * expected[i]).bitPattern)
        }
      }
    }
    // σ − y lies in [−1, 1] and is monotone in the logit.
    var sorted = logits.sorted()
    var squares = sorted
    bayesagg_binary_residuals(&sorted, &squares, sorted.count, 0)
    #expect(sorted.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0 <= $1 })
  }

  @Test(
    "tiled logit residuals match Double sums, 0 for NaN targets, at remainder shapes",
    .enabled(
      if: bayesagg_binary_tiles_supported() != 0,
      "the register tiles need AVX-512, which this processor lacks"))
  func tiledLogitResiduals() {
    var generator = RandomGenerator(seed: 43)
    // (samples, width, batch): full tiles, a sample remainder, a one-wide head, padding.
    for (samples, width, batch) in [(16, 161, 64), (13, 21, 37), (3, 1, 5), (8, 40, 32)] {
      let stride = (batch + 31) / 32 * 32
      let weights = (0..<(samples * width)).map { _ in Float(generator.nextNormal()) }
      let hb = (0..<(batch * width)).map { _ in Float(generator.nextNormal() * 0.3) }
      var features = [Float](repeating: 0, count: width * stride)
      for b in 0..<batch {
        for k in 0..<width { features[k * stride + b] = hb[b * width + k] }
      }
      let targets = (0..<stride).map { b -> Float in
        b >= batch || b % 5 == 2 ? .nan : Float(b % 2)
      }
      var residuals = [Float](repeating: .infinity, count: samples * stride)
      var squares = residuals
      bayesagg_binary_logit_residuals(
        weights, width, samples, width, features, stride, targets, &residuals, &squares)
      for s in 0..<samples {
        for b in 0..<stride {
          let (r, q) = (residuals[s * stride + b], squares[s * stride + b])
          #expect(q.bitPattern == (r * r).bitPattern)
          guard !targets[b].isNaN else {
            #expect(r == 0, "sample \(s), datum \(b): a missing label gives 0")
            continue
          }
          var logit = 0.0
          for k in 0..<width {
            logit += Double(weights[s * width + k]) * Double(hb[b * width + k])
          }
          let expected = 1 / (1 + exp(-logit)) - Double(targets[b])
          #expect(abs(Double(r) - expected) <= 1e-5, "sample \(s), datum \(b)")
        }
      }
    }
  }

  @Test(
    "tiled gradient sums match Double sums and write only the rows and columns asked for",
    .enabled(
      if: bayesagg_binary_tiles_supported() != 0,
      "the register tiles need AVX-512, which this processor lacks"))
  func tiledGradientMoments() {
    var generator = RandomGenerator(seed: 44)
    // (batch, d, samples): full tiles, row and column remainders, one of each.
    for (batch, d, samples) in [(16, 32, 64), (37, 21, 13), (1, 1, 1), (9, 17, 100)] {
      let stride = (batch + 31) / 32 * 32
      let width = d + 1
      let residuals = (0..<(samples * stride)).map { _ in Float(generator.nextNormal()) }
      let squares = residuals.map { $0 * $0 }
      // The tiles read up to 16 floats past the last row: padding as the callers allocate it.
      let weights =
        (0..<(samples * width)).map { _ in Float(generator.nextNormal()) }
        + [Float](repeating: 0, count: 16)
      let weightSquares =
        (0..<(samples * d)).map { _ in Float(generator.nextNormal()) }
        + [Float](repeating: 0, count: 16)
      let scale = 1 / Float(samples)
      // One sentinel row past the end: nothing may be written there.
      var mean = [Float](repeating: .nan, count: (batch + 1) * d)
      var second = mean
      bayesagg_binary_gradient_moments(
        residuals, squares, stride, batch, samples, weights, width, weightSquares, d, d, scale,
        &mean, &second)
      for b in 0..<batch {
        for j in 0..<d {
          var (m, q) = (0.0, 0.0)
          for s in 0..<samples {
            m += Double(residuals[s * stride + b]) * Double(weights[s * width + j])
            q += Double(squares[s * stride + b]) * Double(weightSquares[s * d + j])
          }
          let (gotMean, gotSecond) = (Double(mean[b * d + j]), Double(second[b * d + j]))
          #expect(abs(gotMean - m * Double(scale)) <= 1e-5 * (1 + abs(m)), "[\(b), \(j)]")
          #expect(abs(gotSecond - q * Double(scale)) <= 1e-5 * (1 + abs(q)), "[\(b), \(j)]")
        }
      }
      #expect(
        mean[(batch * d)...].allSatisfy(\.isNaN) && second[(batch * d)...].allSatisfy(\.isNaN))
    }
  }

  @Test(
    "one pass of posteriors and moments per output equals the two passes bit for bit",
    // The tiles where this processor has them (AVX-512), and BLAS.
    arguments: Set([BinaryProducts.preferred, .blas]))
  func fusedPassEqualsTwoPasses(products: BinaryProducts) throws {
    for (batch, d, outputs, samples) in [(40, 23, 3, 77), (128, 160, 4, 256), (1, 1, 1, 1)] {
      let problem = ClassificationProblem(
        groups: [.binary(outputs: outputs)], batch: batch, d: d, seed: 47)
      // A prior from the data itself, as the full-data posterior would be.
      let priors = try binaryPosteriors(
        features: problem.h, labels: problem.labels[0], head: problem.heads[0], priors: nil,
        gamma: 0.5, name: "prior")
      for prior in [nil, priors] {
        let posteriors = try binaryPosteriors(
          features: problem.h, labels: problem.labels[0], head: problem.heads[0],
          priors: prior, gamma: 0.5, name: "test")
        var twoPasses = RandomGenerator(seed: 48)
        var onePass = twoPasses
        let moments = binaryMonteCarloMoments(
          h: problem.h, labels: problem.labels[0], posteriors: posteriors, samples: samples,
          using: &twoPasses, products: products)
        let (fusedPosteriors, fusedMoments) = try binaryPosteriorsAndMonteCarloMoments(
          h: problem.h, labels: problem.labels[0], head: problem.heads[0], priors: prior,
          gamma: 0.5, name: "test", samples: samples, using: &onePass, products: products)
        #expect(onePass.next() == twoPasses.next(), "both use the generator alike")
        for (a, b) in zip(posteriors, fusedPosteriors) {
          #expect(a.mean.map(\.bitPattern) == b.mean.map(\.bitPattern))
          #expect(a.factor.lower.scalars == b.factor.lower.scalars)
          #expect(a.precision.scalars == b.precision.scalars)
        }
        #expect(fusedMoments.present == moments.present)
        #expect(
          fusedMoments.mean.scalars.map(\.bitPattern) == moments.mean.scalars.map(\.bitPattern))
        #expect(
          fusedMoments.variance.scalars.map(\.bitPattern)
            == moments.variance.scalars.map(\.bitPattern))
      }
    }
  }

  @Test("one pass throws the first failing output's error, as the posteriors alone do")
  func fusedPassThrows() throws {
    let problem = ClassificationProblem(
      groups: [.binary(outputs: 4)], batch: 16, d: 5, seed: 49)
    var priors = try binaryPosteriors(
      features: problem.h, labels: problem.labels[0], head: problem.heads[0], priors: nil,
      gamma: 0.5, name: "prior")
    // NaN in the priors of outputs 1 and 3: their precisions cannot factorise.
    priors[1].precision[0, 0] = .nan
    priors[3].precision[0, 0] = .nan
    var generator = RandomGenerator(seed: 50)
    let error = #expect(throws: LinearAlgebraError.self) {
      _ = try binaryPosteriorsAndMonteCarloMoments(
        h: problem.h, labels: problem.labels[0], head: problem.heads[0], priors: priors,
        gamma: 0.5, name: "test", samples: 8, using: &generator)
    }
    #expect(error?.matrixName == "test, binary output 1")
  }

  @Test(
    "binary Monte-Carlo moments by the tiles equal those by BLAS to rounding",
    .enabled(
      if: bayesagg_binary_tiles_supported() != 0,
      "the register tiles need AVX-512, which this processor lacks"))
  func tilesAgreeWithBLAS() throws {
    for (batch, d, outputs, samples) in [(40, 23, 3, 77), (128, 160, 2, 1024), (1, 1, 1, 1)] {
      let problem = ClassificationProblem(
        groups: [.binary(outputs: outputs)], batch: batch, d: d, seed: 45)
      let posteriors = try binaryPosteriors(
        features: problem.h, labels: problem.labels[0], head: problem.heads[0], priors: nil,
        gamma: 0.5, name: "test")
      var byTiles = RandomGenerator(seed: 46)
      var byBLAS = byTiles
      let tiles = binaryMonteCarloMoments(
        h: problem.h, labels: problem.labels[0], posteriors: posteriors, samples: samples,
        using: &byTiles, products: .tiles)
      let blas = binaryMonteCarloMoments(
        h: problem.h, labels: problem.labels[0], posteriors: posteriors, samples: samples,
        using: &byBLAS, products: .blas)
      #expect(tiles.present == blas.present)
      // The moments start uninitialised: an absent task's elements must be written as zeros.
      for b in 0..<batch {
        for o in 0..<outputs where !tiles.isPresent(b, task: o) {
          let block = (b * outputs * d + o * d)..<(b * outputs * d + (o + 1) * d)
          #expect(tiles.mean.scalars[block].allSatisfy { $0 == 0 })
          #expect(tiles.variance.scalars[block].allSatisfy { $0 == 0 })
        }
      }
      #expect(byTiles.next() == byBLAS.next(), "both use the generator alike")
      // The variance is the second moment less the squared mean, so its rounding is that of
      // the second moment: it is compared on the second moment's scale. (On the variance's own
      // scale, OpenBLAS's AVX-512 kernels summing in another order missed by 0.1%.)
      let meanScale = blas.mean.scalars.map(abs).max() ?? 0
      let secondScale =
        zip(blas.mean.scalars, blas.variance.scalars).map { $1 + $0 * $0 }.max() ?? 0
      for i in blas.mean.scalars.indices {
        #expect(abs(tiles.mean.scalars[i] - blas.mean.scalars[i]) <= 1e-5 * meanScale)
        #expect(
          abs(tiles.variance.scalars[i] - blas.variance.scalars[i]) <= 1e-5 * secondScale)
      }
    }
  }

  @Test(
    "tiled draws equal BLAS's triangular product and the shift bitwise, squares included",
    .enabled(
      if: bayesagg_binary_tiles_supported() != 0,
      "the register tiles need AVX-512, which this processor lacks"))
  func tiledDraws() throws {
    var generator = RandomGenerator(seed: 47)
    // (samples, n, square width): a full tile, row and column remainders, one of each, none.
    for (samples, n, squareWidth) in [(64, 161, 160), (13, 37, 36), (1, 1, 1), (9, 20, 0)] {
      let a = randomMatrix(n + 3, n, &generator)
      let factor = try (matmul(a, a, transposeA: true) + Matrix.identity(n)).cholesky()
      let inverse = factor.lowerInverseAsFloat(padding: 32)
      let z = (0..<(samples * n)).map { _ in Float(generator.nextNormal()) }
      let mean = (0..<n).map { _ in Float(generator.nextNormal()) }
      var expected = z
      var expectedSquares = [Float](repeating: .nan, count: samples * squareWidth)
      inverse.withUnsafeBufferPointer { x in
        expected.withUnsafeMutableBufferPointer {
          floatMultiplyByLowerTriangle(
            rows: samples, size: n, triangle: UnsafeBufferPointer(rebasing: x[..<(n * n)]),
            inPlace: $0)
        }
      }
      expectedSquares.withUnsafeMutableBufferPointer { q in
        bayesagg_shift_rows(
          &expected, mean, samples, n, squareWidth > 0 ? q.baseAddress! : nil, squareWidth)
      }
      var draws = z
      var squares = [Float](repeating: .nan, count: samples * squareWidth + 1)
      let paddedMean = mean + [Float](repeating: 0, count: 16)
      squares.withUnsafeMutableBufferPointer { q in
        bayesagg_draw_rows(
          &draws, samples, n, inverse, paddedMean, squareWidth > 0 ? q.baseAddress! : nil,
          squareWidth)
      }
      #expect(zip(draws, expected).allSatisfy { $0.bitPattern == $1.bitPattern })
      #expect(
        zip(squares, expectedSquares).allSatisfy { $0.bitPattern == $1.bitPattern },
        "squares of width \(squareWidth)")
      #expect(squares[samples * squareWidth].isNaN, "nothing is written past the squares")
    }
  }

  @Test("shifted rows and their squares equal the Swift loops bitwise, with and without squares")
  func shiftRows() {
    var generator = RandomGenerator(seed: 41)
    for (count, width, squareWidth) in [(5, 19, 18), (3, 1, 1), (1, 40, 7), (0, 6, 5)] {
      let rows = (0..<(count * width)).map { _ in Float(generator.nextNormal()) }
      let shift = (0..<width).map { _ in Float(generator.nextNormal() * 3) }
      var shifted = rows
      var squares = [Float](repeating: .nan, count: count * squareWidth)
      bayesagg_shift_rows(&shifted, shift, count, width, &squares, squareWidth)
      var alone = rows
      bayesagg_shift_rows(&alone, shift, count, width, nil, 0)
      for s in 0..<count {
        for i in 0..<width {
          let value = rows[s * width + i] + shift[i]
          #expect(shifted[s * width + i].bitPattern == value.bitPattern)
          #expect(alone[s * width + i].bitPattern == value.bitPattern)
          if i < squareWidth {
            #expect(squares[s * squareWidth + i].bitPattern == (value * value).bitPattern)
          }
        }
      }
    }
  }

  @Test("stored moments are the Double mean and second moment minus the squared mean, bitwise")
  func storeMoments() {
    var generator = RandomGenerator(seed: 42)
    for count in [37, 8, 1] {
      let mean = (0..<count).map { _ in Float(generator.nextNormal()) }
      let second = mean.map { $0 * $0 + Float(abs(generator.nextNormal())) }
      var means = [Double](repeating: .nan, count: count + 1)
      var variances = means
      bayesagg_store_moments(mean, second, count, &means, &variances)
      for i in 0..<count {
        let mu = Double(mean[i])
        #expect(means[i].bitPattern == mu.bitPattern)
        #expect(variances[i].bitPattern == (Double(second[i]) - mu * mu).bitPattern)
      }
      // Nothing past `count` is written.
      #expect(means[count].isNaN && variances[count].isNaN)
    }
  }

  @Test("L⁻¹ in Float matches the rounded solve against the identity, on every path and size")
  func lowerInverseSizes() throws {
    var generator = RandomGenerator(seed: 40)
    for n in [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 48, 100, 161, 200] {
      let a = randomMatrix(n + 3, n, &generator)
      let factor = try (matmul(a, a, transposeA: true) + Matrix.identity(n, scale: 0.5)).cholesky()
      let solved = factor.rightSolveLower(Matrix.identity(n, scale: 1))
      let largest = solved.scalars.map(abs).max()!
      // NaN in the scratch and in the upper triangle of L: neither may be read.
      var marked = factor.lower.scalars
      for i in 0..<n { for j in (i + 1)..<n { marked[i * n + j] = .nan } }
      let padding = 5
      var results: [[Float]] = []
      for path: Int32 in [0, 1, 2] {
        var scratch = [Double](
          repeating: .nan, count: bayesagg_lower_inverse_float_scratch(n))
        // One sentinel past the padding: nothing may be written there.
        var inverse = [Float](repeating: .nan, count: n * n + padding + 1)
        bayesagg_lower_inverse_float_path(marked, n, &scratch, &inverse, padding, path)
        for i in 0..<n {
          for j in 0..<n {
            let (x, y) = (Double(inverse[i * n + j]), solved[i, j])
            if j > i {
              #expect(inverse[i * n + j].bitPattern == 0, "n = \(n) [\(i), \(j)] path \(path)")
            } else {
              #expect(
                abs(x - y) <= 0x1p-23 * abs(y) + 1e-12 * largest,
                "n = \(n) [\(i), \(j)] path \(path): \(x) vs \(y)")
            }
          }
        }
        #expect(inverse[(n * n)..<(n * n + padding)].allSatisfy { $0 == 0 })
        #expect(inverse[n * n + padding].isNaN, "n = \(n), path \(path): wrote past the end")
        results.append(inverse)
      }
      // The two portable builds do the same arithmetic.
      #expect(results[1].map(\.bitPattern) == results[2].map(\.bitPattern), "n = \(n)")
    }
  }

  @Test("without the tiles, and for large heads, draws are a Float solve against L")
  func floatSolve() throws {
    var generator = RandomGenerator(seed: 39)
    let (n, rows) = (300, 64)
    let a = randomMatrix(400, n, &generator)
    let factor = try (matmul(a, a, transposeA: true) + Matrix.identity(n, scale: 0.5)).cholesky()
    guard case .factor(let lower) = DrawTriangle(factor, samples: 2 * n, tiles: true) else {
      Issue.record("n = S/2 should solve against L")
      return
    }
    guard case .inverse = DrawTriangle(factor, samples: 2 * n + 1, tiles: true) else {
      Issue.record("n < S/2 should multiply by L⁻¹ for the tiles")
      return
    }
    guard case .factor = DrawTriangle(factor, samples: 2 * n + 1, tiles: false) else {
      Issue.record("without the tiles, draws should solve against L")
      return
    }
    // L rounded element by element, zeros above the diagonal.
    #expect(lower == factor.lower.scalars.map { Float($0) })
    let z = randomMatrix(rows, n, &generator)
    let expected = factor.rightSolveLower(z)
    var draws = z.scalars.map { Float($0) }
    lower.withUnsafeBufferPointer { triangle in
      draws.withUnsafeMutableBufferPointer {
        floatMultiplyByLowerTriangle(
          rows: rows, size: n, triangle: triangle, inverted: true, inPlace: $0)
      }
    }
    let scale = expected.scalars.map { abs($0) }.max()!
    let gap = zip(draws, expected.scalars).map { abs(Double($0) - $1) }.max()!
    #expect(gap < 1e-5 * scale, "max gap \(gap) of \(scale)")
  }

  @Test("the Float L⁻¹ of a blocked-size factor times L is the identity")
  func largeInverse() throws {
    var generator = RandomGenerator(seed: 38)
    let n = 161
    let a = randomMatrix(200, n, &generator)
    let factor = try (matmul(a, a, transposeA: true) + Matrix.identity(n, scale: 0.5)).cholesky()
    let inverse = factor.lowerInverseAsFloat()
    let product = matmul(
      Matrix(rows: n, columns: n, scalars: inverse.map { Double($0) }), factor.lower)
    var worst = 0.0
    for i in 0..<n {
      for j in 0..<n {
        if j > i { #expect(inverse[i * n + j] == 0) }
        worst = max(worst, abs(product[i, j] - (i == j ? 1 : 0)))
      }
    }
    #expect(worst < 1e-5, "max |L⁻¹L − I| = \(worst)")
  }
}
