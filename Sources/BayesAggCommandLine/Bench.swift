import Aggregation
import Autodiff
import CRuntimeSupport
import Experiments
import Foundation
import Tensors

/// `bayesagg bench`: milliseconds per training step of LS and BayesAgg-MTL.
enum Bench {
  static let caseNames = ["fashion", "cnn", "resnet18"]
  /// The most timed or warm-up steps per measurement: the batches are cut in advance.
  static let maximumSteps = 1000

  static let specs: [OptionSpec] =
    [
      OptionSpec(
        "case", "LIST",
        "cases to run (default fashion,cnn,resnet18): fashion = the fashion-mtl recipe's data "
          + "and network; cnn = synthetic CIFAR-MTL data, 3×32×32, batch 128, 20 binary tasks, "
          + "on the CIFAR-MTL CNN; resnet18 = synthetic UTKFace data, 3×64×64, batch 32, on "
          + "ResNet-18; --backbone replaces a case's network"),
      OptionSpec("steps", "N", "timed steps per measurement, 1 to \(maximumSteps) (default 10)"),
      OptionSpec("warmup", "N", "untimed steps first, 0 to \(maximumSteps) (default 3)"),
      OptionSpec(
        "methods", "LIST",
        "also time a step of each of these methods beside LS (e.g. mgda,upgrad,famo)"),
    ]
    + TrainingOptions.specs.filter {
      [
        "samples", "moments", "backbone", "hidden", "fashion-dir", "jacobian-space",
        "dwa-temperature", "cagrad-c", "nash-max-norm", "nash-update-every", "famo-lr",
        "famo-decay", "gradvac-beta",
        "aligned-mtl-scale",
      ].contains($0.name)
    }.map {
      // bench has no --recipe: without --backbone, each case runs its own network.
      $0.name != "backbone"
        ? $0
        : OptionSpec(
          "backbone", "NAME",
          "shared network: " + BackboneKind.allCases.map(\.rawValue).joined(separator: ", ")
            + " (default: each case's own network)")
    }

  static let helpText = Tool.help(
    "bayesagg bench [--case LIST] [--steps N] [--warmup N] [--methods LIST]",
    "Time training steps: for each case the median milliseconds per LS step and per "
      + "BayesAgg-MTL step\nafter a warm-up, their ratio, the aggregation call alone, the "
      + "convolutions' GFLOP/s beside\nsgemm's on this machine (and the Winograd layers by "
      + "im2col), peak resident memory and\nthe live heap of a step beside the activations "
      + "it keeps, and the LS step alternating with\none whose convolutions all run by "
      + "im2col.", specs)

  /// A case ready to run: its data and the checked configurations of the steps it times.
  struct Case {
    var recipe: Recipe
    var ls: TrainingConfiguration
    var bayesAgg: TrainingConfiguration
    /// The `--methods` beside LS and BayesAgg-MTL.
    var others: [TrainingConfiguration]
  }

