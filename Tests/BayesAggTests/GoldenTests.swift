import Aggregation
import BayesAggTestSupport
import Foundation
import Tensors
import Testing

/// The golden fixture folder, next to this file (the package excludes it from the target).
let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("Fixtures/golden")

/// One case of one golden file, as a test argument.
struct GoldenItem: Sendable, CustomTestStringConvertible {
  var fileName: String
  var family: String
  var caseIndex: Int
  var caseName: String

  var testDescription: String { "\(family)/\(caseName)" }
}

/// Every golden file in the folder, read once.
let goldenFiles: [String: GoldenFile] = {
  guard let files = try? GoldenFile.all(in: goldenDirectory) else { return [:] }
  return Dictionary(uniqueKeysWithValues: files.map { ($0.url.lastPathComponent, $0) })
}()

/// Every case of every golden file, whatever its family.
let goldenItems: [GoldenItem] = goldenFiles.values.flatMap { file in
  file.cases.enumerated().map { i, item in
    GoldenItem(
      fileName: file.url.lastPathComponent, family: file.family, caseIndex: i,
      caseName: item.name)
  }
}.sorted { ($0.fileName, $0.caseIndex) < ($1.fileName, $1.caseIndex) }

/// The families this module checks; others (e.g. `baselines`) belong to other suites.
let bayesAggFamilies: Set<String> = ["regression", "binary_tasks", "multiclass", "mixed_utkface"]

@Suite("Golden vectors: BayesAgg-MTL against the reference implementation")
struct GoldenTests {
  @Test("the fixture folder is readable and holds every BayesAgg family")
  func fixturesLoad() throws {
    let files = try GoldenFile.all(in: goldenDirectory)
    let families = Set(files.map(\.family))
    #expect(bayesAggFamilies.isSubset(of: families), "families found: \(families)")
  }

  @Test("each golden case", arguments: goldenItems.filter { bayesAggFamilies.contains($0.family) })
  func goldenCase(_ item: GoldenItem) throws {
    let file = try #require(goldenFiles[item.fileName])
    let golden = file.cases[item.caseIndex]
    switch item.family {
    case "regression": try checkRegression(golden)
    case "binary_tasks": try checkClassification(golden, binary: true)
    case "multiclass": try checkClassification(golden, binary: false)
    case "mixed_utkface": try checkMixed(golden)
    default: Issue.record("no checks for family \(item.family)")
    }
  }
}

// MARK: - Helpers

let exact = Tolerance.float64

/// `[b, T, d]` golden moments as the `[b, T·d]` matrix `TaskMoments` uses.
func flat(_ array: GoldenArray) -> Matrix {
  array.matrix
}

func head(_ golden: GoldenCase, _ weight: String, _ bias: String) throws -> TaskHead {
  TaskHead(weight: try golden.input(weight).matrix, bias: try golden.input(bias).scalars)
}

/// The block-diagonal covariance of independent binary-output posteriors.
func blockDiagonalCovariance(_ posteriors: [GaussianPosterior]) -> Matrix {
  let width = posteriors.first?.mean.count ?? 0
  let n = width * posteriors.count
  var result = Matrix(rows: n, columns: n)
  for (o, posterior) in posteriors.enumerated() {
    let covariance = posterior.covariance()
    for i in 0..<width {
      for j in 0..<width { result[o * width + i, o * width + j] = covariance[i, j] }
    }
  }
  return result
}

/// Classification moments checked statistically: `|E − E_g| ≤ 5·std/√n + 1e-6` per element,
/// and `|Var − Var_g| ≤ 5·max(Var_g)·√(2/n)`, as the golden README prescribes.
func expectMonteCarloClose(
  _ moments: TaskMoments, mean: Matrix, variance: Matrix, standardDeviation: Matrix,
  samples n: Int, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let root = Double(n).squareRoot()
  let meanBounds = standardDeviation.scalars.map { 5 * $0 / root + 1e-6 }
  expectClose(
    moments.mean, mean, tolerance: exact, bounds: meanBounds, "\(label) E_g (MC, n = \(n))",
    sourceLocation: sourceLocation)
  let largest = variance.scalars.map(abs).max() ?? 0
  let varianceBound = 5 * largest * (2 / Double(n)).squareRoot()
  expectClose(
    moments.variance, variance, tolerance: Tolerance(absolute: varianceBound),
    "\(label) Var_g_raw (MC, n = \(n))", sourceLocation: sourceLocation)
}

// MARK: - Families

