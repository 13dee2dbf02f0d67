import BayesAggTestSupport
import CKernels
import CLinearAlgebra
import Testing

@testable import Tensors

/// A random `rows × columns` matrix of standard normals.
func randomMatrix(_ rows: Int, _ columns: Int, _ generator: inout RandomGenerator) -> Matrix {
  Matrix(
    rows: rows, columns: columns,
    scalars: (0..<(rows * columns)).map { _ in
      generator.nextNormal()
    })
}

/// The naive triple loop, as the oracle for `matmul`.
func naiveProduct(_ a: Matrix, _ b: Matrix) -> Matrix {
  var c = Matrix(rows: a.rows, columns: b.columns)
  for i in 0..<a.rows {
    for j in 0..<b.columns {
      for k in 0..<a.columns { c[i, j] += a[i, k] * b[k, j] }
    }
  }
  return c
}

@Suite("Matrix linear algebra (BLAS and LAPACK kernels)")
struct BayesAggLinearAlgebraTests {
  @Test("the row Gramian, row combination and matrix-vector product agree with naive products")
  func gramianAndCombination() {
    var generator = RandomGenerator(seed: 4)
    for (rows, columns) in [(1, 5), (3, 7), (6, 2), (128, 161)] {
      let a = randomMatrix(rows, columns, &generator)
      expectClose(
        a.rowGramian(), naiveProduct(a, a.transposed()), tolerance: .float64, "A Aᵀ")
      let w = (0..<rows).map { _ in generator.nextNormal() }
      let naive = naiveProduct(Matrix(rows: 1, columns: rows, scalars: w), a)
      expectClose(
        a.combiningRows(w), shape: [columns], naive.scalars, shape: [columns],
        tolerance: .float64, "wᵀA")
      let x = (0..<columns).map { _ in generator.nextNormal() }
      let product = naiveProduct(a, Matrix(column: x))
      expectClose(
        a.applied(to: x), shape: [rows], product.scalars, shape: [rows], tolerance: .float64,
        "A x")
    }
  }

  @Test("symmetrizeFromLower copies the lower triangle up, across tile edges")
  func symmetrize() {
    for n in [0, 1, 2, 31, 32, 33, 70] {
      var generator = RandomGenerator(seed: UInt64(n))
      var a = randomMatrix(n, n, &generator)
      let original = a
      a.symmetrizeFromLower()
      for i in 0..<n {
        for j in 0..<n {
          #expect(a[i, j] == (j <= i ? original[i, j] : original[j, i]), "n = \(n) [\(i), \(j)]")
        }
      }
    }
  }

  @Test("matmul agrees with the naive product for every transpose combination")
  func products() {
    var generator = RandomGenerator(seed: 3)
    let a = randomMatrix(4, 6, &generator)
    let b = randomMatrix(6, 5, &generator)
    let expected = naiveProduct(a, b)
    let tolerance = Tolerance(relative: 1e-12, absolute: 1e-12)
    expectClose(matmul(a, b), expected, tolerance: tolerance, "A B")
    expectClose(matmul(a.transposed(), b, transposeA: true), expected, tolerance: tolerance, "AᵀᵀB")
    expectClose(
      matmul(a, b.transposed(), transposeB: true), expected, tolerance: tolerance, "A Bᵀᵀ")
    expectClose(
      matmul(a.transposed(), b.transposed(), transposeA: true, transposeB: true, alpha: 2),
      2 * expected, tolerance: tolerance, "2 Aᵀᵀ Bᵀᵀ")
  }

  @Test("a product of blocks equals the product of the copied blocks")
  func blockProduct() {
    var generator = RandomGenerator(seed: 4)
    let a = randomMatrix(5, 7, &generator)
    let b = randomMatrix(6, 4, &generator)
    var c = Matrix(rows: 3, columns: 2)
    c.multiplyAccumulate(
      a, block: MatrixBlock(firstRow: 1, firstColumn: 2, rows: 3, columns: 4),
      b, block: MatrixBlock(firstRow: 2, firstColumn: 1, rows: 4, columns: 2))
    let expected = naiveProduct(
      a.gatheringRows([1, 2, 3]).slicingColumns(2..<6),
      b.gatheringRows([2, 3, 4, 5]).slicingColumns(1..<3))
    expectClose(c, expected, tolerance: Tolerance(relative: 1e-12, absolute: 1e-12), "blocks")
  }

