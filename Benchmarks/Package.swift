// swift-tools-version:6.1
import PackageDescription

/// cepd's engine benchmarks, with ordo-one/benchmark (package-benchmark). A package of its own, so that the main
/// build and CI never compile the benchmark framework. Run from this folder: `swift package benchmark`.
let package = Package(
    name: "cepd-benchmarks",
    dependencies: [
        // Named: a path dependency's identity is otherwise its folder's name, which differs between clones.
        .package(name: "cepd", path: ".."),
        // The trait keeps the benchmark off swift-runtime-interposer, which is not available offline.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CEPCore", package: "cepd"),
                .product(name: "CEPRuntime", package: "cepd"),
                .product(name: "CEPCompiler", package: "cepd"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
