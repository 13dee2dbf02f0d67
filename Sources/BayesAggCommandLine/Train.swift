import Experiments
import Foundation

/// `bayesagg train`: one method on one recipe.
enum Train {
  static let specs: [OptionSpec] =
    TrainingOptions.specs + [
      OptionSpec(
        "method", "NAME", "any method of `bayesagg methods` (default bayesagg)"),
      OptionSpec(
        "output", "PATH",
        "folder for config.json, metrics.jsonl, summary.json, model.safetensors "
          + "(default runs/RECIPE-METHOD)"),
      OptionSpec("quiet", nil, "print only the final scores"),
    ]

  static let helpText = Tool.help(
    "bayesagg train --recipe NAME [--method NAME] [options]",
    "Train a multi-task network on a recipe with one method; write its results.", specs,
    footer: "Writes config.json (every resolved setting), metrics.jsonl (per epoch: validation "
      + "and test\nmetrics per task), summary.json (the best-validation epoch's test scores) and "
      + "model.safetensors\n(the final weights).")

  static func run(_ arguments: [String], console: Console) throws -> Int32 {
    guard
      let options = try Tool.parse(
        arguments, specs: specs, command: "train", help: helpText, console: console)
    else { return 0 }
    let method = try TrainingOptions.method(options.string("method") ?? "bayesagg")
    let recipe = try TrainingOptions.loadRecipe(options)
    let configuration = try TrainingOptions.configuration(options, recipe: recipe, method: method)
    for note in TrainingOptions.unusedOptionNotes(options, methods: [method], recipe: recipe) {
      console.note(note)
    }
    let output = URL(
      fileURLWithPath: try outputPath(options, default: "runs/\(recipe.name)-\(method.rawValue)"))
    let summary = try runOne(
      recipe: recipe, configuration: configuration, output: output, quiet: options.has("quiet"),
      console: console)
    console.print(ComparisonTable.markdown([(method.displayName, summary)]))
    console.print("Results in \(output.path)")
    return 0
  }

  /// The `--output` folder, or `fallback`.
  ///
  /// - Throws: `UsageError` for an empty path.
  static func outputPath(_ options: ParsedOptions, default fallback: String) throws -> String {
    guard let path = options.string("output") else { return fallback }
    guard !path.isEmpty else { throw UsageError("--output needs a folder path, got ''") }
    return path
  }

  /// Trains one configuration into `output`, showing progress; returns its summary.
  static func runOne(
    recipe: Recipe, configuration: TrainingConfiguration, output: URL, quiet: Bool,
    console: Console
  ) throws -> RunSummary {
    let directory = try RunDirectory(output)
    let name = configuration.method.displayName
    if configuration.method == .bayesagg, configuration.moments == "quadrature" {
      for group in recipe.groups {
        if case .multiclass(let classes) = group.kind, classes > 2 {
          console.note(
            "note: quadrature covers binary and two-class heads; \(group.taskNames[0]) "
              + "(\(classes) classes) uses Monte Carlo with \(configuration.samples) samples")
        }
      }
    }
    if !quiet {
      console.note(
        "\(name) on \(recipe.name): \(recipe.train.count) training, "
          + "\(recipe.validation.count) validation, \(recipe.test.count) test examples; "
          + "\(recipe.taskNames.count) tasks; epochs: \(configuration.epochs)"
          + (configuration.lsEpochs > 0 ? " (\(configuration.lsEpochs) LS)" : "")
          + "; writing \(output.path)")
    }
    return try Experiment.run(recipe: recipe, configuration: configuration, directory: directory) {
      event in
      guard !quiet else { return }
      show(event, method: name, console: console)
    }
  }

  static func show(_ event: TrainingEvent, method: String, console: Console) {
    switch event {
    case .epochStarted:
      break
    case .step(let epoch, let step, let steps, let loss, let left):
      console.progress(
        "[\(method)] epoch \(epoch) step \(step)/\(steps) loss "
          + String(format: "%.4f", loss) + " · \(clock(left)) left")
    case .epochFinished(let record):
      var line =
        "[\(method)]" + (record.task.map { " \($0)" } ?? "")
        + " epoch \(record.epoch) (\(record.phase)) train loss "
        + String(format: "%.4f", record.trainLoss)
      if let accuracy = record.validation.meanAccuracy {
        line += " · val acc " + String(format: "%.2f%%", 100 * accuracy)
      }
      if let mse = record.validation.meanMSE {
        line += " · val MSE " + String(format: "%.4f", mse)
      }
      if let accuracy = record.test.meanAccuracy {
        line += " · test acc " + String(format: "%.2f%%", 100 * accuracy)
      }
      line += " · " + String(format: "%.1f s", record.seconds)
      console.note(line)
    }
  }
}

