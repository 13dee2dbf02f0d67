import Aggregation
import BayesAggTestSupport
import Tensors
import Testing

/// The QP-based baselines against the `baselines` golden family (TorchJD 0.18.0, and an exact QP
/// for the minimum-norm point), at the tolerances of the golden README: `abs 1e-6 · max|G|` for
/// UPGrad, DualProj and exact MGDA; `1e-4` of the largest reference magnitude for CAGrad.
@Suite("Golden vectors: QP-based baselines against TorchJD and an exact QP")
struct BaselineGoldenQPTests {
  @Test("each baselines case", arguments: goldenItems.filter { $0.family == "baselines" })
  func baselinesCase(_ item: GoldenItem) throws {
    let file = try #require(goldenFiles[item.fileName])
    let golden = file.cases[item.caseIndex]
    let jacobian = try golden.input("G").matrix
    let largest = jacobian.scalars.reduce(0) { max($0, abs($1)) }
    let solverTolerance = Tolerance(absolute: 1e-6 * largest)

    let checks: [(key: String, aggregator: any JacobianAggregator, relativeToOutput: Bool)] = [
      ("UPGrad", UPGrad(), false),
      ("DualProj", DualProj(), false),
      ("MGDA_exact_min_norm", MGDA(), false),
      ("CAGrad_c0.4", CAGrad(c: 0.4), true),
    ]
    for (key, aggregator, relativeToOutput) in checks {
      var aggregator = aggregator
      var generator = RandomGenerator(seed: 0)
      let actual = try aggregator.aggregate(jacobian, using: &generator)
      #expect(actual.allSatisfy { $0.isFinite }, "\(golden.name) \(key): non-finite output")
      // A key the reference failed on is absent from `outputs`: finiteness is all we can ask.
      guard golden.hasOutput(key) else { continue }
      let expected = try output(golden, undottedKey: key)
      let largestExpected = expected.scalars.reduce(0) { max($0, abs($1)) }
      let tolerance =
        relativeToOutput
        ? Tolerance(absolute: 1e-4 * largestExpected + 1e-12 * largest) : solverTolerance
      expectClose(
        actual, shape: [actual.count], expected.scalars, shape: expected.shape,
        tolerance: tolerance, "\(golden.name) \(key)")
    }

    // The minimum-norm weights are unique unless two rows coincide.
    if golden.hasOutput("MGDA_exact_weights") && !hasCoincidentRows(jacobian) {
      let expected = try output(golden, undottedKey: "MGDA_exact_weights")
      let weights = MinNormSolver().weights(gramian: jacobian.rowGramian())
      expectClose(
        weights, shape: [weights.count], expected.scalars, shape: expected.shape,
        tolerance: Tolerance(absolute: 1e-6), "\(golden.name) MGDA_exact_weights")
    }
  }
}

/// Whether two rows of `jacobian` are equal to rounding (then convex weights are not unique).
private func hasCoincidentRows(_ jacobian: Matrix) -> Bool {
  let gramian = jacobian.rowGramian()
  let scale = gramian.diagonal.max() ?? 0
  for i in 0..<jacobian.rows {
    for j in 0..<i {
      let squaredDistance = gramian[i, i] + gramian[j, j] - 2 * gramian[i, j]
      if squaredDistance <= 1e-12 * scale { return true }
    }
  }
  return false
}

/// Output `key` of `golden`, read whole even when the key holds a dot (`"CAGrad_c0.4"`), which
/// `GoldenCase.output(_:)` would read as a path.
private func output(_ golden: GoldenCase, undottedKey key: String) throws -> GoldenArray {
  var single = golden
  single.outputs = [:]
  if let value = golden.outputs[key] { single.outputs["value"] = value }
  return try single.output("value")
}
