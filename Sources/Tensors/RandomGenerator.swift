#if canImport(Glibc)
  import Glibc
#endif

/// The project's one seeded source of randomness: initialisation, shuffling, Monte Carlo.
///
/// xoshiro256** (Blackman and Vigna, "Scrambled linear pseudorandom number generators",
/// ACM TOMS 2021), seeded through SplitMix64 so that nearby seeds give unrelated streams.
/// The same seed gives the same sequence on every machine.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
  private var s0: UInt64
  private var s1: UInt64
  private var s2: UInt64
  private var s3: UInt64
  /// A second standard normal left over from the last Box–Muller pair.
  private var spareNormal: Double?

  /// Creates a generator whose whole stream is fixed by `seed`.
  public init(seed: UInt64) {
    var x = seed
    func splitMix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = splitMix()
    s1 = splitMix()
    s2 = splitMix()
    s3 = splitMix()
  }

  public mutating func next() -> UInt64 {
    let result = rotl(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = rotl(s3, 45)
    return result
  }

  /// A generator whose stream is independent of this one's, for a sub-task such as a data split.
  public mutating func split() -> RandomGenerator {
    RandomGenerator(seed: next())
  }

  /// A uniform draw in [0, 1) with 53 random bits.
  public mutating func nextUniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A standard normal draw (Box–Muller; the second value of each pair is kept for the next call).
  public mutating func nextNormal() -> Double {
    if let spare = spareNormal {
      spareNormal = nil
      return spare
    }
    var u1 = nextUniform()
    while u1 <= 0 { u1 = nextUniform() }
    let u2 = nextUniform()
    let radius = (-2 * log(u1)).squareRoot()
    let angle = 2 * Double.pi * u2
    spareNormal = radius * sin(angle)
    return radius * cos(angle)
  }

  /// Fills `buffer` with independent standard normal draws.
  public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Double>) {
    for i in buffer.indices { buffer[i] = nextNormal() }
  }

  /// Fills `buffer` with independent standard normal draws.
  public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
    for i in buffer.indices { buffer[i] = Float(nextNormal()) }
  }
}

@inline(__always)
private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
  (x << k) | (x >> (64 - k))
}