func checkRegression(_ golden: GoldenCase) throws {
  let h = try golden.input("h").matrix
  let labels = try golden.input("labels").matrix
  let heads = [try head(golden, "last_layer_weight", "last_layer_bias")]
  let power = try golden.input("sqrt_power").scalar
  let configuration = BayesAggConfiguration(
    gamma: try golden.input("gamma").scalar, regressionPower: power, classificationPower: 0)
  let model = BayesAggMTL(
    groups: [.regression(outputs: labels.columns)], representationSize: h.columns,
    configuration: configuration)
  try model.updateFullDataPosteriors(
    features: try golden.input("full_train_features").matrix,
    labels: [try golden.input("full_train_labels").matrix], heads: heads)
  var generator = RandomGenerator(seed: 1)
  let gradient = try model.representationGradient(
    h, labels: [labels], heads: heads, using: &generator)

  guard case .regression(let full)? = model.fullDataPosteriors[0],
    case .regression(let batch) = model.lastBatchPosteriors[0]
  else {
    Issue.record("regression group has no regression posterior")
    return
  }
  let name = golden.name
  #expect(full.blocks.count == 1 && batch.blocks.count == 1, "\(name): one shared Σ expected")
  expectClose(
    full.means, try golden.output("full_posterior_mean").matrix, tolerance: exact,
    "\(name) full posterior mean")
  expectClose(
    full.blocks[0].covariance, try golden.output("full_posterior_cov").matrix,
    tolerance: exact, "\(name) full posterior covariance")
  expectClose(
    full.blocks[0].precision, try golden.output("full_posterior_precision").matrix,
    tolerance: exact, "\(name) full posterior precision")
  expectClose(
    batch.means, try golden.output("batch_posterior_mean").matrix, tolerance: exact,
    "\(name) batch posterior mean")
  expectClose(
    batch.blocks[0].covariance, try golden.output("batch_posterior_cov").matrix,
    tolerance: exact, "\(name) batch posterior covariance")
  #expect(model.regressionPosteriorMean(group: 0) == full.means)

  let moments = model.lastMoments[0]
  expectClose(moments.mean, flat(try golden.output("E_g")), tolerance: exact, "\(name) E_g")
  expectClose(
    moments.variance, flat(try golden.output("Var_g_raw")), tolerance: exact,
    "\(name) Var_g_raw")
  expectClose(
    moments.clampedVariance(power: power, floor: 1e-8),
    flat(try golden.output("Sigma_g")), tolerance: exact, "\(name) Sigma_g")
  expectClose(gradient, try golden.output("dL_dh").matrix, tolerance: exact, "\(name) dL_dh")
}

