import Foundation
import Tensors
import Testing

@testable import BayesAggCommandLine
@testable import Experiments

/// Reads a run folder's files.
struct RunFiles {
  let folder: URL

  func json(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: folder.appendingPathComponent(name))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  func jsonLines(_ name: String) throws -> [[String: Any]] {
    let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    return try text.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
  }
}

@Suite("End to end", .serialized)
struct EndToEndTests {
  @Test("penguins: one epoch of LS and BayesAgg-MTL writes config, metrics and summary")
  func penguinsOneEpoch() throws {
    let folder = temporaryFolder("penguins")
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = runTool([
      "compare", "--recipe", "penguins", "--methods", "ls,bayesagg,stl", "--epochs", "2",
      "--ls-epochs", "1", "--samples", "64", "--output", folder.path,
    ])
    #expect(result.code == 0, "\(result.error)")
    #expect(result.out.contains("| species | accuracy ↑ |"), "\(result.out)")
    #expect(result.out.contains("| body-mass | MSE ↓ |"))
    for method in ["ls", "bayesagg", "stl"] {
      let files = RunFiles(folder: folder.appendingPathComponent(method))
      let config = try files.json("config.json")
      #expect(config["method"] as? String == method)
      #expect(config["samples"] as? Int == 64)
      let lines = try files.jsonLines("metrics.jsonl")
      #expect(lines.count == (method == "stl" ? 2 * 3 : 2))
      let summary = try files.json("summary.json")
      let test = try #require(summary["test"] as? [String: Any])
      let tasks = try #require(test["tasks"] as? [[String: Any]])
      #expect(tasks.map { $0["task"] as? String } == ["species", "sex", "body-mass"])
      for task in tasks {
        let loss = try #require(task["loss"] as? Double)
        #expect(loss.isFinite && loss >= 0)
      }
    }
    let bayes = try RunFiles(folder: folder.appendingPathComponent("bayesagg"))
      .jsonLines("metrics.jsonl")
    #expect(bayes.map { $0["phase"] as? String } == ["ls", "bayesagg"])
    #expect(
      FileManager.default.fileExists(atPath: folder.appendingPathComponent("comparison.md").path))
  }

  @Test("the learning rate of each epoch follows --lr-milestones, and config.json records them")
  func learningRateMilestones() throws {
    for (milestones, expected) in [
      ("1", [1e-3, 1e-4, 1e-4]), ("none", [1e-3, 1e-3, 1e-3]), ("0,2", [1e-4, 1e-4, 1e-5]),
    ] {
      let folder = temporaryFolder("milestones")
      defer { try? FileManager.default.removeItem(at: folder) }
      let result = runTool([
        "train", "--recipe", "penguins", "--method", "ls", "--epochs", "3", "--lr", "1e-3",
        "--lr-milestones", milestones, "--quiet", "--output", folder.path,
      ])
      #expect(result.code == 0, "\(result.error)")
      let files = RunFiles(folder: folder)
      let rates = try files.jsonLines("metrics.jsonl").map { $0["learningRate"] as? Double }
      #expect(rates.count == expected.count)
      for (rate, wanted) in zip(rates, expected) {
        #expect(abs((rate ?? .nan) - wanted) <= 1e-6 * wanted, "\(milestones): \(rates)")
      }
      let recorded = try files.json("config.json")["learningRateMilestones"] as? [Int]
      #expect(recorded == (milestones == "none" ? [] : milestones == "1" ? [1] : [0, 2]))
    }
  }

  @Test("penguins: every method trains through `compare --methods all`; the table has Δm%")
  func everyMethod() throws {
    let folder = temporaryFolder("all")
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = runTool([
      "compare", "--recipe", "penguins", "--methods", "all", "--epochs", "20", "--ls-epochs", "2",
      "--samples", "32", "--quiet", "--output", folder.path,
    ])
    #expect(result.code == 0, "\(result.error)")
    #expect(result.out.contains("Δm% ↓"), "\(result.out)")
    for method in Method.allCases {
      #expect(result.out.contains("| \(method.displayName) |"), "\(method) missing")
      let files = RunFiles(folder: folder.appendingPathComponent(method.rawValue))
      let summary = try files.json("summary.json")
      let test = try #require(summary["test"] as? [String: Any])
      let accuracy = try #require(test["meanAccuracy"] as? Double)
      // Three classes and two: chance is about 42%; 20 epochs of any working method beat it.
      #expect(accuracy > 0.5, "\(method): mean accuracy \(accuracy)")
    }
  }

  @Test("a run clears what an earlier run left in its folder")
  func staleResults() throws {
    let folder = temporaryFolder("stale")
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for name in ["error.txt", "model.safetensors", "summary.json"] {
      try Data("old\n".utf8).write(to: folder.appendingPathComponent(name))
    }
    let result = runTool([
      "train", "--recipe", "penguins", "--method", "stl", "--epochs", "1", "--quiet",
      "--output", folder.path,
    ])
    #expect(result.code == 0, "\(result.error)")
    let left = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    #expect(!left.contains("error.txt") && !left.contains("model.safetensors"), "\(left)")
    #expect(try RunFiles(folder: folder).json("summary.json")["method"] as? String == "stl")
  }

  @Test("compare goes on past a failed method, replaces the old table and marks the failure")
  func compareGoesOnPastFailure() throws {
    let folder = temporaryFolder("failing")
    defer { try? FileManager.default.removeItem(at: folder) }
    // What an earlier comparison left: its table, an STL run, and a method not asked for now.
    for (name, text) in [
      ("comparison.md", "# stale\n"), ("stl/summary.json", "{}\n"), ("mgda/summary.json", "{}\n"),
    ] {
      let file = folder.appendingPathComponent(name)
      try FileManager.default.createDirectory(
        at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(text.utf8).write(to: file)
    }

    let result = runTool([
      "compare", "--recipe", "digits-mtl", "--methods", "ls,famo,stl", "--epochs", "1",
      "--famo-lr", "1e300", "--quiet", "--output", folder.path,
    ])

    #expect(result.code == 1)
    let famo = folder.appendingPathComponent("famo").path
    #expect(result.error.hasPrefix("bayesagg: error: 1 of 3 methods failed"), "\(result.error)")
    #expect(result.error.contains("famo (\(famo)): training diverged"), "\(result.error)")
    #expect(result.out.contains("| task | metric | LS | STL |"), "\(result.out)")
    let table = try String(
      contentsOf: folder.appendingPathComponent("comparison.md"), encoding: .utf8)
    #expect(!table.contains("stale") && !table.contains("MGDA"), "\(table)")
    #expect(table.contains("(1 of 3 methods failed)"), "\(table)")
    #expect(table.contains("| task | metric | LS | STL |"), "\(table)")
    #expect(table.contains("- **FAMO** failed (`famo`): training diverged"), "\(table)")
    let famoFiles = try FileManager.default.contentsOfDirectory(atPath: famo)
    #expect(famoFiles.sorted() == ["config.json", "error.txt"], "\(famoFiles)")
    for method in ["ls", "stl"] {
      let summary = try RunFiles(folder: folder.appendingPathComponent(method))
        .json("summary.json")
      #expect(summary["method"] as? String == method)
    }
    #expect(
      FileManager.default.fileExists(
        atPath: folder.appendingPathComponent("mgda/summary.json").path))
  }

  @Test("a compare whose every method fails still replaces the old table, with the errors")
  func compareEveryMethodFails() throws {
    let folder = temporaryFolder("all-failing")
    defer { try? FileManager.default.removeItem(at: folder) }
    let comparison = folder.appendingPathComponent("comparison.md")
    try Data("# stale\n".utf8).write(to: comparison)

    let result = runTool([
      "compare", "--recipe", "penguins", "--methods", "famo", "--epochs", "1",
      "--famo-lr", "1e300", "--output", folder.path,
    ])

    #expect(result.code == 1)
    #expect(result.error.contains("1 of 1 methods failed; \(comparison.path) lists their errors"))
    #expect(result.error.contains("famo failed ("), "the failure is noted when it happens")
    #expect(result.out.isEmpty, "\(result.out)")
    let table = try String(contentsOf: comparison, encoding: .utf8)
    #expect(!table.contains("stale") && !table.contains("| task |"), "\(table)")
    #expect(table.contains("- **FAMO** failed (`famo`): training diverged"), "\(table)")
  }

  @Test("fashion-mtl: one epoch of BayesAgg-MTL on a subset learns better than chance")
  func fashionOneEpoch() throws {
    var recipe = try RecipeCatalog.load("fashion-mtl", seed: 0)
    recipe.train = recipe.train.rows(Array(0..<3000))
    recipe.validation = recipe.validation.rows(Array(0..<500))
    recipe.test = recipe.test.rows(Array(0..<1000))
    for method in [Method.ls, .bayesagg] {
      var configuration = TrainingConfiguration(recipe: recipe, method: method)
      configuration.epochs = 2
      configuration.lsEpochs = 1
      configuration.samples = 128
      configuration.backbone = .mlp
      let folder = temporaryFolder("fashion-\(method)")
      defer { try? FileManager.default.removeItem(at: folder) }
      let summary = try Experiment.run(
        recipe: recipe, configuration: configuration, directory: try RunDirectory(folder))
      // Always answering "no" scores 90% on ten one-vs-rest tasks.
      let accuracy = try #require(summary.test.meanAccuracy)
      #expect(accuracy > 0.93, "\(method): mean accuracy \(accuracy)")
      #expect(summary.test.tasks.count == 10)
    }
  }

  @Test("fashion-mtl: the seed's CNN trains a step of LS and of BayesAgg-MTL and evaluates")
  func fashionConvolutional() throws {
    var recipe = try RecipeCatalog.load("fashion-mtl", seed: 0)
    recipe.train = recipe.train.rows(Array(0..<256))
    recipe.validation = recipe.validation.rows(Array(0..<64))
    recipe.test = recipe.test.rows(Array(0..<64))
    var configuration = TrainingConfiguration(recipe: recipe, method: .bayesagg)
    #expect(configuration.backbone == .cnn)
    configuration.epochs = 2
    configuration.lsEpochs = 1
    configuration.samples = 64
    let folder = temporaryFolder("fashion-cnn")
    defer { try? FileManager.default.removeItem(at: folder) }
    let summary = try Experiment.run(
      recipe: recipe, configuration: configuration, directory: try RunDirectory(folder))
    #expect(summary.test.tasks.count == 10)
    #expect(summary.test.tasks.allSatisfy { $0.loss.isFinite })
  }

  @Test(
    "a stop request ends the run between steps: error.txt says so, the finished epochs stay",
    arguments: [Method.ls, .stl])
  func interruption(method: Method) throws {
    let recipe = try RecipeCatalog.load("digits-mtl", seed: 3)
    var configuration = TrainingConfiguration(recipe: recipe, method: method, seed: 3)
    configuration.epochs = 3
    let folder = temporaryFolder("interrupted")
    defer { try? FileManager.default.removeItem(at: folder) }
    var finished = 0
    #expect {
      _ = try Experiment.run(
        recipe: recipe, configuration: configuration, directory: try RunDirectory(folder),
        onEvent: { if case .epochFinished = $0 { finished += 1 } },
        stopRequest: { finished >= 1 ? SIGINT : nil })
    } throws: { error in
      guard let stopped = error as? InterruptedError else { return false }
      return stopped.signal == SIGINT && stopped.exitCode == 130
        && "\(stopped)".contains("interrupted by SIGINT during epoch 2 of 3, before step 1 of")
    }
    let files = RunFiles(folder: folder)
    let marker = try String(
      contentsOf: folder.appendingPathComponent("error.txt"), encoding: .utf8)
    #expect(marker.contains("interrupted by SIGINT"))
    #expect(try files.jsonLines("metrics.jsonl").count == 1)
    #expect(
      !FileManager.default.fileExists(atPath: folder.appendingPathComponent("summary.json").path))
  }

  @Test("the same seed gives the same numbers")
  func determinism() throws {
    func run() throws -> RunSummary {
      let recipe = try RecipeCatalog.load("digits-mtl", seed: 3)
      var configuration = TrainingConfiguration(recipe: recipe, method: .bayesagg, seed: 3)
      configuration.epochs = 2
      configuration.lsEpochs = 1
      configuration.samples = 32
      let folder = temporaryFolder("seed")
      defer { try? FileManager.default.removeItem(at: folder) }
      return try Experiment.run(
        recipe: recipe, configuration: configuration, directory: try RunDirectory(folder))
    }
    // Both runs on one OpenBLAS thread, whose count other tests change while they run (see
    // `chainMatchesBlocks`).
    let (first, second) = try BLASThreads.holdingOne { () throws in (try run(), try run()) }
    #expect(first.test == second.test)
  }
}
