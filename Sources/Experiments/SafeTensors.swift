import Foundation
import Layers
import Tensors

/// The safetensors file format (Hugging Face), which PyTorch reads with
/// `safetensors.torch.load_file`: an 8-byte little-endian header length, a JSON header mapping
/// each name to `{dtype, shape, data_offsets}` (plus optional `__metadata__` strings), padded
/// with spaces to a multiple of 8 bytes, then the tensors' bytes, little-endian, row-major.
public enum SafeTensors {
  /// The bytes of a safetensors file holding `tensors` (Float32) in the given order.
  public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String])
    throws -> Data
  {
    var header: [String: Any] = ["__metadata__": metadata]
    var offset = 0
    for (name, tensor) in tensors {
      precondition(header[name] == nil && name != "__metadata__", "duplicate tensor name \(name)")
      let bytes = tensor.count * MemoryLayout<Float>.size
      header[name] = [
        "dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes],
      ]
      offset += bytes
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for (_, tensor) in tensors {
      for value in tensor.scalars {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
      }
    }
    return data
  }

  /// The Float32 tensors of a safetensors file, by name.
  ///
  /// - Throws: `ExperimentError` for a malformed file.
  public static func decode(_ data: Data) throws -> [String: Tensor] {
    let bytes = [UInt8](data)
    guard bytes.count >= 8 else { throw ExperimentError("safetensors: file shorter than 8 bytes") }
    let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
    guard headerLength <= bytes.count - 8,
      let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)]))
        as? [String: Any]
    else { throw ExperimentError("safetensors: header length or JSON is malformed") }
    let body = 8 + headerLength
    var result: [String: Tensor] = [:]
    for (name, entry) in header where name != "__metadata__" {
      guard let entry = entry as? [String: Any], entry["dtype"] as? String == "F32",
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int],
        offsets.count == 2, offsets[0] >= 0, offsets[1] >= offsets[0],
        body + offsets[1] <= bytes.count,
        offsets[1] - offsets[0] == shape.reduce(1, *) * 4
      else { throw ExperimentError("safetensors: entry \(name) is malformed or not F32") }
      let scalars = stride(from: body + offsets[0], to: body + offsets[1], by: 4).map { i in
        Float(
          bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
            | UInt32(bytes[i + 3]) << 24)
      }
      result[name] = Tensor(shape: shape, scalars: scalars)
    }
    return result
  }
}

extension MultiTaskModel {
  /// The trainable tensors under stable names: `backbone.NNN` in the backbone's parameter order
  /// (zero-padded), and `heads.G.weight` / `heads.G.bias` for task group `G`.
  public var namedTensors: [(name: String, tensor: Tensor)] {
    var named: [(String, Tensor)] = []
    for (i, parameter) in sharedParameters.enumerated() {
      named.append((String(format: "backbone.%03d", i), parameter.value))
    }
    for (g, head) in heads.enumerated() {
      named.append(("heads.\(g).weight", head.weight.value))
      if let bias = head.bias { named.append(("heads.\(g).bias", bias.value)) }
    }
    return named
  }
}
