/// Splits the indices `0..<count` at random into a training and a validation part.
///
/// The validation part holds `round(count × validationFraction)` indices. Both parts are
/// returned sorted, disjoint, and together cover `0..<count`; the same generator state gives
/// the same split.
///
/// - Parameters:
///   - count: The number of items.
///   - validationFraction: The share of items held out, in [0, 1].
///   - generator: The source of randomness.
/// - Returns: The sorted training and validation indices.
/// - Precondition: `count >= 0` and `0 <= validationFraction <= 1`.
/// - Complexity: O(count log count).
public func splitIndices<Generator: RandomNumberGenerator>(
  count: Int, validationFraction: Double, using generator: inout Generator
) -> (train: [Int], validation: [Int]) {
  precondition(count >= 0, "count \(count) is negative")
  precondition(
    validationFraction >= 0 && validationFraction <= 1,
    "validation fraction \(validationFraction) is outside [0, 1]")

  let validationCount = Int((Double(count) * validationFraction).rounded())
  var order = Array(0..<count)
  order.shuffle(using: &generator)
  return (
    train: order[validationCount...].sorted(), validation: order[..<validationCount].sorted()
  )
}

/// One epoch of mini-batches: the given indices shuffled once, then cut into batches.
///
/// Every index appears in exactly one batch. The last batch is smaller when the batch size does
/// not divide the number of indices, unless `dropsPartialBatch` is set, in which case it is left
/// out.
///
/// ```swift
/// var generator = RandomGenerator(seed: 1)
/// for batch in EpochBatches(count: 100, batchSize: 32, using: &generator) { … }
/// ```
public struct EpochBatches: Sequence, Sendable {
  /// The indices in this epoch's shuffled order.
  public let order: [Int]
  /// The number of indices in each full batch.
  public let batchSize: Int
  /// Whether a final batch smaller than `batchSize` is left out.
  public let dropsPartialBatch: Bool

  /// Shuffles `indices` with `generator` and cuts them into batches of `batchSize`.
  ///
  /// - Precondition: `batchSize > 0`.
  public init<Generator: RandomNumberGenerator>(
    indices: [Int], batchSize: Int, dropsPartialBatch: Bool = false,
    using generator: inout Generator
  ) {
    precondition(batchSize > 0, "batch size \(batchSize) is not positive")
    var order = indices
    order.shuffle(using: &generator)
    self.order = order
    self.batchSize = batchSize
    self.dropsPartialBatch = dropsPartialBatch
  }

  /// Shuffles `0..<count` with `generator` and cuts it into batches of `batchSize`.
  ///
  /// - Precondition: `count >= 0` and `batchSize > 0`.
  public init<Generator: RandomNumberGenerator>(
    count: Int, batchSize: Int, dropsPartialBatch: Bool = false,
    using generator: inout Generator
  ) {
    precondition(count >= 0, "count \(count) is negative")
    self.init(
      indices: Array(0..<count), batchSize: batchSize, dropsPartialBatch: dropsPartialBatch,
      using: &generator)
  }

  /// The number of batches this epoch yields.
  public var batchCount: Int {
    dropsPartialBatch
      ? order.count / batchSize : (order.count + batchSize - 1) / batchSize
  }

  /// Yields the batches in order.
  public struct Iterator: IteratorProtocol, Sendable {
    fileprivate let batches: EpochBatches
    fileprivate var start = 0

    public mutating func next() -> [Int]? {
      let order = batches.order
      let end = Swift.min(start + batches.batchSize, order.count)
      guard start < end else { return nil }
      if batches.dropsPartialBatch && end - start < batches.batchSize { return nil }
      defer { start = end }
      return Array(order[start..<end])
    }
  }

  public func makeIterator() -> Iterator {
    Iterator(batches: self)
  }

  public var underestimatedCount: Int { batchCount }
}
