/// A rule for turning the task losses of a step into one update.
public enum Method: String, CaseIterable, Sendable, Codable {
  /// Linear scalarization: the sum of the task losses.
  case ls
  /// Single-task learning: one network per task.
  case stl
  /// BayesAgg-MTL: precision-weighted aggregation of gradient moments from last-layer
  /// posteriors.
  case bayesagg

  /// A one-line description.
  public var summary: String {
    switch self {
    case .ls: "linear scalarization: minimise the sum of the task losses"
    case .stl: "single-task learning: one network per task, the reference for Δm"
    case .bayesagg: "BayesAgg-MTL: Bayesian uncertainty-weighted gradient aggregation"
    }
  }

  /// Where the method comes from.
  public var paper: String {
    switch self {
    case .ls, .stl: "standard practice"
    case .bayesagg: "Achituve, Diamant, Netzer, Chechik, Fetaya, ICML 2024"
    }
  }

  /// The name used in tables.
  public var displayName: String {
    switch self {
    case .ls: "LS"
    case .stl: "STL"
    case .bayesagg: "BayesAgg-MTL"
    }
  }
}
