import Aggregation
import Experiments
import Foundation

/// The options shared by `train`, `compare` and `bench`.
enum TrainingOptions {
  static let recipe = OptionSpec(
    "recipe", "NAME", "the problem to train: " + RecipeCatalog.names.joined(separator: ", "))
  static let specs: [OptionSpec] = [
    recipe,
    OptionSpec("epochs", "N", "epochs to train (the recipe's short default; see `recipes`)"),
    OptionSpec("batch-size", "N", "examples per step"),
    OptionSpec("lr", "RATE", "Adam's learning rate (see --lr-milestones for its drops)"),
    OptionSpec(
      "lr-milestones", "LIST",
      "epochs (counted from 0) at whose start the rate drops ×0.1, e.g. 30,40, or none "
        + "(default: the seed's 60% and 80% of --epochs, rounded down, as torch's MultiStepLR; "
        + "none for fashion-mtl's short default run)"),
    OptionSpec("weight-decay", "λ", "L2 weight decay added to the gradient, as torch's Adam"),
    OptionSpec("seed", "N", "seed of initialisation, splits, shuffling and Monte Carlo (0)"),
    OptionSpec(
      "ls-epochs", "N",
      "linear-scalarization warm-up epochs before the method "
        + "(recipe default for bayesagg, else 0)"),
    OptionSpec("gamma", "γ", "BayesAgg-MTL: prior variance of the head parameters"),
    OptionSpec("alpha", "α", "BayesAgg-MTL: variance power for every task"),
    OptionSpec("alpha-regression", "α", "BayesAgg-MTL: variance power for regression tasks"),
    OptionSpec(
      "alpha-classification", "α", "BayesAgg-MTL: variance power for classification tasks"),
    OptionSpec("samples", "S", "BayesAgg-MTL: Monte-Carlo samples per step (1024)"),
    OptionSpec(
      "moments", "KIND",
      "BayesAgg-MTL: monte-carlo (default) or quadrature (binary and two-class heads)"),
    OptionSpec(
      "jacobian-space", "SPACE",
      "gradient aggregation: shared (the shared parameters, default) or representation"),
    OptionSpec("dwa-temperature", "T", "DWA: temperature of the loss-ratio softmax (2)"),
    OptionSpec("cagrad-c", "c", "CAGrad: radius around the mean gradient (0.4)"),
    OptionSpec(
      "nash-max-norm", "N", "Nash-MTL: bound on the combined gradient's norm (1; 0: none)"),
    OptionSpec(
      "nash-update-every", "N", "Nash-MTL: steps between solving for new weights (1)"),
    OptionSpec("famo-lr", "RATE", "FAMO: learning rate of the task logits (0.025)"),
    OptionSpec("famo-decay", "γ", "FAMO: L2 decay of the task logits (0.001)"),
    OptionSpec("gradvac-beta", "β", "GradVac: EMA rate of the similarity targets (0.5)"),
    OptionSpec(
      "aligned-mtl-scale", "MODE",
      "Aligned-MTL: min (default), median or mean of the Gramian's eigenvalues"),
    OptionSpec(
      "backbone", "NAME",
      "shared network: " + BackboneKind.allCases.map(\.rawValue).joined(separator: ", ")
        + " (the recipe's default)"),
    OptionSpec("hidden", "LIST", "hidden layer sizes of the MLP backbone, e.g. 512,160"),
    OptionSpec(
      "fashion-dir", "PATH",
      "folder of the four Fashion-MNIST IDX files, .gz or unzipped "
        + "(default /usr/share/datasets/fashion-mnist)"),
    OptionSpec(
      "data-dir", "PATH",
      "the repository's Data folder (default: found beside the "
        + "sources, or $BAYESAGG_DATA)"),
  ]

