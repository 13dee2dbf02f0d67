/// A way of training the shared network of a multi-task model.
public enum Method: String, CaseIterable, Sendable, Codable {
  case ls
  case si
  case rlw
  case dwa
  case uw
  case famo
  case mgda
  case pcgrad
  case cagrad
  case imtlg = "imtl-g"
  case nashmtl = "nash-mtl"
  case alignedmtl = "aligned-mtl"
  case graddrop
  case gradvac
  case upgrad
  case dualproj
  case bayesagg
  case stl

  /// The three ways the trainer drives a method, and single-task learning.
  public enum Family: Sendable {
    /// Needs only the task losses: the step follows `∇ Σ_k w_k L_k`.
    case lossWeighting
    /// Needs the Jacobian of the task losses in the shared parameters (or the representation).
    case gradientAggregation
    /// Needs the representation, the heads and the labels.
    case bayesAgg
    /// One network per task.
    case singleTask
  }

  /// How the trainer drives this method.
  public var family: Family {
    switch self {
    case .ls, .si, .rlw, .dwa, .uw, .famo: .lossWeighting
    case .mgda, .pcgrad, .cagrad, .imtlg, .nashmtl, .alignedmtl, .graddrop, .gradvac, .upgrad,
      .dualproj:
      .gradientAggregation
    case .bayesagg: .bayesAgg
    case .stl: .singleTask
    }
  }

  /// A one-line description.
  public var summary: String {
    switch self {
    case .ls: "linear scalarization: minimise the sum of the task losses"
    case .si: "scale-invariant: minimise the sum of the log losses"
    case .rlw: "random loss weighting: softmax of normal draws, new each step"
    case .dwa: "dynamic weight average: weights from the epoch-to-epoch loss ratios (T = 2)"
    case .uw: "uncertainty weighting: learned per-task log-variances"
    case .famo: "FAMO: balances the tasks' rates of loss decrease, one extra forward per step"
    case .mgda: "MGDA: the min-norm point of the convex hull of the task gradients"
    case .pcgrad: "PCGrad: project away conflicting components, tasks in random order"
    case .cagrad: "CAGrad: best worst-case improvement near the mean gradient (c = 0.4)"
    case .imtlg: "IMTL-G: the update with equal projections on every task gradient"
    case .nashmtl: "Nash-MTL: Nash bargaining solution over the task gradients"
    case .alignedmtl: "Aligned-MTL: align the principal components of the task gradients"
    case .graddrop: "GradDrop: keep one sign per coordinate, chosen by sign purity"
    case .gradvac: "GradVac: move pairwise gradient similarities towards learned targets"
    case .upgrad: "UPGrad: mean of each task gradient projected onto the dual cone"
    case .dualproj: "DualProj: the mean gradient projected onto the dual cone"
    case .bayesagg: "BayesAgg-MTL: Bayesian uncertainty-weighted gradient aggregation"
    case .stl: "single-task learning: one network per task, the reference for Δm"
    }
  }

  /// Where the method comes from.
  public var paper: String {
    switch self {
    case .ls, .stl: "standard practice"
    case .si: "Navon et al., ICML 2022 (as a baseline)"
    case .rlw: "Lin et al., TMLR 2022"
    case .dwa: "Liu, Johns, Davison, CVPR 2019"
    case .uw: "Kendall, Gal, Cipolla, CVPR 2018"
    case .famo: "Liu, Liu, Stone, Liu, NeurIPS 2023"
    case .mgda: "Sener and Koltun, NeurIPS 2018"
    case .pcgrad: "Yu et al., NeurIPS 2020"
    case .cagrad: "Liu, Liu, Jin, Stone, Liu, NeurIPS 2021"
    case .imtlg: "Liu et al., ICLR 2021"
    case .nashmtl: "Navon et al., ICML 2022"
    case .alignedmtl: "Senushkin, Patakin, Kuznetsov, Konushin, CVPR 2023"
    case .graddrop: "Chen et al., NeurIPS 2020"
    case .gradvac: "Wang, Tsvetkov, Firat, Cao, ICLR 2021"
    case .upgrad, .dualproj: "Quinton and Rey, TorchJD, 2024"
    case .bayesagg: "Achituve, Diamant, Netzer, Chechik, Fetaya, ICML 2024"
    }
  }

  /// The name used in tables.
  public var displayName: String {
    switch self {
    case .ls: "LS"
    case .si: "SI"
    case .rlw: "RLW"
    case .dwa: "DWA"
    case .uw: "UW"
    case .famo: "FAMO"
    case .mgda: "MGDA"
    case .pcgrad: "PCGrad"
    case .cagrad: "CAGrad"
    case .imtlg: "IMTL-G"
    case .nashmtl: "Nash-MTL"
    case .alignedmtl: "Aligned-MTL"
    case .graddrop: "GradDrop"
    case .gradvac: "GradVac"
    case .upgrad: "UPGrad"
    case .dualproj: "DualProj"
    case .bayesagg: "BayesAgg-MTL"
    case .stl: "STL"
    }
  }
}
