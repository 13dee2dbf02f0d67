import BayesAggTestSupport
import Foundation
import Tensors
import Testing

@testable import Aggregation

/// A rule under test: a name for the report and a factory giving it in its initial state.
struct RuleUnderTest: Sendable, CustomTestStringConvertible {
  var name: String
  var make: @Sendable () -> any JacobianAggregator

  var testDescription: String { name }
}

/// Every rule of this suite, with its default hyper-parameters (and two variants).
private let allRules: [RuleUnderTest] = [
  RuleUnderTest(name: "Mean") { RowMean() },
  RuleUnderTest(name: "Sum") { RowSum() },
  RuleUnderTest(name: "PCGrad (random order)") { PCGrad() },
  RuleUnderTest(name: "PCGrad (identity order)") { PCGrad(taskOrder: .identity) },
  RuleUnderTest(name: "IMTL-G") { IMTLG() },
  RuleUnderTest(name: "Aligned-MTL") { AlignedMTL() },
  RuleUnderTest(name: "Nash-MTL") { NashMTL() },
  RuleUnderTest(name: "GradDrop") { GradDrop() },
  RuleUnderTest(name: "GradVac") { GradVac() },
  RuleUnderTest(name: "GradVac (LibMTL targets)") { GradVac(targetUpdate: .whenAdjusted) },
]

/// The deterministic rules, invariant under a permutation of the tasks (Nash-MTL from a fresh
/// state).
private let deterministicRules = allRules.filter {
  ["Mean", "Sum", "IMTL-G", "Aligned-MTL", "Nash-MTL"].contains($0.name)
}

/// The rules with `A(sJ) = s A(J)` for every `s ≠ 0`, given the same draws and state.
private let scaleEquivariantRules = allRules.filter {
  ["Mean", "Sum", "PCGrad (random order)", "IMTL-G", "Aligned-MTL", "GradVac"].contains($0.name)
}

/// `scale · A B / √rank` with standard normal `A` (`rows × rank`) and `B` (`rank × columns`):
/// rank `min(rank, rows, columns)` and entries of size about `scale`.
private func randomJacobian(
  rows: Int, columns: Int, rank: Int, scale: Double, seed: UInt64
) -> Matrix {
  var generator = RandomGenerator(seed: seed)
  let a = Matrix(
    rows: rows, columns: rank, scalars: (0..<(rows * rank)).map { _ in generator.nextNormal() })
  let b = Matrix(
    rows: rank, columns: columns,
    scalars: (0..<(rank * columns)).map { _ in generator.nextNormal() })
  return matmul(a, b, alpha: scale / Double(rank).squareRoot())
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
  zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
}

private func norm(_ a: [Double]) -> Double {
  dot(a, a).squareRoot()
}

private func cosine(_ a: [Double], _ b: [Double]) -> Double {
  dot(a, b) / (norm(a) * norm(b))
}

/// Runs a fresh copy of `rule` on `jacobian` with a generator seeded by `seed`.
private func aggregate(_ rule: RuleUnderTest, _ jacobian: Matrix, seed: UInt64 = 7) throws
  -> [Double]
{
  var aggregator = rule.make()
  var generator = RandomGenerator(seed: seed)
  return try aggregator.aggregate(jacobian, using: &generator)
}

/// Closeness relative to the largest magnitude of `expected` (plus a floor for zero vectors).
private func expectClose(
  _ actual: [Double], _ expected: [Double], relative: Double, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let largest = expected.map(abs).max() ?? 0
  expectClose(
    actual, shape: [actual.count], expected, shape: [expected.count],
    tolerance: Tolerance(absolute: relative * largest + 1e-300), label,
    sourceLocation: sourceLocation)
}

/// A random Jacobian's shape, rank and scale.
struct RandomJacobianShape: Sendable, CustomTestStringConvertible {
  var rows: Int
  var columns: Int
  var rank: Int
  var scale: Double

  var testDescription: String { "\(rows)×\(columns), rank \(rank), scale \(scale)" }
}

private let shapes: [RandomJacobianShape] = [0, 1e-10, 1, 1e5].flatMap { scale in
  [
    RandomJacobianShape(rows: 2, columns: 6, rank: 2, scale: scale),
    RandomJacobianShape(rows: 4, columns: 9, rank: 4, scale: scale),
    RandomJacobianShape(rows: 5, columns: 12, rank: 2, scale: scale),
    RandomJacobianShape(rows: 6, columns: 3, rank: 3, scale: scale),
  ]
}

