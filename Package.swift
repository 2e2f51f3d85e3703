// swift-tools-version:6.2
import PackageDescription

/// Settings every target shares: the strictness Hummingbird and swift-nio use.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// For the targets on the per-event path (decoding, matching, the replay and daemon loops): release builds skip
/// the run-time exclusivity checks, which cost a thread-local access set on every class-property and inout
/// access (~4 % of a replay). The compile-time checks remain, and debug builds and tests keep the run-time ones.
/// (tools-version 6.2: from it on, SwiftPM accepts unsafe flags in a package used through `.package(url:from:)`;
/// scripts/dependent-package.sh checks that CEPCore and CEPRuntime are usable that way.)
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "cepd",
    products: [
        .executable(name: "cepd", targets: ["cepd"]),
        .library(name: "CEPCore", targets: ["CEPCore"]),
        .library(name: "CEPSyntax", targets: ["CEPSyntax"]),
        .library(name: "CEPRuntime", targets: ["CEPRuntime"]),
        .library(name: "CEPCompiler", targets: ["CEPCompiler"]),
        // For the fuzzers (Fuzz/), a package of their own.
        .library(name: "AdminHTTP", targets: ["AdminHTTP"]),
        .library(name: "CEPSchemas", targets: ["CEPSchemas"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The admin port: a small HTTP/1 server on NIO's codec (cheaper to build than a framework, see
        // docs/architecture.md), and metrics in Prometheus text format.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Only for reading protoc's descriptor sets (the library, not the code generator plugin); messages on the
        // event path are read by cepd's own decoder (CEPRuntime/Formats).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries, reached only through these system-library targets (Debian's -dev packages, pkg-config).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Value types shared by the compiler and the runtime; no dependencies.
        .target(name: "CEPCore", swiftSettings: strictSettings + hotPathSettings),
        // The .cep language: source files, lexer, parser, AST, diagnostics.
        .target(name: "CEPSyntax", dependencies: ["CEPCore"], swiftSettings: strictSettings),
        // The immutable automaton and (later) the pure, synchronous matcher. Never imports CEPSyntax.
        .target(name: "CEPRuntime", dependencies: ["CEPCore"], swiftSettings: strictSettings + hotPathSettings),
        // Schema files (Protobuf descriptor sets, Avro schemas) read into the runtime's schema types.
        .target(
            name: "CEPSchemas",
            dependencies: ["CEPRuntime", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSettings),
        // Name resolution, type checking and lowering of the AST to an Automaton.
        .target(
            name: "CEPCompiler", dependencies: ["CEPSyntax", "CEPRuntime", "CEPCore", "CEPSchemas"],
            swiftSettings: strictSettings),
        // Input items → engine → outputs and positions: the loop `cepd run` and `cepd serve` share. Knows neither
        // files, Kafka nor the clock, so that the daemon's core is tested in process.
        .target(
            name: "CEPDriver", dependencies: ["CEPRuntime", "CEPCore"], swiftSettings: strictSettings + hotPathSettings),
        // Thin wrappers over the C libraries; they know nothing of CEP.
        .target(name: "KafkaClient", dependencies: ["CRdKafka"], swiftSettings: strictSettings),
        .target(name: "RocksStore", dependencies: ["CRocksDB"], swiftSettings: strictSettings),
        // Blocking HTTP(S) requests over libcurl (the schema registry client's transport).
        .target(name: "CurlHTTP", dependencies: ["CCurl"], swiftSettings: strictSettings),
        // An HTTP/1.1 server for admin endpoints; it knows no routes and nothing of CEP.
        .target(
            name: "AdminHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictSettings),
        // Commands and (later) the daemon that wires sources, engine, sinks and checkpoints.
        .target(
            name: "CEPDaemon",
            dependencies: [
                "CEPCompiler", "CEPRuntime", "CEPSyntax", "CEPCore", "CEPSchemas", "CEPDriver", "KafkaClient",
                "RocksStore",
                "AdminHTTP", "CurlHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings + hotPathSettings),
        .executableTarget(name: "cepd", dependencies: ["CEPDaemon"], swiftSettings: strictSettings),

        // Helpers several test targets share (a seeded random generator); not part of the product.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strictSettings),
        .testTarget(name: "CEPSyntaxTests", dependencies: ["CEPSyntax", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "CEPCompilerTests", dependencies: ["CEPCompiler", "CEPRuntime", "CEPSyntax", "CEPCore"],
            exclude: ["Fixtures"], swiftSettings: strictSettings),
        .testTarget(
            name: "CEPRuntimeTests",
            dependencies: [
                "CEPRuntime", "CEPCompiler", "CEPSyntax", "CEPCore", "TestSupport", "CEPSchemas",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Fixtures"], swiftSettings: strictSettings),
        .testTarget(
            name: "CEPDriverTests", dependencies: ["CEPDriver", "CEPRuntime", "CEPCompiler", "CEPCore", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(name: "AdminHTTPTests", dependencies: ["AdminHTTP"], swiftSettings: strictSettings),
        .testTarget(
            name: "NativeLibraryTests", dependencies: ["KafkaClient", "RocksStore"], swiftSettings: strictSettings),
        .testTarget(
            name: "CEPDaemonTests",
            dependencies: [
                "CEPDaemon", "CEPDriver", "CEPRuntime", "CEPCompiler", "CEPSyntax", "KafkaClient", "TestSupport",
                "AdminHTTP",
            ],
            swiftSettings: strictSettings),
    ]
)
