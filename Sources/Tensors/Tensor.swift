/// A dense, row-major array of `Float` with a shape.
///
/// Tensors are values: the scalars live in a Swift array, so copies share storage until one of
/// them is written (copy-on-write). Every operation returns a new tensor; the kernels that touch
/// raw memory live in a few files (`Tensor+Arithmetic`, `Tensor+LinearAlgebra`).
public struct Tensor: Sendable, Equatable {
  /// The extent of each axis; the last axis varies fastest in `scalars`.
  public private(set) var shape: [Int]
  /// The elements in row-major order.
  public var scalars: [Float]

  /// Creates a tensor from its shape and row-major scalars.
  ///
  /// - Precondition: `scalars.count` is the product of `shape`, and no extent is negative.
  public init(shape: [Int], scalars: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
    precondition(
      scalars.count == shape.reduce(1, *),
      "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
    self.shape = shape
    self.scalars = scalars
  }

  /// A tensor of the given shape with every element equal to `value`.
  public init(repeating value: Float, shape: [Int]) {
    self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
  }

  /// A tensor of zeros.
  public init(zeros shape: [Int]) {
    self.init(repeating: 0, shape: shape)
  }

  /// A rank-0 tensor holding one value.
  public init(_ value: Float) {
    self.init(shape: [], scalars: [value])
  }

  /// The number of elements.
  public var count: Int { scalars.count }

  /// The number of axes.
  public var rank: Int { shape.count }

  /// The single element of a tensor with one element.
  ///
  /// - Precondition: the tensor holds exactly one element.
  public var scalar: Float {
    precondition(count == 1, "scalar of a tensor with shape \(shape)")
    return scalars[0]
  }

  /// The same elements under a new shape with the same number of elements.
  ///
  /// - Precondition: the element counts agree.
  public func reshaped(to newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, scalars: scalars)
  }

  /// Whether every element is finite (no NaN, no infinity).
  public var isFinite: Bool {
    scalars.withUnsafeBufferPointer { buffer in
      var allFinite = true
      for x in buffer where !x.isFinite {
        allFinite = false
        break
      }
      return allFinite
    }
  }
}

extension Tensor {
  /// Draws each element independently from `N(mean, standardDeviation²)`.
  public static func randomNormal(
    shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
    using generator: inout RandomGenerator
  ) -> Tensor {
    let count = shape.reduce(1, *)
    var scalars = [Float](repeating: 0, count: count)
    for i in 0..<count {
      scalars[i] = mean + standardDeviation * Float(generator.nextNormal())
    }
    return Tensor(shape: shape, scalars: scalars)
  }

  /// Draws each element independently and uniformly from `[lower, upper)`.
  public static func randomUniform(
    shape: [Int], lower: Float, upper: Float, using generator: inout RandomGenerator
  ) -> Tensor {
    let count = shape.reduce(1, *)
    var scalars = [Float](repeating: 0, count: count)
    let width = Double(upper - lower)
    for i in 0..<count {
      scalars[i] = lower + Float(width * generator.nextUniform())
    }
    return Tensor(shape: shape, scalars: scalars)
  }
}
