import Datasets
import Foundation
import Testing

@Suite("Dataset loaders: Fashion-MNIST on small files written by the test")
struct DatasetFashionMNISTFileTests {
  /// Writes a tiny Fashion-MNIST folder: train gzip-compressed, test plain, under the names
  /// `rename` makes of the distributed (.gz) ones.
  func writeTinyDataset(
    in folder: TemporaryFolder, trainLabels: [UInt8] = [0, 9, 3],
    rename: (String) -> String = { $0 }
  ) throws {
    let names = FashionMNIST.fileNames
    try folder.writeGzip(
      idxBytes(shape: [3, 2, 2], elements: (0..<12).map { UInt8($0) }),
      to: rename(names.trainImages))
    try folder.writeGzip(
      idxBytes(shape: [trainLabels.count], elements: trainLabels),
      to: rename(names.trainLabels))
    try folder.writePlain(
      idxBytes(shape: [1, 2, 2], elements: [255, 0, 128, 1]), to: rename(names.testImages))
    try folder.writePlain(idxBytes(shape: [1], elements: [7]), to: rename(names.testLabels))
  }

  /// `name` without its `.gz`, as `gunzip` leaves it.
  static func unzipped(_ name: String) -> String {
    name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
  }

  @Test("a folder of small IDX files loads, gzip and plain alike")
  func loadsTinyFolder() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder)

    let (train, test) = try FashionMNIST.load(directory: folder.url)

    #expect(train.count == 3 && train.rows == 2 && train.columns == 2)
    #expect(train.labels == [0, 9, 3])
    #expect(Array(train.pixels(ofImage: 2)) == [8, 9, 10, 11])
    #expect(test.count == 1 && test.labels == [7])
    #expect(test.pixelsAsFloats() == [1, 0, Float(128) / 255, Float(1) / 255])
    #expect(train.subset([2, 0]).labels == [3, 0])
  }

  @Test(
    "the files load under their .gz names, unzipped names, or a mix of both",
    arguments: ["gz", "unzipped", "mixed"])
  func loadsUnderEitherName(_ naming: String) throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let unzippedNames: Set = [
      FashionMNIST.fileNames.trainLabels, FashionMNIST.fileNames.testImages,
    ]
    try writeTinyDataset(in: folder) { name in
      switch naming {
      case "gz": name
      case "unzipped": Self.unzipped(name)
      default: unzippedNames.contains(name) ? Self.unzipped(name) : name
      }
    }
    let stored = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
    let gzipNamed = ["gz": 4, "unzipped": 0, "mixed": 2][naming]
    #expect(stored.filter { $0.hasSuffix(".gz") }.count == gzipNamed, "\(stored)")

    let (train, test) = try FashionMNIST.load(directory: folder.url)

    #expect(train.count == 3 && train.labels == [0, 9, 3])
    #expect(Array(train.pixels(ofImage: 1)) == [4, 5, 6, 7])
    #expect(test.count == 1 && test.labels == [7])
    #expect(Array(test.pixels(ofImage: 0)) == [255, 0, 128, 1])
  }

  @Test("where a file is stored under both names, the .gz one is read")
  func prefersGzipName() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder)
    try folder.writePlain(
      idxBytes(shape: [3], elements: [5, 5, 5]),
      to: Self.unzipped(FashionMNIST.fileNames.trainLabels))

    let (train, _) = try FashionMNIST.load(directory: folder.url)

    #expect(train.labels == [0, 9, 3])
    let labels = try FashionMNIST.file(
      named: FashionMNIST.fileNames.trainLabels, in: folder.url)
    #expect(labels.lastPathComponent == "train-labels-idx1-ubyte.gz")
  }

  @Test("a missing file names the file and says how to install the data")
  func missingFile() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }

    let error = expectDatasetError(.missing) { _ = try FashionMNIST.load(directory: folder.url) }

    let text = error?.description ?? ""
    #expect(error?.path.hasSuffix("/train-images-idx3-ubyte.gz") == true, "\(text)")
    #expect(text.contains("nor its unzipped form train-images-idx3-ubyte;"), "\(text)")
    #expect(text.contains("apt-get install dataset-fashion-mnist"))
  }

  @Test("a file missing under both names is named by both, the others present")
  func missingUnderBothNames() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder, rename: Self.unzipped)
    let labels = Self.unzipped(FashionMNIST.fileNames.testLabels)
    try FileManager.default.removeItem(at: folder.file(labels))

    let error = expectDatasetError(.missing) { _ = try FashionMNIST.load(directory: folder.url) }

    let text = error?.description ?? ""
    #expect(error?.path.hasSuffix("/t10k-labels-idx1-ubyte.gz") == true, "\(text)")
    #expect(text.contains("nor its unzipped form t10k-labels-idx1-ubyte;"), "\(text)")
  }

  @Test("different image and label counts are an error")
  func countMismatch() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder, trainLabels: [0, 9])

    let error = expectDatasetError(.inconsistent) {
      _ = try FashionMNIST.load(directory: folder.url)
    }

    let text = error?.description ?? ""
    #expect(text.contains("2 labels") && text.contains("3 images"))
  }

  @Test("a label outside 0...9 is an error")
  func labelOutOfRange() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder, trainLabels: [0, 10, 3])

    expectDatasetError(.valueOutOfRange) { _ = try FashionMNIST.load(directory: folder.url) }
  }

  @Test("images must have three dimensions")
  func imageRank() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try writeTinyDataset(in: folder)
    try folder.writePlain(
      idxBytes(shape: [3, 4], elements: [UInt8](repeating: 0, count: 12)),
      to: FashionMNIST.fileNames.trainImages)

    expectDatasetError(.badHeader) { _ = try FashionMNIST.load(directory: folder.url) }
  }
}

