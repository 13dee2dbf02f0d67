import Dispatch

#if canImport(Glibc)
  import Glibc
#endif

/// Work splitting for the element-wise and copy kernels: a large loop is cut into at most one
/// chunk per core, each chunk writing its own disjoint range of the output.
///
/// BLAS calls are made from inside a chunk only by `forEachBLASChunk`, which holds OpenBLAS to
/// one thread meanwhile, so that OpenBLAS's own threads and these never compete.
public enum Parallel {
  /// The number of cores the process may run on, read once.
  public static let coreCount: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

  /// Below this many elements of work, a loop runs on the calling thread.
  static let minimumElementsPerChunk = 1 << 16

  /// Calls `body` on consecutive, disjoint ranges that together cover `0..<count`, on several
  /// threads when the work is large.
  ///
  /// - Parameters:
  ///   - count: the number of items.
  ///   - costPerItem: roughly how many elements each item touches, to decide how many chunks
  ///     the work is worth.
  ///   - body: processes one range; it must write only what belongs to that range.
  /// - Complexity: `count` calls' worth of `body` work, split over up to `coreCount` threads.
  @inline(__always)
  public static func forEachChunk(
    count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    let work = count * max(costPerItem, 1)
    let chunks = min(coreCount, count, max(1, work / minimumElementsPerChunk))
    if chunks <= 1 {
      body(0..<count)
      return
    }
    withoutActuallyEscaping(body) { body in
      // The chunks write disjoint ranges, which is what makes sharing `body` safe.
      let shared = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let lower = count * chunk / chunks
        let upper = count * (chunk + 1) / chunks
        shared.value(lower..<upper)
      }
    }
  }
}

/// A value handed to the threads of one parallel loop, whose callers guarantee that the
/// threads touch disjoint memory.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

extension Array where Element == Float {
  /// An array of `count` floats that `initialize` fills completely, skipping the zeroing pass
  /// that `init(repeating:count:)` would spend on memory about to be overwritten.
  ///
  /// - Precondition: `initialize` writes every element.
  @inline(__always)
  init(uninitializedCount count: Int, _ initialize: (UnsafeMutablePointer<Float>) -> Void) {
    self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
      if count > 0 { initialize(buffer.baseAddress!) }
      initialized = count
    }
  }
}

/// The sum of `count` consecutive floats with eight independent partial sums, which the
/// optimiser can keep in one vector register (a single running sum cannot be vectorised
/// without reordering the additions).
///
/// - Complexity: O(count).
@inline(__always)
func contiguousSum(_ p: UnsafePointer<Float>, count: Int) -> Float {
  var lanes: (Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0)
  var i = 0
  while i + 8 <= count {
    lanes.0 += p[i]
    lanes.1 += p[i + 1]
    lanes.2 += p[i + 2]
    lanes.3 += p[i + 3]
    lanes.4 += p[i + 4]
    lanes.5 += p[i + 5]
    lanes.6 += p[i + 6]
    lanes.7 += p[i + 7]
    i += 8
  }
  var total =
    ((lanes.0 + lanes.1) + (lanes.2 + lanes.3)) + ((lanes.4 + lanes.5) + (lanes.6 + lanes.7))
  while i < count {
    total += p[i]
    i += 1
  }
  return total
}
