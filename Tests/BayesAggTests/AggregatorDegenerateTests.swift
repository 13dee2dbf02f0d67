import BayesAggTestSupport
import Tensors
import Testing

@testable import Aggregation
@testable import Experiments

/// Every gradient-aggregation method, built as `bayesagg train --method` builds it.
let aggregationMethods = Method.allCases.filter { $0.family == .gradientAggregation }

/// A named Jacobian that other libraries have been reported to mishandle.
struct DegenerateJacobian: Sendable, CustomTestStringConvertible {
  var name: String
  var jacobian: Matrix
  var testDescription: String { name }
}

/// Random `K × D` with entries of size `scale` and rank at most `rank`.
func randomJacobian(tasks: Int, columns: Int, rank: Int, scale: Double, seed: UInt64) -> Matrix {
  var generator = RandomGenerator(seed: seed)
  let left = Matrix(
    rows: tasks, columns: rank, scalars: (0..<(tasks * rank)).map { _ in generator.nextNormal() })
  let right = Matrix(
    rows: rank, columns: columns,
    scalars: (0..<(rank * columns)).map { _ in generator.nextNormal() })
  return matmul(left, right).map { $0 * scale }
}

let degenerateJacobians: [DegenerateJacobian] = {
  let g = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5]
  let h = [1.0, 0.5, -0.5, 2.0, 0.0, -1.0]
  let near = zip(g, [1.0, -2, 3, -4, 5, -6]).map { $0 + 1e-9 * $1 }
  var cases = [
    DegenerateJacobian(name: "all zero", jacobian: Matrix(rows: 3, columns: 6)),
    DegenerateJacobian(name: "one zero row", jacobian: Matrix([g, [0, 0, 0, 0, 0, 0], h])),
    DegenerateJacobian(name: "two identical rows", jacobian: Matrix([g, g, h])),
    DegenerateJacobian(name: "only identical rows", jacobian: Matrix([g, g, g])),
    DegenerateJacobian(name: "two opposite rows", jacobian: Matrix([g, g.map { -$0 }])),
    DegenerateJacobian(name: "nearly collinear rows", jacobian: Matrix([g, near])),
    DegenerateJacobian(name: "single task", jacobian: Matrix([g])),
    DegenerateJacobian(name: "single zero task", jacobian: Matrix([[0, 0, 0, 0, 0, 0]])),
  ]
  for scale in [0, 1e-10, 1, 1e5] {
    cases.append(
      DegenerateJacobian(
        name: "K=5 rank 2 scale \(scale)",
        jacobian: randomJacobian(tasks: 5, columns: 12, rank: 2, scale: scale, seed: 11)))
    cases.append(
      DegenerateJacobian(
        name: "K=4 full rank scale \(scale)",
        jacobian: randomJacobian(tasks: 4, columns: 12, rank: 4, scale: scale, seed: 12)))
  }
  return cases
}()

func aggregate(_ method: Method, _ jacobian: Matrix, seed: UInt64 = 1) throws -> [Double] {
  var rule = makeAggregator(method, settings: MethodSettings())
  var generator = RandomGenerator(seed: seed)
  return try rule.aggregate(jacobian, using: &generator)
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
  zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
}

@Suite("Gradient aggregation: every method on degenerate and random Jacobians")
struct AggregatorDegenerateTests {
  @Test(
    "finite, of length D, never NaN: every method on every degenerate Jacobian",
    arguments: aggregationMethods, degenerateJacobians)
  func finiteOnDegenerateInputs(_ method: Method, _ item: DegenerateJacobian) throws {
    let result = try aggregate(method, item.jacobian)
    #expect(result.count == item.jacobian.columns)
    #expect(result.allSatisfy { $0.isFinite }, "\(method) on \(item.name): \(result)")
    let largest = item.jacobian.scalars.map(abs).max() ?? 0
    if largest == 0 {
      #expect(result.allSatisfy { $0 == 0 }, "\(method): a zero Jacobian must give a zero step")
    }
  }

