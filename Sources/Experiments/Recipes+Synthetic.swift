import Aggregation
import Tensors

extension RecipeCatalog {
  /// Random inputs and labels of a given shape, for benchmarks: standard normal inputs of
  /// shape `inputShape`, binary labels in {0, 1}, class indices, standard normal regression
  /// targets. Nothing is learnable; only the shapes matter.
  public static func synthetic(
    name: String, inputShape: [Int], groups: [TaskGroupDescription], count: Int,
    backbone: BackboneKind, batchSize: Int, seed: UInt64
  ) -> Recipe {
    var generator = RandomGenerator(seed: seed)
    let width = inputShape.reduce(1, *)
    let inputs = Tensor.randomNormal(shape: [count, width], using: &generator)
    let labels = groups.map { group -> [Float] in
      let columns = group.kind.taskCount
      return (0..<(count * columns)).map { _ -> Float in
        switch group.kind {
        case .binary: Float(generator.next() % 2)
        case .multiclass(let classes): Float(generator.next() % UInt64(classes))
        case .regression: Float(generator.nextNormal())
        }
      }
    }
    let data = MultiTaskData(inputs: inputs, labels: labels)
    return Recipe(
      name: name, train: data, validation: data, test: data, groups: groups,
      inputShape: inputShape, defaultBackbone: backbone, hiddenSizes: [256],
      activation: .elu,
      defaults: RecipeDefaults(
        epochs: 1, batchSize: batchSize, learningRate: 1e-3, weightDecay: 1e-4, lsEpochs: 0,
        gamma: 0.0005, regressionPower: 0.3, classificationPower: 0.1, headMaxGradientNorm: 50,
        sharedMaxGradientNorm: nil, fullScheduleEpochs: 1))
  }
}
