import Datasets
import Foundation
import Testing

@Suite("Dataset readers: gzip and IDX files")
struct DatasetReaderTests {
  let shape = [3, 2, 4]
  let elements = (0..<24).map { UInt8($0 * 10) }

  @Test("an IDX file round-trips, gzip-compressed or plain", arguments: [true, false])
  func roundTrip(gzip: Bool) throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let bytes = idxBytes(shape: shape, elements: elements)
    if gzip {
      try folder.writeGzip(bytes, to: "a.idx")
      let raw = try DataFile.rawContents(of: folder.file("a.idx"))
      #expect(raw.prefix(2) == [0x1f, 0x8b])
    } else {
      try folder.writePlain(bytes, to: "a.idx")
    }

    let array = try IDXFile.read(at: folder.file("a.idx"))

    #expect(array.shape == shape)
    #expect(array.elements == elements)
  }

  @Test("concatenated gzip members are read one after another")
  func concatenatedMembers() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let bytes = idxBytes(shape: shape, elements: elements)
    try folder.writeGzip(Array(bytes[..<10]), to: "head.gz")
    try folder.writeGzip(Array(bytes[10...]), to: "tail.gz")
    let joined =
      try DataFile.rawContents(of: folder.file("head.gz"))
      + DataFile.rawContents(of: folder.file("tail.gz"))
    try folder.writePlain(joined, to: "a.idx.gz")

    #expect(try DataFile.contents(of: folder.file("a.idx.gz")) == bytes)
  }

  @Test("a truncated payload is an error that gives both sizes", arguments: [true, false])
  func truncated(gzip: Bool) throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let bytes = Array(idxBytes(shape: shape, elements: elements).dropLast(5))
    if gzip {
      try folder.writeGzip(bytes, to: "short.gz")
    } else {
      try folder.writePlain(bytes, to: "short.gz")
    }

    let error = expectDatasetError(.truncated) {
      _ = try IDXFile.read(at: folder.file("short.gz"), remedy: "fetch it again")
    }

    let text = error?.description ?? ""
    #expect(text.contains("short.gz"))
    #expect(text.contains("3×2×4"))
    #expect(text.contains("40 bytes") && text.contains("35 bytes"))
    #expect(text.hasSuffix("fetch it again"))
    #expect(text.contains("the decompressed file holds") == gzip)
  }

  @Test("a header cut short is a truncation error")
  func truncatedHeader() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try folder.writePlain([0, 0, 8, 3, 0, 0], to: "h.idx")

    expectDatasetError(.truncated) { _ = try IDXFile.read(at: folder.file("h.idx")) }
    expectDatasetError(.truncated) { _ = try IDXFile.decode([0, 0], path: "x") }
  }

  @Test("bytes after the payload are an error")
  func trailingBytes() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    try folder.writeGzip(idxBytes(shape: shape, elements: elements + [1, 2]), to: "long.gz")

    let error = expectDatasetError(.trailingBytes) {
      _ = try IDXFile.read(at: folder.file("long.gz"))
    }
    #expect(error?.description.contains("2 trailing bytes") == true)
  }

  @Test("a wrong magic or element type is an error")
  func wrongMagic() throws {
    let notIDX = idxBytes(shape: [2], elements: [1, 2], zeroPrefix: [0x50, 0x4b])
    let floats = idxBytes(shape: [2], elements: [1, 2, 3, 4, 5, 6, 7, 8], typeCode: 0x0d)
    let noDimensions: [UInt8] = [0, 0, 8, 0]

    let magic = expectDatasetError(.badHeader) { _ = try IDXFile.decode(notIDX, path: "m") }
    let type = expectDatasetError(.badHeader) { _ = try IDXFile.decode(floats, path: "f") }
    expectDatasetError(.badHeader) { _ = try IDXFile.decode(noDimensions, path: "z") }

    #expect(magic?.description.contains("50 4b 08 01") == true)
    #expect(type?.description.contains("0x0d") == true)
  }

  @Test("a corrupt gzip stream is an error, never a crash")
  func corruptGzip() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    // A valid gzip header followed by a deflate block of the reserved type 3.
    let header: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]
    try folder.writePlain(header + [UInt8](repeating: 0xff, count: 32), to: "bad-block.gz")
    // An unknown compression method in the header.
    try folder.writePlain([0x1f, 0x8b, 0x07] + [UInt8](repeating: 0, count: 20), to: "method.gz")
    // A valid stream cut in half.
    try folder.writeGzip((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, to: "full.gz")
    let full = try DataFile.rawContents(of: folder.file("full.gz"))
    try folder.writePlain(Array(full.prefix(full.count / 2)), to: "half.gz")
    // A valid stream followed by garbage.
    try folder.writePlain(full + [1, 2, 3], to: "garbage.gz")
    // Only the magic.
    try folder.writePlain([0x1f, 0x8b], to: "magic-only.gz")

    for name in ["bad-block.gz", "method.gz", "half.gz", "garbage.gz", "magic-only.gz"] {
      let error = expectDatasetError(.corruptCompression) {
        _ = try DataFile.contents(of: folder.file(name))
      }
      #expect(error?.description.contains(name) == true, "\(name)")
    }
  }

  @Test("a missing file is an error that names the file")
  func missingFile() throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }

    let error = expectDatasetError(.missing) {
      _ = try IDXFile.read(at: folder.file("nowhere-idx1-ubyte.gz"))
    }

    #expect(error?.path.hasSuffix("nowhere-idx1-ubyte.gz") == true)
    #expect(error?.description.contains("nowhere-idx1-ubyte.gz") == true)
  }
}
