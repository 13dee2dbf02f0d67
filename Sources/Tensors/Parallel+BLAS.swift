import CLinearAlgebra
import Dispatch
import Synchronization

extension Parallel {
  /// Calls `body` on consecutive, disjoint ranges that together cover `0..<count`, one range
  /// per core, with OpenBLAS held to one thread while they run: for loops of many small sgemms
  /// (one per Winograd element, or a slice of a GEMM's rows each), which OpenBLAS would split
  /// over its own threads one call at a time, waking and joining them for every call.
  ///
  /// - Parameters:
  ///   - count: the number of items.
  ///   - body: processes one range, BLAS calls included; it must write only what belongs to
  ///     that range.
  /// - Complexity: `count` calls' worth of `body` work, split over up to `coreCount` threads.
  public static func forEachBLASChunk(count: Int, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = min(coreCount, count)
    if chunks <= 1 {
      body(0..<count)
      return
    }
    BLASThreads.holdingOne {
      withoutActuallyEscaping(body) { body in
        // The chunks write disjoint ranges, which is what makes sharing `body` safe.
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
          shared.value((count * chunk / chunks)..<(count * (chunk + 1) / chunks))
        }
      }
    }
  }
}

/// OpenBLAS's thread count, process-wide, lowered to one while any caller needs it so and put
/// back when the last one is done, so that overlapping callers on other threads do not undo
/// each other. Every part of the package that holds OpenBLAS to one thread goes through here.
public enum BLASThreads {
  /// How many callers hold the count at one, and the count to restore.
  private static let state = Mutex<(holders: Int, restore: Int32)>((0, 1))

  /// `body()` with OpenBLAS on one thread; what `body` throws is thrown after the count is
  /// put back.
  public static func holdingOne<Result>(_ body: () throws -> Result) rethrows -> Result {
    state.withLock { state in
      if state.holders == 0 {
        state.restore = openblas_get_num_threads()
        openblas_set_num_threads(1)
      }
      state.holders += 1
    }
    defer {
      state.withLock { state in
        state.holders -= 1
        if state.holders == 0 { openblas_set_num_threads(state.restore) }
      }
    }
    return try body()
  }
}