@Suite("Aggregator rules: properties on random and degenerate Jacobians")
struct AggregatorRuleTests {
  // MARK: - Every rule

  @Test(
    "finite output of length D for random Jacobians of controlled rank and scale",
    arguments: allRules, shapes)
  func finiteOutput(_ rule: RuleUnderTest, _ shape: RandomJacobianShape) throws {
    let jacobian = randomJacobian(
      rows: shape.rows, columns: shape.columns, rank: shape.rank, scale: shape.scale, seed: 11)
    let result = try aggregate(rule, jacobian)
    #expect(result.count == shape.columns)
    #expect(result.allSatisfy { $0.isFinite }, "\(rule.name): \(result)")
    if shape.scale == 0 { #expect(result.allSatisfy { $0 == 0 }, "\(rule.name): \(result)") }
  }

  @Test(
    "permuting the tasks leaves the deterministic rules unchanged",
    arguments: deterministicRules, [1e-10, 1, 1e5])
  func permutationInvariance(_ rule: RuleUnderTest, scale: Double) throws {
    let jacobian = randomJacobian(rows: 5, columns: 8, rank: 5, scale: scale, seed: 3)
    let permuted = jacobian.gatheringRows([3, 0, 4, 2, 1])
    let relative = rule.name == "Nash-MTL" ? 1e-7 : 1e-10
    expectClose(
      try aggregate(rule, permuted), try aggregate(rule, jacobian), relative: relative,
      "\(rule.name) at scale \(scale)")
  }

  @Test(
    "A(sJ) = s A(J) for the scale-equivariant rules, with the same draws",
    arguments: scaleEquivariantRules, [1e-10, 1e-3, 1e5, -2])
  func scaleEquivariance(_ rule: RuleUnderTest, scale: Double) throws {
    let jacobian = randomJacobian(rows: 4, columns: 7, rank: 4, scale: 1, seed: 5)
    let scaled = jacobian.map { $0 * scale }
    let expected = try aggregate(rule, jacobian).map { $0 * scale }
    expectClose(try aggregate(rule, scaled), expected, relative: 1e-10, "\(rule.name) × \(scale)")
  }

  @Test(
    "GradDrop is equivariant under positive scaling only (its masks follow the signs)",
    arguments: [1e-10, 1e5])
  func gradDropPositiveScaling(scale: Double) throws {
    let rule = allRules.first { $0.name == "GradDrop" }!
    let jacobian = randomJacobian(rows: 4, columns: 30, rank: 4, scale: 1, seed: 5)
    let expected = try aggregate(rule, jacobian).map { $0 * scale }
    expectClose(
      try aggregate(rule, jacobian.map { $0 * scale }), expected, relative: 1e-12,
      "GradDrop × \(scale)")
  }

  @Test(
    "the random rules give the same result for the same seed and can differ across seeds",
    arguments: allRules.filter {
      ["PCGrad (random order)", "GradDrop", "GradVac"].contains($0.name)
    })
  func seededRandomness(_ rule: RuleUnderTest) throws {
    // Conflicting gradients, so that the order of the projections matters.
    var jacobian = randomJacobian(rows: 4, columns: 10, rank: 4, scale: 1, seed: 9)
    for c in 0..<10 { jacobian[1, c] = -0.8 * jacobian[0, c] + 0.3 * jacobian[1, c] }
    let first = try aggregate(rule, jacobian, seed: 21)
    #expect(try aggregate(rule, jacobian, seed: 21) == first, "\(rule.name): same seed differs")
    var differs = false
    for seed in UInt64(22)..<42 where try aggregate(rule, jacobian, seed: seed) != first {
      differs = true
      break
    }
    #expect(differs, "\(rule.name): 20 other seeds all gave the same result")
  }

  // MARK: - Degenerate inputs

  /// The degenerate Jacobians, by name.
  static let degenerate: [(String, Matrix)] = {
    let g = [0.5, -1.25, 2, 0.75, -0.3]
    let h = [1.5, 0.25, -0.5, 1, 0.6]
    // g₂ = g₁ + 10⁻⁹ e: the Gramian's smallest eigenvalue (~10⁻¹⁸) is below its rounding.
    var close = g
    close[2] += 1e-9
    return [
      ("all zero", Matrix(rows: 3, columns: 5)),
      ("one zero row", Matrix([g, [0, 0, 0, 0, 0], h])),
      ("two identical rows", Matrix([g, g])),
      ("three identical rows", Matrix([g, g, g])),
      ("two opposite rows", Matrix([g, g.map { -$0 }])),
      ("nearly collinear, Gramian not PD in floating point", Matrix([g, close])),
      ("nearly collinear with a third task", Matrix([g, close, h])),
      ("one task", Matrix([g])),
      ("one tiny task", Matrix([g.map { $0 * 1e-200 }])),
    ]
  }()

  @Test(
    "degenerate Jacobians give finite results of length D, never a throw or NaN",
    arguments: allRules)
  func degenerateInputs(_ rule: RuleUnderTest) throws {
    for (name, jacobian) in Self.degenerate {
      let result = try aggregate(rule, jacobian)
      #expect(result.count == jacobian.columns, "\(rule.name), \(name)")
      #expect(result.allSatisfy { $0.isFinite }, "\(rule.name), \(name): \(result)")
    }
  }

  @Test("an all-zero Jacobian gives zero", arguments: allRules)
  func allZero(_ rule: RuleUnderTest) throws {
    let result = try aggregate(rule, Matrix(rows: 3, columns: 4))
    #expect(result == [0, 0, 0, 0], "\(rule.name): \(result)")
  }

  @Test(
    "one task: every rule returns the gradient (Nash-MTL clipped to norm 1)",
    arguments: allRules)
  func singleTask(_ rule: RuleUnderTest) throws {
    for scale in [1e-3, 1, 1e4] {
      let gradient = [0.5, -1.25, 2, 0.75, -0.3].map { $0 * scale }
      let result = try aggregate(rule, Matrix([gradient]))
      let length = norm(gradient)
      let expected = rule.name == "Nash-MTL" ? gradient.map { $0 / max(length, 1) } : gradient
      expectClose(result, expected, relative: 1e-14, "\(rule.name) at scale \(scale)")
    }
  }

  @Test("identical rows: the closed-form answers")
  func identicalRows() throws {
    let g = [0.5, -1.25, 2, 0.75, -0.3]
    let jacobian = Matrix([g, g, g])
    let tripled = g.map { 3 * $0 }
    let expected: [String: [Double]] = [
      "Mean": g, "Sum": tripled, "PCGrad (random order)": tripled,
      "PCGrad (identity order)": tripled, "IMTL-G": g, "Aligned-MTL": g,
      "Nash-MTL": g.map { $0 / norm(g) }, "GradDrop": tripled, "GradVac": tripled,
      "GradVac (LibMTL targets)": tripled,
    ]
    for rule in allRules {
      expectClose(try aggregate(rule, jacobian), expected[rule.name]!, relative: 1e-12, rule.name)
    }
  }

  @Test("two opposite rows cancel for every rule but GradDrop, which keeps one sign")
  func oppositeRows() throws {
    let g = [0.5, -1.25, 2, 0.75, -0.3]
    let jacobian = Matrix([g, g.map { -$0 }])
    for rule in allRules where rule.name != "GradDrop" {
      let result = try aggregate(rule, jacobian)
      #expect(result.allSatisfy { abs($0) <= 1e-15 }, "\(rule.name): \(result)")
    }
    // Purity ½ everywhere: each coordinate keeps either the positive or the negative entry.
    let dropped = try aggregate(allRules.first { $0.name == "GradDrop" }!, jacobian)
    for c in g.indices { #expect(abs(dropped[c]) == abs(g[c]), "GradDrop coordinate \(c)") }
  }

  @Test("nearly collinear rows whose Gramian is singular in floating point: sensible answers")
  func nearlyCollinearNotPositiveDefinite() throws {
    let g = [0.5, -1.25, 2, 0.75, -0.3]
    var close = g
    close[2] += 1e-9
    let jacobian = Matrix([g, close])
    // The exact smallest eigenvalue, about 10⁻¹⁸, is below the rounding of G's elements.
    let values = try jacobian.rowGramian().symmetricEigendecomposition().values
    #expect(values.min()! <= 2 * Double.ulpOfOne * values.max()!, "eigenvalues \(values)")
    var generator = RandomGenerator(seed: 1)
    let sum = jacobian.combiningRows([1, 1])
    let (a, b) = (norm(g), norm(close))
    expectClose(
      try IMTLG().aggregate(jacobian, using: &generator),
      jacobian.combiningRows([b / (a + b), a / (a + b)]), relative: 1e-12, "IMTL-G")
    expectClose(
      try PCGrad().aggregate(jacobian, using: &generator), sum, relative: 1e-15, "PCGrad")
    var nash = NashMTL()
    expectClose(
      try nash.aggregate(jacobian, using: &generator), sum.map { $0 / norm(sum) },
      relative: 1e-14, "Nash-MTL")
  }

  @Test("a zero row: IMTL-G gives it no weight, PCGrad never projects on it")
  func zeroRow() throws {
    let g = [0.5, -1.25, 2, 0.75, -0.3]
    let h = [1.5, 0.25, -0.5, 1, 0.6]
    let jacobian = Matrix([g, [0, 0, 0, 0, 0], h])
    let gramian = jacobian.rowGramian()
    #expect(try IMTLG().weights(gramian: gramian)[1] == 0)
    let withoutZero = Matrix([g, h])
    var generator = RandomGenerator(seed: 1)
    expectClose(
      try PCGrad(taskOrder: .identity).aggregate(jacobian, using: &generator),
      try PCGrad(taskOrder: .identity).aggregate(withoutZero, using: &generator),
      relative: 1e-15, "PCGrad with and without the zero row")
    expectClose(
      try IMTLG().aggregate(jacobian, using: &generator),
      try IMTLG().aggregate(withoutZero, using: &generator), relative: 1e-12,
      "IMTL-G with and without the zero row")
  }

  // MARK: - PCGrad

  @Test(
    "PCGrad with two conflicting tasks: the result conflicts with neither",
    arguments: UInt64(0)..<8)
  func pcGradRemovesConflict(seed: UInt64) throws {
    var generator = RandomGenerator(seed: seed)
    var jacobian = randomJacobian(rows: 2, columns: 6, rank: 2, scale: 1, seed: seed)
    if dot(jacobian.row(0), jacobian.row(1)) > 0 {
      for c in 0..<6 { jacobian[1, c] = -jacobian[1, c] }
    }
    let result = try PCGrad().aggregate(jacobian, using: &generator)
    for i in 0..<2 {
      let row = jacobian.row(i)
      #expect(dot(result, row) >= -1e-12 * norm(result) * norm(row), "task \(i)")
    }
  }

  @Test("PCGrad without conflicts is the sum; with identity order it is deterministic")
  func pcGradWithoutConflict() throws {
    let jacobian = Matrix([[1, 0.5, 0], [0.2, 1, 0.1], [0, 0.3, 1]])
    var generator = RandomGenerator(seed: 1)
    let sum = try RowSum().aggregate(jacobian, using: &generator)
    #expect(try PCGrad().aggregate(jacobian, using: &generator) == sum)
    let conflicting = Matrix([[1, 0, 0], [-1, 1, 0], [0.5, -2, 1]])
    var other = RandomGenerator(seed: 99)
    #expect(
      try PCGrad(taskOrder: .identity).aggregate(conflicting, using: &generator)
        == PCGrad(taskOrder: .identity).aggregate(conflicting, using: &other))
  }

  // MARK: - IMTL-G and Aligned-MTL

  @Test("IMTL-G: equal projections onto every unit task gradient", arguments: [2, 3, 5])
  func imtlgEqualProjections(tasks: Int) throws {
    let jacobian = randomJacobian(rows: tasks, columns: 9, rank: tasks, scale: 1, seed: 4)
    var generator = RandomGenerator(seed: 1)
    let result = try IMTLG().aggregate(jacobian, using: &generator)
    let projections = (0..<tasks).map { dot(result, jacobian.row($0)) / norm(jacobian.row($0)) }
    expectClose(
      projections, Array(repeating: projections[0], count: tasks), relative: 1e-9,
      "projections")
    #expect(projections[0] > 0)
  }

  @Test("IMTL-G on nearly collinear rows matches its exact two-task form")
  func imtlgTwoTaskClosedForm() throws {
    // Two tasks: w = (‖g₂‖, ‖g₁‖) / (‖g₁‖ + ‖g₂‖), independent of the angle.
    let file = try #require(goldenFiles["baselines.json"])
    let golden = try #require(file.cases.first { $0.name == "nearly_collinear_K2_D5" })
    let jacobian = try golden.input("G").matrix
    let (a, b) = (norm(jacobian.row(0)), norm(jacobian.row(1)))
    let expected = jacobian.combiningRows([b / (a + b), a / (a + b)])
    var generator = RandomGenerator(seed: 1)
    let result = try IMTLG().aggregate(jacobian, using: &generator)
    expectClose(
      result, shape: [result.count], expected, shape: [expected.count], tolerance: .float64,
      "IMTL-G, nearly collinear rows")
  }

  @Test("Aligned-MTL: orthogonal rows of equal norm give the mean; ‖A(J)‖² = λ_min / K")
  func alignedOrthogonal() throws {
    let jacobian = Matrix([[2, 0, 0, 0], [0, 0, -2, 0], [0, 2, 0, 0]])
    var generator = RandomGenerator(seed: 1)
    expectClose(
      try AlignedMTL().aggregate(jacobian, using: &generator),
      try RowMean().aggregate(jacobian, using: &generator), relative: 1e-14, "orthogonal rows")

    // B G B = λ_min I on a full-rank Gramian, so ‖A(J)‖² = αᵀ G α = λ_min ‖p‖² = λ_min / K.
    let random = randomJacobian(rows: 3, columns: 6, rank: 3, scale: 1, seed: 8)
    let smallest = try random.rowGramian().symmetricEigendecomposition().values.min()!
    let result = try AlignedMTL().aggregate(random, using: &generator)
    #expect(abs(norm(result) / (smallest / 3).squareRoot() - 1) < 1e-12)
  }

  // MARK: - Nash-MTL

  @Test(
    "Nash-MTL: the first step reaches the bargaining point α_i (Mα)_i = 1 and has norm 1",
    arguments: [1e-10, 1, 1e5], [2, 3, 6])
  func nashBargainingPoint(scale: Double, tasks: Int) throws {
    // Positively correlated gradients, so that the bargaining point exists.
    var jacobian = randomJacobian(rows: tasks, columns: 10, rank: tasks, scale: scale, seed: 2)
    for i in 0..<tasks {
      for c in 0..<10 { jacobian[i, c] += scale * 0.7 }
    }
    var rule = NashMTL()
    var generator = RandomGenerator(seed: 1)
    let result = try rule.aggregate(jacobian, using: &generator)
    let alpha = try #require(rule.previousWeights)
    let products = jacobian.rowGramian().scalars
    for i in 0..<tasks {
      var product = 0.0
      for j in 0..<tasks { product += products[i * tasks + j] * alpha[j] }
      #expect(abs(alpha[i] * product - 1) < 1e-7, "task \(i): α_i (Mα)_i = \(alpha[i] * product)")
    }
    #expect(abs(norm(result) - 1) < 1e-12)
  }

  @Test("Nash-MTL keeps its weights: warm start, reuse between updates, reset")
  func nashState() throws {
    let first = randomJacobian(rows: 3, columns: 7, rank: 3, scale: 1, seed: 12).map { $0 + 0.5 }
    let second = randomJacobian(rows: 3, columns: 7, rank: 3, scale: 1, seed: 13).map { $0 + 0.5 }
    var generator = RandomGenerator(seed: 1)

    var every = NashMTL(updateWeightsEvery: 2)
    _ = try every.aggregate(first, using: &generator)
    let kept = try #require(every.previousWeights)
    let reused = try every.aggregate(second, using: &generator)
    var expected = second.combiningRows(kept)
    expected = expected.map { $0 / max(norm(expected), 1) }
    expectClose(reused, expected, relative: 1e-14, "second call reuses the first weights")
    #expect(every.step == 2)
    every.reset()
    #expect(every.previousWeights == nil && every.step == 0)

    // A fresh rule and a reset rule agree.
    var fresh = NashMTL()
    var used = NashMTL()
    _ = try used.aggregate(first, using: &generator)
    used.reset()
    #expect(
      try fresh.aggregate(second, using: &generator) == used.aggregate(second, using: &generator))

    // A different number of tasks starts afresh instead of trapping.
    _ = try used.aggregate(first.gatheringRows([0, 1]), using: &generator)
    #expect(used.previousWeights?.count == 2)
  }

