import Autodiff
import BayesAggTestSupport
import Tensors
import Testing

@testable import Aggregation
@testable import Experiments

/// A small mixed recipe: 3 binary tasks, a 3-class group and a regression output.
func mixedRecipe(backbone: BackboneKind, inputShape: [Int]) -> Recipe {
  RecipeCatalog.synthetic(
    name: "mixed", inputShape: inputShape,
    groups: [
      TaskGroupDescription(kind: .binary(outputs: 3), taskNames: ["a", "b", "c"]),
      TaskGroupDescription(kind: .multiclass(classes: 3), taskNames: ["d"]),
      TaskGroupDescription(kind: .regression(outputs: 1), taskNames: ["e"]),
    ], count: 12, backbone: backbone, batchSize: 12, seed: 3)
}

/// The shared parameters' gradients, concatenated in order, as Doubles.
func sharedGradient(_ trainer: Trainer) -> [Double] {
  trainer.model.sharedParameters.flatMap { parameter in
    (parameter.gradient ?? Tensor(zeros: parameter.shape)).scalars.map(Double.init)
  }
}

/// Float32 agreement: relative 1e-5, and 1e-5 of the largest magnitude for cancellations.
func scaled(_ reference: [Double]) -> Tolerance {
  Tolerance(relative: 1e-5, absolute: 1e-5 * (reference.map(abs).max() ?? 0) + 1e-12)
}

@Suite("Trainer: the task Jacobian from backward passes over one graph")
struct TrainerJacobianTests {
  @Test(
    "row k of the shared-parameter Jacobian is task k's gradient, and the rows sum to LS's",
    arguments: [BackboneKind.mlp, .cnn])
  func sharedJacobianRows(_ backbone: BackboneKind) throws {
    let recipe = mixedRecipe(
      backbone: backbone, inputShape: backbone == .mlp ? [20] : [1, 28, 28])
    var configuration = TrainingConfiguration(recipe: recipe, method: .mgda)
    configuration.hiddenSizes = [16]
    let trainer = try Trainer(recipe: recipe, configuration: configuration)
    let batch = recipe.train
    trainer.model.isTraining = true
    trainer.model.zeroGradients()
    let h = trainer.model.backbone(Variable(batch.inputs))
    let (losses, jacobian) = trainer.taskJacobian(h, labels: batch.labels, space: .shared)
    #expect(losses.count == 5 && jacobian.rows == 5)
    #expect(jacobian.columns == trainer.model.sharedParameters.reduce(0) { $0 + $1.value.count })
    var total = [Double](repeating: 0, count: jacobian.columns)
    for k in 0..<5 {
      trainer.model.zeroGradients()
      let fresh = trainer.model.backbone(Variable(batch.inputs))
      let taskLoss = trainer.taskLosses(fresh, labels: batch.labels)[k]
      #expect(abs(Double(taskLoss.value.scalar) - losses[k]) <= 1e-6 * max(1, abs(losses[k])))
      taskLoss.backward()
      let alone = sharedGradient(trainer)
      expectClose(
        jacobian.row(k), shape: [alone.count], alone, shape: [alone.count],
        tolerance: scaled(alone), "row \(k)")
      for i in total.indices { total[i] += alone[i] }
    }
    trainer.model.zeroGradients()
    let fresh = trainer.model.backbone(Variable(batch.inputs))
    Variable.sum(trainer.taskLosses(fresh, labels: batch.labels)).backward()
    let ls = sharedGradient(trainer)
    let rowSum = (0..<jacobian.columns).map { j in (0..<5).reduce(0) { $0 + jacobian[$1, j] } }
    expectClose(
      rowSum, shape: [ls.count], ls, shape: [ls.count], tolerance: scaled(ls), "sum of rows")
  }

  @Test("the representation Jacobian's rows are ∂L_k/∂h")
  func representationJacobianRows() throws {
    let recipe = mixedRecipe(backbone: .mlp, inputShape: [20])
    var configuration = TrainingConfiguration(recipe: recipe, method: .upgrad)
    configuration.hiddenSizes = [8]
    let trainer = try Trainer(recipe: recipe, configuration: configuration)
    let h = trainer.model.backbone(Variable(recipe.train.inputs))
    let (_, jacobian) = trainer.taskJacobian(h, labels: recipe.train.labels, space: .representation)
    #expect(jacobian.rows == 5 && jacobian.columns == h.value.count)
    let leaf = h.detached(requiresGradient: true)
    let losses = trainer.taskLosses(leaf, labels: recipe.train.labels)
    for k in 0..<5 {
      let row = losses[k].gradients(withRespectTo: [leaf])[0].scalars.map(Double.init)
      expectClose(
        jacobian.row(k), shape: [row.count], row, shape: [row.count], tolerance: .float64,
        "row \(k)")
    }
  }
}
