import Datasets
import Tensors
import Testing

@Suite("Dataset splits, batches and standardisation")
struct DatasetSplitTests {
  @Test("a split is disjoint, covering, sized by the fraction, and fixed by the seed")
  func split() {
    var a = RandomGenerator(seed: 11)
    var b = RandomGenerator(seed: 11)
    var c = RandomGenerator(seed: 12)

    let first = splitIndices(count: 100, validationFraction: 0.2, using: &a)
    let again = splitIndices(count: 100, validationFraction: 0.2, using: &b)
    let other = splitIndices(count: 100, validationFraction: 0.2, using: &c)

    #expect(first.train == again.train && first.validation == again.validation)
    #expect(first.validation != other.validation)
    #expect(first.validation.count == 20 && first.train.count == 80)
    #expect(Set(first.train).isDisjoint(with: first.validation))
    #expect((first.train + first.validation).sorted() == Array(0..<100))
    #expect(first.train == first.train.sorted())
  }

  @Test("fractions 0 and 1 and a count of 0 give empty parts")
  func splitEdges() {
    var generator = RandomGenerator(seed: 3)

    #expect(splitIndices(count: 5, validationFraction: 0, using: &generator).validation.isEmpty)
    #expect(splitIndices(count: 5, validationFraction: 1, using: &generator).train.isEmpty)
    let empty = splitIndices(count: 0, validationFraction: 0.5, using: &generator)
    #expect(empty.train.isEmpty && empty.validation.isEmpty)
  }

  @Test("an epoch yields every index once; the partial batch is kept or dropped")
  func batches() {
    var a = RandomGenerator(seed: 5)
    var b = RandomGenerator(seed: 5)

    let kept = EpochBatches(count: 10, batchSize: 3, using: &a)
    let dropped = EpochBatches(count: 10, batchSize: 3, dropsPartialBatch: true, using: &b)

    #expect(kept.map(\.count) == [3, 3, 3, 1] && kept.batchCount == 4)
    #expect(kept.joined().sorted() == Array(0..<10))
    #expect(kept.order != Array(0..<10))
    #expect(dropped.map(\.count) == [3, 3, 3] && dropped.batchCount == 3)
    #expect(Array(dropped.joined()) == Array(kept.order.prefix(9)))
  }

  @Test("batches over given indices use only those indices")
  func batchesOverIndices() {
    var generator = RandomGenerator(seed: 9)
    let indices = [4, 8, 15, 16, 23, 42]

    let epoch = EpochBatches(indices: indices, batchSize: 4, using: &generator)

    #expect(epoch.joined().sorted() == indices)
    #expect(EpochBatches(indices: [], batchSize: 2, using: &generator).map { $0 }.isEmpty)
  }

  @Test("standardisation uses training rows only and ignores NaN")
  func standardisation() {
    // Three columns: with a missing value, constant, and never observed in training.
    let nan = Float.nan
    let table: [Float] = [
      1, 5, nan,
      nan, 5, nan,
      3, 5, nan,
      1000, 7, 2,
    ]

    let standardizer = Standardizer(fitting: table, columnCount: 3, trainingRows: [0, 1, 2])
    let result = standardizer.applied(to: table)

    #expect(standardizer.means == [2, 5, 0])
    #expect(standardizer.standardDeviations == [1, 1, 1])
    #expect(result[0] == -1 && result[6] == 1 && result[3].isNaN)
    #expect(result[9] == 998 && result[10] == 2 && result[11] == 2)
    #expect(result[2].isNaN)
    let restored = standardizer.inverted(result)
    #expect(restored[9] == 1000 && restored[4] == 5 && restored[3].isNaN)
  }
}
