import Aggregation
import BayesAggTestSupport
import Foundation
import Tensors
import Testing

/// A random Jacobian of controlled shape, rank and scale, as a test argument.
struct QPJacobianCase: Sendable, CustomTestStringConvertible {
  var tasks: Int
  var columns: Int
  var rank: Int
  var scale: Double
  var seed: UInt64

  var testDescription: String { "K=\(tasks) D=\(columns) rank \(rank) scale \(scale)" }

  /// `scale · A B` with `A` `K × rank` and `B` `rank × D` standard normal.
  var jacobian: Matrix {
    var generator = RandomGenerator(seed: seed)
    let a = randomMatrix(tasks, rank, &generator)
    let b = randomMatrix(rank, columns, &generator)
    return matmul(a, b, alpha: scale)
  }

  /// Every combination of K ∈ {2, 3, 5, 8}, rank ∈ {1, 2, K} and scale ∈ {0, 1e-10, 1, 1e5}.
  static let all: [QPJacobianCase] = {
    var cases: [QPJacobianCase] = []
    for tasks in [2, 3, 5, 8] {
      for rank in Set([1, 2, tasks]).sorted() {
        for scale in [0, 1e-10, 1, 1e5] {
          cases.append(
            QPJacobianCase(
              tasks: tasks, columns: 10, rank: rank, scale: scale,
              seed: UInt64(100 * tasks + 10 * rank) + UInt64(cases.count)))
        }
      }
    }
    return cases
  }()
}

/// The four QP-based aggregators, as a test argument.
enum QPMethod: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case mgda = "MGDA"
  case upgrad = "UPGrad"
  case dualProj = "DualProj"
  case caGrad = "CAGrad"

  var testDescription: String { rawValue }

  var aggregator: any JacobianAggregator {
    switch self {
    case .mgda: MGDA()
    case .upgrad: UPGrad()
    case .dualProj: DualProj()
    case .caGrad: CAGrad()
    }
  }

  func aggregate(_ jacobian: Matrix) throws -> [Double] {
    var aggregator = aggregator
    var generator = RandomGenerator(seed: 0)
    return try aggregator.aggregate(jacobian, using: &generator)
  }
}

/// `wᵀ Γ w`.
private func quadraticForm(_ gramian: Matrix, _ w: [Double]) -> Double {
  zip(w, matmul(gramian, Matrix(column: w)).scalars).map { $0 * $1 }.reduce(0, +)
}

/// The largest magnitude in `values` (0 when empty).
private func largestMagnitude(_ values: [Double]) -> Double {
  values.reduce(0) { max($0, abs($1)) }
}

@Suite("QP solvers: minimum-norm point, dual-cone projection and the aggregators built on them")
struct QPSolverTests {
  @Test(
    "min-norm weights lie in the simplex and no sampled hull point is shorter",
    arguments: QPJacobianCase.all)
  func minNormIsOptimal(_ item: QPJacobianCase) {
    let gramian = item.jacobian.rowGramian()
    let w = MinNormSolver().weights(gramian: gramian)
    #expect(w.count == item.tasks)
    #expect(w.allSatisfy { $0.isFinite && $0 >= -1e-12 }, "weights \(w)")
    #expect(abs(w.reduce(0, +) - 1) <= 1e-12, "weights \(w) sum to \(w.reduce(0, +))")

    let squaredNorm = quadraticForm(gramian, w)
    let slack = 1e-10 * largestMagnitude(gramian.diagonal)
    // The optimality certificate of the minimum-norm point p: gₖ · p ≥ ‖p‖² for every row.
    let products = matmul(gramian, Matrix(column: w)).scalars
    #expect(products.allSatisfy { $0 >= squaredNorm - slack }, "Γw \(products), ν \(squaredNorm)")
    // Vertices, points along every edge, and random points of the simplex are no shorter.
    var generator = RandomGenerator(seed: item.seed &+ 1)
    var samples: [[Double]] = []
    for i in 0..<item.tasks {
      for j in 0...i {
        for t in stride(from: 0.0, through: 1.0, by: 0.125) {
          var point = [Double](repeating: 0, count: item.tasks)
          point[i] += t
          point[j] += 1 - t
          samples.append(point)
        }
      }
    }
    for _ in 0..<300 {
      let draws = (0..<item.tasks).map { _ in -Foundation.log(1 - generator.nextUniform()) }
      let total = draws.reduce(0, +)
      samples.append(draws.map { $0 / total })
    }
    let shortest = samples.map { quadraticForm(gramian, $0) }.min() ?? .infinity
    #expect(squaredNorm <= shortest + slack, "ν \(squaredNorm), shortest sample \(shortest)")
  }

