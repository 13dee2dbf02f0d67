import Foundation
import Tensors
import Testing

@testable import Experiments

@Suite("safetensors")
struct SafeTensorsTests {
  @Test("the layout is the format's: header length, padded JSON header, then the bytes")
  func layout() throws {
    let a = Tensor(shape: [2, 2], scalars: [1, -2, 3.5, 0])
    let b = Tensor(shape: [3], scalars: [7, 8, 9])
    let data = try SafeTensors.encode([("a", a), ("b", b)], metadata: ["k": "v"])
    let bytes = [UInt8](data)
    let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
    #expect(headerLength % 8 == 0)
    #expect(bytes.count == 8 + headerLength + 7 * 4)
    let header = try #require(
      try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)]))
        as? [String: Any])
    let entryB = try #require(header["b"] as? [String: Any])
    #expect(entryB["data_offsets"] as? [Int] == [16, 28])
    #expect(entryB["shape"] as? [Int] == [3])
    #expect((header["__metadata__"] as? [String: String])?["k"] == "v")
    // -2 as little-endian IEEE-754 binary32 is 00 00 00 C0.
    #expect(Array(bytes[(8 + headerLength + 4)..<(8 + headerLength + 8)]) == [0, 0, 0, 0xC0])
    let decoded = try SafeTensors.decode(data)
    #expect(decoded["a"] == a)
    #expect(decoded["b"] == b)
  }

  @Test("a malformed file is an error")
  func malformed() {
    #expect(throws: ExperimentError.self) { try SafeTensors.decode(Data([1, 2, 3])) }
    var data = Data()
    withUnsafeBytes(of: UInt64(1000).littleEndian) { data.append(contentsOf: $0) }
    #expect(throws: ExperimentError.self) { try SafeTensors.decode(data) }
  }

  @Test("a run writes its trained weights as model.safetensors")
  func runWritesWeights() throws {
    let recipe = try RecipeCatalog.load("digits-mtl", seed: 0)
    var configuration = TrainingConfiguration(recipe: recipe, method: .ls)
    configuration.epochs = 1
    let folder = temporaryFolder("weights")
    defer { try? FileManager.default.removeItem(at: folder) }
    _ = try Experiment.run(
      recipe: recipe, configuration: configuration, directory: try RunDirectory(folder))
    let tensors = try SafeTensors.decode(
      Data(contentsOf: folder.appendingPathComponent("model.safetensors")))
    #expect(tensors["backbone.000"]?.shape == [128, 64])
    #expect(tensors["backbone.003"]?.shape == [64])
    #expect(tensors["heads.0.weight"]?.shape == [10, 64])
    #expect(tensors["heads.0.bias"]?.shape == [10])
    #expect(tensors.count == 6)
  }
}