  @Test(
    "one task, or only identical rows: the step is a non-negative multiple of the gradient",
    arguments: aggregationMethods)
  func singleDirection(_ method: Method) throws {
    let g = [0.5, -1.0, 2.0, 0.25]
    for jacobian in [Matrix([g]), Matrix([g, g, g])] {
      let result = try aggregate(method, jacobian)
      let along = dot(result, g) / dot(g, g)
      let residual = zip(result, g).map { $0 - along * $1 }.map(abs).max() ?? 0
      #expect(along >= -1e-12, "\(method): \(result) points against the only gradient")
      #expect(residual <= 1e-9 * max(1, abs(along)), "\(method): \(result) leaves g's line")
    }
  }

  @Test(
    "permuting the tasks leaves the deterministic methods' result unchanged",
    arguments: [Method.mgda, .cagrad, .imtlg, .nashmtl, .alignedmtl, .upgrad, .dualproj])
  func permutationInvariance(_ method: Method) throws {
    let jacobian = randomJacobian(tasks: 4, columns: 9, rank: 4, scale: 1, seed: 21)
    let permuted = jacobian.gatheringRows([2, 0, 3, 1])
    let a = try aggregate(method, jacobian)
    let b = try aggregate(method, permuted)
    let largest = a.map(abs).max() ?? 0
    let tolerance = Tolerance(relative: 0, absolute: 1e-6 * max(largest, 1e-300))
    expectClose(b, shape: [b.count], a, shape: [a.count], tolerance: tolerance, "\(method)")
  }

  /// UPGrad, DualProj and CAGrad follow TorchJD below ‖sJ‖²_F = 1e-4, where the normalised
  /// Gramian is taken as zero; the scales here stay above it.
  @Test(
    "scaling the Jacobian by s scales the result by s (the scale-equivariant methods)",
    arguments: [
      Method.mgda, .pcgrad, .cagrad, .imtlg, .alignedmtl, .upgrad, .dualproj,
      .graddrop, .gradvac,
    ])
  func scaleEquivariance(_ method: Method) throws {
    let jacobian = randomJacobian(tasks: 4, columns: 9, rank: 4, scale: 1, seed: 22)
    let base = try aggregate(method, jacobian)
    for s in [1e-2, 3.0, 1e5] {
      let scaled = try aggregate(method, jacobian.map { $0 * s }).map { $0 / s }
      let largest = base.map(abs).max() ?? 0
      let tolerance = Tolerance(relative: 0, absolute: 1e-6 * max(largest, 1e-300))
      expectClose(
        scaled, shape: [scaled.count], base, shape: [base.count], tolerance: tolerance,
        "\(method) at scale \(s)")
    }
  }

  /// UPGrad and DualProj regularise the Gramian by εI (TorchJD's ε = 1e-4), which allows a
  /// conflict of order ε; with ε = 1e-12 they must not conflict beyond rounding.
  @Test("MGDA, and UPGrad and DualProj without regularisation, never conflict with a task")
  func noConflict() throws {
    let rules: [any JacobianAggregator] = [
      MGDA(), UPGrad(regularization: 1e-12), DualProj(regularization: 1e-12),
    ]
    for seed in UInt64(30)..<UInt64(40) {
      let jacobian = randomJacobian(tasks: 5, columns: 8, rank: 5, scale: 1, seed: seed)
      for var rule in rules {
        var generator = RandomGenerator(seed: 1)
        let result = try rule.aggregate(jacobian, using: &generator)
        for k in 0..<jacobian.rows {
          let g = jacobian.row(k)
          let bound = -1e-9 * dot(g, g).squareRoot() * dot(result, result).squareRoot()
          #expect(dot(g, result) >= bound, "\(rule.name), task \(k)")
        }
      }
    }
  }

  @Test(
    "the random methods repeat with the same seed",
    arguments: [Method.pcgrad, .graddrop, .gradvac])
  func sameSeedSameResult(_ method: Method) throws {
    let jacobian = randomJacobian(tasks: 5, columns: 30, rank: 5, scale: 1, seed: 41)
    #expect(try aggregate(method, jacobian, seed: 9) == aggregate(method, jacobian, seed: 9))
  }
}