  @Test("Cholesky solve, inverse and sampling transform of a positive-definite matrix")
  func choleskyRoundTrip() throws {
    var generator = RandomGenerator(seed: 5)
    let x = randomMatrix(20, 6, &generator)
    var a = matmul(x, x, transposeA: true)
    a.addToDiagonal(0.5)
    let factor = try a.cholesky(name: "test matrix")
    #expect(factor.jitter == 0)
    let tolerance = Tolerance(relative: 1e-10, absolute: 1e-10)
    expectClose(
      matmul(factor.lower, factor.lower, transposeB: true), a, tolerance: tolerance,
      "L Lᵀ")
    let b = randomMatrix(6, 3, &generator)
    expectClose(matmul(a, factor.solve(b)), b, tolerance: tolerance, "A A⁻¹B")
    expectClose(matmul(a, factor.inverse()), Matrix.identity(6), tolerance: tolerance, "A A⁻¹")
    let z = randomMatrix(4, 6, &generator)
    expectClose(
      matmul(factor.rightSolveLower(z), factor.lower), z, tolerance: tolerance,
      "(Z L⁻¹) L")
    expectClose(
      factor.rightMultiplyLowerTransposed(z), matmul(z, factor.lower, transposeB: true),
      tolerance: tolerance, "Z Lᵀ")
  }

  @Test(
    "the Cholesky kernel matches LAPACK's dpotrf, and stops at the same failing pivot",
    arguments: [1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 161, 300], [false, true])
  func choleskyKernelMatchesLAPACK(n: Int, portable: Bool) throws {
    let factor = portable ? bayesagg_cholesky_lower_portable : bayesagg_cholesky_lower
    var generator = RandomGenerator(seed: UInt64(90 + n))
    let x = randomMatrix(n + 20, n, &generator)
    var a = matmul(x, x, transposeA: true)
    a.addToDiagonal(0.1)
    var lapack = a.scalars
    var (uplo, order, info) = (CChar(UInt8(ascii: "U")), Int32(n), Int32(0))
    var lda = order
    dpotrf_(&uplo, &order, &lapack, &lda, &info, 1)
    #expect(info == 0)
    // NaN above the diagonal: the kernel must not use it.
    var marked = a
    for i in 0..<n { for j in (i + 1)..<n { marked[i, j] = .nan } }
    var ours = marked.scalars
    #expect(factor(&ours, n) == 0)
    let scale = lapack.map(abs).max()!
    for i in 0..<n {
      for j in 0...i {
        #expect(abs(ours[i * n + j] - lapack[i * n + j]) <= 1e-13 * scale, "L[\(i), \(j)]")
      }
    }
    // An indefinite matrix: the first pivot that is not positive is the one LAPACK reports.
    for broken in Set([0, n / 2, n - 1]) {
      var indefinite = a
      indefinite[broken, broken] = -indefinite[broken, broken]
      var lapackIndefinite = indefinite.scalars
      dpotrf_(&uplo, &order, &lapackIndefinite, &lda, &info, 1)
      var oursIndefinite = indefinite.scalars
      let failed = factor(&oursIndefinite, n)
      #expect(failed == Int(info) && failed >= 1 && failed <= broken + 1, "pivot \(broken)")
    }
    // A NaN below the diagonal, in row n − 1, makes that row's pivot NaN, which fails (OpenBLAS's
    // dpotrf returns 0 there and leaves NaN in its factor).
    if n > 1 {
      var poisoned = a
      poisoned[n - 1, n / 2] = .nan
      var oursPoisoned = poisoned.scalars
      #expect(factor(&oursPoisoned, n) == n)
    }
  }

  @Test("cholesky above the kernel's limit (LAPACK) and below it give L with L Lᵀ = A")
  func choleskyEitherSideOfLimit() throws {
    var generator = RandomGenerator(seed: 96)
    for n in [Matrix.directCholeskyLimit, Matrix.directCholeskyLimit + 1] {
      let x = randomMatrix(n + 5, n, &generator)
      var a = matmul(x, x, transposeA: true)
      a.addToDiagonal(1)
      let factor = try a.cholesky(name: "n = \(n)")
      #expect(factor.jitter == 0)
      // The upper triangle is cleared.
      #expect((0..<n).allSatisfy { i in ((i + 1)..<n).allSatisfy { factor.lower[i, $0] == 0 } })
      expectClose(
        matmul(factor.lower, factor.lower, transposeB: true), a,
        tolerance: Tolerance(relative: 1e-11, absolute: 1e-9), "L Lᵀ at n = \(n)")
    }
  }

  @Test("Cholesky of a semi-definite matrix succeeds after escalating jitter")
  func jitterRescuesSemiDefinite() throws {
    let v = Matrix([[1, 2, 3]])
    let rankOne = matmul(v, v, transposeA: true)
    let factor = try rankOne.cholesky(name: "rank-one Gramian")
    #expect(factor.jitter > 0)
    #expect(factor.lower.isFinite)
  }