  @Test("Nash-MTL: a zero row makes the sub-problem infeasible; the clipped sum is returned")
  func nashInfeasible() throws {
    let jacobian = Matrix([[0.5, -1.25, 2], [0, 0, 0], [1.5, 0.25, -0.5]])
    var rule = NashMTL()
    var generator = RandomGenerator(seed: 1)
    let result = try rule.aggregate(jacobian, using: &generator)
    let sum = jacobian.combiningRows([1, 1, 1])
    expectClose(result, sum.map { $0 / norm(sum) }, relative: 1e-14, "clipped sum")
    #expect(rule.previousWeights == [1, 1, 1])
  }

  // MARK: - GradDrop

  @Test("GradDrop: coordinates of one sign pass whole; full leak gives the sum")
  func gradDropSigns() throws {
    let jacobian = Matrix([[1, -2, 3, 0], [2, -1, -3, 0], [0.5, -4, 1, 0]])
    var generator = RandomGenerator(seed: 5)
    let result = try GradDrop().aggregate(jacobian, using: &generator)
    #expect(result[0] == 3.5 && result[1] == -7 && result[3] == 0)
    #expect(result[2] == 4 || result[2] == -3, "mixed column keeps one sign: \(result[2])")
    let leaky = GradDrop(leak: [1, 1, 1])
    #expect(try leaky.aggregate(jacobian, using: &generator) == [3.5, -7, 1, 0])
  }

