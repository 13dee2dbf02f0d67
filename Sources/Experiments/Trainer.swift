import Aggregation
import Autodiff
import Datasets
import Foundation
import Layers
import Optimizers
import Tensors

/// What the trainer reports while it works; the executable decides how to show it.
public enum TrainingEvent: Sendable {
  /// An epoch begins. `phase` is `ls` during the warm-up, else the method's name.
  case epochStarted(epoch: Int, epochs: Int, phase: String, task: String?)
  /// A step finished. `secondsLeft` estimates the rest of this training run.
  case step(epoch: Int, step: Int, steps: Int, loss: Double, secondsLeft: Double)
  /// An epoch finished and was evaluated.
  case epochFinished(EpochRecord)
}

/// Trains one multi-task network on a recipe with any method but single-task learning.
///
/// Each step the backbone maps the batch to the representation `h`, and the method decides the
/// backbone's gradient:
/// - loss weighting (LS, SI, RLW, DWA, UW, FAMO): the gradient of `Σ_k w_k L_k`, heads included;
/// - gradient aggregation (MGDA, PCGrad, …): the heads get the gradient of `Σ_k L_k`; the
///   Jacobian of the task losses in the shared parameters (one backward pass through the
///   backbone per task, over one graph) or in `h` is combined by the rule;
/// - BayesAgg-MTL: the heads get the gradient of `Σ_k L_k`; the backbone gets the aggregated
///   `∂L/∂h` backpropagated from `h`. Its full-data posteriors are refitted at the start of each
///   epoch from the representations and labels collected during the previous one.
/// The first `lsEpochs` epochs train by linear scalarization whatever the method.
public final class Trainer {
  public let recipe: Recipe
  public let configuration: TrainingConfiguration
  public let model: MultiTaskModel
  private var generator: RandomGenerator
  private let optimizer: Adam
  private let schedule: MultiStepSchedule
  /// Asked before every step; a signal number stops training with `InterruptedError`.
  public var stopRequest: () -> Int32? = { Interruption.signal }
  private let bayesAgg: BayesAggMTL?
  private var weighting: (any LossWeighting)?
  private var aggregator: (any JacobianAggregator)?

  /// What one training step does with the task losses.
  enum StepMode {
    case linear, weighted, jacobian, bayesAgg
  }

  /// Builds the model and optimiser for `recipe` with `configuration`.
  ///
  /// - Precondition: `configuration.method` is not single-task learning (which trains one
  ///   `Trainer` per task; see `SingleTaskLearning`).
  public init(recipe: Recipe, configuration: TrainingConfiguration) throws {
    precondition(configuration.method != .stl, "train STL through SingleTaskLearning")
    try configuration.validate()
    self.recipe = recipe
    self.configuration = configuration
    var generator = RandomGenerator(seed: configuration.seed)
    try configuration.validate(for: recipe)
    let backbone = makeBackbone(
      configuration.backbone, recipe: recipe, hiddenSizes: configuration.hiddenSizes,
      using: &generator)
    let heads = recipe.groups.map {
      Linear(inputSize: backbone.outputSize, outputSize: $0.outputCount, using: &generator)
    }
    model = MultiTaskModel(backbone: backbone, heads: heads)
    optimizer = Adam(groups: [
      ParameterGroup(
        parameters: model.sharedParameters, learningRate: configuration.learningRate,
        weightDecay: configuration.weightDecay),
      ParameterGroup(
        parameters: model.headParameters, learningRate: configuration.learningRate,
        weightDecay: configuration.weightDecay,
        maxGradientNorm: configuration.headMaxGradientNorm),
    ])
    schedule = configuration.schedule
    let method = configuration.method
    bayesAgg =
      method == .bayesagg
      ? BayesAggMTL(
        groups: recipe.groups.map(\.kind), representationSize: backbone.outputSize,
        configuration: configuration.bayesAgg)
      : nil
    switch method.family {
    case .lossWeighting:
      weighting = makeLossWeighting(
        method, settings: configuration.methodSettings,
        learningRate: Double(configuration.learningRate))
    case .gradientAggregation:
      aggregator = makeAggregator(method, settings: configuration.methodSettings)
    case .bayesAgg, .singleTask:
      break
    }
    self.generator = generator.split()
  }

