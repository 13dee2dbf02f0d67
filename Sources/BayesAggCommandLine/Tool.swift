import Datasets
import Experiments
import Foundation
import Tensors

/// The `bayesagg` command: subcommands, help, exit codes.
///
/// Exit codes: 0 success (and `--help`), 1 a failure while running (missing or corrupt data,
/// divergence, unwritable output), 64 a usage error, 128 + the signal's number (130 for Ctrl-C)
/// when `train` or `compare` stopped on a signal.
public enum Tool {
  static let commands: [(name: String, summary: String)] = [
    ("train", "train one method on a recipe and write its results"),
    ("compare", "train several methods on a recipe and print their test scores side by side"),
    ("bench", "time training steps of LS and BayesAgg-MTL (median ms per step, ratio)"),
    ("recipes", "list the recipes and their default settings"),
    ("methods", "list the methods"),
  ]

  /// Runs the tool with `arguments` (without the program name) and returns the exit code.
  ///
  /// With `stoppingOnSignals`, `train` and `compare` turn the first `SIGINT` (Ctrl-C) or
  /// `SIGTERM` into a request to stop after the current step (`Interruption`), so that the run
  /// folder says why it ended; a second signal ends the process at once.
  public static func main(
    _ arguments: [String], console: Console = .standard(), stoppingOnSignals: Bool = false
  ) -> Int32 {
    guard let command = arguments.first, command != "--help", command != "-h" else {
      console.print(overview)
      return 0
    }
    if command == "help" {
      // `bayesagg help train` is `bayesagg train --help`.
      guard arguments.count > 1 else {
        console.print(overview)
        return 0
      }
      return main([arguments[1], "--help"], console: console)
    }
    let rest = Array(arguments.dropFirst())
    if stoppingOnSignals && ["train", "compare"].contains(command) {
      stopAfterTheCurrentStepOnSignals(console: console)
    }
    do {
      switch command {
      case "train": return try Train.run(rest, console: console)
      case "compare": return try Compare.run(rest, console: console)
      case "bench": return try Bench.run(rest, console: console)
      case "recipes": return try listRecipes(rest, console: console)
      case "methods": return try listMethods(rest, console: console)
      default:
        throw UsageError(
          "unknown command '\(command)'; choose one of: "
            + commands.map(\.name).joined(separator: ", "))
      }
    } catch let error as InterruptedError {
      console.note("bayesagg: \(error)")
      return error.exitCode
    } catch let error as UsageError {
      console.note("bayesagg: error: \(error.message)")
      console.note("Run 'bayesagg \(isKnown(command) ? command + " " : "")--help' for usage.")
      return 64
    } catch {
      console.note("bayesagg: error: \(error)")
      return 1
    }
  }

  /// A note for `bench` when OpenBLAS runs kernels without AVX-512 on a processor that has it
  /// because the environment chose them (`OPENBLAS_CORETYPE`, which the executable leaves as
  /// it finds it); `nil` otherwise.
  static func blasCoreAdvice(core: String, hasAVX512: Bool, environment: [String: String])
    -> String?
  {
    let wide = ["skylakex", "cooperlake", "sapphirerapids"]
    guard hasAVX512, !wide.contains(core.lowercased()),
      let chosen = environment["OPENBLAS_CORETYPE"]
    else { return nil }
    return "note: OPENBLAS_CORETYPE=\(chosen) keeps OpenBLAS on its \(core) kernels on this "
      + "AVX-512 processor; unset it to let bayesagg pick SkylakeX (faster matrix products)"
  }

