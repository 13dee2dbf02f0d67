import Aggregation
import Datasets
import Foundation
import Tensors

extension RecipeCatalog {
  /// The Palmer penguins, a small real mixed problem like UTKFace: species (3 classes), sex
  /// (2 classes, 11 birds unlabelled) and body mass (regression, standardised on the training
  /// rows). Inputs: bill length, bill depth and flipper length (standardised on the training
  /// rows) and the island, one-hot. The two birds without measurements are dropped; a seeded
  /// 20% of the rest tests and 20% of the remainder validates.
  static func penguins(sources: DataSources, using generator: inout RandomGenerator) throws
    -> Recipe
  {
    let directory =
      try sources.repositoryData.map { $0.appendingPathComponent(PenguinsTable.folderName) }
      ?? DataLocation.dataset(PenguinsTable.folderName)
    let table = try PenguinsTable.load(directory: directory)
    let measurements = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
    let tablePath = directory.appendingPathComponent("table.f32").path
    for name in measurements + ["island", "species", "sex", "body_mass_g"]
    where table.columnIndex(named: name) == nil {
      throw DatasetError(
        .inconsistent, path: directory.appendingPathComponent("dataset.json").path,
        problem: "has no column named \"\(name)\"; the penguins recipe needs it",
        remedy: "restore Data/penguins from the repository")
    }
    let rows = table.completeRows(in: measurements)
    guard rows.count >= 10 else {
      throw DatasetError(
        .inconsistent, path: tablePath,
        problem: "only \(rows.count) birds have all three measurements; at least 10 are needed",
        remedy: "restore Data/penguins from the repository")
    }
    // Codes must be whole numbers in range; labels may be missing (NaN), the island may not.
    for (name, limit, mayBeMissing) in [
      ("island", 3, false), ("species", 3, true), ("sex", 2, true),
    ] {
      let column = table.column(named: name)
      for row in rows {
        let value = column[row]
        if value.isNaN && mayBeMissing { continue }
        guard value.isFinite, value >= 0, value < Float(limit), value == value.rounded() else {
          throw DatasetError(
            .valueOutOfRange, path: tablePath,
            problem: "row \(row), column \(name): \(value) is not a code in 0..<\(limit)",
            remedy: "restore Data/penguins from the repository")
        }
      }
    }
    for name in measurements + ["body_mass_g"] {
      let column = table.column(named: name)
      if let row = rows.first(where: { column[$0].isInfinite }) {
        throw DatasetError(
          .valueOutOfRange, path: tablePath,
          problem: "row \(row), column \(name) is \(column[row])",
          remedy: "restore Data/penguins from the repository")
      }
    }
    let outer = splitIndices(count: rows.count, validationFraction: 0.2, using: &generator)
    let inner = splitIndices(count: outer.train.count, validationFraction: 0.2, using: &generator)
    let trainRows = inner.train.map { outer.train[$0] }
    let validationRows = inner.validation.map { outer.train[$0] }
    let testRows = outer.validation

    // Inputs: standardised measurements, then the island one-hot.
    var measured = [Float]()
    for row in rows {
      for name in measurements { measured.append(table.column(named: name)[row]) }
    }
    let inputScaler = Standardizer(
      fitting: measured, columnCount: measurements.count, trainingRows: trainRows)
    let scaled = inputScaler.applied(to: measured)
    let island = table.column(named: "island")
    let featureCount = measurements.count + 3
    var inputs = [Float](repeating: 0, count: rows.count * featureCount)
    for (n, row) in rows.enumerated() {
      for j in 0..<measurements.count {
        inputs[n * featureCount + j] = scaled[n * measurements.count + j]
      }
      inputs[n * featureCount + measurements.count + Int(island[row])] = 1
    }

    let species = rows.map { table.column(named: "species")[$0] }
    let sex = rows.map { table.column(named: "sex")[$0] }
    let mass = rows.map { table.column(named: "body_mass_g")[$0] }
    let massScaler = Standardizer(fitting: mass, columnCount: 1, trainingRows: trainRows)
    let all = MultiTaskData(
      inputs: Tensor(shape: [rows.count, featureCount], scalars: inputs),
      labels: [species, sex, massScaler.applied(to: mass)])
    return Recipe(
      name: "penguins", train: all.rows(trainRows), validation: all.rows(validationRows),
      test: all.rows(testRows),
      groups: [
        TaskGroupDescription(kind: .multiclass(classes: 3), taskNames: ["species"]),
        TaskGroupDescription(kind: .multiclass(classes: 2), taskNames: ["sex"]),
        TaskGroupDescription(kind: .regression(outputs: 1), taskNames: ["body-mass"]),
      ],
      inputShape: [featureCount], defaultBackbone: .mlp, hiddenSizes: [64, 32],
      activation: .elu,
      defaults: RecipeDefaults(
        epochs: 60, batchSize: 32, learningRate: 1e-3, weightDecay: 1e-4, lsEpochs: 10,
        gamma: 0.005, regressionPower: 0.3, classificationPower: 0.1, headMaxGradientNorm: 10,
        sharedMaxGradientNorm: 5, fullScheduleEpochs: 100),
      sources: DataSources(repositoryData: directory.deletingLastPathComponent()))
  }
}
