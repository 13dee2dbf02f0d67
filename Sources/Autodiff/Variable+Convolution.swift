import Tensors

extension Variable {
  /// The 2-D convolution (cross-correlation) of an NCHW batch with a bank of filters, as
  /// PyTorch's `Conv2d`:
  /// ```
  /// y[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] · x̃[n, c, s·i + u, s·j + v]
  /// ```
  /// where `x̃` is the input padded by `p` cells on each side with zeros or by reflection.
  /// Computed by im2col and `cblas_sgemm` over chunks of images; the pullback gives
  /// `∂L/∂w = G·colᵀ`, `∂L/∂x = col2im(wᵀ·G)` taken back through the padding, and
  /// `∂L/∂b = Σ G`, computing only the gradients that some parent needs. 3×3 convolutions at
  /// stride 1 with enough channels and tiles run by Winograd's F(2×2, 3×3) (Lavin & Gray,
  /// CVPR 2016) and its adjoint instead (`ConvolutionGeometry.algorithm`).
  ///
  /// - Parameters:
  ///   - weight: `[Cout, Cin, kH, kW]`.
  ///   - bias: `[Cout]`, or `nil` for none.
  ///   - stride: the step between windows, the same along both axes.
  ///   - padding: the border added on every side.
  ///   - paddingMode: zeros, or reflection without repeating the edge.
  /// - Returns: `[B, Cout, (H + 2p − kH)/s + 1, (W + 2p − kW)/s + 1]`.
  /// - Precondition: input `[B, Cin, H, W]`; a kernel that fits the padded input; for
  ///   reflection `p < H` and `p < W`.
  /// - Complexity: O(B · Cout · Cin · kH · kW · outH · outW) forward, twice that backward.
  public func conv2d(
    weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
    paddingMode: PaddingMode = .zeros
  ) -> Variable {
    let x = self
    let value = x.value.convolved(
      with: weight.value, bias: bias?.value, stride: stride, padding: padding,
      paddingMode: paddingMode)
    let parents = bias.map { [x, weight, $0] } ?? [x, weight]
    return Variable(value: value, parents: parents) { g in
      let gradients = g.convolutionPullback(
        input: x.value, weight: weight.value, stride: stride, padding: padding,
        paddingMode: paddingMode, needInput: x.requiresGradient,
        needWeight: weight.requiresGradient, needBias: bias?.requiresGradient ?? false)
      return [gradients.input, gradients.weight, gradients.bias]
    }
  }

  /// Max pooling of the convolution `conv2d(weight:bias:stride:padding:paddingMode:)` as one
  /// operation, `maxPool_{k,s,p}(conv2d(x, w, b))`, computed a chunk of images at a time: the
  /// graph keeps the input and one byte per pooled cell instead of the convolution output, and
  /// the backward pass rebuilds one chunk of the convolution's gradient at a time. Values and
  /// gradients equal those of `conv2d` followed by `maxPool2d`.
  ///
  /// - Precondition: those of `conv2d` and `maxPool2d`, and `poolSize ≤ 16`.
  /// - Complexity: that of the convolution; memory of one chunk besides input and output.
  public func conv2dMaxPooled(
    weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
    paddingMode: PaddingMode = .zeros, poolSize: Int, poolStride: Int? = nil,
    poolPadding: Int = 0
  ) -> Variable {
    let x = self
    let poolStride = poolStride ?? poolSize
    let (value, choices) = x.value.convolvedAndMaxPooled(
      with: weight.value, bias: bias?.value, stride: stride, padding: padding,
      paddingMode: paddingMode, poolSize: poolSize, poolStride: poolStride,
      poolPadding: poolPadding)
    let parents = bias.map { [x, weight, $0] } ?? [x, weight]
    return Variable(value: value, parents: parents, auxiliaryBytes: choices.byteCount) { g in
      let gradients = g.convolutionMaxPoolPullback(
        input: x.value, weight: weight.value, stride: stride, padding: padding,
        paddingMode: paddingMode, poolSize: poolSize, poolStride: poolStride,
        poolPadding: poolPadding, choices: choices, needInput: x.requiresGradient,
        needWeight: weight.requiresGradient, needBias: bias?.requiresGradient ?? false)
      return [gradients.input, gradients.weight, gradients.bias]
    }
  }

  /// The batch with every other axis merged into one: `[B, d₁, …, dₖ] → [B, d₁·…·dₖ]`.
  ///
  /// - Precondition: rank at least 1.
  public func flattened() -> Variable {
    precondition(!shape.isEmpty, "flattened needs a batch axis, got a scalar")
    return reshaped(to: [shape[0], shape.dropFirst().reduce(1, *)])
  }
}
