import Synchronization
import Tensors
import Testing

@Suite("Loops of sgemms split over the cores")
struct ParallelBLASTests {
  @Test(
    "the ranges are consecutive, one per core at most, and cover every item once",
    arguments: [1, 2, 3, 16, 36, 101])
  func coversItemsOnce(_ count: Int) {
    let seen = Mutex<[Range<Int>]>([])
    Parallel.forEachBLASChunk(count: count) { range in seen.withLock { $0.append(range) } }
    let ranges = seen.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
    #expect(ranges.count == min(count, Parallel.coreCount), "count \(count): \(ranges)")
    #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
    #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
    #expect(ranges.allSatisfy { !$0.isEmpty }, "count \(count): \(ranges)")
  }

  @Test("OpenBLAS runs on one thread inside a split loop")
  func oneBLASThreadInside() {
    let inside = Mutex<Set<Int>>([])
    Parallel.forEachBLASChunk(count: 8) { _ in
      let threads = LinearAlgebraBackend.threadCount
      inside.withLock { _ = $0.insert(threads) }
    }
    #expect(Parallel.coreCount == 1 || inside.withLock { $0 } == [1])
  }
}
