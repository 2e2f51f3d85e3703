import Benchmark
import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation

/// Engine-only benchmarks on pre-decoded events (no files, no Kafka, no JSON on the measured path), the JSON
/// decoder alone, the compiler on a 1,000-pattern file, and checkpoints (the engine's encoding into memory) against
/// state size. Metric names end in per-event figures: one scaled iteration = one event (or one line, one key).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .instructions, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 1, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 5)

    // Each pattern at 1 key, 10k keys and 1M keys, over one million events of the example stream.
    let sizes: [(label: String, users: Int)] = [("1_key", 1), ("10k_keys", 10_000), ("1M_keys", 1_000_000)]
    for (name, text) in Workload.patterns {
        for size in sizes {
            Benchmark("engine_\(name)_\(size.label)") { (benchmark: Benchmark, workload: Workload) in
                var engine = workload.engine()
                var outputs: [MatchOutput] = []
                outputs.reserveCapacity(1 << 16)
                var cursor = DecodedEvents.Cursor()
                let ranks = Workload.topics.indices.map { engine.sources[$0].rank }
                benchmark.startMeasurement()
                for i in benchmark.scaledIterations {
                    let (source, offset) = workload.origins[i]
                    let event = workload.decoded.next(
                        &cursor, origin: EventOrigin(topic: Workload.topics[source], partition: 0, offset: offset),
                        sourceRank: ranks[source])
                    engine.process(event, source: source, into: &outputs)
                    if outputs.count > 60_000 { outputs.removeAll(keepingCapacity: true) }
                }
                engine.finishAll(into: &outputs)
                benchmark.stopMeasurement()
                blackHole(outputs.count)
            } setup: {
                try Workload(pattern: text, generate: 1_050_000, count: 1_000_000, users: size.users)
            }
        }
    }

    // The decoder alone: one million lines (all four topics), the fields the fraud pattern reads.
    Benchmark("decode_fraud_fields") { (benchmark: Benchmark, input: [(EventDecoder, [UInt8])]) in
        var decoded = DecodedEvents()
        for i in benchmark.scaledIterations {
            let (decoder, line) = input[i]
            _ = line.withUnsafeBufferPointer { decoder.decode($0, into: &decoded) }
            if decoded.count > 4_096 { decoded.removeAll() }
        }
        blackHole(decoded.count)
    } setup: {
        let workload = try Workload(pattern: Workload.patterns[0].text, generate: 1_050_000, count: 1, users: 10_000)
        var input: [(EventDecoder, [UInt8])] = []
        for topic in Workload.topics {
            let decoder = EventDecoder(automaton: workload.automaton, topic: topic)
            for line in workload.lines[topic] ?? [] { input.append((decoder, line)) }
        }
        return Array(input.prefix(1_000_000))
    }

    // The same events and fields in Protocol Buffers and Avro (issue 19: binary decoding must be at least as fast
    // as JSON): every topic mixed as decode_fraud_fields, then one topic per format against its JSON lines.
    // One scaled iteration = one message; decoders over the fraud pattern's fields.
    func decodeInput(binary: Bool, topics: [String]) throws -> [(EventDecoder, [UInt8])] {
        let events = 1_050_000
        let workload = try BinaryWorkload(events: events, users: 10_000)
        let streams = binary ? workload.streams : Workload.streams
        let compilation = Compiler.compile(text: streams + "\n" + Workload.patterns[0].text)
        guard let automaton = compilation.automaton else {
            throw BenchmarkSetupError(message: "does not compile: \(compilation.diagnostics.map(\.message.text))")
        }
        let lines = try Workload.generate(events: events, users: 10_000)
        var input: [(EventDecoder, [UInt8])] = []
        for topic in topics {
            let decoder = EventDecoder(automaton: automaton, topic: topic)
            for message in (binary ? workload.messages[topic] : lines[topic]) ?? [] { input.append((decoder, message)) }
        }
        // The messages must decode (the generator plants a few malformed lines), or the figure would time the
        // dead-letter path.
        var decoded = DecodedEvents()
        var failures = 0
        for (decoder, message) in input.prefix(20_000) where message.withUnsafeBufferPointer({ decoder.decode($0, into: &decoded) }) != nil {
            failures += 1
            if decoded.count > 4_096 { decoded.removeAll() }
        }
        guard failures * 100 < min(input.count, 20_000) else {
            throw BenchmarkSetupError(message: "\(failures) of the first 20,000 messages do not decode")
        }
        return Array(input.prefix(1_000_000))
    }
    for (name, topics) in [("fraud_fields", Workload.topics), ("logins", ["logins"]), ("payments", ["payments"])] {
        for binary in [false, true] where !(name == "fraud_fields" && !binary) {
            let format = binary ? (name == "logins" ? "protobuf" : name == "payments" ? "avro" : "binary") : "json"
            Benchmark("decode_\(name)_\(format)") { (benchmark: Benchmark, input: [(EventDecoder, [UInt8])]) in
                var decoded = DecodedEvents()
                for i in benchmark.scaledIterations {
                    let (decoder, message) = input[i % input.count]
                    _ = message.withUnsafeBufferPointer { decoder.decode($0, into: &decoded) }
                    if decoded.count > 4_096 { decoded.removeAll() }
                }
                blackHole(decoded.count)
            } setup: {
                try decodeInput(binary: binary, topics: topics)
            }
        }
    }

    // The parser, checker and NFA builder on a file of 1,000 patterns (one scaled iteration = one pattern).
    Benchmark("compile_1000_patterns", configuration: .init(scalingFactor: .kilo)) { (benchmark: Benchmark, text: String) in
        benchmark.startMeasurement()
        let compilation = Compiler.compile(text: text)
        benchmark.stopMeasurement()
        precondition(compilation.automaton?.patterns.count == 1_000, "the benchmark file does not compile")
    } setup: {
        Workload.streams + "\n" + (0..<1_000).map { i in
            let (_, text) = Workload.patterns[i % Workload.patterns.count]
            return text.replacingOccurrences(of: "pattern ", with: "pattern p\(i)_", options: [], range: text.range(of: "pattern "))
                .replacingOccurrences(of: "1000", with: "\(1_000 + i)")
        }.joined(separator: "\n")
    }

    // A full checkpoint of the engine's state into memory, and its restore, against the number of keys with open
    // partial matches (one scaled iteration = one key).
    for keys in [10_000, 100_000, 1_000_000] {
        Benchmark("checkpoint_write_\(keys)_keys", configuration: .init(scalingFactor: .one, maxIterations: 3)) { (benchmark: Benchmark, engine: Engine) in
            var copy = engine
            var store = MemoryEngineState()
            benchmark.startMeasurement()
            copy.writeCheckpoint(into: &store, full: true)
            benchmark.stopMeasurement()
            blackHole(store.byteCount)
        } setup: {
            try OpenKeys.engine(keys: keys)
        }
        Benchmark("checkpoint_restore_\(keys)_keys", configuration: .init(scalingFactor: .one, maxIterations: 3)) { (benchmark: Benchmark, input: (automaton: Automaton, store: MemoryEngineState)) in
            var engine = Engine(automaton: input.automaton)
            benchmark.startMeasurement()
            let report = try? engine.restore(from: input.store)
            benchmark.stopMeasurement()
            precondition(report?.keys == keys, "restored \(String(describing: report?.keys)) keys")
        } setup: {
            var engine = try OpenKeys.engine(keys: keys)
            var store = MemoryEngineState()
            engine.writeCheckpoint(into: &store, full: true)
            return (automaton: engine.automaton, store: store)
        }
    }
}

