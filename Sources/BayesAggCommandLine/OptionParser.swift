import Foundation

/// A mistake on the command line; the tool prints it with a pointer to `--help` and exits 64.
public struct UsageError: Error, CustomStringConvertible, Equatable {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}

/// One `--name value` option (or a `--name` flag) a subcommand accepts.
public struct OptionSpec: Sendable {
  public var name: String
  /// What the value looks like in help (`N`, `PATH`, `LIST`); `nil` for a flag.
  public var valueName: String?
  public var help: String

  public init(_ name: String, _ valueName: String?, _ help: String) {
    self.name = name
    self.valueName = valueName
    self.help = help
  }
}

/// The options given to a subcommand, by name, checked against its specs.
public struct ParsedOptions: Equatable {
  public private(set) var values: [String: String] = [:]
  public private(set) var flags: Set<String> = []

  /// Parses `arguments` (after the subcommand's name) against `specs`.
  ///
  /// Accepts `--name value` and `--name=value`; a repeated option keeps its last value.
  ///
  /// - Throws: `UsageError` for an unknown option, a missing or empty `--name=` value, a flag
  ///   given a value or a stray positional argument.
  public init(_ arguments: [String], specs: [OptionSpec], command: String) throws {
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      guard argument.hasPrefix("--"), argument.count > 2 else {
        throw UsageError(
          "unexpected argument '\(argument)' for '\(command)'; options start with --")
      }
      var name = String(argument.dropFirst(2))
      var inlineValue: String? = nil
      if let equals = name.firstIndex(of: "=") {
        inlineValue = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      }
      guard let spec = specs.first(where: { $0.name == name }) else {
        let close = specs.map(\.name).filter { editDistance($0, name) <= 2 }
        let hint = close.isEmpty ? "" : " (did you mean --\(close[0])?)"
        throw UsageError("unknown option --\(name) for '\(command)'\(hint)")
      }
      if spec.valueName == nil {
        guard inlineValue == nil else {
          throw UsageError("--\(name) is a flag and takes no value")
        }
        flags.insert(name)
        continue
      }
      if let inlineValue {
        // `--epochs=` is an option whose value was forgotten, not an empty value.
        guard !inlineValue.isEmpty else {
          throw UsageError("--\(name) needs a value (\(spec.valueName!))")
        }
        values[name] = inlineValue
      } else {
        guard index < arguments.count, !arguments[index].hasPrefix("--") else {
          throw UsageError("--\(name) needs a value (\(spec.valueName!))")
        }
        values[name] = arguments[index]
        index += 1
      }
    }
  }

  /// Whether the flag was given.
  public func has(_ flag: String) -> Bool { flags.contains(flag) }

  /// The raw value of `name`, if given.
  public func string(_ name: String) -> String? { values[name] }

  /// The value of `name` as a whole number.
  public func integer(_ name: String) throws -> Int? {
    guard let text = values[name] else { return nil }
    guard let value = Int(text) else {
      throw outOfRange(name, text, as: Int.self)
        ?? UsageError("--\(name) expects a whole number, got '\(text)'")
    }
    return value
  }

  /// The value of `name` as a non-negative whole number (a seed).
  public func unsigned(_ name: String) throws -> UInt64? {
    guard let text = values[name] else { return nil }
    guard let value = UInt64(text) else {
      throw outOfRange(name, text, as: UInt64.self)
        ?? UsageError("--\(name) expects a non-negative whole number, got '\(text)'")
    }
    return value
  }

  /// The value of `name` as a finite real number.
  public func real(_ name: String) throws -> Double? {
    guard let text = values[name] else { return nil }
    guard let value = Double(text), value.isFinite else {
      throw UsageError("--\(name) expects a number, got '\(text)'")
    }
    return value
  }

  /// The value of `name` as a finite real number that a 32-bit float holds (a setting the
  /// trainer keeps as `Float`: the learning rate, the weight decay).
  public func float(_ name: String) throws -> Float? {
    guard let text = values[name], let value = try real(name) else { return nil }
    guard Float(value).isFinite else {
      throw UsageError(
        "--\(name) \(text) is too large for a 32-bit float (magnitude at most "
          + "\(Float.greatestFiniteMagnitude))")
    }
    guard value == 0 || Float(value) != 0 else {
      throw UsageError("--\(name) \(text) is too small for a 32-bit float: it rounds to 0")
    }
    return Float(value)
  }

  /// The value of `name` as a comma-separated list of whole numbers.
  public func integers(_ name: String) throws -> [Int]? {
    guard let text = values[name] else { return nil }
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    let numbers = parts.compactMap { Int($0) }
    guard !parts.isEmpty, numbers.count == parts.count else {
      if let error = parts.lazy.compactMap({ outOfRange(name, $0, as: Int.self) }).first {
        throw error
      }
      throw UsageError("--\(name) expects whole numbers separated by commas, got '\(text)'")
    }
    return numbers
  }
}

/// The error for `text`, a whole number written in decimal, that `T` cannot hold; `nil` if
/// `T` holds it, if `text` is no whole number, or if it is a negative one for an unsigned `T`.
///
/// Without it, `--samples 99999999999999999999` would be said not to be a whole number.
func outOfRange<T: FixedWidthInteger>(_ name: String, _ text: String, as type: T.Type)
  -> UsageError?
{
  guard T(text) == nil else { return nil }
  let negative = text.hasPrefix("-")
  let digits = negative || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
  guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
  let bits = T.bitWidth
  if negative {
    guard T.isSigned else { return nil }
    return UsageError(
      "--\(name) \(text) is too small for a \(bits)-bit whole number (at least \(T.min))")
  }
  return UsageError(
    "--\(name) \(text) is too large for a \(bits)-bit whole number (at most \(T.max))")
}

/// The number of single-character edits between two strings, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
  let x = Array(a)
  let y = Array(b)
  guard !x.isEmpty else { return y.count }
  guard !y.isEmpty else { return x.count }
  var previous = Array(0...y.count)
  for i in 1...x.count {
    var current = [i] + [Int](repeating: 0, count: y.count)
    for j in 1...y.count {
      let substitution = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
      current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
    }
    previous = current
  }
  return previous[y.count]
}
