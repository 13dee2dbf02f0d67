import Tensors

extension Variable {
  /// Batch normalisation over channels in training mode (Ioffe and Szegedy, ICML 2015), as
  /// PyTorch's `BatchNorm1d`/`BatchNorm2d` with `training=True`:
  /// ```
  /// y = γ[c] · (x − μ[c]) / √(σ²[c] + ε) + β[c]
  /// ```
  /// with μ and the biased variance σ² taken over every axis but the channel axis 1. The
  /// gradient couples the whole batch through μ and σ.
  ///
  /// - Parameters:
  ///   - scale: γ, `[C]`.
  ///   - shift: β, `[C]`.
  ///   - epsilon: added to the variance.
  ///   - rectified: apply ReLU to the output in the same pass (`relu(y)`, one node instead of
  ///     two); the backward pass masks the gradient with the output's sign in place.
  /// - Returns: the output; the batch mean; the unbiased variance `σ²·n/(n − 1)`, which is
  ///   what running statistics track.
  /// - Precondition: input `[B, C]`, `[B, C, L]` or `[B, C, H, W]` with more than one value
  ///   per channel; `scale` and `shift` of shape `[C]`.
  /// - Complexity: O(n).
  public func batchNormalized(
    scale: Variable, shift: Variable, epsilon: Float = 1e-5, rectified: Bool = false
  ) -> (output: Variable, mean: [Float], variance: [Float]) {
    precondition(
      shape.count >= 2 && scale.shape == [shape[1]] && shift.shape == [shape[1]],
      "batchNormalized: input \(shape), scale \(scale.shape), shift \(shift.shape)")
    let x = self
    let statistics = x.value.channelStatistics(epsilon: epsilon)
    let gamma = scale.value.scalars
    // As PyTorch: y = x·a + b with a = γ·σ⁻¹ and b = β − μ·a.
    let a = zip(gamma, statistics.inverseStandardDeviation).map { $0 * $1 }
    let b = (0..<a.count).map { shift.value.scalars[$0] - statistics.mean[$0] * a[$0] }
    let y = x.value.channelAffine(scale: a, shift: b, rectified: rectified)
    let output = Variable(value: y, parents: [x, scale, shift]) { g in
      // ReLU passes the gradient where its output is positive, i.e. where its input was.
      let upstream = rectified ? y.reluPullback(consume g) : consume g
      let gradients = upstream.batchNormPullback(
        input: x.value, scale: gamma, statistics: statistics)
      return [gradients.input, gradients.scale, gradients.shift]
    }
    return (output, statistics.mean, statistics.unbiasedVariance)
  }

  /// `x · scale[c] + shift[c]` on channel axis 1, with constant coefficients: batch
  /// normalisation in evaluation mode, given `scale = γ/√(var + ε)` and
  /// `shift = β − mean·scale`. The gradient flows to `x` only: `∂L/∂x = g · scale[c]`.
  ///
  /// - Precondition: rank ≥ 2; one scale and one shift per channel.
  /// - Complexity: O(n).
  public func channelAffine(scale: [Float], shift: [Float]) -> Variable {
    let zeros = [Float](repeating: 0, count: scale.count)
    return Variable(value: value.channelAffine(scale: scale, shift: shift), parents: [self]) {
      g in [g.channelAffine(scale: scale, shift: zeros)]
    }
  }
}