  static func run(_ arguments: [String], console: Console) throws -> Int32 {
    guard
      let options = try Tool.parse(
        arguments, specs: specs, command: "bench", help: helpText, console: console)
    else { return 0 }
    let methods = try extraMethods(options)
    let steps = try stepCount("steps", options, default: 10, least: 1)
    let warmup = try stepCount("warmup", options, default: 3, least: 0)
    let names = try cases(options)
    // Every case's data and configurations before anything is printed or timed, as `train`
    // does: a bad option or a missing data folder stops the command before the benchmarks.
    var prepared = try names.map { try prepare($0, options: options, methods: methods) }
    if options.string("fashion-dir") != nil, !names.contains("fashion") {
      console.note("note: --fashion-dir has no effect on " + names.joined(separator: ", "))
    }
    // The executable sets OPENBLAS_THREAD_TIMEOUT unless the user did; OpenBLAS defaults to 28.
    let timeout = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] ?? "28"
    console.print(
      "OpenBLAS core \(LinearAlgebraBackend.coreName), threads: "
        + "\(LinearAlgebraBackend.threadCount), idle threads sleep after 2^\(timeout) ticks; "
        + "warm-up steps: \(warmup), timed steps: \(steps) per measurement; medians")
    let levels = cpu_feature_levels()
    if let advice = Tool.blasCoreAdvice(
      core: LinearAlgebraBackend.coreName, hasAVX512: levels.avx512 != 0,
      environment: ProcessInfo.processInfo.environment)
    {
      console.print(advice)
    }
    let vectors = levels.avx512 != 0 ? "AVX-512" : (levels.avx2 != 0 ? "AVX2 with FMA" : "SSE2")
    console.print(
      "vector kernels: \(vectors); binary Monte-Carlo products by "
        + binaryMonteCarloProductsDescription)
    let sgemm = sgemmRate()
    console.print(String(format: "sgemm 1024×1024×1024: %.1f GFLOP/s", sgemm))
    // Each case's data is let go once it has run.
    while !prepared.isEmpty {
      try runCase(
        prepared.removeFirst(), steps: steps, warmup: warmup, sgemm: sgemm, console: console)
    }
    return 0
  }

  /// The methods of `--methods` to time beside LS, each once; none without the option.
  static func extraMethods(_ options: ParsedOptions) throws -> [Method] {
    guard let list = options.string("methods") else { return [] }
    let names = try TrainingOptions.methodNames(list)
    guard !names.contains("") else {
      throw UsageError("--methods has an empty entry; list methods separated by single commas")
    }
    if names == [Method.stl.rawValue] {
      throw UsageError(
        "--methods: stl trains one network per task; bench times multi-task steps")
    }
    var seen = Set<Method>()
    return try names.map { try TrainingOptions.method($0, inList: true) }.filter {
      $0 != .stl && seen.insert($0).inserted
    }
  }

  /// The value of `--steps` or `--warmup`, between `least` and `maximumSteps`.
  static func stepCount(_ name: String, _ options: ParsedOptions, default fallback: Int, least: Int)
    throws -> Int
  {
    let count = try options.integer(name) ?? fallback
    guard count >= least, count <= maximumSteps else {
      throw UsageError("--\(name) must be between \(least) and \(maximumSteps) (got \(count))")
    }
    return count
  }

  /// The names in the `--case` list (comma-separated, spaces ignored), each a known case
  /// named once; every case without the option.
  static func cases(_ options: ParsedOptions) throws -> [String] {
    let choices = caseNames.joined(separator: ", ")
    guard let list = options.string("case") else { return caseNames }
    guard !list.trimmingCharacters(in: .whitespaces).isEmpty else {
      throw UsageError("--case needs at least one of " + choices)
    }
    let names = list.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    }
    guard !names.contains("") else {
      throw UsageError(
        "--case '\(list)' has an empty entry; list cases separated by single commas")
    }
    for name in names where !caseNames.contains(name) {
      throw UsageError("unknown bench case '\(name)' in --case; choose from " + choices)
    }
    if let twice = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
      throw UsageError("--case lists \(twice) twice")
    }
    return names
  }

  /// The data of case `name` and its configurations with every given option applied.
  ///
  /// - Throws: `UsageError` for an option the case cannot take; the data's errors (a missing
  ///   or unreadable `--fashion-dir`) for the fashion case.
  static func prepare(_ name: String, options: ParsedOptions, methods: [Method]) throws -> Case {
    let recipe: Recipe
    switch name {
    case "fashion":
      recipe = try TrainingOptions.loadRecipe(options, default: "fashion-mtl")
    case "cnn":
      recipe = RecipeCatalog.synthetic(
        name: "CIFAR-MTL (synthetic 3×32×32)", inputShape: [3, 32, 32],
        groups: [
          TaskGroupDescription(
            kind: .binary(outputs: 20), taskNames: (0..<20).map { "task-\($0)" })
        ], count: 128 * 4, backbone: .cnn, batchSize: 128, seed: 1)
    default:
      recipe = RecipeCatalog.synthetic(
        name: "UTKFace (synthetic 3×64×64)", inputShape: [3, 64, 64],
        groups: [
          TaskGroupDescription(kind: .regression(outputs: 1), taskNames: ["age"]),
          TaskGroupDescription(kind: .multiclass(classes: 2), taskNames: ["gender"]),
          TaskGroupDescription(kind: .multiclass(classes: 5), taskNames: ["race"]),
        ], count: 32 * 4, backbone: .resnet18, batchSize: 32, seed: 2)
    }
    try recipe.validate()
    var ls = try TrainingOptions.configuration(options, recipe: recipe, method: .ls)
    ls.lsEpochs = 0
    ls.batchSize = min(ls.batchSize, recipe.train.count)
    func configuration(_ method: Method) throws -> TrainingConfiguration {
      var configuration = ls
      configuration.method = method
      do { try configuration.validate(for: recipe) } catch let error as ExperimentError {
        throw UsageError(error.message)
      }
      return configuration
    }
    return Case(
      recipe: recipe, ls: ls, bayesAgg: try configuration(.bayesagg),
      others: try methods.filter { $0 != .ls && $0 != .bayesagg }.map(configuration))
  }

  /// The line that opens a case's results: its data, network, batch, tasks and moments.
  static func heading(_ benchCase: Case) -> String {
    let recipe = benchCase.recipe
    let network =
      benchCase.ls.backbone == .mlp
      ? "MLP "
        + ([recipe.train.featureCount] + benchCase.ls.hiddenSizes)
        .map(String.init).joined(separator: "→")
      : benchCase.ls.backbone.rawValue
    let moments =
      benchCase.bayesAgg.moments == "quadrature"
      ? "quadrature moments (Monte Carlo for heads of more than two classes)"
      : "S = \(benchCase.bayesAgg.samples) Monte-Carlo samples"
    return "\(recipe.name): \(network), batch \(benchCase.ls.batchSize), "
      + "\(recipe.taskNames.count) tasks, " + moments
  }

  /// Times one case's steps, measures their memory and prints the results.
  static func runCase(
    _ benchCase: Case, steps: Int, warmup: Int, sgemm: Double, console: Console
  ) throws {
    let recipe = benchCase.recipe
    let (lsConfiguration, bayesConfiguration) = (benchCase.ls, benchCase.bayesAgg)
    let batchSize = lsConfiguration.batchSize
    let batches = (0..<(warmup + steps)).map { step -> MultiTaskData in
      let start = (step * batchSize) % max(recipe.train.count, 1)
      return recipe.train.rows((0..<batchSize).map { (start + $0) % recipe.train.count })
    }
    console.print("")
    console.print(heading(benchCase))

    let ls = try Trainer(recipe: recipe, configuration: lsConfiguration)
    // The data, the batches cut from it in advance (so that the timings leave their assembly
    // out) and the parameters are resident before the first step. The pages of the free heap
    // (what loading the data let go, which the executable's allocator settings keep) go back
    // to the system first, or the steps would reuse them unseen: the peak measures what the
    // steps add.
    release_free_heap_pages()
    resetPeakResidentMemory()
    let residentAtStart = memoryStatus("VmRSS")
    let lsTimes = try time(batches, warmup: warmup) {
      _ = try ls.benchmarkStep(on: $0, aggregating: false)
    }
    let lsPeak = memoryStatus("VmHWM")
    let footprint = ls.activationBytes(for: batches[0])
    // The heap in use, sampled while more LS steps run (untimed: the sampling takes the
    // allocator's locks): what the step itself needs, free of the allocator's retained space.
    let heap = try heapPeak(over: Array(batches.prefix(3))) {
      _ = try ls.benchmarkStep(on: $0, aggregating: false)
    }
    let bayes = try Trainer(recipe: recipe, configuration: bayesConfiguration)
    try bayes.refitFullDataPosteriors(
      using: recipe.train.rows(Array(0..<min(8192, recipe.train.count))))
    resetPeakResidentMemory()
    let residentBeforeBayes = memoryStatus("VmRSS")
    // LS and BayesAgg-MTL steps alternate, so that both see the same load on the machine
    // and their ratio does not follow the load; the LS steps alone above set its peak memory.
    let (pairedLSTimes, bayesTimes) = try alternatingTimes(batches, warmup: warmup) {
      _ = try ls.benchmarkStep(on: $0, aggregating: false)
    } and: {
      _ = try bayes.benchmarkStep(on: $0, aggregating: true)
    }
    let bayesPeak = memoryStatus("VmHWM")
    let representations = batches.map { bayes.representation(of: $0) }
    let aggregationTimes = try time(Array(zip(batches, representations)), warmup: warmup) {
      _ = try bayes.aggregatedGradient(for: $0.0, representation: $0.1)
    }
    console.print(row("LS step", lsTimes))
    console.print(row("LS step, alternating with …", pairedLSTimes))
    console.print(row("… BayesAgg-MTL step", bayesTimes))
    console.print(row("aggregation alone", aggregationTimes))
    console.print(
      String(
        format: "ratio BayesAgg-MTL / LS step (alternating): %.2f×",
        median(bayesTimes) / median(pairedLSTimes)))
    // Each BayesAgg-MTL step over the LS step just before it: a pair sees one load on the
    // machine, so these ratios spread less than the two medians do when the load drifts.
    let pairRatios = zip(bayesTimes, pairedLSTimes).map { $0 / $1 }
    console.print(
      String(
        format: "  step by step: median %.3f×, quartiles %.3f–%.3f×", median(pairRatios),
        quantile(pairRatios, 0.25), quantile(pairRatios, 0.75)))
    for configuration in benchCase.others {
      let method = configuration.method
      let trainer = try Trainer(recipe: recipe, configuration: configuration)
      let times = try time(batches, warmup: warmup) {
        _ = try trainer.benchmarkStep(on: $0, aggregating: true)
      }
      let space =
        method.family == .gradientAggregation
        ? " (\(configuration.methodSettings.jacobianSpace.rawValue))" : ""
      console.print(
        row("\(method.displayName)\(space) step", times)
          + String(format: "  %.2f× LS", median(times) / median(lsTimes)))
    }
    if let convolution = ls.convolutionProfile(for: batches[0], repeats: max(3, steps / 2)) {
      console.print(
        String(
          format: "convolutions (forward + backward): %.2f ms, %.1f GFLOP/s = %.0f%% of sgemm"
            + " (direct-convolution arithmetic over time; Winograd and tap layers do less)",
          convolution.milliseconds, convolution.gigaflopsPerSecond,
          100 * convolution.gigaflopsPerSecond / sgemm))
      if convolution.winogradLayers > 0 {
        console.print(
          String(
            format: "3×3 convolutions (%d layers): Winograd/taps %.2f ms vs im2col %.2f ms (%.2f×)",
            convolution.winogradLayers, convolution.winogradMilliseconds,
            convolution.im2colMilliseconds,
            convolution.im2colMilliseconds / convolution.winogradMilliseconds))
      }
    }
    console.print(
      memorySummary(
        keptBytes: footprint, residentBefore: residentAtStart, peak: lsPeak,
        adamBytes: ls.adamMomentBytes, bayesAggRise: bayesPeak - residentBeforeBayes))
    console.print(
      String(
        format: "live heap over the LS steps: +%.1f MB above the %.1f MB in use between steps "
          + "= %.2f× what the graph keeps",
        Double(heap.peak - heap.between) / 1e6, Double(heap.between) / 1e6,
        Double(heap.peak - heap.between) / Double(max(footprint, 1))))
    if lsConfiguration.backbone != .mlp {
      // The same LS step with every convolution by im2col, alternating step by step with the
      // automatic choice so that both see the same load on the machine; after the peak memory,
      // which the second network would raise.
      let plain = try Trainer(recipe: recipe, configuration: lsConfiguration)
      let pairs = try alternatingTimes(batches, warmup: warmup) {
        _ = try ls.benchmarkStep(on: $0, aggregating: false)
      } and: { batch in
        try ConvolutionAlgorithm.$forced.withValue(.im2col) {
          _ = try plain.benchmarkStep(on: batch, aggregating: false)
        }
      }
      console.print(row("LS step, alternating with …", pairs.first))
      console.print(
        row("… LS step, convolutions by im2col", pairs.second)
          + String(format: "  %.2f×", median(pairs.first) / median(pairs.second)))
    }
  }

  /// The memory line of a case: what an LS step keeps for its backward pass, the resident
  /// memory before the LS steps and at their peak, and the rise over the BayesAgg-MTL steps.
  ///
  /// The step's own peak is the resident peak over the LS steps above what was resident just
  /// before them (the data, the batches and the parameters) and Adam's moments, which the first
  /// step makes and the others keep. Resident sizes are in MB, the others in bytes.
  static func memorySummary(
    keptBytes: Int, residentBefore: Double, peak: Double, adamBytes: Int, bayesAggRise: Double
  ) -> String {
    let kept = Double(keptBytes) / 1e6
    let adam = Double(adamBytes) / 1e6
    let stepPeak = peak - residentBefore - adam
    return String(
      format: "memory: LS keeps %.1f MB for backward; resident %.1f MB before the LS steps "
        + "(data, batches, parameters), %.1f MB at their peak; less Adam's moments (%.1f MB, "
        + "made by the first step), the step's own peak %+.1f MB = %.2f× what it keeps; over "
        + "the BayesAgg-MTL steps +%.1f MB",
      kept, residentBefore, peak, adam, stepPeak, stepPeak / kept, bayesAggRise)
  }

  /// The most heap in use while `body` runs on each item, sampled every 0.1 ms by another
  /// thread, and the least in use between items (each item's start).
  static func heapPeak<Item>(over items: [Item], _ body: (Item) throws -> Void) throws -> (
    peak: Int, between: Int
  ) {
    let sampler = HeapSampler()
    let thread = Thread { sampler.run() }
    thread.start()
    var between = Int.max
    for item in items {
      between = min(between, heap_bytes_in_use())
      try body(item)
    }
    return (sampler.stop(), between)
  }

  /// Wall-clock milliseconds of `body` on each item after the warm-up ones.
  static func time<Item>(_ items: [Item], warmup: Int, _ body: (Item) throws -> Void) throws
    -> [Double]
  {
    var times: [Double] = []
    for (i, item) in items.enumerated() {
      let start = DispatchTime.now().uptimeNanoseconds
      try body(item)
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
      if i >= warmup { times.append(elapsed) }
    }
    return times
  }

  /// Wall-clock milliseconds of `first` and `second` on each item, alternating, after the
  /// warm-up items.
  static func alternatingTimes<Item>(
    _ items: [Item], warmup: Int, _ first: (Item) throws -> Void,
    and second: (Item) throws -> Void
  ) throws -> (first: [Double], second: [Double]) {
    var result: (first: [Double], second: [Double]) = ([], [])
    for (i, item) in items.enumerated() {
      let a = try time([item], warmup: 0, first)
      let b = try time([item], warmup: 0, second)
      if i >= warmup {
        result.first += a
        result.second += b
      }
    }
    return result
  }

  /// The best of ten 1024³ sgemm calls after a warm-up call, in GFLOP/s.
  static func sgemmRate() -> Double {
    let n = 1024
    var generator = RandomGenerator(seed: 9)
    let a = Tensor.randomNormal(shape: [n, n], using: &generator)
    let b = Tensor.randomNormal(shape: [n, n], using: &generator)
    _ = matmul(a, b)  // warm the caches, the threads and the clock first
    var best = Double.infinity
    for _ in 0..<10 {
      let start = DispatchTime.now().uptimeNanoseconds
      _ = matmul(a, b)
      best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return 2 * Double(n * n * n) / best / 1e9
  }

  /// Restarts the kernel's record of this process's peak resident memory (Linux
  /// `clear_refs` code 5), so that `VmHWM` measures the case that follows.
  static func resetPeakResidentMemory() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
  }

  /// A `/proc/self/status` memory line (`VmRSS`, `VmHWM`, which it gives in KiB) in MB (10⁶ bytes,
  /// like the graph sizes); NaN where unavailable.
  static func memoryStatus(_ key: String) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") })
    else { return .nan }
    let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
    return kilobytes * 1024 / 1e6
  }

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  /// The `q`-quantile of `values` (`0 ≤ q ≤ 1`), interpolating between the nearest two.
  static func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let position = q * Double(sorted.count - 1)
    let (low, high) = (Int(position.rounded(.down)), Int(position.rounded(.up)))
    return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
  }

  static func row(_ name: String, _ times: [Double]) -> String {
    name.padding(toLength: max(34, name.count + 1), withPad: " ", startingAt: 0)
      + String(
        format: "%9.2f ms  (min %.2f, max %.2f)", median(times), times.min() ?? .nan,
        times.max() ?? .nan)
  }
}

/// Polls the heap in use on its own thread until stopped, keeping the largest value.
private final class HeapSampler: @unchecked Sendable {
  private let lock = NSLock()
  private var running = true
  private var finished = false
  private var peak = 0

  func run() {
    while true {
      let inUse = heap_bytes_in_use()
      lock.lock()
      peak = max(peak, inUse)
      let keepGoing = running
      if !keepGoing { finished = true }
      lock.unlock()
      guard keepGoing else { return }
      usleep(100)
    }
  }

  /// Stops the sampling and returns the largest value seen (waiting for the last sample).
  func stop() -> Int {
    lock.lock()
    running = false
    lock.unlock()
    while true {
      lock.lock()
      let (done, value) = (finished, peak)
      lock.unlock()
      if done { return value }
      usleep(50)
    }
  }

}