  @Test("the non-negative QP solver matches enumeration of every active set", arguments: 0..<24)
  func nonNegativeProgramMatchesEnumeration(_ seed: Int) {
    var generator = RandomGenerator(seed: UInt64(1000 + seed))
    let n = 1 + seed % 6
    let rank = seed % 3 == 0 ? max(1, n - 2) : n  // every third case is singular
    let a = randomMatrix(rank, n, &generator)
    let m = matmul(a, a, transposeA: true)
    let q = (0..<n).map { _ in generator.nextNormal() }
    let program = NonNegativeQuadraticProgram(quadratic: m, linear: q)
    let x = program.minimizer()
    #expect(x.allSatisfy { $0 >= 0 && $0.isFinite }, "x \(x)")

    func objective(_ x: [Double]) -> Double {
      0.5 * quadraticForm(m, x) + zip(q, x).map { $0 * $1 }.reduce(0, +)
    }
    // The best point with a free set S: solve M_SS z = −q_S and keep z if it is feasible. Some
    // minimiser has a free set whose block is non-singular, so singular blocks are skipped.
    var best = 0.0  // x = 0
    for mask in 1..<(1 << n) {
      let free = (0..<n).filter { mask & (1 << $0) != 0 }
      let block = Matrix(free.map { i in free.map { j in m[i, j] } })
      guard let spectrum = try? block.symmetricEigendecomposition(),
        let smallest = spectrum.values.first, let largest = spectrum.values.last,
        smallest > 1e-9 * largest,
        let factor = try? block.cholesky(maximumJitterSteps: 0)
      else { continue }
      let solution = factor.solve(free.map { -q[$0] })
      guard solution.allSatisfy({ $0 >= 0 }) else { continue }
      var point = [Double](repeating: 0, count: n)
      for (k, i) in free.enumerated() { point[i] = solution[k] }
      best = min(best, objective(point))
    }
    let scale = max(largestMagnitude(m.diagonal), largestMagnitude(q), 1)
    #expect(objective(x) <= best + 1e-10 * scale, "objective \(objective(x)), best \(best)")
    #expect(objective(x) >= best - 1e-9 * scale, "objective \(objective(x)) below \(best)")
  }

  @Test("the dual-cone projection satisfies v ≥ u and Γ v ≥ 0", arguments: QPJacobianCase.all)
  func dualConeProjectionIsFeasible(_ item: QPJacobianCase) {
    let gramian = item.jacobian.rowGramian()
    var generator = RandomGenerator(seed: item.seed &+ 2)
    let u = (0..<item.tasks).map { _ in generator.nextNormal() }
    let v = DualConeProjection(gramian: gramian).weights(projecting: u)
    #expect(v.allSatisfy { $0.isFinite }, "v \(v)")
    #expect(zip(v, u).allSatisfy { $0 >= $1 }, "v \(v) below u \(u)")
    let products = matmul(gramian, Matrix(column: v)).scalars
    let slack = 1e-10 * largestMagnitude(gramian.diagonal) * max(largestMagnitude(v), 1)
    #expect(products.allSatisfy { $0 >= -slack }, "Γv \(products)")
  }