func checkClassification(_ golden: GoldenCase, binary: Bool) throws {
  let h = try golden.input("h").matrix
  var labels = try golden.input("labels").matrix
  var fullLabels = try golden.input("full_train_labels").matrix
  let heads = [try head(golden, "last_layer_weight", "last_layer_bias")]
  let outputs = heads[0].weight.rows
  if !binary {
    labels = labels.reshaped(rows: labels.scalars.count, columns: 1)
    fullLabels = fullLabels.reshaped(rows: fullLabels.scalars.count, columns: 1)
  }
  let kind: TaskGroupKind = binary ? .binary(outputs: outputs) : .multiclass(classes: outputs)
  let power = try golden.input("sqrt_power").scalar
  let name = golden.name
  let expectedMean = flat(try golden.output("E_g"))
  let expectedVariance = flat(try golden.output("Var_g_raw"))
  let expectedSigma = flat(try golden.output("Sigma_g"))
  let standardDeviation = flat(try golden.output("g_std"))
  let expectedGradient = try golden.output("dL_dh_single_group").matrix

  func run(_ method: MomentMethod, samples: Int, seed: UInt64) throws -> (BayesAggMTL, Matrix) {
    let configuration = BayesAggConfiguration(
      gamma: try golden.input("gamma").scalar, regressionPower: 0, classificationPower: power,
      samples: samples, momentMethod: method)
    let model = BayesAggMTL(
      groups: [kind], representationSize: h.columns,
      configuration: configuration)
    try model.updateFullDataPosteriors(
      features: try golden.input("full_train_features").matrix, labels: [fullLabels],
      heads: heads)
    var generator = RandomGenerator(seed: seed)
    let gradient = try model.representationGradient(
      h, labels: [labels], heads: heads, using: &generator)
    return (model, gradient)
  }

  // Posteriors (exact) and, where quadrature applies, the moments to 1e-9.
  let quadratureApplies = binary || outputs == 2
  let (model, gradient) = try run(
    quadratureApplies ? .quadrature : .monteCarlo,
    samples: 1024, seed: 11)
  switch (model.fullDataPosteriors[0], model.lastBatchPosteriors[0]) {
  case (.binary(let full)?, .binary(let batch)):
    expectClose(
      full.flatMap(\.mean), shape: [outputs * (h.columns + 1)],
      try golden.output("full_posterior_mean").scalars,
      shape: try golden.output("full_posterior_mean").shape, tolerance: exact,
      "\(name) full posterior mean")
    expectClose(
      blockDiagonalCovariance(full), try golden.output("full_posterior_cov").matrix,
      tolerance: exact, "\(name) full posterior covariance")
    expectClose(
      batch.flatMap(\.mean), shape: [outputs * (h.columns + 1)],
      try golden.output("batch_posterior_mean").scalars,
      shape: try golden.output("batch_posterior_mean").shape, tolerance: exact,
      "\(name) batch posterior mean")
    expectClose(
      blockDiagonalCovariance(batch), try golden.output("batch_posterior_cov").matrix,
      tolerance: exact, "\(name) batch posterior covariance")
  case (.multiclass(let full)?, .multiclass(let batch)):
    expectClose(
      Matrix(column: full.mean), try golden.output("full_posterior_mean").matrix,
      tolerance: exact, "\(name) full posterior mean")
    expectClose(
      full.covariance(), try golden.output("full_posterior_cov").matrix,
      tolerance: exact, "\(name) full posterior covariance")
    expectClose(
      Matrix(column: batch.mean), try golden.output("batch_posterior_mean").matrix,
      tolerance: exact, "\(name) batch posterior mean")
    expectClose(
      batch.covariance(), try golden.output("batch_posterior_cov").matrix,
      tolerance: exact, "\(name) batch posterior covariance")
    // The blocks are added onto the prior without a symmetrising pass: exact symmetry is kept.
    for precision in [full.precision, batch.precision] {
      #expect(precision.scalars == precision.transposed().scalars, "\(name) precision symmetric")
    }
  default:
    Issue.record("\(name): unexpected posterior kinds")
  }
  if quadratureApplies {
    let moments = model.lastMoments[0]
    let quadrature = Tolerance(relative: 1e-9, absolute: 1e-12)
    expectClose(moments.mean, expectedMean, tolerance: quadrature, "\(name) E_g (quadrature)")
    expectClose(
      moments.variance, expectedVariance, tolerance: quadrature,
      "\(name) Var_g_raw (quadrature)")
    expectClose(
      moments.clampedVariance(power: power, floor: 1e-8), expectedSigma,
      tolerance: quadrature, "\(name) Sigma_g (quadrature)")
    expectClose(
      gradient, expectedGradient, tolerance: quadrature,
      "\(name) dL_dh (quadrature)")
  }

  // Monte Carlo, the default: statistical agreement with the deterministic moments.
  let samples = 4096
  let (mcModel, mcGradient) = try run(.monteCarlo, samples: samples, seed: 12)
  expectMonteCarloClose(
    mcModel.lastMoments[0], mean: expectedMean, variance: expectedVariance,
    standardDeviation: standardDeviation, samples: samples, name)
  // The weighted mean inherits each task's mean error, plus the error of the weights
  // v^(−α), whose relative error is about α times that of the sampled variance.
  let tasks = expectedMean.columns / h.columns
  let root = Double(samples).squareRoot()
  var bounds = [Double](repeating: 0, count: h.rows * h.columns)
  for b in 0..<h.rows {
    for j in 0..<h.columns {
      let terms = (0..<tasks).map { t in
        (standardDeviation[b, t * h.columns + j], abs(expectedMean[b, t * h.columns + j]))
      }
      let spread = terms.map(\.0).max()!
      let size = terms.map(\.1).max()!
      bounds[b * h.columns + j] =
        (5 * spread / root + 10 * power * (2 / Double(samples)).squareRoot() * size + 1e-6)
        / Double(h.rows)
    }
  }
  expectClose(
    mcGradient, expectedGradient, tolerance: exact, bounds: bounds,
    "\(name) dL_dh (MC, n = \(samples))")
}

