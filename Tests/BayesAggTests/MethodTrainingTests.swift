import Autodiff
import Foundation
import Tensors
import Testing

@testable import Experiments

@Suite("Every method trains: heads of different sizes, both Jacobian spaces")
struct MethodTrainingTests {
  @Test(
    "a few steps on a mixed recipe change the shared parameters and keep the loss finite",
    arguments: Method.allCases.filter { $0 != .stl && $0 != .bayesagg },
    JacobianSpace.allCases)
  func stepsAreFinite(_ method: Method, _ space: JacobianSpace) throws {
    if method.family != .gradientAggregation, space == .representation { return }
    let recipe = mixedRecipe(backbone: .mlp, inputShape: [20])
    var configuration = TrainingConfiguration(recipe: recipe, method: method, seed: 4)
    configuration.hiddenSizes = [16]
    configuration.methodSettings.jacobianSpace = space
    let trainer = try Trainer(recipe: recipe, configuration: configuration)
    let before = trainer.model.sharedParameters.map(\.value)
    for _ in 0..<3 {
      let loss = try trainer.benchmarkStep(on: recipe.train, aggregating: true)
      #expect(loss.isFinite)
    }
    let after = trainer.model.sharedParameters.map(\.value)
    #expect(before != after, "\(method) left the shared parameters unchanged")
    #expect(after.allSatisfy { $0.scalars.allSatisfy(\.isFinite) })
  }

  @Test("the same seed gives the same weights after training, for the random methods")
  func sameSeedSameWeights() throws {
    for method in [Method.rlw, .pcgrad, .graddrop, .gradvac] {
      let recipe = mixedRecipe(backbone: .mlp, inputShape: [20])
      var configuration = TrainingConfiguration(recipe: recipe, method: method, seed: 9)
      configuration.hiddenSizes = [16]
      func train() throws -> [Tensor] {
        let trainer = try Trainer(recipe: recipe, configuration: configuration)
        for _ in 0..<3 { _ = try trainer.benchmarkStep(on: recipe.train, aggregating: true) }
        return trainer.model.parameters.map(\.value)
      }
      // Both on one OpenBLAS thread, whose count other tests change while they run (see
      // `chainMatchesBlocks`).
      try BLASThreads.holdingOne { () throws in
        #expect(try train() == train(), "\(method)")
      }
    }
  }
}
