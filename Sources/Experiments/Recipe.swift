import Aggregation
import Foundation
import Layers
import Tensors

/// The settings a recipe proposes; every one can be overridden on the command line.
public struct RecipeDefaults: Sendable, Equatable {
  public var epochs: Int
  public var batchSize: Int
  public var learningRate: Float
  public var weightDecay: Float
  /// Epochs of linear scalarization before BayesAgg-MTL takes over.
  public var lsEpochs: Int
  public var gamma: Double
  public var regressionPower: Double
  public var classificationPower: Double
  /// Gradient-norm limit of the heads.
  public var headMaxGradientNorm: Float?
  /// Gradient-norm limit of the shared parameters, applied after the LS epochs.
  public var sharedMaxGradientNorm: Float?
  /// The seed's full schedule, quoted in `--help` and the README.
  public var fullScheduleEpochs: Int
  /// The learning-rate milestones of the default run, or `nil` for the seed's (60% and 80% of
  /// the epochs). A short default run can keep its rate constant with `[]`: under the seed's
  /// rule a two-epoch run would train its second epoch at 1% of the rate.
  public var learningRateMilestones: [Int]? = nil
}

/// A multi-task problem ready to train: data split three ways, task groups, a backbone shape
/// and default hyper-parameters.
public struct Recipe: Sendable {
  public var name: String
  public var train: MultiTaskData
  public var validation: MultiTaskData
  public var test: MultiTaskData
  public var groups: [TaskGroupDescription]
  /// The shape of one input, `[C, H, W]` for images or `[features]` for tables.
  public var inputShape: [Int]
  /// The backbone trained unless the user picks another.
  public var defaultBackbone: BackboneKind
  /// The hidden sizes of the MLP backbone; the last is the representation size `d`.
  public var hiddenSizes: [Int]
  public var activation: Activation
  public var defaults: RecipeDefaults
  /// The folder the recipe's files were read from, defaults resolved: the Fashion-MNIST folder
  /// or the repository's `Data` folder, whichever it reads; neither for generated data.
  public var sources = DataSources()

  /// Every task's name, in the order of the groups.
  public var taskNames: [String] { groups.flatMap(\.taskNames) }

  /// Checks that every split has rows and that no input is NaN or infinite.
  ///
  /// - Throws: `ExperimentError` naming the split, and the row and feature of a bad input.
  public func validate() throws {
    for (split, data) in [("training", train), ("validation", validation), ("test", test)] {
      guard data.count > 0 else {
        throw ExperimentError(
          "the \(name) recipe has no \(split) rows; check its data files")
      }
      if let bad = data.inputs.scalars.firstIndex(where: { !$0.isFinite }) {
        let width = data.featureCount
        throw ExperimentError(
          "the \(name) recipe's \(split) inputs hold \(data.inputs.scalars[bad]) at row "
            + "\(bad / width), feature \(bad % width); check its data files")
      }
    }
  }
}

/// The shared networks the trainer can build.
public enum BackboneKind: String, CaseIterable, Sendable, Codable {
  /// Fully connected layers (`--hidden`), ELU.
  case mlp
  /// The seed's CIFAR-MTL network: three 3×3 convolution blocks of 160 channels.
  case cnn
  /// ResNet-18 with a 256-d ELU representation (the seed's UTKFace network).
  case resnet18
  /// ResNet-34 with a 256-d ELU representation (the seed's ChestX-ray14 network).
  case resnet34

  /// Whether the backbone needs `[C, H, W]` inputs.
  public var isConvolutional: Bool { self != .mlp }
}

/// Where recipes find their files.
public struct DataSources: Sendable {
  /// The folder of the Fashion-MNIST IDX files; `nil` for the Debian package's folder.
  public var fashionMNIST: URL?
  /// The repository's `Data` folder; `nil` to locate it next to the sources or through
  /// `BAYESAGG_DATA`.
  public var repositoryData: URL?

  public init(fashionMNIST: URL? = nil, repositoryData: URL? = nil) {
    self.fashionMNIST = fashionMNIST
    self.repositoryData = repositoryData
  }
}

/// The recipes the tool knows.
public enum RecipeCatalog {
  /// Each recipe's name and a one-line description.
  public static let entries: [(name: String, summary: String)] = [
    ("fashion-mtl", "Fashion-MNIST as ten one-vs-rest binary tasks (the CIFAR-MTL construction)"),
    ("penguins", "Palmer penguins: species (3 classes), sex (2 classes), body mass (regression)"),
    ("digits-mtl", "scikit-learn digits as ten one-vs-rest binary tasks (small, for quick runs)"),
  ]

  public static var names: [String] { entries.map(\.name) }

  /// Loads a recipe's data and splits it with `seed`.
  ///
  /// - Throws: `ExperimentError` for an unknown name; the readers' errors for missing or
  ///   corrupt files.
  public static func load(_ name: String, sources: DataSources = DataSources(), seed: UInt64)
    throws -> Recipe
  {
    var generator = RandomGenerator(seed: seed ^ 0x5EED_DA7A)
    switch name {
    case "fashion-mtl": return try fashionMTL(sources: sources, using: &generator)
    case "penguins": return try penguins(sources: sources, using: &generator)
    case "digits-mtl": return try digitsMTL(sources: sources, using: &generator)
    default:
      throw ExperimentError(
        "unknown recipe '\(name)'; choose one of: \(names.joined(separator: ", "))")
    }
  }
}

/// One-vs-rest binary labels `[N, classes]` from class indices.
func oneVersusRest(_ labels: [UInt8], classes: Int) -> [Float] {
  var out = [Float](repeating: 0, count: labels.count * classes)
  for (n, label) in labels.enumerated() { out[n * classes + Int(label)] = 1 }
  return out
}
