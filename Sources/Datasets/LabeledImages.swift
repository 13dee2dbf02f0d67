/// Greyscale images with one class label each, stored as unsigned bytes.
public struct LabeledImages: Sendable, Equatable {
  /// The number of images.
  public let count: Int
  /// The height of each image in pixels.
  public let rows: Int
  /// The width of each image in pixels.
  public let columns: Int
  /// All pixels, image by image, each image row-major: `count * rows * columns` bytes.
  public let pixels: [UInt8]
  /// One class label per image.
  public let labels: [UInt8]

  /// Creates a set of labelled images.
  ///
  /// - Precondition: `pixels.count == count * rows * columns` and `labels.count == count`.
  public init(count: Int, rows: Int, columns: Int, pixels: [UInt8], labels: [UInt8]) {
    precondition(
      count >= 0 && rows >= 0 && columns >= 0, "negative size \(count)×\(rows)×\(columns)")
    precondition(
      pixels.count == count * rows * columns,
      "\(pixels.count) pixels do not fill \(count) images of \(rows)×\(columns)")
    precondition(labels.count == count, "\(labels.count) labels for \(count) images")
    self.count = count
    self.rows = rows
    self.columns = columns
    self.pixels = pixels
    self.labels = labels
  }

  /// The number of pixels in one image, `rows * columns`.
  public var pixelsPerImage: Int { rows * columns }

  /// The pixels of image `index`, row-major.
  ///
  /// - Precondition: `0 <= index < count`.
  public func pixels(ofImage index: Int) -> ArraySlice<UInt8> {
    precondition(index >= 0 && index < count, "image index \(index) is outside 0..<\(count)")
    let start = index * pixelsPerImage
    return pixels[start..<(start + pixelsPerImage)]
  }

  /// All pixels as floats, each multiplied by `scale` (1/255 maps bytes to [0, 1]).
  ///
  /// - Complexity: O(count × rows × columns).
  public func pixelsAsFloats(scale: Float = 1 / 255) -> [Float] {
    pixels.map { Float($0) * scale }
  }

  /// The images and labels at `indices`, in that order.
  ///
  /// - Precondition: every index lies in `0..<count`.
  /// - Complexity: O(indices.count × rows × columns).
  public func subset(_ indices: [Int]) -> LabeledImages {
    var newPixels: [UInt8] = []
    newPixels.reserveCapacity(indices.count * pixelsPerImage)
    var newLabels: [UInt8] = []
    newLabels.reserveCapacity(indices.count)
    for index in indices {
      newPixels.append(contentsOf: pixels(ofImage: index))
      newLabels.append(labels[index])
    }
    return LabeledImages(
      count: indices.count, rows: rows, columns: columns, pixels: newPixels, labels: newLabels)
  }

  /// How many images carry each label `0..<classCount`.
  ///
  /// - Precondition: every label is below `classCount`.
  public func classCounts(classCount: Int) -> [Int] {
    var counts = [Int](repeating: 0, count: classCount)
    for label in labels {
      precondition(Int(label) < classCount, "label \(label) is not below \(classCount)")
      counts[Int(label)] += 1
    }
    return counts
  }
}
