import Tensors

/// The multiple-gradient descent algorithm's direction: the minimum-norm point of the convex hull
/// of the task gradients.
///
/// ```
/// MGDA(J) = w*ᵀ J,   w* = argmin_{w ∈ simplex} ‖wᵀ J‖²
/// ```
///
/// Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective optimization",
/// *Comptes Rendus Mathématique* 2012; Sener and Koltun, "Multi-Task Learning as Multi-Objective
/// Optimization", NeurIPS 2018. Unlike TorchJD's `MGDA` (Frank–Wolfe, stopped at step size
/// `1e-3`), the point is computed exactly by `MinNormSolver`. The result is zero when the hull
/// holds the origin (the tasks are Pareto-stationary), and it scales with `J`.
public struct MGDA: GramianWeighting {
  public var name: String { "MGDA" }
  /// The solver of the simplex program.
  public var solver: MinNormSolver

  /// Creates the aggregator.
  ///
  /// - Parameter solver: the minimum-norm solver (default tolerance `1e-12`).
  public init(solver: MinNormSolver = MinNormSolver()) {
    self.solver = solver
  }

  /// The simplex weights `w*` of the minimum-norm point, from the Gramian `J Jᵀ`.
  ///
  /// - Complexity: see `MinNormSolver.weights(gramian:)`.
  public func weights(gramian: Matrix) -> [Double] {
    solver.weights(gramian: gramian)
  }
}