  // MARK: - GradVac

  @Test("GradVac with targets 0: two conflicting gradients become orthogonal (PCGrad)")
  func gradVacZeroTarget() throws {
    let g1 = [1.0, 0.5, -0.25]
    let g2 = [-0.75, 1, 0.5]
    #expect(cosine(g1, g2) < 0)
    let jacobian = Matrix([g1, g2])
    var rule = GradVac()
    var generator = RandomGenerator(seed: 3)
    let adjusted = try rule.adjustedGradients(jacobian, using: &generator)
    #expect(abs(cosine(adjusted.row(0), g2)) < 1e-14)
    #expect(abs(cosine(adjusted.row(1), g1)) < 1e-14)
    var fresh = GradVac()
    expectClose(
      try fresh.aggregate(jacobian, using: &generator),
      try PCGrad().aggregate(jacobian, using: &generator), relative: 1e-14, "PCGrad")
    // The paper's update: φ̂ ← (1 − β) · 0 + β φ.
    #expect(abs(rule.targets[1] - 0.5 * cosine(g1, g2)) < 1e-15)
  }

  @Test(
    "GradVac with a positive target: the cosine is raised exactly to it",
    arguments: [0.3, 0.6, 0.95])
  func gradVacPositiveTarget(target: Double) throws {
    let g1 = [1.0, 0.5, -0.25, 2]
    let g2 = [0.2, 1, 0.5, -0.1]
    #expect(cosine(g1, g2) < target)
    var rule = GradVac(beta: 0.5, initialTarget: target)
    var generator = RandomGenerator(seed: 3)
    let adjusted = try rule.adjustedGradients(Matrix([g1, g2]), using: &generator)
    #expect(abs(cosine(adjusted.row(0), g2) - target) < 1e-12)
    #expect(abs(cosine(adjusted.row(1), g1) - target) < 1e-12)
  }

