import Foundation

/// One run from settings to files: trains with the configured method, writes `config.json`
/// first, rewrites `metrics.jsonl` after every epoch and writes `summary.json` at the end.
public enum Experiment {
  /// Trains `recipe` with `configuration`, writing into `directory`.
  ///
  /// - Parameter stopRequest: Asked before every training step; a signal number stops the run
  ///   with `InterruptedError` (by default, `Interruption`'s).
  /// - Returns: the best validation epoch's scores.
  /// - Throws: `ExperimentError` for bad settings, divergence or unwritable files,
  ///   `InterruptedError` when stopped, and BayesAgg-MTL's errors.
  public static func run(
    recipe: Recipe, configuration: TrainingConfiguration, directory: RunDirectory,
    onEvent: (TrainingEvent) -> Void = { _ in },
    stopRequest: @escaping () -> Int32? = { Interruption.signal }
  ) throws -> RunSummary {
    // Results of an earlier run in the same folder would be mistaken for this one's, even if
    // this one stops at its settings.
    directory.removeStaleResults()
    do {
      try configuration.validate(for: recipe)
      try recipe.validate()
      try directory.writeJSON(configuration, to: "config.json")
      return try train(
        recipe: recipe, configuration: configuration, directory: directory,
        stopRequest: stopRequest, onEvent: onEvent)
    } catch {
      // Leave a marker, so that a folder without summary.json says why.
      try? directory.writeText("\(error)\n", to: "error.txt")
      throw error
    }
  }

  private static func train(
    recipe: Recipe, configuration: TrainingConfiguration, directory: RunDirectory,
    stopRequest: @escaping () -> Int32?, onEvent: (TrainingEvent) -> Void
  ) throws -> RunSummary {
    let started = Date()
    var records: [EpochRecord] = []
    var writeError: Error? = nil
    let record: (TrainingEvent) -> Void = { event in
      if case .epochFinished(let epoch) = event {
        records.append(epoch)
        do { try directory.writeJSONLines(records, to: "metrics.jsonl") } catch {
          writeError = error
        }
      }
      onEvent(event)
    }
    let summary: RunSummary
    switch configuration.method {
    case .stl:
      var learning = SingleTaskLearning(recipe: recipe, configuration: configuration)
      learning.stopRequest = stopRequest
      let result = try learning.run(onEvent: record)
      summary = RunSummary(
        recipe: recipe.name, method: configuration.method.rawValue, bestEpoch: nil,
        validation: result.validation, test: result.test,
        seconds: Date().timeIntervalSince(started), bestEpochPerTask: result.bestEpochs)
    default:
      let trainer = try Trainer(recipe: recipe, configuration: configuration)
      trainer.stopRequest = stopRequest
      let all = try trainer.run(onEvent: record)
      try directory.writeAtomically(
        SafeTensors.encode(
          trainer.model.namedTensors,
          metadata: [
            "recipe": recipe.name, "method": configuration.method.rawValue,
            "backbone": configuration.backbone.rawValue, "epochs": String(configuration.epochs),
            "format": "pt",
          ]), to: "model.safetensors")
      guard let best = bestRecord(all) else { throw ExperimentError("no epoch was trained") }
      summary = RunSummary(
        recipe: recipe.name, method: configuration.method.rawValue, bestEpoch: best.epoch,
        validation: best.validation, test: best.test,
        seconds: Date().timeIntervalSince(started), bestEpochPerTask: nil)
    }
    if let writeError { throw writeError }
    try directory.writeJSON(summary, to: "summary.json")
    return summary
  }
}