/// `bayesagg compare`: several methods on one recipe, scores side by side.
enum Compare {
  static let specs: [OptionSpec] =
    TrainingOptions.specs + [
      OptionSpec(
        "methods", "LIST",
        "comma-separated methods, or 'all' for every one (default ls,bayesagg)"),
      OptionSpec(
        "output", "PATH",
        "folder with one sub-folder per method and comparison.md "
          + "(default runs/RECIPE)"),
      OptionSpec("quiet", nil, "print only the final table"),
    ]

  static let helpText = Tool.help(
    "bayesagg compare --recipe NAME [--methods LIST] [options]",
    "Train several methods with the same data, seed and schedule; print their test scores "
      + "side by side.", specs,
    footer: "Each method writes its own folder (see 'bayesagg train --help'); the table is "
      + "also written\nto comparison.md in the output folder. A method that fails leaves "
      + "error.txt in its folder;\nthe others still train, comparison.md lists it as failed "
      + "and compare exits 1.")

  /// The one file `compare` writes in the output folder beside the methods' folders.
  static let tableFile = "comparison.md"

  static func run(_ arguments: [String], console: Console) throws -> Int32 {
    guard
      let options = try Tool.parse(
        arguments, specs: specs, command: "compare", help: helpText, console: console)
    else { return 0 }
    let names = try TrainingOptions.methodNames(options.string("methods") ?? "ls,bayesagg")
    guard !names.contains("") else {
      throw UsageError("--methods has an empty entry; list methods separated by single commas")
    }
    let methods = try names.map { try TrainingOptions.method($0, inList: true) }
    if let twice = methods.first(where: { m in methods.filter { $0 == m }.count > 1 }) {
      throw UsageError("--methods lists \(twice.rawValue) twice")
    }
    let recipe = try TrainingOptions.loadRecipe(options)
    for note in TrainingOptions.unusedOptionNotes(options, methods: methods, recipe: recipe) {
      console.note(note)
    }
    let configurations = try methods.map {
      try TrainingOptions.configuration(options, recipe: recipe, method: $0)
    }
    let output = URL(fileURLWithPath: try Train.outputPath(options, default: "runs/\(recipe.name)"))
    let directory = try RunDirectory(output)
    let table = output.appendingPathComponent(tableFile)
    // An earlier comparison's table would be taken for this one's if this one stopped early.
    try? FileManager.default.removeItem(at: table)

    var runs: [(name: String, summary: RunSummary)] = []
    var failures: [(method: Method, folder: URL, reason: String)] = []
    var interruption: InterruptedError? = nil
    for configuration in configurations where interruption == nil {
      let method = configuration.method
      let folder = output.appendingPathComponent(method.rawValue)
      do {
        let summary = try Train.runOne(
          recipe: recipe, configuration: configuration, output: folder,
          quiet: options.has("quiet"), console: console)
        runs.append((method.displayName, summary))
      } catch {
        // One method's failure (divergence, a bad setting) says nothing about the others; a
        // request to stop (Ctrl-C) ends the comparison.
        interruption = error as? InterruptedError
        failures.append((method, folder, "\(error)"))
        if !options.has("quiet") {
          console.note("\(method.rawValue) failed (\(folder.path)): \(error)")
        }
      }
    }
    let title =
      "\(recipe.name): test scores at the best validation epoch"
      + (failures.isEmpty ? "" : " (\(failures.count) of \(methods.count) methods failed)")
    let report = ComparisonTable.report(
      title: title, runs: runs,
      failures: failures.map {
        ComparisonTable.Failure(
          name: $0.method.displayName, folder: $0.method.rawValue, reason: $0.reason)
      })
    try directory.writeText(report, to: tableFile)

    if !runs.isEmpty {
      console.print("Test scores on \(recipe.name) at each method's best validation epoch:")
      console.print("")
      console.print(ComparisonTable.markdown(runs))
      console.print("Results in \(output.path)")
    }
    if let interruption {
      // The methods after the interrupted one did not run; the table lists those that did.
      throw InterruptedError(
        signal: interruption.signal,
        location: "\(interruption.location) of \(failures.last!.method.rawValue); "
          + "\(table.path) has the methods that finished")
    }
    guard failures.isEmpty else {
      let lines = failures.map { "  \($0.method.rawValue) (\($0.folder.path)): \($0.reason)" }
      throw ExperimentError(
        "\(failures.count) of \(methods.count) methods failed; \(table.path) "
          + (runs.isEmpty ? "lists their errors" : "has the others' scores and their errors")
          + ":\n" + lines.joined(separator: "\n"))
    }
    return 0
  }
}