  /// Trains for the configured epochs, evaluating on the validation and test splits after
  /// each one.
  ///
  /// - Parameter onEvent: receives progress; called on the training thread.
  /// - Returns: one record per epoch.
  /// - Throws: `ExperimentError` when the loss stops being finite; BayesAgg-MTL's errors.
  public func run(onEvent: (TrainingEvent) -> Void = { _ in }) throws -> [EpochRecord] {
    let stepsPerEpoch =
      (recipe.train.count + configuration.batchSize - 1)
      / configuration.batchSize
    let totalSteps = stepsPerEpoch * configuration.epochs
    let started = Date()
    var stepsDone = 0
    var records: [EpochRecord] = []
    var collected: CollectedFeatures? = nil
    for epoch in 0..<configuration.epochs {
      let epochStarted = Date()
      let factor = schedule.learningRateFactor(atEpoch: epoch)
      optimizer.setLearningRateFactor(factor)
      weighting?.setLearningRateFactor(Double(factor))
      let warmingUp = epoch < configuration.lsEpochs
      let mode = warmingUp ? .linear : stepMode
      let aggregating = mode == .bayesAgg
      if !warmingUp, let limit = configuration.sharedMaxGradientNorm {
        optimizer.groups[0].maxGradientNorm = limit
      }
      let phase = warmingUp ? "ls" : configuration.method.rawValue
      onEvent(
        .epochStarted(
          epoch: epoch + 1, epochs: configuration.epochs, phase: phase,
          task: nil))
      if aggregating, let bayesAgg, let features = collected {
        try bayesAgg.updateFullDataPosteriors(
          features: features.matrix(), labels: features.labelMatrices(), heads: currentHeads())
      }
      var gathering = bayesAgg.map { _ in CollectedFeatures(groups: recipe.groups) }
      let batches = EpochBatches(
        count: recipe.train.count, batchSize: configuration.batchSize, using: &generator)
      var lossTotal = 0.0
      var taskLossTotals = [Double](repeating: 0, count: recipe.taskNames.count)
      for (step, rows) in batches.enumerated() {
        if let signal = stopRequest() {
          throw InterruptedError(
            signal: signal,
            location: "during epoch \(epoch + 1) of \(configuration.epochs), before step "
              + "\(step + 1) of \(stepsPerEpoch)")
        }
        let batch = recipe.train.rows(rows)
        let taskLosses = try trainStep(on: batch, mode: mode, gathering: &gathering)
        for k in taskLossTotals.indices { taskLossTotals[k] += taskLosses[k] }
        let loss = taskLosses.reduce(0, +)
        guard loss.isFinite, abs(loss) < 1e10 else {
          throw ExperimentError(
            "training diverged: the loss is \(loss) at epoch \(epoch + 1), step \(step + 1); "
              + "lower --lr or check the inputs for NaN")
        }
        lossTotal += loss
        stepsDone += 1
        let elapsed = Date().timeIntervalSince(started)
        let left = elapsed / Double(stepsDone) * Double(totalSteps - stepsDone)
        onEvent(
          .step(
            epoch: epoch + 1, step: step + 1, steps: stepsPerEpoch, loss: loss,
            secondsLeft: left))
      }
      collected = gathering
      weighting?.epochFinished(
        meanLosses: taskLossTotals.map { $0 / Double(max(stepsPerEpoch, 1)) })
      model.isTraining = false
      defer { model.isTraining = true }
      let evaluator = makeEvaluator()
      let record = EpochRecord(
        epoch: epoch + 1, task: nil, phase: phase,
        trainLoss: lossTotal / Double(max(stepsPerEpoch, 1)),
        seconds: Date().timeIntervalSince(epochStarted),
        learningRate: configuration.learningRate * factor,
        validation: evaluator.evaluate(model, on: recipe.validation),
        test: evaluator.evaluate(model, on: recipe.test))
      records.append(record)
      onEvent(.epochFinished(record))
    }
    return records
  }

