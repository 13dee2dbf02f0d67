import Tensors

extension Variable {
  /// Max pooling over square windows, as PyTorch's `MaxPool2d` (floor mode, padding as −∞):
  /// ```
  /// y[n, c, i, j] = max_{0 ≤ u, v < k} x̃[n, c, s·i + u, s·j + v]
  /// ```
  /// The gradient goes to the element each window took, the first one on ties; the backward
  /// pass finds those elements again in the input rather than keeping their indices.
  ///
  /// - Parameters:
  ///   - kernelSize: the window's side `k`.
  ///   - stride: the step between windows; `k` when `nil`.
  ///   - padding: the border of −∞ on every side, at most `k/2`.
  /// - Returns: `[B, C, (H + 2p − k)/s + 1, (W + 2p − k)/s + 1]`.
  /// - Precondition: input `[B, C, H, W]`; see `PoolingGeometry.init`.
  /// - Complexity: O(B · C · outH · outW · k²).
  public func maxPool2d(kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Variable {
    let x = self
    let stride = stride ?? kernelSize
    let output = value.maxPooledValues(kernelSize: kernelSize, stride: stride, padding: padding)
    return Variable(value: output, parents: [x]) { g in
      [g.maxPoolPullback(input: x.value, kernelSize: kernelSize, stride: stride, padding: padding)]
    }
  }

  /// The mean of each channel's plane, `[B, C, H, W] → [B, C]`, as PyTorch's
  /// `AdaptiveAvgPool2d(1)` then `flatten(1)`; the pullback spreads `g / (H·W)` over the plane.
  ///
  /// - Precondition: input `[B, C, H, W]` with `H·W > 0`.
  /// - Complexity: O(B · C · H · W).
  public func globalAveragePool() -> Variable {
    let inputShape = shape
    return Variable(value: value.globalAveragePooled(), parents: [self]) { g in
      [g.globalAveragePoolPullback(inputShape: inputShape)]
    }
  }
}