func checkMixed(_ golden: GoldenCase) throws {
  let h = try golden.input("h").matrix
  let (batch, d) = (h.rows, h.columns)
  func column(_ key: String) throws -> Matrix {
    let values = try golden.input(key).scalars
    return Matrix(rows: values.count, columns: 1, scalars: values)
  }
  let labels = [
    try column("labels_regression"), try column("labels_task2"), try column("labels_task3"),
  ]
  let fullLabels = [
    try column("full_train_labels_regression"), try column("full_train_labels_task2"),
    try column("full_train_labels_task3"),
  ]
  let heads = [
    try head(golden, "head0_weight", "head0_bias"), try head(golden, "head1_weight", "head1_bias"),
    try head(golden, "head2_weight", "head2_bias"),
  ]
  let groups: [TaskGroupKind] = [
    .regression(outputs: 1), .multiclass(classes: heads[1].weight.rows),
    .multiclass(classes: heads[2].weight.rows),
  ]
  let regressionPower = try golden.input("sqrt_power_reg").scalar
  let classificationPower = try golden.input("sqrt_power_cls").scalar
  let samples = 20_000
  let model = BayesAggMTL(
    groups: groups, representationSize: d,
    configuration: BayesAggConfiguration(
      gamma: try golden.input("gamma").scalar, regressionPower: regressionPower,
      classificationPower: classificationPower, samples: samples, momentMethod: .quadrature))
  try model.updateFullDataPosteriors(
    features: try golden.input("full_train_features").matrix, labels: fullLabels, heads: heads)
  var generator = RandomGenerator(seed: 21)
  let gradient = try model.representationGradient(
    h, labels: labels, heads: heads, using: &generator)
  let name = golden.name

  // Batch posteriors, all exact.
  if case .regression(let posterior) = model.lastBatchPosteriors[0] {
    expectClose(
      posterior.means, try golden.output("group0_posterior_mean").matrix,
      tolerance: exact, "\(name) group 0 posterior mean")
    expectClose(
      posterior.blocks[0].covariance, try golden.output("group0_posterior_cov").matrix,
      tolerance: exact, "\(name) group 0 posterior covariance")
  } else {
    Issue.record("\(name): group 0 is not a regression posterior")
  }
  for g in 1...2 {
    guard case .multiclass(let posterior) = model.lastBatchPosteriors[g] else {
      Issue.record("\(name): group \(g) is not a multiclass posterior")
      continue
    }
    expectClose(
      Matrix(column: posterior.mean),
      try golden.output("group\(g)_posterior_mean").matrix, tolerance: exact,
      "\(name) group \(g) posterior mean")
    expectClose(
      posterior.covariance(), try golden.output("group\(g)_posterior_cov").matrix,
      tolerance: exact, "\(name) group \(g) posterior covariance")
  }

  // Moments: regression closed form and two-class quadrature are exact; five classes is MC.
  let powers = [regressionPower, classificationPower, classificationPower]
  for g in 0...1 {
    let moments = model.lastMoments[g]
    expectClose(
      moments.mean, flat(try golden.output("group\(g)_E_g")),
      tolerance: Tolerance(relative: 1e-9, absolute: 1e-12), "\(name) group \(g) E_g")
    expectClose(
      moments.clampedVariance(power: powers[g], floor: 1e-8),
      flat(try golden.output("group\(g)_Sigma_g")),
      tolerance: Tolerance(relative: 1e-9, absolute: 1e-12), "\(name) group \(g) Sigma_g")
  }
  let fiveClass = model.lastMoments[2]
  let root = Double(samples).squareRoot()
  let bounds = fiveClass.variance.scalars.map { 5 * max($0, 0).squareRoot() / root + 1e-6 }
  expectClose(
    fiveClass.mean, flat(try golden.output("group2_E_g")), tolerance: exact,
    bounds: bounds, "\(name) group 2 E_g (MC, n = \(samples))")

  // The groups concatenated along the task axis, in the model's order: [b, 3, d].
  let concatenated = try golden.output("mu_g_concat")
  #expect(concatenated.shape == [batch, 3, d])
  var means = Matrix(rows: batch, columns: 3 * d)
  var concatenatedBounds = [Double](repeating: 0, count: batch * 3 * d)
  for b in 0..<batch {
    for t in 0..<3 {
      for j in 0..<d {
        means[b, t * d + j] = model.lastMoments[t].mean[b, j]
        concatenatedBounds[b * 3 * d + t * d + j] =
          t == 2 ? bounds[b * d + j] : 1e-12 + 1e-9 * abs(concatenated.matrix[b, t * d + j])
      }
    }
  }
  expectClose(
    means, concatenated.matrix, tolerance: exact, bounds: concatenatedBounds,
    "\(name) mu_g_concat")

  // The aggregated gradient against the deterministic pipeline.
  let expected = try golden.output("dL_dh_deterministic").matrix
  let largest = expected.scalars.map(abs).max() ?? 0
  expectClose(
    gradient, expected, tolerance: Tolerance(absolute: 5 * largest / root),
    "\(name) dL_dh (five-class group by MC, n = \(samples))")

  // Limitation: `task_losses` and the head gradients are not checked here: the heads' own
  // gradients come from the summed losses in the training code, outside this module.
}