  /// One optimiser step on `batch` with the method (`aggregating`) or by linear scalarization;
  /// returns the summed task loss. For benchmarks.
  public func benchmarkStep(on batch: MultiTaskData, aggregating: Bool) throws -> Double {
    var none: CollectedFeatures? = nil
    return try trainStep(on: batch, mode: aggregating ? stepMode : .linear, gathering: &none)
      .reduce(0, +)
  }

  /// Refits BayesAgg-MTL's full-data posteriors from the representations of `data` under the
  /// current backbone, computed a training batch at a time without a tape, so that the refit
  /// needs no more memory than a step. For benchmarks; training refits from the previous
  /// epoch by itself.
  public func refitFullDataPosteriors(using data: MultiTaskData) throws {
    guard let bayesAgg else { return }
    var features = CollectedFeatures(groups: recipe.groups)
    let chunk = max(1, configuration.batchSize)
    var start = 0
    while start < data.count {
      let batch = data.rows(Array(start..<min(start + chunk, data.count)))
      let h = Variable.withoutRecording { model.backbone(Variable(batch.inputs)).value }
      features.append(h, labels: batch.labels)
      start += chunk
    }
    try bayesAgg.updateFullDataPosteriors(
      features: features.matrix(), labels: features.labelMatrices(), heads: currentHeads())
  }

  /// The representation of `batch` under the current backbone, in Double.
  public func representation(of batch: MultiTaskData) -> Matrix {
    Variable.withoutRecording { Matrix(model.backbone(Variable(batch.inputs)).value) }
  }

  /// BayesAgg-MTL's representation gradient for `batch` given its representation, without a
  /// training step. For benchmarks of the aggregation's own cost.
  public func aggregatedGradient(for batch: MultiTaskData, representation h: Matrix) throws
    -> Matrix?
  {
    guard let bayesAgg else { return nil }
    return try bayesAgg.representationGradient(
      h, labels: labelMatrices(batch.labels), heads: currentHeads(), using: &generator)
  }

  /// The bytes of Adam's two moments for every parameter, which the first step allocates and
  /// the later ones keep (gradients are made by each backward pass and dropped by the next).
  public var adamMomentBytes: Int {
    2 * MemoryLayout<Float>.stride * model.parameters.reduce(0) { $0 + $1.value.count }
  }

  /// The bytes of every value the summed-loss graph of `batch` keeps for its backward pass.
  public func activationBytes(for batch: MultiTaskData) -> Int {
    let h = model.backbone(Variable(batch.inputs))
    return Variable.sum(taskLosses(h, labels: batch.labels)).graphBytes()
  }