  @Test("GradVac: no similarity below its target leaves the plain sum")
  func gradVacNoConflict() throws {
    let jacobian = Matrix([[1, 0.5, 0], [0.4, 1, 0.2], [0.1, 0.3, 1]])
    var rule = GradVac()
    var generator = RandomGenerator(seed: 3)
    #expect(
      try rule.aggregate(jacobian, using: &generator)
        == RowSum().aggregate(jacobian, using: &generator))
    var libMTL = GradVac(targetUpdate: .whenAdjusted)
    _ = try libMTL.aggregate(jacobian, using: &generator)
    #expect(libMTL.targets.allSatisfy { $0 == 0 }, "LibMTL updates only adjusted pairs")
    #expect(rule.targets[1] > 0, "the paper's update follows the observed similarity")
  }

  @Test("GradVac: a target near 1 still gives a finite step")
  func gradVacTargetNearOne() throws {
    let g = [1.0, 0.5, -0.25]
    var rule = GradVac(beta: 1)
    var generator = RandomGenerator(seed: 3)
    _ = try rule.aggregate(Matrix([g, g]), using: &generator)
    #expect(rule.targets[1] > 1 - 1e-15)
    let result = try rule.aggregate(Matrix([g, [0.5, 1, 0.25]]), using: &generator)
    #expect(result.allSatisfy { $0.isFinite })
  }
}
