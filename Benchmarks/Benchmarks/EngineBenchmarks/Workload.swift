import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation

/// Inputs for the benchmarks: the example generator's stream, decoded once (outside the measurement) into events
/// in arrival order merged by event time, as the replay feeds them.
struct Workload: Sendable {
    /// The repository's root (this file is Benchmarks/Benchmarks/EngineBenchmarks/Workload.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let topics = ["logins", "payments", "geo", "confirmations"]

    /// The streams of the fraud example (as in patterns/fraud.cep).
    static let streams = """
        stream logins from "logins" { key user time ts lateness 5s fields { user: string, ip: string, country: string, ts: time } }
        stream payments from "payments" { key user time ts lateness 5s fields { user: string, id: string, amount: float, currency: string, ts: time } }
        stream geo from "geo" { key user time ts lateness 5s fields { user: string, country: string, lat: float, lon: float, ts: time } }
        stream confirmations from "confirmations" { key user time ts lateness 5s fields { user: string, payment_id: string, ts: time } }
        """

    /// One pattern per benchmark, each exercising another part of the matcher.
    static let patterns: [(name: String, text: String)] = [
        ("fraud", """
            pattern fraud { match l: logins -> g: geo where g.country != l.country -> p: payments where p.amount > 1000
              within 10m emit to "alerts" { user: l.user } }
            """),
        ("strict", """
            pattern strict { match l: logins , g: geo , p: payments where p.amount > 100 within 10m emit to "alerts" { user: l.user } }
            """),
        ("quantifier", """
            pattern quantifier { match small: payments{3,} where small.amount < 20 -> big: payments where big.amount > 500
              within 5m emit to "alerts" { user: big.user } }
            """),
        ("absence", """
            pattern absence { match p: payments where p.amount > 5000 -> not c: confirmations where c.payment_id == p.id
              within 15m emit to "alerts" { user: p.user } }
            """),
        ("anycontiguity", """
            pattern anycontiguity { match l: logins ->> p: payments where p.amount > 1000 within 2m skip none
              emit to "alerts" { user: l.user } }
            """),
    ]

    let automaton: Automaton
    /// The events the engine gets, in order, decoded but not yet built (as the replay's reading thread hands them
    /// over: building the `Event` is part of the engine thread's work, and so of the measurement).
    let decoded: DecodedEvents
    /// Per event, its topic (= engine source index) and offset.
    let origins: [(source: Int, offset: Int64)]
    /// The raw lines per topic, for the decoder benchmark.
    let lines: [String: [[UInt8]]]

    /// Generates about `generate` events for `users` users (seeded), compiles `pattern`, decodes the stream for it
    /// and keeps the first `count` events merged by event time (ties: topic order), as `cepd run` merges files.
    init(pattern: String, generate: Int, count: Int, users: Int) throws {
        let compilation = Compiler.compile(text: Self.streams + "\n" + pattern)
        guard let automaton = compilation.automaton else {
            throw BenchmarkSetupError(message: "does not compile: \(compilation.diagnostics.map(\.message.text))")
        }
        self.automaton = automaton
        let lines = try Self.generate(events: generate, users: users)
        self.lines = lines
        var perTopic: [DecodedEvents] = []
        var offsets: [[Int64]] = []
        for topic in Self.topics {
            let decoder = EventDecoder(automaton: automaton, topic: topic)
            var decoded = DecodedEvents()
            var lineOffsets: [Int64] = []
            for (offset, line) in (lines[topic] ?? []).enumerated() {
                let before = decoded.count
                _ = line.withUnsafeBufferPointer { decoder.decode($0, into: &decoded) }
                for _ in before..<decoded.count { lineOffsets.append(Int64(offset)) }
            }
            perTopic.append(decoded)
            offsets.append(lineOffsets)
        }
        var merged = DecodedEvents()
        var origins: [(source: Int, offset: Int64)] = []
        var cursors = Array(repeating: DecodedEvents.Cursor(), count: perTopic.count)
        var next = Array(repeating: 0, count: perTopic.count)
        while origins.count < count {
            var best: Int?
            for t in perTopic.indices where next[t] < perTopic[t].count {
                if let b = best, perTopic[b].timestamp(at: cursors[b]) <= perTopic[t].timestamp(at: cursors[t]) { continue }
                best = t
            }
            guard let t = best else { throw BenchmarkSetupError(message: "only \(origins.count) events generated") }
            merged.append(1, from: perTopic[t], at: &cursors[t])
            origins.append((t, offsets[t][next[t]]))
            next[t] += 1
        }
        decoded = merged
        self.origins = origins
    }