  @Test("Cholesky of a negative-definite matrix throws an error naming the matrix")
  func negativeDefiniteThrows() {
    let negative = Matrix.identity(3, scale: -2)
    #expect {
      _ = try negative.cholesky(name: "precision of group 7")
    } throws: { error in
      guard let error = error as? LinearAlgebraError else { return false }
      let text = error.description
      return error.size == 3 && error.largestJitter > 0 && text.contains("precision of group 7")
        && text.contains("γ")
    }
  }

  @Test("a lower-triangle copy, made symmetric, equals the symmetrised original")
  func lowerTriangleCopy() {
    var generator = RandomGenerator(seed: 97)
    for n in [0, 1, 2, 5, 161] {
      let a = randomMatrix(n, n, &generator)
      var copy = a.lowerTriangleCopy()
      for i in 0..<n {
        for j in 0...i { #expect(copy[i, j].bitPattern == a[i, j].bitPattern) }
      }
      copy.symmetrizeFromLower()
      var expected = a
      expected.symmetrizeFromLower()
      #expect(copy.scalars.map(\.bitPattern) == expected.scalars.map(\.bitPattern), "n = \(n)")
    }
  }

  @Test("isFinite finds a NaN or an infinity at any place, and passes the largest finite values")
  func finiteness() {
    for count in 0...40 {
      var values = (0..<count).map { Double($0 % 3 == 0 ? -1 : 1) * .greatestFiniteMagnitude }
      #expect(Matrix(rows: 1, columns: count, scalars: values).isFinite, "count \(count)")
      for place in 0..<count {
        for bad in [Double.nan, .infinity, -.infinity] {
          let kept = values[place]
          values[place] = bad
          #expect(
            !Matrix(rows: 1, columns: count, scalars: values).isFinite,
            "\(bad) at \(place) of \(count)")
          values[place] = kept
        }
      }
    }
  }

  @Test("Cholesky of a matrix with NaN throws instead of calling LAPACK")
  func nonFiniteThrows() {
    var a = Matrix.identity(2)
    a[0, 1] = .nan
    #expect(throws: LinearAlgebraError.self) { _ = try a.cholesky() }
  }

  @Test("the symmetric eigendecomposition reconstructs the matrix")
  func eigendecomposition() throws {
    let a = Matrix([[2, 1, 0], [1, 3, 1], [0, 1, 4]])
    let (values, vectors) = try a.symmetricEigendecomposition()
    #expect(values == values.sorted())
    var scaled = vectors
    for i in 0..<3 {
      for k in 0..<3 { scaled[i, k] *= values[k] }
    }
    expectClose(
      matmul(scaled, vectors, transposeB: true), a,
      tolerance: Tolerance(relative: 1e-12, absolute: 1e-12), "V diag(λ) Vᵀ")
  }

  @Test(
    "the Gram tiles add AᵀA to the lower triangle only, as dsyrk does",
    .enabled(if: gramTilesSupported, "the Gram tiles need AVX-512, which this processor lacks"))
  func gramTiles() {
    var generator = RandomGenerator(seed: 52)
    // (rows of A, n): the posteriors' shape, whole and partial tiles, one of each, a thin A.
    for (rows, n) in [(128, 161), (37, 21), (1, 1), (5, 17), (3, 40)] {
      let a = randomMatrix(rows, n, &generator)
      let start = randomMatrix(n, n, &generator)
      var tiled = start
      a.scalars.withUnsafeBufferPointer { tiled.addGramToLower(rows: rows, columns: n, of: $0) }
      var blas = start.scalars
      a.scalars.withUnsafeBufferPointer { pa in
        cblas_dsyrk(
          CblasRowMajor, CblasLower, CblasTrans, Int32(n), Int32(rows), 1, pa.baseAddress,
          Int32(n), 1, &blas, Int32(n))
      }
      for i in 0..<n {
        for j in 0..<n {
          let got = tiled[i, j]
          guard j <= i else {
            #expect(got.bitPattern == start[i, j].bitPattern, "upper [\(i), \(j)] untouched")
            continue
          }
          var sum = 0.0
          for k in 0..<rows { sum += a[k, i] * a[k, j] }
          let expected = start[i, j] + sum
          #expect(abs(got - expected) <= 1e-13 * (1 + abs(expected)), "[\(i), \(j)]")
          #expect(abs(got - blas[i * n + j]) <= 1e-13 * (1 + abs(expected)), "dsyrk [\(i), \(j)]")
        }
      }
    }
  }
}

@Suite("Closeness helper")
struct BayesAggClosenessTests {
  @Test("reports the worst element and its multi-index")
  func worstElement() {
    let verdict = closeness(
      [1, 2, 3, 4.5], shape: [2, 2], to: [1, 2, 3, 4], shape: [2, 2],
      tolerance: Tolerance(relative: 0, absolute: 0.1))
    #expect(!verdict.isClose)
    #expect(verdict.worstIndex == 3)
    #expect(verdict.description.contains("[1, 1]"))
  }

  @Test("rejects a shape mismatch and a NaN before comparing values")
  func shapeAndNaN() {
    #expect(
      !closeness([1, 2], shape: [2], to: [1, 2], shape: [1, 2], tolerance: .float64).isClose)
    let nan = closeness([1, .nan], shape: [2], to: [1, 2], shape: [2], tolerance: .float64)
    #expect(!nan.isClose && nan.description.contains("NaN"))
    #expect(
      closeness([1, 2 + 1e-13], shape: [2], to: [1, 2], shape: [2], tolerance: .float64)
        .isClose)
  }
}