  /// The recipe named by `--recipe` (any case), loaded.
  static func loadRecipe(_ options: ParsedOptions, default name: String? = nil) throws -> Recipe {
    guard let given = options.string("recipe") ?? name else {
      throw UsageError(
        "--recipe is required; choose one of: " + RecipeCatalog.names.joined(separator: ", "))
    }
    let name = given.lowercased()
    guard RecipeCatalog.names.contains(name) else {
      throw UsageError(
        "unknown --recipe '\(given)'; choose one of: "
          + RecipeCatalog.names.joined(separator: ", "))
    }
    for option in ["fashion-dir", "data-dir"] {
      guard let path = options.string(option) else { continue }
      var isFolder: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue
      else {
        throw ExperimentError("--\(option) \(path): no such folder")
      }
    }
    let sources = DataSources(
      fashionMNIST: options.string("fashion-dir").map { URL(fileURLWithPath: $0) },
      repositoryData: options.string("data-dir").map { URL(fileURLWithPath: $0) })
    return try RecipeCatalog.load(name, sources: sources, seed: try options.unsigned("seed") ?? 0)
  }

  /// The epochs of `--lr-milestones`: a comma-separated list, or `none`.
  static func milestones(_ text: String) throws -> [Int] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.lowercased() == "none" { return [] }
    let parts = trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    let values = parts.map { Int($0) }
    guard !parts.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 }) else {
      if let error = parts.lazy.compactMap({ outOfRange("lr-milestones", $0, as: Int.self) })
        .first
      {
        throw error
      }
      throw UsageError(
        "--lr-milestones expects epochs ≥ 0 separated by commas (e.g. 30,40) or none, got "
          + "'\(text)'")
    }
    return values.map { $0! }
  }

  /// The recipe's configuration for `method`, with every given option applied.
  static func configuration(_ options: ParsedOptions, recipe: Recipe, method: Method) throws
    -> TrainingConfiguration
  {
    var c = TrainingConfiguration(recipe: recipe, method: method)
    c.seed = try options.unsigned("seed") ?? c.seed
    if let epochs = try options.integer("epochs") {
      c.epochs = epochs
      // Another length gets the seed's milestones for it, not those of the recipe's default run.
      c.learningRateMilestones = nil
    }
    if let text = options.string("lr-milestones") {
      c.learningRateMilestones = try milestones(text)
    }
    c.batchSize = try options.integer("batch-size") ?? c.batchSize
    c.learningRate = try options.float("lr") ?? c.learningRate
    c.weightDecay = try options.float("weight-decay") ?? c.weightDecay
    c.lsEpochs = try options.integer("ls-epochs") ?? c.lsEpochs
    c.gamma = try options.real("gamma") ?? c.gamma
    if let alpha = try options.real("alpha") {
      guard alpha >= 0 else { throw UsageError("--alpha must be ≥ 0 (got \(alpha))") }
      c.regressionPower = alpha
      c.classificationPower = alpha
    }
    c.regressionPower = try options.real("alpha-regression") ?? c.regressionPower
    c.classificationPower = try options.real("alpha-classification") ?? c.classificationPower
    c.samples = try options.integer("samples") ?? c.samples
    c.moments = options.string("moments")?.lowercased() ?? c.moments
    c.hiddenSizes = try options.integers("hidden") ?? c.hiddenSizes
    c.fashionDirectory = recipe.sources.fashionMNIST?.standardizedFileURL.path
    c.dataDirectory = recipe.sources.repositoryData?.standardizedFileURL.path
    var settings = c.methodSettings
    if let name = options.string("jacobian-space") {
      guard let space = JacobianSpace(rawValue: name.lowercased()) else {
        throw UsageError(
          "unknown --jacobian-space '\(name)'; choose "
            + JacobianSpace.allCases.map(\.rawValue).joined(separator: " or "))
      }
      settings.jacobianSpace = space
    }
    settings.dwaTemperature = try options.real("dwa-temperature") ?? settings.dwaTemperature
    settings.cagradC = try options.real("cagrad-c") ?? settings.cagradC
    settings.nashMaxNorm = try options.real("nash-max-norm") ?? settings.nashMaxNorm
    settings.nashUpdateEvery = try options.integer("nash-update-every") ?? settings.nashUpdateEvery
    settings.famoLearningRate = try options.real("famo-lr") ?? settings.famoLearningRate
    settings.famoDecay = try options.real("famo-decay") ?? settings.famoDecay
    settings.gradVacBeta = try options.real("gradvac-beta") ?? settings.gradVacBeta
    settings.alignedScale =
      options.string("aligned-mtl-scale")?.lowercased() ?? settings.alignedScale
    c.methodSettings = settings
    if let name = options.string("backbone") {
      guard let kind = BackboneKind(rawValue: name.lowercased()) else {
        throw UsageError(
          "unknown --backbone '\(name)'; choose one of: "
            + BackboneKind.allCases.map(\.rawValue).joined(separator: ", "))
      }
      c.backbone = kind
    }
    do { try c.validate(for: recipe) } catch let error as ExperimentError {
      throw UsageError(error.message)
    }
    return c
  }

  /// The options that only some methods read, and whether a method reads each.
  static let methodOptions: [(option: String, readBy: @Sendable (Method) -> Bool)] = [
    ("jacobian-space", { $0.family == .gradientAggregation }),
    ("dwa-temperature", { $0 == .dwa }),
    ("cagrad-c", { $0 == .cagrad }),
    ("nash-max-norm", { $0 == .nashmtl }),
    ("nash-update-every", { $0 == .nashmtl }),
    ("famo-lr", { $0 == .famo }),
    ("famo-decay", { $0 == .famo }),
    ("gradvac-beta", { $0 == .gradvac }),
    ("aligned-mtl-scale", { $0 == .alignedmtl }),
    ("gamma", { $0 == .bayesagg }),
    ("alpha", { $0 == .bayesagg }),
    ("alpha-regression", { $0 == .bayesagg }),
    ("alpha-classification", { $0 == .bayesagg }),
    ("samples", { $0 == .bayesagg }),
    ("moments", { $0 == .bayesagg }),
  ]

  /// A note for each given option that none of `methods` reads, so that a typo in the method
  /// list does not pass unnoticed, and for each that `recipe` gives no use: a data folder it
  /// does not read, or `--samples` when none of its heads draws samples.
  static func unusedOptionNotes(_ options: ParsedOptions, methods: [Method], recipe: Recipe)
    -> [String]
  {
    var notes: [String] = methodOptions.compactMap { option, readBy in
      guard options.string(option) != nil, !methods.contains(where: readBy) else { return nil }
      let names = methods.map(\.rawValue).joined(separator: ", ")
      return "note: --\(option) has no effect on \(names)"
    }
    let folders = [
      ("fashion-dir", recipe.sources.fashionMNIST), ("data-dir", recipe.sources.repositoryData),
    ]
    for (option, folder) in folders where options.string(option) != nil && folder == nil {
      notes.append("note: --\(option) has no effect on \(recipe.name)")
    }
    let moments: MomentMethod =
      options.string("moments")?.lowercased() == "quadrature" ? .quadrature : .monteCarlo
    if options.string("samples") != nil, methods.contains(.bayesagg),
      !recipe.groups.contains(where: { moments.drawsSamples(for: $0.kind) })
    {
      notes.append(
        "note: --samples has no effect on \(recipe.name): "
          + (moments == .quadrature
            ? "--moments quadrature covers all its heads (binary or two-class)"
            : "it has no classification heads"))
    }
    return notes
  }

  /// The names in a `--methods` list: comma-separated, spaces ignored, `all` for every method.
  static func methodNames(_ list: String) throws -> [String] {
    let names = list.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    }
    if names.contains("all") {
      guard names == ["all"] else {
        throw UsageError("--methods all stands alone; list methods or say all, not both")
      }
      return Method.allCases.map(\.rawValue)
    }
    return names
  }

  /// The method named `name` (any case; the table's names too, e.g. `BayesAgg-MTL`), given by
  /// `--method` or, `inList`, as an entry of `--methods`.
  static func method(_ name: String, inList: Bool = false) throws -> Method {
    let key = name.trimmingCharacters(in: .whitespaces).lowercased()
    let byTableName = Method.allCases.first { $0.displayName.lowercased() == key }
    guard let method = Method(rawValue: key) ?? byTableName else {
      throw UsageError(
        "unknown " + (inList ? "method '\(name)' in --methods" : "--method '\(name)'")
          + "; choose one of: "
          + Method.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return method
  }
}
