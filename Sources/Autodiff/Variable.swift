import Tensors

/// A node of the reverse-mode tape: a tensor value, and how to send a gradient back to the
/// nodes it was computed from.
///
/// Leaves are created with `Variable(_:requiresGradient:)`; every operation on variables returns
/// a new node that remembers its parents and a pullback. A backward pass can start from any node
/// with any seed gradient, and the same graph may be walked backward several times (for example
/// once per task to build a Jacobian): nothing is freed until the last reference to the output
/// goes away, unless the last pass says so (`backward(seed:retainingGraph: false)`, as PyTorch's
/// default), which frees each node's saved tensors as soon as its pullback has run.
public final class Variable {
  /// The value computed in the forward pass; optimisers overwrite the values of leaves.
  public var value: Tensor
  /// The gradient accumulated into this leaf by backward passes; `nil` until the first one.
  public var gradient: Tensor?
  /// Whether gradients flow to (a leaf) or through (an operation) this node.
  public let requiresGradient: Bool
  /// The nodes this one was computed from; empty for leaves, for constant results and after
  /// the graph was released.
  private(set) var parents: [Variable]
  /// Maps the gradient of this node to the gradients of `parents` (`nil` for a parent that
  /// needs none). It receives the gradient as its last owner and may reuse its storage.
  private(set) var pullback: ((consuming Tensor) -> [Tensor?])?
  /// Whether this operation's graph was released by a backward pass; it then passes no
  /// gradient on and is not a leaf.
  private(set) var isReleased = false
  /// Bytes the pullback keeps beyond the values of the graph's nodes (for example pooling
  /// choices), counted by `graphBytes()`.
  let auxiliaryBytes: Int

  /// Creates a leaf: a parameter (`requiresGradient: true`) or a constant input.
  public init(_ value: Tensor, requiresGradient: Bool = false) {
    self.value = value
    self.requiresGradient = requiresGradient
    self.parents = []
    self.pullback = nil
    self.auxiliaryBytes = 0
  }

  /// Creates the result of an operation. Parents that need no gradient are dropped, and a result
  /// none of whose parents needs one is a constant that keeps no graph.
  ///
  /// The pullback owns the gradient it is given: an element-wise pullback may write its result
  /// into that gradient's storage (copy-on-write keeps this safe when someone else holds it).
  /// `auxiliaryBytes` declares what the pullback saved besides tensors of the graph.
  public init(
    value: Tensor, parents: [Variable], auxiliaryBytes: Int = 0,
    pullback: @escaping (consuming Tensor) -> [Tensor?]
  ) {
    self.value = value
    let needed = Variable.isRecording && parents.contains { $0.requiresGradient }
    self.requiresGradient = needed
    self.parents = needed ? parents : []
    self.pullback = needed ? pullback : nil
    self.auxiliaryBytes = needed ? auxiliaryBytes : 0
  }

  /// The shape of the value.
  public var shape: [Int] { value.shape }

  /// A leaf holding the same value, cut off from this node's graph.
  public func detached(requiresGradient: Bool = false) -> Variable {
    Variable(value, requiresGradient: requiresGradient)
  }

  /// Clears the accumulated gradient.
  public func zeroGradient() {
    gradient = nil
  }
}

extension Variable {
  /// Whether operations record the tape (their parents and pullbacks); `false` only inside
  /// `withoutRecording(_:)` on the current task or thread.
  @TaskLocal public static var isRecording = true

  /// Runs `body` with the tape switched off: every operation inside returns a constant that
  /// keeps no graph, so a forward pass holds only the layers it is computing, as PyTorch's
  /// `torch.no_grad()`. Leaves keep `requiresGradient`; only new results are constants.
  ///
  /// Use it for inference (evaluation, representations, feature collection), never around a
  /// forward pass that a backward pass will follow.
  public static func withoutRecording<Result>(_ body: () throws -> Result) rethrows -> Result {
    try $isRecording.withValue(false, operation: body)
  }
}

extension Variable {
  /// Runs a backward pass from this node with the given seed and adds the resulting gradients
  /// into the `gradient` of every leaf that requires one.
  ///
  /// The seed is `∂L/∂self` for whatever scalar `L` the caller has in mind; for a scalar loss
  /// pass nothing and the seed is 1. Several passes over one graph accumulate.
  ///
  /// With `retainingGraph: false` the pass also releases the graph behind this node as it goes:
  /// each operation drops its parents and its pullback (with the tensors it saved) once the
  /// pullback has run, so memory falls while the pass proceeds. Values stay readable; a later
  /// pass from here, or from any node of the released part, reaches no leaf.
  ///
  /// - Precondition: `seed` has this node's shape.
  /// - Complexity: O(nodes + edges) pullback calls; besides the graph, the memory of the
  ///   gradients still waiting to be consumed at any one time.
  public func backward(seed: Tensor? = nil, retainingGraph: Bool = true) {
    let seed = seed ?? Tensor(repeating: 1, shape: shape)
    propagate(
      seed: seed, isTarget: { $0.pullback == nil && !$0.isReleased },
      deliver: Variable.accumulate, releasing: !retainingGraph)
  }

