import Aggregation
import Datasets
import Foundation
import Tensors

extension RecipeCatalog {
  /// Fashion-MNIST, ten binary tasks "is it class c?", as CIFAR-MTL turns CIFAR-100's coarse
  /// classes into binary tasks. A seeded 10% of the training set validates; the official test
  /// set tests. Pixels are scaled to [0, 1] and standardised with the training mean and spread.
  static func fashionMTL(sources: DataSources, using generator: inout RandomGenerator) throws
    -> Recipe
  {
    let directory = sources.fashionMNIST ?? FashionMNIST.defaultDirectory
    let (trainImages, testImages) = try FashionMNIST.load(directory: directory)
    let split = splitIndices(
      count: trainImages.count, validationFraction: 0.1, using: &generator)
    let names = FashionMNIST.classNames.map {
      "is-"
        + $0.lowercased().replacingOccurrences(of: "/", with: "-").replacingOccurrences(
          of: " ", with: "-")
    }
    var recipe = imageRecipe(
      name: "fashion-mtl", trainPool: trainImages, trainRows: split.train,
      validationRows: split.validation, test: testImages, pixelScale: 1 / 255, taskNames: names,
      backbone: .cnn, hiddenSizes: [512, 160],
      defaults: RecipeDefaults(
        epochs: 2, batchSize: 128, learningRate: 1e-3, weightDecay: 1e-4, lsEpochs: 1,
        gamma: 0.0005, regressionPower: 0.0005, classificationPower: 0.0005,
        headMaxGradientNorm: 50, sharedMaxGradientNorm: nil, fullScheduleEpochs: 50,
        learningRateMilestones: []))
    recipe.sources = DataSources(fashionMNIST: directory)
    return recipe
  }

  /// scikit-learn's digits, ten one-vs-rest binary tasks: rows 0..<1500 train (a seeded 10%
  /// of them validate), rows 1500..<1797 test, as the data's README suggests.
  static func digitsMTL(sources: DataSources, using generator: inout RandomGenerator) throws
    -> Recipe
  {
    let directory =
      try sources.repositoryData.map { $0.appendingPathComponent(Digits.folderName) }
      ?? DataLocation.dataset(Digits.folderName)
    let images = try Digits.load(directory: directory)
    let trainCount = min(1500, images.count)
    let pool = images.subset(Array(0..<trainCount))
    let test = images.subset(Array(trainCount..<images.count))
    let split = splitIndices(count: pool.count, validationFraction: 0.1, using: &generator)
    var recipe = imageRecipe(
      name: "digits-mtl", trainPool: pool, trainRows: split.train,
      validationRows: split.validation, test: test,
      pixelScale: 1 / Float(Digits.maximumPixelValue),
      taskNames: (0..<10).map { "is-\($0)" }, backbone: .mlp, hiddenSizes: [128, 64],
      defaults: RecipeDefaults(
        epochs: 10, batchSize: 64, learningRate: 1e-3, weightDecay: 1e-4, lsEpochs: 2,
        gamma: 0.0005, regressionPower: 0.0005, classificationPower: 0.0005,
        headMaxGradientNorm: 50, sharedMaxGradientNorm: nil, fullScheduleEpochs: 50))
    recipe.sources = DataSources(repositoryData: directory.deletingLastPathComponent())
    return recipe
  }

  /// Flattens images into standardised rows and builds one binary group of one-vs-rest tasks.
  private static func imageRecipe(
    name: String, trainPool: LabeledImages, trainRows: [Int], validationRows: [Int],
    test: LabeledImages, pixelScale: Float, taskNames: [String], backbone: BackboneKind,
    hiddenSizes: [Int], defaults: RecipeDefaults
  ) -> Recipe {
    let width = trainPool.pixelsPerImage
    let poolPixels = trainPool.pixelsAsFloats(scale: pixelScale)
    // One mean and spread over all training pixels, as torchvision's Normalize is used.
    var total = 0.0
    var squares = 0.0
    for row in trainRows {
      for j in 0..<width {
        let x = Double(poolPixels[row * width + j])
        total += x
        squares += x * x
      }
    }
    let n = Double(max(trainRows.count * width, 1))
    let mean = Float(total / n)
    let spread = Float(max((squares / n - (total / n) * (total / n)).squareRoot(), 1e-6))
    func data(_ pixels: [Float], _ labels: [UInt8], count: Int) -> MultiTaskData {
      let standardized = pixels.map { ($0 - mean) / spread }
      return MultiTaskData(
        inputs: Tensor(shape: [count, width], scalars: standardized),
        labels: [oneVersusRest(labels, classes: taskNames.count)])
    }
    let pool = data(poolPixels, trainPool.labels, count: trainPool.count)
    let group = TaskGroupDescription(kind: .binary(outputs: taskNames.count), taskNames: taskNames)
    return Recipe(
      name: name, train: pool.rows(trainRows), validation: pool.rows(validationRows),
      test: data(test.pixelsAsFloats(scale: pixelScale), test.labels, count: test.count),
      groups: [group], inputShape: [1, trainPool.rows, trainPool.columns],
      defaultBackbone: backbone, hiddenSizes: hiddenSizes, activation: .elu, defaults: defaults)
  }
}