  /// The time of one forward and backward pass of every convolution layer alone, at the
  /// shapes `batch` gives them, and the rate of their arithmetic; `nil` without convolutions.
  /// Each layer's best of `repeats` passes counts, with the work a training step gives it.
  /// The layers that run by Winograd are also timed by im2col, alternating pass by pass so that
  /// both see the same load on the machine.
  public func convolutionProfile(for batch: MultiTaskData, repeats: Int) -> ConvolutionProfile? {
    _ = model.backbone(Variable(batch.inputs))
    let layers = model.backbone.convolutions
    guard !layers.isEmpty else { return nil }
    var profileGenerator = RandomGenerator(seed: 5)
    var profile = ConvolutionProfile()
    var totalFlops = 0.0
    for (index, layer) in layers.enumerated() {
      guard let shape = layer.lastInputShape else { continue }
      // As in training: the network's input needs no gradient, so neither does the first
      // layer's (two GEMMs per pass, not three); every other layer passes one back.
      let passesGradientBack = index > 0
      let input = Variable(
        Tensor.randomNormal(shape: shape, using: &profileGenerator),
        requiresGradient: passesGradientBack)
      let seed = Tensor(repeating: 1, shape: layer(input).shape)
      let geometry = ConvolutionGeometry(
        input: shape, weight: layer.weight.shape, stride: layer.stride, padding: layer.padding,
        paddingMode: layer.paddingMode)
      let compare = geometry.algorithm != .im2col
      func seconds() -> Double {
        layer.zeroGradients()
        let start = DispatchTime.now().uptimeNanoseconds
        layer(input).backward(seed: seed, retainingGraph: false)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      }
      var (best, bestIm2col) = (Double.infinity, Double.infinity)
      for _ in 0..<repeats {
        best = min(best, seconds())
        if compare {
          bestIm2col = min(
            bestIm2col, ConvolutionAlgorithm.$forced.withValue(.im2col, operation: seconds))
        }
      }
      profile.milliseconds += 1e3 * best
      totalFlops += (passesGradientBack ? 3 : 2) * layer.forwardFlops(inputShape: shape)
      if compare {
        profile.winogradLayers += 1
        profile.winogradMilliseconds += 1e3 * best
        profile.im2colMilliseconds += 1e3 * bestIm2col
      }
    }
    model.zeroGradients()
    profile.gigaflopsPerSecond = totalFlops / profile.milliseconds / 1e6
    return profile
  }

  /// What a step does after the warm-up.
  private var stepMode: StepMode {
    switch configuration.method.family {
    case .lossWeighting: .weighted
    case .gradientAggregation: .jacobian
    case .bayesAgg: .bayesAgg
    case .singleTask: .linear
    }
  }

  /// One optimiser step on `batch`; returns the task losses before the step.
  private func trainStep(
    on batch: MultiTaskData, mode: StepMode, gathering: inout CollectedFeatures?
  ) throws -> [Double] {
    model.isTraining = true
    model.zeroGradients()
    let h = model.backbone(Variable(batch.inputs))
    gathering?.append(h.value, labels: batch.labels)
    switch mode {
    case .linear:
      let losses = taskLosses(h, labels: batch.labels)
      Variable.sum(losses).backward(retainingGraph: false)
      optimizer.step()
      return losses.map { Double($0.value.scalar) }
    case .weighted:
      let losses = taskLosses(h, labels: batch.labels)
      let values = losses.map { Double($0.value.scalar) }
      let weights = weighting!.weights(for: values, using: &generator)
      let weighted = zip(losses, weights).map { $0 * Float($1) }
      Variable.sum(weighted).backward(retainingGraph: false)
      optimizer.step()
      var after: [Double]? = nil
      if weighting!.needsLossesAfterStep {
        after = Variable.withoutRecording {
          taskLosses(model.backbone(Variable(batch.inputs)), labels: batch.labels)
            .map { Double($0.value.scalar) }
        }
      }
      weighting!.stepFinished(before: values, after: after)
      return values
    case .jacobian:
      let values = try aggregateJacobian(h, labels: batch.labels)
      optimizer.step()
      return values
    case .bayesAgg:
      // The heads read a constant copy of h, so the loss reaches only them.
      let losses = taskLosses(h.detached(), labels: batch.labels)
      Variable.sum(losses).backward()
      let gradient = try bayesAgg!.representationGradient(
        Matrix(h.value), labels: labelMatrices(batch.labels), heads: currentHeads(),
        using: &generator)
      h.backward(
        seed: Tensor(shape: h.shape, scalars: gradient.scalars.map(Float.init)),
        retainingGraph: false)
      optimizer.step()
      return losses.map { Double($0.value.scalar) }
    }
  }

