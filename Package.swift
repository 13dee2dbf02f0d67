// swift-tools-version:6.0
import PackageDescription

/// Settings shared by every Swift target. Never `-Ounchecked`: it removes the preconditions.
let swiftSettings: [SwiftSetting] = [
  .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
]

let package = Package(
  name: "BayesAgg",
  products: [
    .library(name: "BayesAgg", targets: ["Experiments"]),
    .executable(name: "bayesagg", targets: ["bayesagg"]),
  ],
  targets: [
    .systemLibrary(
      name: "CLinearAlgebra", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .target(name: "CRuntimeSupport"),
    .target(name: "CKernels"),
    .target(
      name: "Tensors", dependencies: ["CLinearAlgebra", "CKernels"], swiftSettings: swiftSettings),
    .target(name: "Autodiff", dependencies: ["Tensors"], swiftSettings: swiftSettings),
    .target(name: "Layers", dependencies: ["Autodiff", "Tensors"], swiftSettings: swiftSettings),
    .target(
      name: "Optimizers", dependencies: ["Autodiff", "Tensors"], swiftSettings: swiftSettings),
    .target(
      name: "Aggregation", dependencies: ["Tensors", "CLinearAlgebra", "CKernels"],
      swiftSettings: swiftSettings),
    .target(name: "Datasets", dependencies: ["Tensors", "CZlib"], swiftSettings: swiftSettings),
    .target(
      name: "Experiments",
      dependencies: ["Tensors", "Autodiff", "Layers", "Optimizers", "Aggregation", "Datasets"],
      swiftSettings: swiftSettings),
    .target(
      name: "BayesAggCommandLine",
      dependencies: [
        "Experiments", "Aggregation", "Datasets", "Tensors", "Autodiff", "Layers",
        "CRuntimeSupport",
      ],
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "bayesagg", dependencies: ["BayesAggCommandLine", "CRuntimeSupport"],
      swiftSettings: swiftSettings),
    .target(
      name: "BayesAggTestSupport", dependencies: ["Tensors", "Autodiff"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "BayesAggTests",
      dependencies: [
        "BayesAggTestSupport", "Tensors", "Autodiff", "Layers", "Optimizers", "Aggregation",
        "Datasets", "Experiments", "CZlib", "BayesAggCommandLine",
      ],
      exclude: ["Fixtures"],
      swiftSettings: swiftSettings),
  ]
)