  @Test(
    "UPGrad and DualProj conflict with no task gradient, up to the regularisation",
    arguments: QPJacobianCase.all.filter { $0.scale >= 1 })
  func projectionsDoNotConflict(_ item: QPJacobianCase) throws {
    let jacobian = item.jacobian
    let gramian = jacobian.rowGramian()
    let trace = gramian.diagonal.reduce(0, +)
    for regularization in [1e-4, 1e-12] {
      let rules: [(String, [Double])] = [
        ("UPGrad", UPGrad(regularization: regularization).weights(gramian: gramian)),
        ("DualProj", DualProj(regularization: regularization).weights(gramian: gramian)),
      ]
      for (name, w) in rules {
        // (Γ/tr + εI) w ≥ 0, so gₖ · x = (Γ w)ₖ ≥ −ε · tr · wₖ.
        let x = jacobian.combiningRows(w)
        let products = matmul(jacobian, Matrix(column: x)).scalars
        for (k, product) in products.enumerated() {
          let bound = -regularization * trace * abs(w[k]) - 1e-10 * trace * largestMagnitude(w)
          #expect(product >= bound, "\(name) ε=\(regularization): g\(k)·x = \(product)")
        }
      }
    }
  }

  @Test("permuting the rows leaves the output unchanged", arguments: QPMethod.allCases)
  func permutationInvariance(_ method: QPMethod) throws {
    for item in QPJacobianCase.all where item.tasks >= 3 && item.scale == 1 {
      let jacobian = item.jacobian
      let order = Array((0..<item.tasks).reversed().dropFirst()) + [item.tasks - 1]
      let expected = try method.aggregate(jacobian)
      let actual = try method.aggregate(jacobian.gatheringRows(order))
      let tolerance = Tolerance(
        absolute: 1e-9 * largestMagnitude(expected) + 1e-14 * largestMagnitude(jacobian.scalars))
      expectClose(
        actual, shape: [actual.count], expected, shape: [expected.count], tolerance: tolerance,
        "\(method) \(item.testDescription), rows \(order)")
    }
  }

  @Test("scaling J by s > 0 scales the output by s", arguments: QPMethod.allCases)
  func scaleEquivariance(_ method: QPMethod) throws {
    // UPGrad, DualProj and CAGrad are equivariant while ‖sJ‖²_F ≥ normEpsilon (here ≥ 1.6e-3);
    // MGDA at every scale.
    let scales = method == .mgda ? [1e-10, 1e-2, 7, 1e5] : [1e-2, 7, 1e5]
    for item in QPJacobianCase.all where item.tasks >= 3 && item.scale == 1 {
      let jacobian = item.jacobian
      let base = try method.aggregate(jacobian)
      for s in scales {
        let scaled = try method.aggregate(jacobian.map { $0 * s })
        let tolerance = Tolerance(
          absolute: s * (1e-9 * largestMagnitude(base) + 1e-14 * largestMagnitude(jacobian.scalars))
        )
        expectClose(
          scaled, shape: [scaled.count], base.map { $0 * s }, shape: [base.count],
          tolerance: tolerance, "\(method) \(item.testDescription) × \(s)")
      }
    }
  }

  @Test("below normEpsilon the Gramian counts as zero: UPGrad and DualProj give the mean, CAGrad 0")
  func tinyJacobians() throws {
    let jacobian = QPJacobianCase(tasks: 4, columns: 6, rank: 4, scale: 1e-10, seed: 9).jacobian
    let mean = jacobian.combiningRows([Double](repeating: 0.25, count: 4))
    let bound = Tolerance(absolute: 1e-12 * largestMagnitude(mean))
    for method in [QPMethod.upgrad, .dualProj] {
      let actual = try method.aggregate(jacobian)
      expectClose(actual, shape: [6], mean, shape: [6], tolerance: bound, "\(method)")
    }
    #expect(try QPMethod.caGrad.aggregate(jacobian) == [Double](repeating: 0, count: 6))
  }
}