    /// A fresh engine with the four topics registered (in `topics` order, so source index = topic index).
    func engine() -> Engine {
        var engine = Engine(automaton: automaton)
        for topic in Self.topics { _ = engine.source(topic: topic, partition: 0) }
        return engine
    }

    /// Runs examples/fraud/generate.py (cached per size in a temporary folder) and reads its lines.
    /// One key gets one event per second of event time (a busy account); more keys share the generator's default
    /// rate. At the default rate a single key would hold thousands of events per window, where relaxed and
    /// any-contiguity patterns grow their partial matches without bound in any engine.
    static func generate(events: Int, users: Int) throws -> [String: [[UInt8]]] {
        let rate = users == 1 ? ["--rate", "1"] : []
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-bench-\(events)-\(users)\(rate.isEmpty ? "" : "-r1")")
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("confirmations.jsonl").path) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", root.appendingPathComponent("examples/fraud/generate.py").path, "--events", "\(events)",
                "--users", "\(users)", "--seed", "6", "--out", dir.path,
            ] + rate
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchmarkSetupError(message: "generate.py failed") }
        }
        var result: [String: [[UInt8]]] = [:]
        for topic in topics {
            let data = try Data(contentsOf: dir.appendingPathComponent("\(topic).jsonl"))
            result[topic] = data.split(separator: UInt8(ascii: "\n")).map { Array($0) }
        }
        return result
    }
}

/// The example stream in the binary formats (issue 19), encoded by the official encoders as Tests/EndToEnd/formats.sh
/// does: logins, geo and confirmations in Protocol Buffers, payments in Avro. Needs protoc and a python with the
/// `protobuf` and `fastavro` packages (`CEPD_BENCH_PYTHON`, default the test venv of scripts/kafka-env.sh).
struct BinaryWorkload {
    /// The streams of `Workload.streams` with their formats (schemas in `dir`).
    let streams: String
    /// The messages per topic, in the order of the JSON lines.
    let messages: [String: [[UInt8]]]

    init(events: Int, users: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-bench-\(events)-\(users)")
        let binary = dir.appendingPathComponent("binary")
        let example = Workload.root.appendingPathComponent("examples/fraud")
        if !FileManager.default.fileExists(atPath: binary.appendingPathComponent("confirmations.b64").path) {
            _ = try Workload.generate(events: events, users: users)
            try Self.run("protoc", [
                "--include_imports", "--descriptor_set_out=\(dir.path)/fraud.desc", "--python_out=\(dir.path)",
                "-I", example.path, example.appendingPathComponent("fraud.proto").path,
            ])
            let python = ProcessInfo.processInfo.environment["CEPD_BENCH_PYTHON"]
                ?? Workload.root.appendingPathComponent(".cache/kafka/venv/bin/python").path
            try Self.run(python, [
                example.appendingPathComponent("encode.py").path, "--pb2", dir.path, "--in", dir.path, "--out", binary.path,
            ])
        }
        let schemas = dir.path
        streams = Workload.streams
            .replacingOccurrences(of: "{ key user time ts lateness 5s fields { user: string, ip:", with: "{ format protobuf \"\(schemas)/fraud.desc\" message fraud.v1.Login key user time ts lateness 5s fields { user: string, ip:")
            .replacingOccurrences(of: "{ key user time ts lateness 5s fields { user: string, id:", with: "{ format avro \"\(example.path)/payment.avsc\" key user time ts lateness 5s fields { user: string, id:")
            .replacingOccurrences(of: "{ key user time ts lateness 5s fields { user: string, country:", with: "{ format protobuf \"\(schemas)/fraud.desc\" message fraud.v1.Geo key user time ts lateness 5s fields { user: string, country:")
            .replacingOccurrences(of: "{ key user time ts lateness 5s fields { user: string, payment_id:", with: "{ format protobuf \"\(schemas)/fraud.desc\" message fraud.v1.Confirmation key user time ts lateness 5s fields { user: string, payment_id:")
        var messages: [String: [[UInt8]]] = [:]
        for topic in Workload.topics {
            let text = try String(contentsOf: binary.appendingPathComponent("\(topic).b64"), encoding: .utf8)
            messages[topic] = try text.split(separator: "\n").map {
                guard let data = Data(base64Encoded: String($0)) else { throw BenchmarkSetupError(message: "not base64") }
                return Array(data)
            }
        }
        self.messages = messages
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchmarkSetupError(message: "\(tool) failed") }
    }
}

struct BenchmarkSetupError: Error {
    var message: String
}
