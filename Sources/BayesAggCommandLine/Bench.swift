import Experiments
import Foundation
import Tensors

/// `bayesagg bench`: milliseconds per training step of LS and BayesAgg-MTL.
enum Bench {
  static let specs: [OptionSpec] = [
    TrainingOptions.recipe,
    OptionSpec("steps", "N", "timed steps per case (default 20)"),
    OptionSpec("warmup", "N", "untimed steps first (default 3)"),
    OptionSpec("batch-size", "N", "examples per step (the recipe's default)"),
    OptionSpec("samples", "S", "BayesAgg-MTL Monte-Carlo samples (1024)"),
    OptionSpec("moments", "KIND", "monte-carlo or quadrature"),
    OptionSpec("hidden", "LIST", "hidden layer sizes of the MLP backbone"),
    OptionSpec("seed", "N", "seed (0)"),
    OptionSpec("fashion-dir", "PATH", "folder of the Fashion-MNIST IDX files"),
    OptionSpec("data-dir", "PATH", "the repository's Data folder"),
  ]

  static let helpText = Tool.help(
    "bayesagg bench [--recipe NAME] [--steps N] [--warmup N]",
    "Time training steps of LS and BayesAgg-MTL on a recipe's data (default fashion-mtl): the "
      + "median\nmilliseconds per step after a warm-up, their ratio, and the aggregation call "
      + "alone.", specs)

  static func run(_ arguments: [String], console: Console) throws -> Int32 {
    guard
      let options = try Tool.parse(
        arguments, specs: specs, command: "bench", help: helpText, console: console)
    else { return 0 }
    let steps = try options.integer("steps") ?? 20
    let warmup = try options.integer("warmup") ?? 3
    guard steps >= 1, warmup >= 0 else {
      throw UsageError("--steps must be ≥ 1 and --warmup ≥ 0")
    }
    let recipe = try TrainingOptions.loadRecipe(options, default: "fashion-mtl")
    var lsConfiguration = try TrainingOptions.configuration(options, recipe: recipe, method: .ls)
    lsConfiguration.lsEpochs = 0
    var bayesConfiguration = lsConfiguration
    bayesConfiguration.method = .bayesagg

    let batches = (0..<(warmup + steps)).map { step -> MultiTaskData in
      let start = (step * lsConfiguration.batchSize) % max(recipe.train.count, 1)
      let rows = (0..<lsConfiguration.batchSize).map { (start + $0) % recipe.train.count }
      return recipe.train.rows(rows)
    }
    let layers = lsConfiguration.hiddenSizes.map(String.init).joined(separator: "→")
    console.print(
      "bench \(recipe.name): batch \(lsConfiguration.batchSize), MLP "
        + "\(recipe.train.featureCount)→\(layers), "
        + "\(recipe.taskNames.count) tasks, S = \(bayesConfiguration.samples) "
        + "(\(bayesConfiguration.moments)); OpenBLAS core \(LinearAlgebraBackend.coreName), "
        + "\(LinearAlgebraBackend.threadCount) threads; \(warmup) warm-up + \(steps) timed steps")

    let ls = try Trainer(recipe: recipe, configuration: lsConfiguration)
    let lsTimes = try time(batches, warmup: warmup) {
      try ls.benchmarkStep(on: $0, aggregating: false)
    }
    let bayes = try Trainer(recipe: recipe, configuration: bayesConfiguration)
    try bayes.refitFullDataPosteriors(
      using: recipe.train.rows(Array(0..<min(8192, recipe.train.count))))
    let bayesTimes = try time(batches, warmup: warmup) {
      try bayes.benchmarkStep(on: $0, aggregating: true)
    }
    let aggregationTimes = try time(batches, warmup: warmup) {
      _ = try bayes.aggregatedGradient(for: $0)
    }
    let lsMedian = median(lsTimes)
    let bayesMedian = median(bayesTimes)
    console.print(row("LS step", lsTimes))
    console.print(row("BayesAgg-MTL step", bayesTimes))
    console.print(row("  aggregation alone (incl. forward)", aggregationTimes))
    console.print(String(format: "ratio BayesAgg-MTL / LS step: %.2f×", bayesMedian / lsMedian))
    return 0
  }

  /// Wall-clock milliseconds of `body` on each batch after the warm-up ones.
  static func time(
    _ batches: [MultiTaskData], warmup: Int, _ body: (MultiTaskData) throws -> Void
  ) throws -> [Double] {
    var times: [Double] = []
    for (i, batch) in batches.enumerated() {
      let start = DispatchTime.now().uptimeNanoseconds
      try body(batch)
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
      if i >= warmup { times.append(elapsed) }
    }
    return times
  }

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  static func row(_ name: String, _ times: [Double]) -> String {
    name.padding(toLength: 36, withPad: " ", startingAt: 0)
      + String(
        format: "median %8.2f ms  (min %.2f, max %.2f)", median(times),
        times.min() ?? .nan, times.max() ?? .nan)
  }
}
