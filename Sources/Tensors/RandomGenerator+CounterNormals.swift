import CKernels

extension RandomGenerator {
  /// Fills `buffer` with independent standard normal draws in `Float`, computed in vectors.
  ///
  /// One 64-bit draw of this generator is the key; value `2i` and `2i + 1` are the Box–Muller
  /// pair of word `i` of the SplitMix64 sequence from that key (`bayesagg_counter_normals`).
  /// No value depends on another, so the loop runs on the widest vectors the processor has, and
  /// the same seed gives the same values on every machine. The radius comes from a 23-bit
  /// uniform, so `|value| ≤ 5.77`: the tail beyond is 8·10⁻⁹ of the mass. A different stream
  /// from `fillZigguratNormal`.
  /// - Complexity: O(buffer.count), one 64-bit draw in all.
  public mutating func fillCounterNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
    let key = next()
    guard let base = buffer.baseAddress else { return }
    bayesagg_counter_normals(base, buffer.count, key)
  }
}