@Suite("Dataset loaders: the real data")
struct DatasetRealDataTests {
  @Test("Fashion-MNIST loads 60000 + 10000 images of 28×28 with 10 balanced classes")
  func fashionMNIST() throws {
    let (train, test) = try FashionMNIST.load()

    #expect(train.count == 60000 && test.count == 10000)
    #expect(train.rows == 28 && train.columns == 28 && test.rows == 28 && test.columns == 28)
    #expect(train.pixels.count == 60000 * 784 && test.pixels.count == 10000 * 784)
    #expect(train.classCounts(classCount: 10) == [Int](repeating: 6000, count: 10))
    #expect(test.classCounts(classCount: 10) == [Int](repeating: 1000, count: 10))
    #expect(train.pixels.contains(255) && train.pixels.contains(0))
  }

  @Test("the penguins table has 344 rows × 11 columns and the documented missing values")
  func penguins() throws {
    let table = try PenguinsTable.load()

    #expect(table.rowCount == 344 && table.columnNames.count == 11)
    #expect(table.columnNames.first == "species" && table.columnNames.last == "delta13C_permil")
    let missing = table.columnNames.map { table.missingCount(named: $0) }
    #expect(missing == [0, 0, 0, 2, 2, 2, 2, 11, 0, 14, 13])
    #expect(table.missingCount(named: "body_mass_g") == 2)
    #expect(table.missingCount(named: "sex") == 11)
    #expect(table.completeRows(in: table.columnNames).count == 324)
    #expect(Set(table.column(named: "species")) == [0, 1, 2])
    let years = table.column(named: "year")
    #expect(years.min() == 2007 && years.max() == 2009)
    let firstMissingSex = try #require(
      (0..<table.rowCount).first { table[$0, "sex"] == nil })
    #expect(table.column(named: "sex")[firstMissingSex].isNaN)
  }

  @Test("the digits load 1797 images of 8×8 with the documented class counts")
  func digits() throws {
    let digits = try Digits.load()

    #expect(digits.count == 1797 && digits.rows == 8 && digits.columns == 8)
    #expect(
      digits.classCounts(classCount: 10) == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    #expect(digits.pixels.max() == 16)
  }

  @Test("the repository's Data folder is found, and BAYESAGG_DATA overrides it")
  func dataLocation() throws {
    let found = try DataLocation.repositoryData(environment: [:])
    #expect(found.lastPathComponent == "Data")
    #expect(FileManager.default.fileExists(atPath: found.appendingPathComponent("digits").path))

    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let overridden = try DataLocation.repositoryData(
      environment: [DataLocation.environmentVariable: folder.url.path])
    #expect(overridden.standardizedFileURL.path == folder.url.standardizedFileURL.path)

    let error = expectDatasetError(.missing) {
      _ = try DataLocation.repositoryData(
        environment: [DataLocation.environmentVariable: folder.file("absent").path])
    }
    #expect(error?.description.contains("BAYESAGG_DATA") == true)
  }
}

@Suite("Dataset loaders: damaged repository data")
struct DatasetRepositoryDataErrorTests {
  /// Copies `files` of the dataset `name` into a fresh temporary folder.
  func copy(_ files: [String], of name: String) throws -> TemporaryFolder {
    let source = try DataLocation.dataset(name)
    let folder = try TemporaryFolder()
    for file in files {
      try FileManager.default.copyItem(
        at: source.appendingPathComponent(file), to: folder.file(file))
    }
    return folder
  }

  @Test("a penguins table shorter than its declared shape is an error")
  func truncatedPenguins() throws {
    let folder = try copy(["dataset.json"], of: "penguins")
    defer { folder.remove() }
    try folder.writePlain([UInt8](repeating: 0, count: 344 * 11 * 4 - 4), to: "table.f32")

    let error = expectDatasetError(.truncated) { _ = try PenguinsTable.load(directory: folder.url) }

    #expect(error?.description.contains("344×11 float32 (15136 bytes)") == true)
  }

  @Test("a missing penguins table names the file")
  func missingPenguins() throws {
    let folder = try copy(["dataset.json"], of: "penguins")
    defer { folder.remove() }

    let error = expectDatasetError(.missing) { _ = try PenguinsTable.load(directory: folder.url) }

    #expect(error?.path.hasSuffix("table.f32") == true)
  }

  @Test("digits with a label above 9 or trailing bytes are errors")
  func damagedDigits() throws {
    let folder = try copy(["dataset.json", "images.u8"], of: "digits")
    defer { folder.remove() }
    var labels = [UInt8](repeating: 1, count: 1797)
    labels[5] = 12
    try folder.writePlain(labels, to: "labels.u8")

    expectDatasetError(.valueOutOfRange) { _ = try Digits.load(directory: folder.url) }

    try folder.writePlain(labels + [0], to: "labels.u8")
    expectDatasetError(.trailingBytes) { _ = try Digits.load(directory: folder.url) }
  }
}
