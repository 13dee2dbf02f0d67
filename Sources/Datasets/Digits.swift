import Foundation

/// The scikit-learn digits: 1797 handwritten digits as 8×8 images of ink counts 0...16.
///
/// The test part of the UCI "Optical Recognition of Handwritten Digits" data: Alpaydin and
/// Kaynak, 1998; Kaynak, MSc thesis, Boğaziçi University, 1995.
public enum Digits {
  /// The name of this dataset's folder inside the repository's `Data` folder.
  public static let folderName = "digits"
  /// The largest pixel value; divide by it to map pixels to [0, 1].
  public static let maximumPixelValue: UInt8 = 16
  /// The number of classes (digits 0...9).
  public static let classCount = 10

  /// Loads `images.u8` and `labels.u8`, checked against the shapes in `dataset.json`.
  ///
  /// - Parameter directory: The dataset folder; by default `Data/digits` of the repository.
  /// - Returns: All 1797 images (8×8, pixels 0...16) with labels 0...9.
  /// - Throws: `DatasetError` if a file is missing, a byte count disagrees with its declared
  ///   shape, image and label counts differ, or a pixel or label is out of range.
  public static func load(directory: URL? = nil) throws -> LabeledImages {
    let folder = try directory ?? DataLocation.dataset(folderName)
    let remedy =
      "restore Data/\(folderName) from the repository (check it with `sha256sum -c SHA256SUMS`)"
    let metadata = try DatasetMetadata.load(directory: folder, remedy: remedy)
    let imagesInfo = try metadata.array(
      "images", dtype: "uint8", rank: 3, directory: folder, remedy: remedy)
    let labelsInfo = try metadata.array(
      "labels", dtype: "uint8", rank: 1, directory: folder, remedy: remedy)
    let (count, rows, columns) = (imagesInfo.shape[0], imagesInfo.shape[1], imagesInfo.shape[2])
    guard labelsInfo.shape[0] == count else {
      throw DatasetError(
        .inconsistent, path: folder.appendingPathComponent("dataset.json").path,
        problem: "declares \(labelsInfo.shape[0]) labels for \(count) images", remedy: remedy)
    }

    let imagesURL = folder.appendingPathComponent(imagesInfo.file)
    let pixels = try DataFile.exactContents(
      of: imagesURL, expectedBytes: count * rows * columns,
      description: "\(count)×\(rows)×\(columns) uint8", remedy: remedy)
    if let index = pixels.firstIndex(where: { $0 > maximumPixelValue }) {
      throw DatasetError(
        .valueOutOfRange, path: imagesURL.path,
        problem: "pixel \(pixels[index]) at byte \(index) is above \(maximumPixelValue)",
        remedy: remedy)
    }
    let labelsURL = folder.appendingPathComponent(labelsInfo.file)
    let labels = try DataFile.exactContents(
      of: labelsURL, expectedBytes: count, description: "\(count) uint8 labels", remedy: remedy)
    if let index = labels.firstIndex(where: { Int($0) >= classCount }) {
      throw DatasetError(
        .valueOutOfRange, path: labelsURL.path,
        problem: "label \(labels[index]) at position \(index) is outside 0..<\(classCount)",
        remedy: remedy)
    }

    return LabeledImages(
      count: count, rows: rows, columns: columns, pixels: pixels, labels: labels)
  }
}