/// A degenerate Jacobian, with what each rule should return for it.
enum QPDegenerateCase: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case allZero = "all-zero J"
  case zeroRow = "one zero row"
  case identicalRows = "three identical rows"
  case oppositeRows = "two opposite rows"
  case nearlyCollinear = "three nearly collinear rows"
  case singleTask = "one task"

  var testDescription: String { rawValue }

  static let g: [Double] = [0.3, -1.2, 2.0, 0.7, -0.4]

  var jacobian: Matrix {
    let g = Self.g
    switch self {
    case .allZero: return Matrix(rows: 3, columns: 5)
    case .zeroRow: return Matrix([g, [1.0, 0.5, -0.2, 0.0, 0.9], [0, 0, 0, 0, 0]])
    case .identicalRows: return Matrix([g, g, g])
    case .oppositeRows: return Matrix([g, g.map { -$0 }])
    case .nearlyCollinear:
      return Matrix([
        g, g.enumerated().map { $1 + ($0 == 0 ? 1e-9 : 0) }, g.map { $0 * (1 + 1e-9) },
      ])
    case .singleTask: return Matrix([g])
    }
  }

  /// The expected output of `method`, when it is known in closed form.
  func expected(_ method: QPMethod) -> [Double]? {
    let g = Self.g
    let zero = [Double](repeating: 0, count: 5)
    switch (self, method) {
    case (.allZero, _): return zero
    case (.zeroRow, .mgda), (.oppositeRows, .mgda), (.oppositeRows, .dualProj),
      (.oppositeRows, .caGrad):
      return zero
    case (.identicalRows, .caGrad), (.singleTask, .caGrad): return g.map { 1.4 * $0 }
    case (.identicalRows, _), (.singleTask, _): return g
    default: return nil
    }
  }
}

@Suite("QP-based aggregators on degenerate Jacobians")
struct QPDegenerateTests {
  @Test(
    "finite, sensible results and valid min-norm weights",
    arguments: QPDegenerateCase.allCases, QPMethod.allCases)
  func degenerate(_ item: QPDegenerateCase, _ method: QPMethod) throws {
    let jacobian = item.jacobian
    let actual = try method.aggregate(jacobian)
    #expect(actual.count == jacobian.columns)
    #expect(actual.allSatisfy { $0.isFinite }, "\(actual)")
    if let expected = item.expected(method) {
      expectClose(
        actual, shape: [actual.count], expected, shape: [expected.count],
        tolerance: Tolerance(relative: 1e-9, absolute: 1e-12), "\(method) on \(item)")
    }
    // UPGrad of opposite rows is zero up to the regularisation's pull.
    if item == .oppositeRows && method == .upgrad {
      #expect(largestMagnitude(actual) <= 1e-3 * largestMagnitude(QPDegenerateCase.g))
    }
    if item == .nearlyCollinear {
      expectClose(
        actual, shape: [actual.count], QPDegenerateCase.g.map { method == .caGrad ? 1.4 * $0 : $0 },
        shape: [5], tolerance: Tolerance(relative: 1e-6, absolute: 1e-8), "\(method) on \(item)")
    }

    let w = MinNormSolver().weights(gramian: jacobian.rowGramian())
    #expect(w.allSatisfy { $0.isFinite && $0 >= 0 }, "weights \(w)")
    #expect(abs(w.reduce(0, +) - 1) <= 1e-12, "weights \(w)")
  }

  @Test(
    "a Jacobian whose Gramian overflows is an AggregationError, not a trap",
    arguments: QPMethod.allCases)
  func overflowThrows(_ method: QPMethod) {
    let jacobian = Matrix([[1e200, 0], [0, 1e200]])
    #expect(throws: AggregationError.self) { try method.aggregate(jacobian) }
  }
}