/// An engine holding `keys` keys, each with one open partial match (a login waiting for its payment).
enum OpenKeys {
    static func engine(keys: Int) throws -> Engine {
        let compilation = Compiler.compile(text: Workload.streams + "\n" + Workload.patterns[0].text)
        guard let automaton = compilation.automaton else { throw BenchmarkSetupError(message: "does not compile") }
        var engine = Engine(automaton: automaton)
        for topic in Workload.topics { _ = engine.source(topic: topic, partition: 0) }
        var outputs: [MatchOutput] = []
        for s in 1..<Workload.topics.count { engine.setIdle(s, true, into: &outputs) }
        let base: Int64 = 1_767_225_600_000
        // Many logins per millisecond, so that every window (10 minutes) is still open at the end; then one more
        // login past the lateness (5 s) moves the watermark beyond all of them, so that none waits in the buffer.
        for i in 0...keys {
            let ts = i < keys ? base + Int64(i / 2_000) : base + Int64(keys / 2_000) + 6_000
            let event = Event(
                stream: 0, timestamp: ts, fields: [.string("u\(i)"), .string("10.0.0.1"), .string("DE"), .time(ts)],
                origin: EventOrigin(topic: "logins", partition: 0, offset: Int64(i)), sourceRank: 0)
            engine.process(event, source: 0, into: &outputs)
        }
        guard engine.matchers[0].activeKeys == keys else {
            throw BenchmarkSetupError(message: "\(engine.matchers[0].activeKeys) keys open, not \(keys)")
        }
        return engine
    }
}
