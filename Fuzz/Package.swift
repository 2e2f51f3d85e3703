// swift-tools-version:6.1
import Foundation
import PackageDescription

/// libFuzzer targets for cepd's parsers of untrusted bytes (issue 18). Built on their own, with the fuzzer's
/// instrumentation, by `Fuzz/run.sh`:
///
///     swift build -c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library
///
/// Each target's `main.swift` defines `LLVMFuzzerTestOneInput` and, under the name SwiftPM links as `main` on Linux
/// (`<Target>_main`), a main that hands over to libFuzzer's driver (`LLVMFuzzerRunDriver`).

// A package depended on by path is named after its folder, which is whatever the clone is called.
let cepd = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "cepd-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // libFuzzer's driver entry, declared for Swift.
        .target(name: "CFuzzer"),
        // A compiled pattern set and an engine driver the targets share.
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CFuzzer",
                .product(name: "CEPCompiler", package: cepd), .product(name: "CEPRuntime", package: cepd),
                .product(name: "CEPCore", package: cepd), .product(name: "CEPSchemas", package: cepd),
            ]),
        // Event messages (JSON) through the decoder, then the engine.
        .executableTarget(name: "FuzzEvents", dependencies: ["FuzzSupport"]),
        // Protocol Buffers and Avro messages through the binary decoders, then the engine.
        .executableTarget(name: "FuzzBinaryEvents", dependencies: ["FuzzSupport"]),
        // .cep files through the parser, checker and compiler, diagnostics rendered.
        .executableTarget(
            name: "FuzzPatterns",
            dependencies: ["FuzzSupport", .product(name: "CEPSyntax", package: cepd)]),
        // Engine checkpoints (what RocksDB and the changelog hold) through the restore, then the engine.
        .executableTarget(name: "FuzzCheckpoints", dependencies: ["FuzzSupport"]),
        // Bytes on the admin port through the HTTP decoder and the request handler.
        .executableTarget(
            name: "FuzzAdminRequests", dependencies: ["FuzzSupport", .product(name: "AdminHTTP", package: cepd)]),
    ]
)
