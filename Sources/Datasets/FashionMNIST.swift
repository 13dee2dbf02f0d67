import Foundation

/// Fashion-MNIST: 70 000 greyscale 28×28 images of clothing in 10 classes.
///
/// Xiao, Rasul and Vollgraf, "Fashion-MNIST: a novel image dataset for benchmarking machine
/// learning algorithms", arXiv:1708.07747, 2017. Read from the four gzip IDX files that the
/// Debian package `dataset-fashion-mnist` installs, or from the same files unzipped.
public enum FashionMNIST {
  /// Where `dataset-fashion-mnist` installs the files.
  public static let defaultDirectory = URL(
    fileURLWithPath: "/usr/share/datasets/fashion-mnist", isDirectory: true)

  /// The class names, indexed by label.
  public static let classNames = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
  ]

  /// The file names of the training and test images and labels, as distributed (gzip).
  ///
  /// Each file is also found without its `.gz`, as `gunzip` leaves it; see
  /// `file(named:in:remedy:)`.
  public static let fileNames = (
    trainImages: "train-images-idx3-ubyte.gz", trainLabels: "train-labels-idx1-ubyte.gz",
    testImages: "t10k-images-idx3-ubyte.gz", testLabels: "t10k-labels-idx1-ubyte.gz"
  )

  /// Loads the training (60 000) and test (10 000) images with their labels.
  ///
  /// - Parameter directory: The folder holding the four IDX files, each under its name in
  ///   `fileNames` or under that name without `.gz`; where both exist the `.gz` name is read.
  ///   The content may be gzip or plain under either name.
  /// - Returns: The training and test sets, pixels 0...255, labels 0...9.
  /// - Throws: `DatasetError` if a file is missing under both names or is damaged, if image and
  ///   label counts differ, or if a label is outside 0...9.
  /// - Complexity: O(n) in the total number of pixels.
  public static func load(
    directory: URL = defaultDirectory
  ) throws -> (train: LabeledImages, test: LabeledImages) {
    let remedy =
      "install the data with `apt-get install dataset-fashion-mnist` (or reinstall it with "
      + "`apt-get install --reinstall dataset-fashion-mnist`), or pass the folder that holds "
      + "the Fashion-MNIST IDX files"
    let train = try loadPair(
      images: try file(named: fileNames.trainImages, in: directory, remedy: remedy),
      labels: try file(named: fileNames.trainLabels, in: directory, remedy: remedy),
      remedy: remedy)
    let testImages = try file(named: fileNames.testImages, in: directory, remedy: remedy)
    let test = try loadPair(
      images: testImages,
      labels: try file(named: fileNames.testLabels, in: directory, remedy: remedy),
      remedy: remedy)
    guard test.rows == train.rows, test.columns == train.columns else {
      throw DatasetError(
        .inconsistent, path: testImages.path,
        problem: "test images are \(test.rows)×\(test.columns) but training images are "
          + "\(train.rows)×\(train.columns)", remedy: remedy)
    }
    return (train, test)
  }

  /// The file in `directory` stored under `name` (`train-images-idx3-ubyte.gz`), or else under
  /// `name` without its `.gz` (`train-images-idx3-ubyte`).
  ///
  /// - Parameters:
  ///   - name: The distributed name, such as `fileNames.trainImages`; a name that does not end
  ///     in `.gz` is looked up as it is.
  ///   - directory: The folder to look in.
  ///   - remedy: What the user should do if neither file exists.
  /// - Returns: The `.gz` name's URL if something is stored under it, else the plain name's.
  /// - Throws: `DatasetError` of kind `.missing`, naming both names, if neither exists.
  public static func file(
    named name: String, in directory: URL, remedy: String = DataFile.defaultRemedy
  ) throws -> URL {
    let compressed = directory.appendingPathComponent(name)
    guard name.hasSuffix(".gz"),
      !FileManager.default.fileExists(atPath: compressed.path)
    else { return compressed }
    let plainName = String(name.dropLast(3))
    let plain = directory.appendingPathComponent(plainName)
    guard FileManager.default.fileExists(atPath: plain.path) else {
      throw DatasetError(
        .missing, path: compressed.path,
        problem: "no such file, nor its unzipped form \(plainName)", remedy: remedy)
    }
    return plain
  }

  /// Reads one images file and its labels file and checks that they agree.
  ///
  /// - Throws: `DatasetError` as `load(directory:)`.
  public static func loadPair(
    images imagesURL: URL, labels labelsURL: URL, classCount: Int = 10,
    remedy: String = DataFile.defaultRemedy
  ) throws -> LabeledImages {
    let images = try IDXFile.read(at: imagesURL, remedy: remedy)
    guard images.shape.count == 3 else {
      throw DatasetError(
        .badHeader, path: imagesURL.path,
        problem: "expected 3 dimensions (images × rows × columns), the header has shape "
          + "\(images.shape)", remedy: remedy)
    }
    let labels = try IDXFile.read(at: labelsURL, remedy: remedy)
    guard labels.shape.count == 1 else {
      throw DatasetError(
        .badHeader, path: labelsURL.path,
        problem: "expected 1 dimension (labels), the header has shape \(labels.shape)",
        remedy: remedy)
    }
    guard images.shape[0] == labels.shape[0] else {
      throw DatasetError(
        .inconsistent, path: labelsURL.path,
        problem: "holds \(labels.shape[0]) labels but \(imagesURL.lastPathComponent) holds "
          + "\(images.shape[0]) images", remedy: remedy)
    }
    if let index = labels.elements.firstIndex(where: { Int($0) >= classCount }) {
      throw DatasetError(
        .valueOutOfRange, path: labelsURL.path,
        problem: "label \(labels.elements[index]) at position \(index) is outside "
          + "0..<\(classCount)", remedy: remedy)
    }

    return LabeledImages(
      count: images.shape[0], rows: images.shape[1], columns: images.shape[2],
      pixels: images.elements, labels: labels.elements)
  }
}
