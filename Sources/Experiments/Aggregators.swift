import Aggregation

/// The gradient-aggregation rule of `method`, with the settings' hyper-parameters and the
/// papers' defaults for the rest.
///
/// - Precondition: `method.family == .gradientAggregation`.
func makeAggregator(_ method: Method, settings: MethodSettings) -> any JacobianAggregator {
  switch method {
  case .mgda: return MGDA()
  case .pcgrad: return PCGrad()
  case .cagrad: return CAGrad(c: settings.cagradC)
  case .imtlg: return IMTLG()
  case .nashmtl:
    return NashMTL(
      maximumNorm: settings.nashMaxNorm, updateWeightsEvery: settings.nashUpdateEvery)
  case .alignedmtl:
    return AlignedMTL(scaleMode: AlignedMTL.ScaleMode(rawValue: settings.alignedScale) ?? .min)
  case .graddrop: return GradDrop()
  case .gradvac: return GradVac(beta: settings.gradVacBeta)
  case .upgrad: return UPGrad()
  case .dualproj: return DualProj()
  default: preconditionFailure("\(method) is not a gradient-aggregation method")
  }
}
