import Tensors
import Testing

/// How close two arrays must be: `|a − e| ≤ absolute + relative · |e|` per element.
public struct Tolerance: Sendable, CustomStringConvertible {
  /// The relative part, scaled by the expected element's magnitude.
  public var relative: Double
  /// The absolute part.
  public var absolute: Double

  /// Creates a tolerance.
  public init(relative: Double = 0, absolute: Double = 0) {
    self.relative = relative
    self.absolute = absolute
  }

  /// For float64 computations against the golden vectors: relative 1e-9, absolute 1e-12.
  public static let float64 = Tolerance(relative: 1e-9, absolute: 1e-12)

  public var description: String { "rel \(relative), abs \(absolute)" }
}

/// The outcome of comparing an actual array with an expected one.
public struct Closeness: Sendable, CustomStringConvertible {
  /// Whether the shapes match, no unexpected NaN appears, and every element is within bounds.
  public var isClose: Bool
  /// A one-line account: the failure (shape, NaN, or worst element and its index) or the
  /// largest error relative to its bound.
  public var description: String
  /// The flat index of the element furthest outside (or closest to) its bound, if any.
  public var worstIndex: Int?
}

/// Compares `actual` with `expected` element by element, after checking shape and NaN.
///
/// NaN in the same place in both arrays counts as equal. Each element's bound is
/// `bounds[i]` when given (a per-element tolerance, e.g. from a Monte-Carlo standard error),
/// else `tolerance.absolute + tolerance.relative · |expected[i]|`.
/// - Parameters:
///   - actual: The computed values.
///   - actualShape: Their shape.
///   - expected: The reference values.
///   - expectedShape: Their shape.
///   - tolerance: The rule for the bound.
///   - bounds: Per-element bounds, overriding `tolerance`.
/// - Returns: The verdict, with the worst element in its description.
/// - Complexity: O(n).
public func closeness(
  _ actual: [Double], shape actualShape: [Int], to expected: [Double], shape expectedShape: [Int],
  tolerance: Tolerance, bounds: [Double]? = nil
) -> Closeness {
  guard actualShape == expectedShape, actual.count == expected.count else {
    return Closeness(
      isClose: false,
      description: "shape \(actualShape) (\(actual.count) elements) differs from expected "
        + "\(expectedShape) (\(expected.count) elements)", worstIndex: nil)
  }
  if let bounds, bounds.count != expected.count {
    return Closeness(
      isClose: false,
      description: "\(bounds.count) bounds for \(expected.count) elements", worstIndex: nil)
  }
  var worst: (index: Int, ratio: Double, error: Double, bound: Double)?
  for i in expected.indices {
    let (a, e) = (actual[i], expected[i])
    if a.isNaN || e.isNaN {
      if a.isNaN && e.isNaN { continue }
      return Closeness(
        isClose: false,
        description: "NaN mismatch at \(index(i, in: expectedShape)): actual \(a), expected \(e)",
        worstIndex: i)
    }
    let error = a == e ? 0 : abs(a - e)
    let bound = bounds?[i] ?? tolerance.absolute + tolerance.relative * abs(e)
    let ratio = bound > 0 ? error / bound : (error == 0 ? 0 : .infinity)
    if worst == nil || ratio > worst!.ratio || ratio.isNaN { worst = (i, ratio, error, bound) }
  }
  guard let worst else {
    return Closeness(isClose: true, description: "empty arrays", worstIndex: nil)
  }
  let at = index(worst.index, in: expectedShape)
  let rule = bounds == nil ? "\(tolerance)" : "per-element"
  let detail =
    "worst element \(at): actual \(actual[worst.index]), expected \(expected[worst.index]), "
    + "error \(worst.error), bound \(worst.bound) (\(rule))"
  return Closeness(isClose: worst.ratio <= 1, description: detail, worstIndex: worst.index)
}

/// The multi-index of flat index `flat` in a row-major array of `shape`, as `[i, j, …]`.
func index(_ flat: Int, in shape: [Int]) -> String {
  var rest = flat
  var result = [Int](repeating: 0, count: shape.count)
  for axis in shape.indices.reversed() where shape[axis] > 0 {
    result[axis] = rest % shape[axis]
    rest /= shape[axis]
  }
  return "\(result)"
}

/// Records a test issue unless `actual` is close to `expected`; see `closeness`.
///
/// - Returns: Whether the arrays were close.
@discardableResult
public func expectClose(
  _ actual: [Double], shape actualShape: [Int], _ expected: [Double], shape expectedShape: [Int],
  tolerance: Tolerance, bounds: [Double]? = nil, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
  let verdict = closeness(
    actual, shape: actualShape, to: expected, shape: expectedShape, tolerance: tolerance,
    bounds: bounds)
  if !verdict.isClose {
    Issue.record(Comment(rawValue: "\(label): \(verdict)"), sourceLocation: sourceLocation)
  }
  return verdict.isClose
}

/// Records a test issue unless two matrices are close; see `closeness`.
@discardableResult
public func expectClose(
  _ actual: Matrix, _ expected: Matrix, tolerance: Tolerance, bounds: [Double]? = nil,
  _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
  expectClose(
    actual.scalars, shape: actual.shape, expected.scalars, shape: expected.shape,
    tolerance: tolerance, bounds: bounds, label, sourceLocation: sourceLocation)
}