  /// Gives the heads the gradient of the summed losses and the shared parameters the
  /// aggregator's combination of the task losses' Jacobian; returns the task losses.
  private func aggregateJacobian(_ h: Variable, labels: [[Float]]) throws -> [Double] {
    let space = configuration.methodSettings.jacobianSpace
    let (values, jacobian) = taskJacobian(h, labels: labels, space: space)
    let combined = try aggregator!.aggregate(jacobian, using: &generator)
    precondition(
      combined.count == jacobian.columns,
      "\(aggregator!.name) returned \(combined.count) values for \(jacobian.columns) columns")
    switch space {
    case .representation:
      h.backward(
        seed: Tensor(shape: h.shape, scalars: combined.map(Float.init)), retainingGraph: false)
    case .shared:
      var offset = 0
      for parameter in model.sharedParameters {
        let count = parameter.value.count
        parameter.gradient = Tensor(
          shape: parameter.shape, scalars: combined[offset..<(offset + count)].map(Float.init))
        offset += count
      }
    }
    return values
  }

  /// The task losses of the heads on `h`, and their `K × D` Jacobian in `space`; the heads'
  /// parameters accumulate the gradient of the summed losses on the way.
  ///
  /// The rows `∂L_k/∂h` come from backward passes through the heads alone. In the
  /// representation space they are the Jacobian (`D = b·d`); in the shared space each is sent
  /// back through the backbone's one graph in turn (`D = P`, the shared parameters in
  /// `model.sharedParameters` order), so no second graph is ever built.
  ///
  /// - Complexity: K backward passes through the heads, and K through the backbone in the
  ///   shared space; O(K · D) memory.
  func taskJacobian(_ h: Variable, labels: [[Float]], space: JacobianSpace) -> (
    losses: [Double], jacobian: Matrix
  ) {
    let leaf = h.detached(requiresGradient: true)
    let losses = taskLosses(leaf, labels: labels)
    let values = losses.map { Double($0.value.scalar) }
    let rows = losses.map { $0.gradients(withRespectTo: [leaf])[0] }
    Variable.sum(losses).backward()
    switch space {
    case .representation:
      let jacobian = Matrix(
        rows: rows.count, columns: h.value.count,
        scalars: rows.flatMap { $0.scalars.map(Double.init) })
      return (values, jacobian)
    case .shared:
      let shared = model.sharedParameters
      let width = shared.reduce(0) { $0 + $1.value.count }
      // Every element is written below, so the storage starts uninitialised.
      let scalars = [Double](unsafeUninitializedCapacity: rows.count * width) { out, count in
        for (k, row) in rows.enumerated() {
          var offset = k * width
          for gradient in h.gradients(seed: row, withRespectTo: shared) {
            gradient.scalars.withUnsafeBufferPointer { g in
              for i in g.indices { (out.baseAddress! + offset + i).initialize(to: Double(g[i])) }
            }
            offset += gradient.count
          }
        }
        count = rows.count * width
      }
      return (values, Matrix(rows: rows.count, columns: width, scalars: scalars))
    }
  }

  /// One loss per task, in task order: BCE per binary output, cross-entropy per multiclass
  /// group, squared error per regression output; missing labels masked.
  func taskLosses(_ h: Variable, labels: [[Float]]) -> [Variable] {
    var losses: [Variable] = []
    for (g, group) in recipe.groups.enumerated() {
      let outputs = model.heads[g](h)
      let columns = group.kind.taskCount
      switch group.kind {
      case .binary, .regression:
        for o in 0..<columns {
          let column = columns == 1 ? outputs : outputs.columns(o..<(o + 1))
          let y = stride(from: o, to: labels[g].count, by: columns).map { labels[g][$0] }
          let mask = y.map { !$0.isNaN }
          let targets = y.map { $0.isNaN ? 0 : $0 }
          if case .binary = group.kind {
            losses.append(
              Loss.binaryCrossEntropyWithLogits(column, targets: targets, mask: mask))
          } else {
            losses.append(Loss.meanSquaredError(column, targets: targets, mask: mask))
          }
        }
      case .multiclass:
        let mask = labels[g].map { !$0.isNaN }
        let classes = labels[g].map { $0.isNaN ? 0 : Int($0) }
        losses.append(Loss.crossEntropy(outputs, labels: classes, mask: mask))
      }
    }
    return losses
  }