  static var overview: String {
    var lines = [
      "bayesagg — multi-task training with BayesAgg-MTL and the methods it is compared against",
      "",
      "USAGE: bayesagg <command> [options]",
      "",
      "COMMANDS:",
    ]
    for (name, summary) in commands {
      lines.append("  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) + summary)
    }
    lines += [
      "",
      "Run 'bayesagg <command> --help' for a command's options.",
      "Example: bayesagg compare --recipe fashion-mtl --methods ls,bayesagg",
    ]
    return lines.joined(separator: "\n")
  }

  /// Help text for a subcommand.
  static func help(_ usage: String, _ summary: String, _ specs: [OptionSpec], footer: String = "")
    -> String
  {
    var lines = [summary, "", "USAGE: " + usage, "", "OPTIONS:"]
    for spec in specs + [OptionSpec("help", nil, "show this help")] {
      var left = "  --" + spec.name + (spec.valueName.map { " " + $0 } ?? "")
      if left.count < 28 {
        left = left.padding(toLength: 28, withPad: " ", startingAt: 0)
      } else {
        left += "\n" + String(repeating: " ", count: 28)
      }
      lines.append(left + spec.help)
    }
    if !footer.isEmpty { lines += ["", footer] }
    return lines.joined(separator: "\n")
  }

  static func isKnown(_ command: String) -> Bool {
    commands.contains { $0.name == command }
  }

  /// Parses `arguments` against `specs`; returns `nil` after printing help for `--help`.
  static func parse(
    _ arguments: [String], specs: [OptionSpec], command: String, help text: String,
    console: Console
  ) throws -> ParsedOptions? {
    if arguments.contains("--help") || arguments.contains("-h") {
      console.print(text)
      return nil
    }
    return try ParsedOptions(arguments, specs: specs, command: command)
  }

  static func listRecipes(_ arguments: [String], console: Console) throws -> Int32 {
    let text = help("bayesagg recipes", "List the recipes and their defaults.", [])
    guard try parse(arguments, specs: [], command: "recipes", help: text, console: console) != nil
    else { return 0 }
    for (name, summary) in RecipeCatalog.entries {
      console.print(name.padding(toLength: 13, withPad: " ", startingAt: 0) + summary)
    }
    console.print("")
    console.print("Defaults are a short schedule; the seed's full schedule is given per recipe:")
    console.print(
      "  fashion-mtl  CIFAR-MTL CNN, 2 epochs, 1 LS epoch, batch 128, lr 1e-3 (constant),"
        + " γ 5e-4, α 5e-4; full: --epochs 50 --ls-epochs 3")
    console.print(
      "  penguins     60 epochs, 10 LS epochs, batch 32, γ 5e-3, α 0.3 (regression)"
        + " / 0.1 (classification); full: --epochs 100")
    console.print("  digits-mtl   10 epochs, 2 LS epochs, batch 64")
    console.print(
      "LS epochs warm BayesAgg-MTL up; the other methods start at once unless --ls-epochs says so.")
    console.print(
      "The learning rate drops ×0.1 at 60% and 80% of the epochs (--lr-milestones changes it).")
    return 0
  }

  static func listMethods(_ arguments: [String], console: Console) throws -> Int32 {
    let text = help("bayesagg methods", "List the methods.", [])
    guard try parse(arguments, specs: [], command: "methods", help: text, console: console) != nil
    else { return 0 }
    let sections: [(String, Method.Family)] = [
      ("Loss weighting (needs only the task losses):", .lossWeighting),
      (
        "Gradient aggregation (the tasks' Jacobian; --jacobian-space shared|representation):",
        .gradientAggregation
      ),
      ("Representation-level Bayesian:", .bayesAgg),
      ("Reference:", .singleTask),
    ]
    for (i, (title, family)) in sections.enumerated() {
      if i > 0 { console.print("") }
      console.print(title)
      for method in Method.allCases where method.family == family {
        console.print(
          "  " + method.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
            + method.summary)
        console.print("  " + String(repeating: " ", count: 12) + method.paper)
      }
    }
    return 0
  }
}

/// The signal sources that turn `SIGINT` and `SIGTERM` into `Interruption` requests; kept for
/// the life of the process.
nonisolated(unsafe) private var signalSources: [any DispatchSourceSignal] = []

/// Ignores the default action of `SIGINT` and `SIGTERM` and handles them on a dispatch queue
/// instead: the first asks training to stop after its current step, a second one ends the
/// process with the signal's default action.
private func stopAfterTheCurrentStepOnSignals(console: Console) {
  guard signalSources.isEmpty else { return }
  for number in [SIGINT, SIGTERM] {
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
      if Interruption.signal != nil {
        signal(number, SIG_DFL)
        raise(number)
      }
      Interruption.request(signal: number)
      console.note(
        "bayesagg: stopping after the current step; the run folder will say so "
          + "(press Ctrl-C again to stop at once)")
    }
    source.resume()
    signalSources.append(source)
  }
}
