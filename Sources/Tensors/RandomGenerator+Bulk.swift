#if canImport(Glibc)
  import Glibc
#endif

// Bulk standard normal draws by the Ziggurat method (Marsaglia and Tsang, "The Ziggurat Method
// for Generating Random Variables", J. Stat. Softw. 5(8), 2000), 128 layers.
//
// The density's upper half, f(x) = e^(−x²/2) for x ≥ 0, is covered by 128 strips of equal
// area V: layer 0 is the base strip [0, x₀) × [0, f(R)) together with the tail x > R, and layer
// i ≥ 1 is the rectangle [0, xᵢ) × [f(xᵢ), f(xᵢ₊₁)), with x₁ = R and x₁₂₈ = 0. A draw picks a
// layer i and a point x = u·xᵢ; when x < xᵢ₊₁ the point lies under the curve (≈ 98.8% of the
// time: one 64-bit draw, a multiply and a compare). Otherwise layer 0 samples the tail by
// Marsaglia's exponential method and the other layers accept x with probability given by the
// wedge test against f.
//
// Each 64-bit draw gives the layer (bits 0–6), the sign (bit 7) and the 53-bit uniform u
// (bits 11–63) from disjoint bits, avoiding the correlation of the original 32-bit version
// (Leong et al., J. Stat. Softw. 12(7), 2005).

/// The Ziggurat tables for the standard normal.
private struct ZigguratTables: Sendable {
  /// The start of the tail, `R`.
  static let tailStart = 3.442619855899
  /// The area of each layer, `V`.
  static let layerArea = 9.91256303526217e-3

  /// `xᵢ` for `i = 0…128`: the layers' widths (`x₀ = V / f(R)`, `x₁ = R`, `x₁₂₈ = 0`).
  let x: [Double]
  /// `xᵢ₊₁ / xᵢ` for `i = 0…127`: `u` below it is inside the curve.
  let ratio: [Double]
  /// `f(xᵢ)` for `i = 0…128`.
  let f: [Double]

  static let shared = ZigguratTables()

  private init() {
    let (r, v) = (Self.tailStart, Self.layerArea)
    var x = [Double](repeating: 0, count: 129)
    x[0] = v / exp(-0.5 * r * r)
    x[1] = r
    for i in 2..<128 {
      x[i] = (-2 * log(v / x[i - 1] + exp(-0.5 * x[i - 1] * x[i - 1]))).squareRoot()
    }
    x[128] = 0
    self.x = x
    ratio = (0..<128).map { x[$0 + 1] / x[$0] }
    f = x.map { exp(-0.5 * $0 * $0) }
  }
}

extension RandomGenerator {
  /// Fills `buffer` with independent standard normal draws by the Ziggurat method.
  ///
  /// Several times faster than `fillNormal` (Box–Muller), and a different stream: the same
  /// seed gives the same draws here on every machine, but not the same as `fillNormal`.
  /// - Complexity: O(buffer.count), about 1.03 64-bit draws per normal.
  public mutating func fillZigguratNormal(_ buffer: UnsafeMutableBufferPointer<Double>) {
    let tables = ZigguratTables.shared
    tables.x.withUnsafeBufferPointer { x in
      tables.ratio.withUnsafeBufferPointer { ratio in
        tables.f.withUnsafeBufferPointer { f in
          for k in buffer.indices {
            buffer[k] = nextZigguratNormal(x: x, ratio: ratio, f: f)
          }
        }
      }
    }
  }

  /// Fills `buffer` with independent standard normal draws by the Ziggurat method.
  ///
  /// Element `k` is `Float` of the `k`-th draw that the `Double` version would give.
  /// - Complexity: O(buffer.count), about 1.03 64-bit draws per normal.
  public mutating func fillZigguratNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
    let tables = ZigguratTables.shared
    tables.x.withUnsafeBufferPointer { x in
      tables.ratio.withUnsafeBufferPointer { ratio in
        tables.f.withUnsafeBufferPointer { f in
          for k in buffer.indices {
            buffer[k] = Float(nextZigguratNormal(x: x, ratio: ratio, f: f))
          }
        }
      }
    }
  }

  /// One Ziggurat draw, given the tables.
  @inline(__always)
  private mutating func nextZigguratNormal(
    x: UnsafeBufferPointer<Double>, ratio: UnsafeBufferPointer<Double>,
    f: UnsafeBufferPointer<Double>
  ) -> Double {
    while true {
      let bits = next()
      let layer = Int(truncatingIfNeeded: bits & 127)
      // The sign bit is set without a (mispredicted) branch.
      let sign = (bits & 128) << 56
      let u = Double(Int64(bitPattern: bits >> 11)) * 0x1.0p-53
      // Inside the curve: the common case.
      if u < ratio[layer] {
        return Double(bitPattern: (u * x[layer]).bitPattern | sign)
      }
      if layer == 0 {
        // The tail x > R: R + a with a ~ Exp(R), accepted with probability e^(−a²/2).
        let r = ZigguratTables.tailStart
        while true {
          let a = -log(1 - nextUniform()) / r
          let b = -log(1 - nextUniform())
          if 2 * b >= a * a { return Double(bitPattern: (r + a).bitPattern | sign) }
        }
      }
      // The wedge between the curve and the layer's rectangle.
      let value = u * x[layer]
      let height = f[layer] + nextUniform() * (f[layer + 1] - f[layer])
      if height < exp(-0.5 * value * value) {
        return Double(bitPattern: value.bitPattern | sign)
      }
    }
  }
}
