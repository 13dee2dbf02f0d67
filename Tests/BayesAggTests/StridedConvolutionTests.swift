import BayesAggTestSupport
import Tensors
import Testing

/// Stride-2 convolutions, whose unfolding and its adjoint take every other float of a row:
/// rows of 32 outputs (the vector path twice), 11 (eight and a tail), 4 (the tail alone); zero
/// and reflection padding.
let stridedCases: [(shape: [Int], weight: [Int], padding: Int, reflect: Bool)] = [
  ([3, 3, 64, 64], [4, 3, 7, 7], 3, false),
  ([2, 2, 70, 67], [3, 2, 7, 7], 3, true),
  ([2, 3, 24, 22], [5, 3, 3, 3], 1, false),
  ([3, 4, 9, 8], [2, 4, 3, 3], 1, true),
  ([2, 5, 8, 8], [3, 5, 1, 1], 0, false),
]

@Suite("Stride-2 convolutions")
struct StridedConvolutionTests {
  @Test("input and weight gradients equal the direct loops in Double", arguments: 0..<5)
  func gradientsMatchDirectLoops(_ index: Int) {
    let c = stridedCases[index]
    var generator = RandomGenerator(seed: UInt64(300 + index))
    let x = Tensor.randomNormal(shape: c.shape, using: &generator)
    let w = Tensor.randomNormal(shape: c.weight, using: &generator)
    let mode: PaddingMode = c.reflect ? .reflect : .zeros
    let y = x.convolved(with: w, bias: nil, stride: 2, padding: c.padding, paddingMode: mode)
    let g = Tensor.randomNormal(shape: y.shape, using: &generator)
    let fast = g.convolutionPullback(
      input: x, weight: w, stride: 2, padding: c.padding, paddingMode: mode, needInput: true,
      needWeight: true, needBias: false)
    let slow = directPullback(g, x, w, stride: 2, padding: c.padding, reflect: c.reflect)
    let tolerance = Tolerance(relative: 1e-5, absolute: 1e-4)
    expectClose(
      fast.input!.scalars.map(Double.init), shape: fast.input!.shape, slow.input,
      shape: x.shape, tolerance: tolerance, "input gradient \(c)")
    expectClose(
      fast.weight!.scalars.map(Double.init), shape: fast.weight!.shape, slow.weight,
      shape: w.shape, tolerance: tolerance, "weight gradient \(c)")
  }
}

/// The gradients of `directConvolution` without bias, as its definition, in `Double`:
/// `∂x[n, c, r, s] = Σ G[n, o, i, j] w[o, c, u, v]` and `∂w[o, c, u, v] = Σ G[n, o, i, j]
/// x[n, c, r, s]` over the output cells `(i, j)` whose tap `(u, v)` reads the padded cell that
/// `(r, s)` fills.
func directPullback(
  _ g: Tensor, _ x: Tensor, _ w: Tensor, stride: Int, padding: Int, reflect: Bool
) -> (input: [Double], weight: [Double]) {
  let (batch, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
  let (oh, ow) = (g.shape[2], g.shape[3])
  func source(_ i: Int, _ n: Int) -> Int? {
    if i >= 0 && i < n { return i }
    guard reflect else { return nil }
    return i < 0 ? -i : 2 * (n - 1) - i
  }
  var dx = [Double](repeating: 0, count: x.count)
  var dw = [Double](repeating: 0, count: w.count)
  for n in 0..<batch {
    for o in 0..<cout {
      for i in 0..<oh {
        for j in 0..<ow {
          let gradient = Double(g.scalars[((n * cout + o) * oh + i) * ow + j])
          for c in 0..<cin {
            for u in 0..<kh {
              guard let r = source(i * stride + u - padding, h) else { continue }
              for v in 0..<kw {
                guard let s = source(j * stride + v - padding, wd) else { continue }
                let (wi, xi) = (((o * cin + c) * kh + u) * kw + v, ((n * cin + c) * h + r) * wd + s)
                dx[xi] += gradient * Double(w.scalars[wi])
                dw[wi] += gradient * Double(x.scalars[xi])
              }
            }
          }
        }
      }
    }
  }
  return (dx, dw)
}