  /// The heads' current parameters in Double, as BayesAgg-MTL reads them.
  private func currentHeads() -> [TaskHead] {
    model.heads.map { head in
      TaskHead(
        weight: Matrix(head.weight.value),
        bias: head.bias.map { $0.value.scalars.map(Double.init) }
          ?? [Double](repeating: 0, count: head.outputSize))
    }
  }

  private func labelMatrices(_ labels: [[Float]]) -> [Matrix] {
    zip(recipe.groups, labels).map { group, values in
      let columns = group.kind.taskCount
      return Matrix(
        rows: values.count / columns, columns: columns, scalars: values.map(Double.init))
    }
  }

  private func makeEvaluator() -> Evaluator {
    var evaluator = Evaluator(groups: recipe.groups)
    if let bayesAgg, configuration.epochs > configuration.lsEpochs {
      for (g, group) in recipe.groups.enumerated() where group.kind.isRegression {
        evaluator.regressionMeans[g] = bayesAgg.regressionPosteriorMean(group: g)
      }
    }
    return evaluator
  }
}

/// Builds the shared network `kind` for the recipe's inputs.
///
/// - Precondition: the backbone fits the inputs (`TrainingConfiguration.validate(for:)`).
func makeBackbone(
  _ kind: BackboneKind, recipe: Recipe, hiddenSizes: [Int], using generator: inout RandomGenerator
) -> any Backbone {
  let shape = recipe.inputShape
  switch kind {
  case .mlp:
    return MLP(
      inputSize: recipe.train.featureCount, hiddenSizes: hiddenSizes,
      activation: recipe.activation, using: &generator)
  case .cnn:
    return CifarMTLNet(inputShape: shape, using: &generator)
  case .resnet18:
    return ResNet.resNet18(inputShape: shape, using: &generator)
  case .resnet34:
    return ResNet.resNet34(inputShape: shape, using: &generator)
  }
}

/// The representations and labels of one epoch's training batches, for the full-data
/// posteriors of the next epoch.
struct CollectedFeatures {
  let groups: [TaskGroupDescription]
  private var features: [Float] = []
  private var labels: [[Float]]
  private var width = 0

  init(groups: [TaskGroupDescription]) {
    self.groups = groups
    labels = groups.map { _ in [] }
  }

  mutating func append(_ h: Tensor, labels batchLabels: [[Float]]) {
    width = h.shape[1]
    features.append(contentsOf: h.scalars)
    for g in labels.indices { labels[g].append(contentsOf: batchLabels[g]) }
  }

  func matrix() -> Matrix {
    Matrix(
      rows: features.count / max(width, 1), columns: width,
      scalars: features.map(Double.init))
  }

  func labelMatrices() -> [Matrix] {
    zip(groups, labels).map { group, values in
      let columns = group.kind.taskCount
      return Matrix(
        rows: values.count / columns, columns: columns,
        scalars: values.map(Double.init))
    }
  }
}

extension Matrix {
  /// A Double copy of a rank-2 tensor.
  init(_ tensor: Tensor) {
    precondition(tensor.rank == 2, "Matrix from a tensor of shape \(tensor.shape)")
    self.init(
      rows: tensor.shape[0], columns: tensor.shape[1],
      scalars: tensor.scalars.map(Double.init))
  }
}

/// The times of a network's convolution layers alone, forward and backward, from
/// `Trainer.convolutionProfile(for:repeats:)`.
public struct ConvolutionProfile: Sendable {
  /// All layers, each by the algorithm it chooses.
  public var milliseconds = 0.0
  /// The layers' im2col multiply-adds ×2 per second: above sgemm's rate where Winograd saves
  /// multiplications.
  public var gigaflopsPerSecond = 0.0
  /// How many layers choose Winograd or the tap GEMMs (any algorithm but im2col), their time,
  /// and their time by im2col instead.
  public var winogradLayers = 0
  public var winogradMilliseconds = 0.0
  public var im2colMilliseconds = 0.0
}
