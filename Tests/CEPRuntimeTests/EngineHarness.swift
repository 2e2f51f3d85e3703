import CEPCompiler
import CEPCore
import CEPRuntime
import CEPSyntax
import Testing

enum HarnessError: Error { case doesNotCompile }

/// Drives an `Engine` from events written inline, one partition per topic, and collects what it emits.
struct EngineHarness {
    /// An event to feed: its topic, key, time and fields by name.
    struct Input {
        var topic: String
        var fields: [String: Value]
        var timestamp: Int64
    }

    /// What the engine emitted, readable in assertions: `pattern: step=topic:offset ...`.
    struct Result {
        var matches: [String] = []
        var timeouts: [String] = []
        var late: [String] = []
        var alerts: [String] = []
    }

    let automaton: Automaton
    var engine: Engine
    var offsets: [String: Int64] = [:]
    var result = Result()
    private var outputs: [MatchOutput] = []

    init(_ source: String) throws {
        let compilation = Compiler.compile(text: source)
        guard let automaton = compilation.automaton else {
            Issue.record("does not compile: \(compilation.diagnostics.map(\.message.text))\n\(source)")
            throw HarnessError.doesNotCompile
        }
        self.automaton = automaton
        var engine = Engine(automaton: automaton)
        // Register every topic up front, in declaration order, so the watermark can advance.
        for topic in engine.inputTopics { _ = engine.source(topic: topic, partition: 0) }
        self.engine = engine
    }

    /// Feeds one event of `stream` (all its fields given by name; `ts` is the time field).
    mutating func send(_ streamName: String, _ fields: [String: Value]) {
        let streamIndex = automaton.streams.firstIndex { $0.name == streamName }!
        let spec = automaton.streams[streamIndex]
        let values = spec.fields.map { fields[$0.dotted] ?? .null }
        guard let timeField = spec.timeField, case .time(let ts) = values[timeField] else {
            Issue.record("event without time")
            return
        }
        feed(streamIndex, values, at: ts)
    }

    /// Feeds a deletion of `key`'s row in table `tableName` at `ts` (what a tombstone decodes to).
    mutating func sendDeletion(_ tableName: String, key: Value, ts: Int64) {
        let streamIndex = automaton.streams.firstIndex { $0.name == tableName }!
        var values = [Value](repeating: .null, count: automaton.streams[streamIndex].fields.count + 1)
        values[automaton.streams[streamIndex].keyField] = key
        feed(streamIndex, values, at: ts)
    }

    /// Feeds an event of stream `streamIndex` on partition 0 of its topic, at the next offset.
    private mutating func feed(_ streamIndex: Int, _ values: [Value], at ts: Int64) {
        let spec = automaton.streams[streamIndex]
        let offset = offsets[spec.topic, default: 0]
        offsets[spec.topic] = offset + 1
        let source = engine.source(topic: spec.topic, partition: 0)
        let event = Event(
            stream: streamIndex, timestamp: ts, fields: values,
            origin: EventOrigin(topic: spec.topic, partition: 0, offset: offset),
            sourceRank: engine.sources[source].rank)
        let late = engine.process(event, source: source, into: &outputs)
        for p in late { result.late.append("\(automaton.patterns[p].name): \(spec.topic):\(offset)") }
        collect()
    }

    /// Snapshots the engine and continues with a fresh engine restored from the bytes, as after a restart.
    mutating func restart() throws {
        let bytes = engine.snapshot()
        var fresh = Engine(automaton: automaton)
        let report = try fresh.restore(bytes)
        #expect(report.started.isEmpty && report.dropped.isEmpty)
        engine = fresh
    }

    /// Writes an incremental checkpoint into `store` and continues with a fresh engine restored from the store
    /// alone, as after a crash right after that checkpoint.
    mutating func restart(from store: inout MemoryEngineState) throws {
        engine.writeCheckpoint(into: &store)
        var fresh = Engine(automaton: automaton)
        fresh.trackChanges()
        let report = try #require(try fresh.restore(from: store))
        #expect(report.started.isEmpty && report.dropped.isEmpty)
        engine = fresh
    }

    /// Ends the input: the watermark goes to +∞.
    mutating func finish() -> Result {
        engine.finishAll(into: &outputs)
        collect()
        return result
    }

    private mutating func collect() {
        let formatter = AlertFormatter(automaton: automaton)
        for output in outputs {
            let pattern = automaton.patterns[output.pattern]
            let refs = (output.last?.path ?? []).map {
                "\(pattern.bindings[$0.binding].name)=\($0.event.origin.topic):\($0.event.origin.offset)"
            }
            let line = ([pattern.name + ":"] + refs).joined(separator: " ")
            switch output.kind {
            case .match: result.matches.append(line)
            case .timeout: result.timeouts.append(line)
            }
            if let alert = formatter.format(output) { result.alerts.append(alert) }
        }
        outputs.removeAll()
    }
}

/// Shorthand for a field map: `ev(k: "u1", x: 3, ts: 1000)`.
func ev(k: String = "u1", x: Int64 = 0, ts: Int64) -> [String: Value] {
    ["k": .string(k), "x": .int(x), "ts": .time(ts)]
}
