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
  /// stride 1 with enough channels and tiles run by Winograd's F(2×2, 3×3) or F(4×4, 3×3)
  /// (Lavin & Gray, CVPR 2016) and its adjoint instead, and on 2×2 planes with zero padding 1
  /// by one sgemm per filter tap (`ConvolutionGeometry.algorithm`).
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

  /// Blocks of convolution → max pooling (windows of `poolSize`, stride `poolSize`) → ELU, one
  /// after another, as one operation whose backward pass streams the batch through all of them
  /// a chunk of images at a time.
  ///
  /// Each block's value and gradients equal `conv2dMaxPooled(…).elu(alpha:)`'s (the weight and
  /// bias gradients up to the order in which the chunks' parts are summed). The graph keeps the
  /// input, each block's output (the next one's input, and what ELU's derivative is read
  /// from) and one byte per pooled cell; not the pooled values before ELU. Backward, a chunk's
  /// gradient goes back through every block before the next chunk starts, so no block's input
  /// gradient is ever held for the whole batch.
  ///
  /// - Parameters:
  ///   - blocks: The blocks, first to last.
  ///   - imagesPerChunk: How many images go back through the blocks together; each block's
  ///     pullback splits them further into its own chunks.
  /// - Precondition: those of `conv2dMaxPooled` for each block; `imagesPerChunk > 0`.
  /// - Complexity: that of the blocks' `conv2dMaxPooled`; extra backward memory of one chunk.
  public func convolutionPoolingChain(
    _ blocks: [ConvolutionPoolingBlock], imagesPerChunk: Int = 16
  ) -> Variable {
    precondition(
      !blocks.isEmpty && imagesPerChunk > 0,
      "convolutionPoolingChain: \(blocks.count) blocks, \(imagesPerChunk) images per chunk")
    let x = self
    // inputs[k] is block k's input; outputs[k] = inputs[k + 1], and the last is the value.
    var inputs = [x.value]
    var choices: [PoolingChoices] = []
    for block in blocks {
      var (pooled, choice) = inputs.last!.convolvedAndMaxPooled(
        with: block.weight.value, bias: block.bias?.value, stride: block.stride,
        padding: block.padding, paddingMode: block.paddingMode, poolSize: block.poolSize,
        poolStride: block.poolSize, poolPadding: 0)
      choices.append(choice)
      // In place: the pooled values before ELU are never needed again.
      pooled.applyELU(alpha: block.eluAlpha)
      inputs.append(pooled)
    }
    let output = inputs.removeLast()
    let saved =
      inputs.dropFirst().reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride }
      + choices.reduce(0) { $0 + $1.byteCount }
    let parents = [x] + blocks.flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) }
    return Variable(value: output, parents: parents, auxiliaryBytes: saved) { g in
      let batch = x.shape[0]
      var inputGradient = [Float](repeating: 0, count: x.requiresGradient ? x.value.count : 0)
      var weightGradients = blocks.map {
        [Float](repeating: 0, count: $0.weight.requiresGradient ? $0.weight.value.count : 0)
      }
      var biasGradients = blocks.map {
        [Float](repeating: 0, count: $0.bias?.requiresGradient == true ? $0.bias!.value.count : 0)
      }
      for first in Swift.stride(from: 0, to: batch, by: imagesPerChunk) {
        let images = min(imagesPerChunk, batch - first)
        var upstream = g.batchSlice(from: first, count: images)
        for k in blocks.indices.reversed() {
          let block = blocks[k]
          let blockOutput = k == blocks.count - 1 ? output : inputs[k + 1]
          let pooledGradient = upstream.eluPullback(
            output: blockOutput, firstImage: first, alpha: block.eluAlpha)
          let needInput = k > 0 || x.requiresGradient
          let parts = pooledGradient.convolutionMaxPoolPullback(
            input: inputs[k], weight: block.weight.value, stride: block.stride,
            padding: block.padding, paddingMode: block.paddingMode, poolSize: block.poolSize,
            poolStride: block.poolSize, poolPadding: 0, choices: choices[k], firstImage: first,
            needInput: needInput, needWeight: block.weight.requiresGradient,
            needBias: block.bias?.requiresGradient ?? false)
          if let part = parts.weight { add(part, into: &weightGradients[k]) }
          if let part = parts.bias { add(part, into: &biasGradients[k]) }
          guard needInput, let input = parts.input else { break }
          upstream = input
        }
        if x.requiresGradient {
          let perImage = x.value.count / max(batch, 1)
          upstream.scalars.withUnsafeBufferPointer { source in
            inputGradient.withUnsafeMutableBufferPointer { target in
              (target.baseAddress! + first * perImage).update(
                from: source.baseAddress!, count: source.count)
            }
          }
        }
      }
      var gradients: [Tensor?] = [
        x.requiresGradient ? Tensor(shape: x.shape, scalars: inputGradient) : nil
      ]
      for (k, block) in blocks.enumerated() {
        gradients.append(
          block.weight.requiresGradient
            ? Tensor(shape: block.weight.shape, scalars: weightGradients[k]) : nil)
        if let bias = block.bias {
          gradients.append(
            bias.requiresGradient ? Tensor(shape: bias.shape, scalars: biasGradients[k]) : nil)
        }
      }
      return gradients
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

/// One block of `Variable.convolutionPoolingChain`: a convolution, max pooling over
/// non-overlapping `poolSize` windows, then ELU.
public struct ConvolutionPoolingBlock {
  /// `[Cout, Cin, k, k]`.
  public var weight: Variable
  /// `[Cout]`, or `nil`.
  public var bias: Variable?
  public var stride: Int
  public var padding: Int
  public var paddingMode: PaddingMode
  public var poolSize: Int
  /// ELU's α.
  public var eluAlpha: Float

  public init(
    weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0,
    paddingMode: PaddingMode = .zeros, poolSize: Int, eluAlpha: Float = 1
  ) {
    (self.weight, self.bias, self.stride, self.padding) = (weight, bias, stride, padding)
    (self.paddingMode, self.poolSize, self.eluAlpha) = (paddingMode, poolSize, eluAlpha)
  }
}

/// `total += part`, element by element.
private func add(_ part: Tensor, into total: inout [Float]) {
  part.scalars.withUnsafeBufferPointer { source in
    total.withUnsafeMutableBufferPointer { target in
      for i in target.indices { target[i] += source[i] }
    }
  }
}