  /// Drops this operation's parents and pullback.
  private func release() {
    guard pullback != nil else { return }
    parents = []
    pullback = nil
    isReleased = true
  }

  /// Adds `gradient` into a leaf's accumulated gradient.
  private static func accumulate(into leaf: Variable, _ gradient: Tensor) {
    if leaf.gradient == nil {
      leaf.gradient = gradient
    } else {
      leaf.gradient!.add(gradient)
    }
  }

  /// The gradients of this node, seeded with `seed`, with respect to `nodes`, leaving every
  /// leaf's accumulated `gradient` untouched. A node that this one does not depend on gets zeros.
  ///
  /// Only the parts of the graph that lead to one of `nodes` are walked, and only their
  /// gradients are kept.
  ///
  /// - Precondition: `seed` has this node's shape.
  public func gradients(seed: Tensor? = nil, withRespectTo nodes: [Variable]) -> [Tensor] {
    let targets = Set(nodes.map(ObjectIdentifier.init))
    var byNode: [ObjectIdentifier: Tensor] = [:]
    byNode.reserveCapacity(targets.count)
    propagate(
      seed: seed ?? Tensor(repeating: 1, shape: shape),
      isTarget: { targets.contains(ObjectIdentifier($0)) },
      deliver: { node, gradient in byNode[ObjectIdentifier(node)] = gradient })
    return nodes.map { byNode[ObjectIdentifier($0)] ?? Tensor(zeros: $0.shape) }
  }

  /// Sends `seed` back through the graph in reverse topological order and hands the total
  /// gradient reaching each target node to `deliver`, once per target.
  ///
  /// Only nodes from which a target can be reached are visited. Each node's gradient is released
  /// as soon as its pullback has consumed it, and is passed to the pullback as its last owner, so
  /// that element-wise pullbacks can reuse its storage: at any time only the gradients on the
  /// frontier of the walk are alive, not one per node.
  ///
  /// - Parameters:
  ///   - isTarget: which nodes' gradients the caller wants.
  ///   - deliver: receives each target and its gradient.
  ///   - releasing: whether each operation's graph is released once it has been passed.
  /// - Complexity: O(nodes + edges) pullback calls.
  private func propagate(
    seed: Tensor, isTarget: (Variable) -> Bool, deliver: (Variable, Tensor) -> Void,
    releasing: Bool = false
  ) {
    precondition(seed.shape == shape, "seed shape \(seed.shape) differs from node shape \(shape)")
    guard requiresGradient else { return }
    var order: [Variable?] = topologicalOrder()
    // A node is relevant when it is a target or a target can be reached through its parents;
    // parents come before children in `order`, so one forward sweep decides.
    var relevant = Set<ObjectIdentifier>()
    for case let node? in order where node.requiresGradient {
      if isTarget(node) || node.parents.contains(where: { relevant.contains(ObjectIdentifier($0)) })
      {
        relevant.insert(ObjectIdentifier(node))
      }
    }
    var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
    for index in order.indices.reversed() {
      let node = order[index]!
      defer {
        // The walk's own reference goes, and with the parents' references already dropped by
        // the nodes after this one, the node and what its pullback saved are freed now.
        if releasing {
          node.release()
          order[index] = nil
        }
      }
      guard relevant.contains(ObjectIdentifier(node)),
        let gradient = pending.removeValue(forKey: ObjectIdentifier(node))
      else { continue }
      if isTarget(node) { deliver(node, gradient) }
      guard let pullback = node.pullback,
        node.parents.contains(where: { relevant.contains(ObjectIdentifier($0)) })
      else { continue }
      let parentGradients = pullback(consume gradient)
      for (parent, parentGradient) in zip(node.parents, parentGradients) {
        guard relevant.contains(ObjectIdentifier(parent)), let parentGradient else { continue }
        precondition(
          parentGradient.shape == parent.shape,
          "pullback produced \(parentGradient.shape) for a node of shape \(parent.shape)")
        let key = ObjectIdentifier(parent)
        if pending[key] == nil {
          pending[key] = parentGradient
        } else {
          pending[key]!.add(parentGradient)
        }
      }
    }
  }

  /// The bytes held by the values of every node this one depends on, itself included, and by
  /// what their pullbacks saved besides: the memory a backward pass from here keeps alive.
  public func graphBytes() -> Int {
    topologicalOrder().reduce(0) {
      $0 + $1.value.count * MemoryLayout<Float>.stride
        + ($1.pullback == nil ? 0 : $1.auxiliaryBytes)
    }
  }

  /// Every node reachable from this one, each after all of its parents.
  private func topologicalOrder() -> [Variable] {
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Variable, Bool)] = [(self, false)]
    while let (node, expanded) = stack.popLast() {
      if expanded {
        order.append(node)
        continue
      }
      guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
      stack.append((node, true))
      for parent in node.parents where !visited.contains(ObjectIdentifier(parent)) {
        stack.append((parent, false))
      }
    }
    return order
  }
}
