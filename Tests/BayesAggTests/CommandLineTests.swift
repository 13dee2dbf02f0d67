import Aggregation
import Datasets
import Experiments
import Foundation
import Testing

@testable import BayesAggCommandLine

/// Runs the tool in-process and captures what it prints.
final class CapturedConsole {
  var out = ""
  var error = ""
  lazy var console = Console(
    isInteractive: false, writeOut: { [unowned self] in self.out += $0 },
    writeError: { [unowned self] in self.error += $0 })
}

func runTool(_ arguments: [String]) -> (code: Int32, out: String, error: String) {
  let captured = CapturedConsole()
  let code = Tool.main(arguments, console: captured.console)
  return (code, captured.out, captured.error)
}

func temporaryFolder(_ name: String) -> URL {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent(
      "bayesagg-tests-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// A bad command line and a fragment its one-line error must contain.
struct UsageCase: CustomStringConvertible, Sendable {
  let arguments: [String]
  let expected: String
  let code: Int32
  var description: String { arguments.joined(separator: " ") }
}

@Suite("Command line")
struct CommandLineTests {
  @Test(
    "--help prints usage on stdout and exits 0, for the tool and every command",
    arguments: [
      [], ["--help"], ["train", "--help"], ["compare", "--help"], ["bench", "--help"],
      ["recipes", "--help"], ["methods", "--help"],
    ])
  func help(_ arguments: [String]) {
    let result = runTool(arguments)
    #expect(result.code == 0)
    #expect(result.out.contains("USAGE"))
    #expect(result.error.isEmpty)
  }

  @Test(
    "bad command lines give a one-line error and a non-zero exit",
    arguments: [
      UsageCase(arguments: ["fly"], expected: "unknown command 'fly'", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "cifar"],
        expected: "unknown --recipe 'cifar'; choose one of: fashion-mtl, penguins, digits-mtl",
        code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--method", "magic"],
        expected: "unknown --method 'magic'; choose one of: ls, si, rlw,", code: 64),
      UsageCase(
        arguments: ["compare", "--recipe", "penguins", "--methods", "ls,magic"],
        expected: "unknown method 'magic' in --methods; choose one of: ls, si, rlw,", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epochs", "two"],
        expected: "--epochs expects a whole number, got 'two'", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--samples", "99999999999999999999"],
        expected: "--samples 99999999999999999999 is too large for a 64-bit whole number "
          + "(at most 9223372036854775807)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--samples", "9223372036854775807"],
        expected: "--samples must be between 1 and 1048576 (got 9223372036854775807)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--batch-size", "-99999999999999999999"],
        expected: "--batch-size -99999999999999999999 is too small for a 64-bit whole number "
          + "(at least -9223372036854775808)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--seed", "18446744073709551616"],
        expected: "--seed 18446744073709551616 is too large for a 64-bit whole number "
          + "(at most 18446744073709551615)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--seed", "-1"],
        expected: "--seed expects a non-negative whole number, got '-1'", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--hidden", "64, 99999999999999999999"],
        expected: "--hidden 99999999999999999999 is too large", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr-milestones", "3,99999999999999999999"],
        expected: "--lr-milestones 99999999999999999999 is too large", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epochs", "0"],
        expected: "--epochs must be between 1 and 1000000 (got 0)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr"],
        expected: "--lr needs a value", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epochs="],
        expected: "--epochs needs a value (N)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe=", "penguins"],
        expected: "--recipe needs a value (NAME)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr", "1e40"],
        expected: "--lr 1e40 is too large for a 32-bit float (magnitude at most 3.4028235e+38)",
        code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--weight-decay", "-1e39"],
        expected: "--weight-decay -1e39 is too large for a 32-bit float", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr", "1e-50"],
        expected: "--lr 1e-50 is too small for a 32-bit float: it rounds to 0", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr", "0"],
        expected: "--lr must be a positive number (got 0.0)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--gamma", "nan"],
        expected: "--gamma expects a number", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epoch", "3"],
        expected: "did you mean --epochs?", code: 64),
      UsageCase(arguments: ["train"], expected: "--recipe is required", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--hidden", "64,x"],
        expected: "--hidden expects whole numbers", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--moments", "exact"],
        expected: "--moments must be monte-carlo or quadrature", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "fashion-mtl", "--fashion-dir", "/nonexistent"],
        expected: "--fashion-dir /nonexistent: no such folder", code: 1),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--data-dir", "/nonexistent"],
        expected: "--data-dir /nonexistent: no such folder", code: 1),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epochs", "2"],
        expected: "--ls-epochs (10) must be less than --epochs (2)", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--jacobian-space", "heads"],
        expected: "unknown --jacobian-space 'heads'; choose shared or representation", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--cagrad-c", "-1"],
        expected: "--cagrad-c must be ≥ 0", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--dwa-temperature", "0"],
        expected: "--dwa-temperature must be positive", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--gradvac-beta", "2"],
        expected: "--gradvac-beta must be in (0, 1]", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--aligned-mtl-scale", "rms"],
        expected: "--aligned-mtl-scale must be min, median or mean", code: 64),
      UsageCase(
        arguments: ["compare", "--recipe", "penguins", "--methods", "ls, LS"],
        expected: "--methods lists ls twice", code: 64),
      UsageCase(
        arguments: ["compare", "--recipe", "penguins", "--methods", "all,stl"],
        expected: "--methods all stands alone", code: 64),
      UsageCase(
        arguments: [
          "train", "--recipe", "penguins", "--method", "mgda", "--epochs", "1",
          "--ls-epochs", "1",
        ],
        expected: "or MGDA never runs", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--batch-size", "9223372036854775807"],
        expected: "--batch-size must be between 1 and", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--epochs", "9223372036854775807"],
        expected: "--epochs must be between 1 and", code: 64),
      UsageCase(
        arguments: ["bench", "--methods", ",,"],
        expected: "--methods has an empty entry", code: 64),
      UsageCase(
        arguments: ["compare", "--recipe", "penguins", "--methods", "ls,,stl"],
        expected: "--methods has an empty entry", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--alpha", "-1"],
        expected: "--alpha must be ≥ 0", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--hidden", "100000000"],
        expected: "--hidden must list layer sizes between 1 and 65536", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--backbone", "cnn"],
        expected: "--backbone cnn needs image inputs", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "digits-mtl", "--backbone", "resnet18"],
        expected: "needs images of at least 32×32", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr-milestones", "3,x"],
        expected: "--lr-milestones expects epochs ≥ 0 separated by commas", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr-milestones", "-1"],
        expected: "--lr-milestones expects epochs ≥ 0 separated by commas", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--lr-milestones", "2,,4"],
        expected: "--lr-milestones expects epochs ≥ 0 separated by commas", code: 64),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--output", "/proc/bayesagg-run"],
        expected: "cannot create the output folder /proc/bayesagg-run: No such file or directory; "
          + "choose another with --output", code: 1),
      UsageCase(
        arguments: ["train", "--recipe", "penguins", "--output", "/etc/hostname/run"],
        expected: "/etc/hostname is a file", code: 1),
    ])
  func usageErrors(_ testCase: UsageCase) {
    let result = runTool(testCase.arguments)
    #expect(result.code == testCase.code)
    let firstLine = result.error.split(separator: "\n").first.map(String.init) ?? ""
    #expect(firstLine.hasPrefix("bayesagg: error: "), "\(result.error)")
    #expect(firstLine.contains(testCase.expected), "\(result.error)")
  }

  @Test(
    "bench checks every option and its data before it prints or times anything",
    arguments: [
      UsageCase(
        arguments: ["bench", "--case", "fashion", "--backbone", "resnet99"],
        expected: "unknown --backbone 'resnet99'; choose one of: mlp, cnn, resnet18, resnet34",
        code: 64),
      UsageCase(
        arguments: ["bench", "--case", "cnn", "--methods", "mgda,magic"],
        expected: "unknown method 'magic' in --methods", code: 64),
      UsageCase(
        arguments: ["bench", "--case", "fashion", "--fashion-dir", "/nonexistent"],
        expected: "--fashion-dir /nonexistent: no such folder", code: 1),
      UsageCase(
        arguments: ["bench", "--case", "fashion,fashion"],
        expected: "--case lists fashion twice", code: 64),
      UsageCase(
        arguments: ["bench", "--case", "cnn, CNN"], expected: "--case lists cnn twice",
        code: 64),
      UsageCase(
        arguments: ["bench", "--case", "cnn,,resnet18"],
        expected: "--case 'cnn,,resnet18' has an empty entry", code: 64),
      UsageCase(
        arguments: ["bench", "--case", "vgg"], expected: "unknown bench case 'vgg' in --case",
        code: 64),
      UsageCase(
        arguments: ["bench", "--steps", "0"],
        expected: "--steps must be between 1 and 1000 (got 0)", code: 64),
      UsageCase(
        arguments: ["bench", "--warmup", "-1"],
        expected: "--warmup must be between 0 and 1000 (got -1)", code: 64),
      UsageCase(
        arguments: ["bench", "--steps", "9223372036854775807"],
        expected: "--steps must be between 1 and 1000 (got 9223372036854775807)", code: 64),
      UsageCase(
        arguments: ["bench", "--warmup", "99999999999999999999"],
        expected: "--warmup 99999999999999999999 is too large", code: 64),
      UsageCase(
        arguments: ["bench", "--case", "cnn", "--samples", "0"],
        expected: "--samples must be between 1 and 1048576 (got 0)", code: 64),
    ])
  func benchChecksFirst(_ testCase: UsageCase) {
    let result = runTool(testCase.arguments)
    #expect(result.code == testCase.code)
    #expect(result.out.isEmpty, "printed before failing: \(result.out)")
    let firstLine = result.error.split(separator: "\n").first.map(String.init) ?? ""
    #expect(firstLine.hasPrefix("bayesagg: error: "), "\(result.error)")
    #expect(firstLine.contains(testCase.expected), "\(result.error)")
  }

  @Test("bench stops on an empty --fashion-dir before it prints anything")
  func benchEmptyFashionFolder() {
    let folder = temporaryFolder("empty-fashion")
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = runTool(["bench", "--case", "fashion", "--fashion-dir", folder.path])
    #expect(result.code == 1)
    #expect(result.out.isEmpty, "printed before failing: \(result.out)")
    #expect(result.error.contains("train-images-idx3-ubyte.gz: no such file"), "\(result.error)")
  }

  @Test("bench's heading names the network that runs, not the case's default")
  func benchHeading() throws {
    func heading(_ arguments: [String]) throws -> String {
      let options = try ParsedOptions(arguments, specs: Bench.specs, command: "bench")
      return Bench.heading(try Bench.prepare("cnn", options: options, methods: []))
    }
    let mlp = try heading(["--backbone", "mlp", "--hidden", "64"])
    #expect(mlp.contains(": MLP 3072→64, batch 128, 20 tasks"), "\(mlp)")
    #expect(!mlp.contains("CNN"), "\(mlp)")
    let cnn = try heading([])
    #expect(cnn.contains(": cnn, batch 128"), "\(cnn)")
    let help = runTool(["bench", "--help"]).out
    #expect(help.contains("each case's own network"))
    #expect(!help.contains("recipe's default"))
  }

  @Test("bench's step peak is the resident peak above what was resident and Adam's moments")
  func benchMemorySummary() {
    let line = Bench.memorySummary(
      keptBytes: 14_900_000, residentBefore: 40.6, peak: 67.8, adamBytes: 3_800_000,
      bayesAggRise: 33.8)
    #expect(line.contains("the step's own peak +23.4 MB = 1.57× what it keeps"), "\(line)")
    #expect(line.contains("resident 40.6 MB before the LS steps"), "\(line)")
    #expect(line.hasSuffix("over the BayesAgg-MTL steps +33.8 MB"), "\(line)")
  }

  @Test("a truncated IDX file names the file and exits 1")
  func truncatedIDX() throws {
    let folder = temporaryFolder("truncated")
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    for name in [
      "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz",
    ] {
      try FileManager.default.copyItem(
        at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
    }
    let whole = try Data(contentsOf: source.appendingPathComponent("train-images-idx3-ubyte.gz"))
    try whole.prefix(whole.count / 3).write(
      to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
    let result = runTool(["train", "--recipe", "fashion-mtl", "--fashion-dir", folder.path])
    #expect(result.code == 1)
    #expect(result.error.contains("train-images-idx3-ubyte.gz"), "\(result.error)")
    #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
  }

  @Test("bad values in the penguins table name the file, row and column")
  func corruptPenguins() throws {
    let folder = temporaryFolder("penguins-data")
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Data/penguins").standardized
    let target = folder.appendingPathComponent("penguins")
    try FileManager.default.copyItem(at: source, to: target)
    // Row 0, column 1 (island) becomes 7.
    let table = target.appendingPathComponent("table.f32")
    var bytes = try Data(contentsOf: table)
    withUnsafeBytes(of: Float(7).bitPattern.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
    try bytes.write(to: table)
    let result = runTool([
      "train", "--recipe", "penguins", "--data-dir", folder.path, "--output",
      folder.appendingPathComponent("run").path,
    ])
    #expect(result.code == 1)
    #expect(result.error.contains("table.f32"), "\(result.error)")
    #expect(result.error.contains("row 0, column island"), "\(result.error)")
  }

  @Test("'help COMMAND' shows that command's help")
  func helpCommand() {
    let result = runTool(["help", "train"])
    #expect(result.code == 0)
    #expect(result.out.contains("bayesagg train --recipe"))
  }

  @Test("an option that none of the chosen methods reads gets a note, not silence")
  func unusedOptionNote() {
    let folder = temporaryFolder("unused")
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = runTool([
      "compare", "--recipe", "penguins", "--methods", "ls,cagrad", "--epochs", "1",
      "--cagrad-c", "0.5", "--famo-lr", "0.1", "--quiet", "--output", folder.path,
    ])
    #expect(result.code == 0, "\(result.error)")
    #expect(result.error.contains("note: --famo-lr has no effect on ls, cagrad"))
    #expect(!result.error.contains("--cagrad-c has no effect"))
  }

  @Test("a data folder the recipe does not read gets a note")
  func unusedFolderNote() {
    let folder = temporaryFolder("unused-folder")
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = runTool([
      "train", "--recipe", "penguins", "--method", "ls", "--epochs", "1", "--quiet",
      "--fashion-dir", folder.path, "--output", folder.appendingPathComponent("run").path,
    ])
    #expect(result.code == 0, "\(result.error)")
    #expect(result.error.contains("note: --fashion-dir has no effect on penguins"))
    #expect(!result.error.contains("--data-dir"))
  }

  @Test("--samples gets a note when no head of the recipe draws samples")
  func unusedSamplesNote() throws {
    func notes(_ kinds: [TaskGroupKind], _ arguments: [String], methods: [Method] = [.bayesagg])
      throws -> [String]
    {
      let recipe = RecipeCatalog.synthetic(
        name: "heads", inputShape: [4],
        groups: kinds.map { TaskGroupDescription(kind: $0, taskNames: ["t"]) }, count: 8,
        backbone: .mlp, batchSize: 4, seed: 1)
      let options = try ParsedOptions(arguments, specs: TrainingOptions.specs, command: "train")
      return TrainingOptions.unusedOptionNotes(options, methods: methods, recipe: recipe)
    }
    let quadrature = ["--samples", "64", "--moments", "Quadrature"]
    let twoClass: [TaskGroupKind] = [.binary(outputs: 1), .multiclass(classes: 2)]
    #expect(
      try notes(twoClass, quadrature) == [
        "note: --samples has no effect on heads: --moments quadrature covers all its heads "
          + "(binary or two-class)"
      ])
    // Quadrature leaves groups of more than two classes to Monte Carlo.
    #expect(try notes(twoClass + [.multiclass(classes: 3)], quadrature).isEmpty)
    #expect(try notes(twoClass, ["--samples", "64"]).isEmpty)
    #expect(try notes(twoClass, ["--moments", "quadrature"]).isEmpty)
    #expect(
      try notes([.regression(outputs: 1)], ["--samples", "64"]) == [
        "note: --samples has no effect on heads: it has no classification heads"
      ])
    // Without BayesAgg-MTL, the method note says it.
    #expect(
      try notes(twoClass, quadrature, methods: [.ls]) == [
        "note: --samples has no effect on ls", "note: --moments has no effect on ls",
      ])
  }

  @Test("recipes and methods list every entry")
  func listings() {
    let recipes = runTool(["recipes"])
    #expect(recipes.code == 0)
    for name in ["fashion-mtl", "penguins", "digits-mtl"] { #expect(recipes.out.contains(name)) }
    let methods = runTool(["methods"])
    #expect(methods.code == 0)
    for method in Method.allCases {
      #expect(methods.out.contains("  \(method.rawValue) "), "\(method) is not listed")
      #expect(methods.out.contains(method.paper), "\(method)'s paper is not listed")
    }
  }

  @Test("the learning-rate milestones: the recipe's for its default run, else the seed's")
  func milestoneResolution() throws {
    var recipe = RecipeCatalog.synthetic(
      name: "short", inputShape: [4],
      groups: [TaskGroupDescription(kind: .binary(outputs: 2), taskNames: ["a", "b"])],
      count: 8, backbone: .mlp, batchSize: 4, seed: 1)
    recipe.defaults.epochs = 2
    recipe.defaults.learningRateMilestones = []
    func resolved(_ arguments: [String]) throws -> [Int] {
      let options = try ParsedOptions(arguments, specs: TrainingOptions.specs, command: "train")
      return try TrainingOptions.configuration(options, recipe: recipe, method: .ls).schedule
        .milestones
    }
    #expect(try resolved([]) == [])
    // Another length gets the seed's rule: 60% and 80% rounded down.
    #expect(try resolved(["--epochs", "50"]) == [30, 40])
    #expect(try resolved(["--epochs", "2"]) == [1, 1])
    #expect(try resolved(["--epochs", "50", "--lr-milestones", "none"]) == [])
    #expect(try resolved(["--lr-milestones", " 7, 3"]) == [3, 7])
    recipe.defaults.learningRateMilestones = nil
    #expect(try resolved([]) == [1, 1])
  }

  @Test("recipe, backbone, moments and bench case names are accepted in any case")
  func namesInAnyCase() throws {
    let options = try ParsedOptions(
      ["--recipe", "PENGUINS", "--backbone", "MLP", "--moments", "Quadrature"],
      specs: TrainingOptions.specs, command: "train")
    let recipe = try TrainingOptions.loadRecipe(options)
    #expect(recipe.name == "penguins")
    let configuration = try TrainingOptions.configuration(
      options, recipe: recipe, method: .bayesagg)
    #expect(configuration.backbone == .mlp)
    #expect(configuration.moments == "quadrature")
    let bench = try ParsedOptions(["--case", "CNN,Fashion"], specs: Bench.specs, command: "bench")
    #expect(try Bench.cases(bench) == ["cnn", "fashion"])
    // Errors still list the canonical names.
    let result = runTool(["train", "--recipe", "Penguins", "--backbone", "ResNet99"])
    #expect(result.code == 64)
    #expect(
      result.error.contains(
        "unknown --backbone 'ResNet99'; choose one of: mlp, cnn, resnet18, resnet34"),
      "\(result.error)")
  }

  @Test("config.json records the data folder the recipe read, the default one resolved")
  func recordedDataFolders() throws {
    func configuration(_ arguments: [String]) throws -> TrainingConfiguration {
      let options = try ParsedOptions(arguments, specs: TrainingOptions.specs, command: "train")
      let recipe = try TrainingOptions.loadRecipe(options)
      return try TrainingOptions.configuration(options, recipe: recipe, method: .ls)
    }
    let penguins = try configuration(["--recipe", "penguins"])
    #expect(penguins.dataDirectory == (try DataLocation.repositoryData).path)
    #expect(penguins.fashionDirectory == nil)
    let fashion = try configuration(["--recipe", "fashion-mtl"])
    #expect(fashion.fashionDirectory == FashionMNIST.defaultDirectory.path)
    #expect(fashion.dataDirectory == nil)
    // A --data-dir with .. and a trailing slash is recorded as the folder it names.
    let data = try DataLocation.repositoryData
    let roundabout = try configuration([
      "--recipe", "digits-mtl", "--data-dir",
      data.path + "/../" + data.lastPathComponent + "/",
    ])
    #expect(roundabout.dataDirectory == data.standardizedFileURL.path)
  }

  @Test("option parsing accepts --name=value and keeps the last repeat")
  func parsing() throws {
    let specs = [OptionSpec("epochs", "N", ""), OptionSpec("quiet", nil, "")]
    let options = try ParsedOptions(
      ["--epochs=3", "--quiet", "--epochs", "5"], specs: specs,
      command: "train")
    #expect(try options.integer("epochs") == 5)
    #expect(options.has("quiet"))
    #expect(throws: UsageError.self) {
      try ParsedOptions(["--quiet=yes"], specs: specs, command: "train")
    }
    #expect(throws: UsageError.self) {
      try ParsedOptions(["stray"], specs: specs, command: "train")
    }
  }

  @Test("a note when the environment keeps OpenBLAS from its AVX-512 kernels, and only then")
  func blasCoreAdvice() {
    let forced = ["OPENBLAS_CORETYPE": "Haswell"]
    let note = Tool.blasCoreAdvice(core: "Haswell", hasAVX512: true, environment: forced)
    #expect(note?.contains("OPENBLAS_CORETYPE=Haswell") == true)
    // The kernels this processor can run, or no choice in the environment: nothing to say.
    #expect(Tool.blasCoreAdvice(core: "SkylakeX", hasAVX512: true, environment: forced) == nil)
    #expect(Tool.blasCoreAdvice(core: "cooperlake", hasAVX512: true, environment: forced) == nil)
    #expect(Tool.blasCoreAdvice(core: "Haswell", hasAVX512: false, environment: forced) == nil)
    #expect(Tool.blasCoreAdvice(core: "Zen", hasAVX512: true, environment: [:]) == nil)
  }
}
