import Tensors

#if canImport(Glibc)
  import Glibc
#endif

/// Losses as fused operations: the value and the gradient are computed together, each loss is
/// the mean over the samples whose label is present, and a loss with no present sample is 0
/// with a zero gradient.
///
/// A mask marks present samples (`true`); `nil` means all are present.
public enum Loss {
  /// The mean squared error `Σ_b m_b (p_b − y_b)² / Σ_b m_b` of a `[B]` or `[B, 1]` prediction.
  ///
  /// - Precondition: `targets.count` and `mask.count` equal the number of predictions.
  public static func meanSquaredError(
    _ prediction: Variable, targets: [Float], mask: [Bool]? = nil
  ) -> Variable {
    let p = prediction.value.scalars
    precondition(p.count == targets.count, "MSE: \(p.count) predictions, \(targets.count) targets")
    let weights = sampleWeights(mask, count: p.count)
    var total = 0.0
    var gradient = [Float](repeating: 0, count: p.count)
    for b in 0..<p.count where weights[b] > 0 {
      let residual = p[b] - targets[b]
      total += Double(residual * residual) * Double(weights[b])
      gradient[b] = 2 * residual * weights[b]
    }
    return scalarLoss(total, gradient: gradient, of: prediction)
  }

  /// The binary cross-entropy of logits `z` against targets `y ∈ [0, 1]`, in the stable form
  /// `max(z, 0) − z·y + log(1 + e^{−|z|})`, with gradient `σ(z) − y`.
  ///
  /// - Precondition: `targets.count` and `mask.count` equal the number of logits.
  public static func binaryCrossEntropyWithLogits(
    _ logits: Variable, targets: [Float], mask: [Bool]? = nil
  ) -> Variable {
    let z = logits.value.scalars
    precondition(z.count == targets.count, "BCE: \(z.count) logits, \(targets.count) targets")
    let weights = sampleWeights(mask, count: z.count)
    var total = 0.0
    var gradient = [Float](repeating: 0, count: z.count)
    for b in 0..<z.count where weights[b] > 0 {
      let loss = max(z[b], 0) - z[b] * targets[b] + log1pf(expf(-abs(z[b])))
      total += Double(loss) * Double(weights[b])
      gradient[b] = (stableSigmoid(z[b]) - targets[b]) * weights[b]
    }
    return scalarLoss(total, gradient: gradient, of: logits)
  }

  /// The cross-entropy `−log softmax(z_b)[y_b]` of `[B, K]` logits against class indices,
  /// with gradient `softmax(z_b) − onehot(y_b)`.
  ///
  /// - Precondition: `labels.count == B`; present labels lie in `0..<K`.
  public static func crossEntropy(
    _ logits: Variable, labels: [Int], mask: [Bool]? = nil
  ) -> Variable {
    precondition(logits.shape.count == 2, "cross-entropy needs [B, K] logits, got \(logits.shape)")
    let rows = logits.shape[0]
    let classes = logits.shape[1]
    precondition(labels.count == rows, "cross-entropy: \(rows) rows, \(labels.count) labels")
    let logProbabilities = logSoftmaxRows(logits.value).scalars
    let weights = sampleWeights(mask, count: rows)
    var total = 0.0
    var gradient = [Float](repeating: 0, count: rows * classes)
    for b in 0..<rows where weights[b] > 0 {
      let label = labels[b]
      precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
      total -= Double(logProbabilities[b * classes + label]) * Double(weights[b])
      for c in 0..<classes {
        let p = expf(logProbabilities[b * classes + c])
        gradient[b * classes + c] = (p - (c == label ? 1 : 0)) * weights[b]
      }
    }
    return scalarLoss(total, gradient: gradient, of: logits)
  }

  /// Per-sample weights `m_b / Σ m`, all zero when no sample is present.
  private static func sampleWeights(_ mask: [Bool]?, count: Int) -> [Float] {
    guard let mask else {
      return [Float](repeating: count > 0 ? 1 / Float(count) : 0, count: count)
    }
    precondition(mask.count == count, "mask has \(mask.count) entries for \(count) samples")
    let present = mask.lazy.filter { $0 }.count
    guard present > 0 else { return [Float](repeating: 0, count: count) }
    return mask.map { $0 ? 1 / Float(present) : 0 }
  }

  /// A rank-0 loss node whose pullback scales the precomputed per-element gradient.
  private static func scalarLoss(_ value: Double, gradient: [Float], of input: Variable)
    -> Variable
  {
    let shape = input.shape
    return Variable(value: Tensor(Float(value)), parents: [input]) { g in
      [Tensor(shape: shape, scalars: gradient) * g.scalar]
    }
  }
}
