public import CEPCore

/// Renders matches as alerts in BRIEF's format: the `emit` fields, then `_match` with the pattern, a
/// deterministic match id, the key, the output topic, the first and last event time, and the matched events.
///
/// The id is a 128-bit FNV-1a hash of the pattern name, the key and each matched event's step, topic, partition
/// and offset: the same input gives the same ids on every run, so downstream (and cepd's own recovery) can
/// de-duplicate. Times and durations are written as integer milliseconds.
public struct AlertFormatter: Sendable {
    /// One alert, ready to write.
    public struct Alert: Sendable {
        /// The pattern's name.
        public var pattern: String
        /// The deterministic match id.
        public var id: String
        /// The `emit to` (or `on timeout ... emit to`) topic.
        public var topic: String
        /// The Kafka message key: `@key` of the emit if it gives one (and it is not null), else the pattern's key
        /// value; as text (a string as it is, other values as JSON).
        public var key: String
        /// The alert as one line of JSON.
        public var json: String
        /// The alert in its emit's encoding (`as avro ...`, `as protobuf ...`), for Kafka; nil for JSON alerts.
        public var encoded: [UInt8]?
        /// The Kafka headers the emit gives (`@header.NAME: value`, null values left out), and `traceparent` of
        /// the last matched event when its stream declares `@header.traceparent` and the emit sets none.
        public var headers: [(name: String, value: String)] = []
    }

    private let automaton: Automaton
    /// Each pattern's `emit` and `on timeout` fields, ready to evaluate.
    private let emitFields: [FlatExpressions?]
    private let timeoutFields: [FlatExpressions?]
    /// Each pattern's encoders of `emit` and `on timeout` alerts that are not JSON.
    private let emitEncoders: [AlertEncoder?]
    private let timeoutEncoders: [AlertEncoder?]
    /// The wire-format header (zero byte, schema id) of alerts whose schema is registered, by `slot(pattern:timeout:)`.
    private var schemaHeaders: [Int: [UInt8]] = [:]
    /// For each stream that declares `@header.traceparent`, that field's index: an alert carries the last matched
    /// event's trace context on, unless the emit sets its own.
    private let traceparentSlots: [Int: Int]

    /// Creates a formatter for the patterns of `automaton`. `encoding`: whether alerts of outputs declared `as avro`
    /// or `as protobuf` are also encoded so (for Kafka); replays and tests write JSON only.
    public init(automaton: Automaton, encoding: Bool = true) {
        self.automaton = automaton
        emitFields = automaton.patterns.map { $0.emit.map { FlatExpressions($0.fields.map(\.value)) } }
        timeoutFields = automaton.patterns.map { $0.timeoutEmit.map { FlatExpressions($0.fields.map(\.value)) } }
        func encoder(_ spec: OutputSpec?) -> AlertEncoder? {
            guard encoding, let spec, let encoding = spec.encoding else { return nil }
            return AlertEncoder(encoding, names: spec.fields.map(\.name))
        }
        emitEncoders = automaton.patterns.map { encoder($0.emit) }
        timeoutEncoders = automaton.patterns.map { encoder($0.timeoutEmit) }
        var slots: [Int: Int] = [:]
        for (s, stream) in automaton.streams.enumerated() {
            if let f = stream.fields.firstIndex(where: { $0.path == ["@header", "traceparent"] }) { slots[s] = f }
        }
        traceparentSlots = slots
    }

    /// The outputs whose Avro schema must be registered before their first alert (`as avro "x.avsc" registry`):
    /// the pattern, whether it is its `on timeout` output, the subject (`TOPIC-value`) and the schema's JSON.
    public var registrations: [(pattern: PatternID, timeout: Bool, subject: String, schema: String)] {
        automaton.patterns.enumerated().flatMap { index, pattern in
            [(pattern.emit, false), (pattern.timeoutEmit, true)].compactMap { spec, timeout in
                guard let spec, let schema = spec.registration else { return nil }
                return (PatternID(index), timeout, spec.topic + "-value", schema)
            }
        }
    }

    /// Notes the id the registry gave a registered output's schema: its alerts carry it from now on.
    public mutating func setSchemaID(_ id: Int32, pattern: PatternID, timeout: Bool) {
        schemaHeaders[Self.slot(pattern: pattern, timeout: timeout)] =
            [0] + withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    private static func slot(pattern: PatternID, timeout: Bool) -> Int { pattern.index * 2 + (timeout ? 1 : 0) }

    /// The deterministic match id: 32 hex digits.
    public func matchID(of output: MatchOutput) -> String { matchID(of: output, nodes: output.last?.path ?? []) }

    private func matchID(of output: MatchOutput, nodes: [MatchNode]) -> String {
        var hash = FNV128()
        hash.add(automaton.patterns[output.pattern].name)
        hash.add(Self.json(output.key))
        if case .timeout = output.kind { hash.add("timeout") }
        for node in nodes {
            hash.add(String(node.binding))
            hash.add(node.event.origin.topic)
            hash.add(String(node.event.origin.partition))
            hash.add(String(node.event.origin.offset))
        }
        return hash.hex
    }

    /// The alert as one line of JSON (no newline), or `nil` when the pattern has no output for this kind.
    public func format(_ output: MatchOutput) -> String? { alert(output)?.json }

    /// The alert with what a Kafka record of it needs, or `nil` when the pattern has no output for this kind.
    public func alert(_ output: MatchOutput) -> Alert? {
        let pattern = automaton.patterns[output.pattern]
        let spec: OutputSpec?
        let values: FlatExpressions?
        let encoder: AlertEncoder?
        switch output.kind {
        case .match:
            (spec, values, encoder) = (
                pattern.emit, emitFields[output.pattern.index], emitEncoders[output.pattern.index]
            )
        case .timeout:
            (spec, values, encoder) = (
                pattern.timeoutEmit, timeoutFields[output.pattern.index], timeoutEncoders[output.pattern.index]
            )
        }
        guard let spec, let values else { return nil }
        let nodes = output.last?.path ?? []
        let id = matchID(of: output, nodes: nodes)
        var json = JSONWriter()
        json.beginObject()
        var recordKey: String?
        var headers: [(name: String, value: String)] = []
        var evaluated: [Value] = []
        if encoder != nil { evaluated.reserveCapacity(spec.fields.count) }
        for (i, field) in spec.fields.enumerated() {
            let value = output.rows.withUnsafeBufferPointer {
                values.evaluate(i, current: nil, match: output.last, rows: RowContext(resolved: $0))
            }
            if encoder != nil { evaluated.append(value) }
            if let part = AlertRecordPart(outputName: field.name) {
                // Not part of the JSON: the Kafka record's key or a header (null: left at its default, or out).
                guard !value.isNull else { continue }
                switch part {
                case .key: recordKey = Self.text(value)
                case .header(let name): headers.append((name, Self.text(value)))
                }
                continue
            }
            json.raw(field.name, Self.json(value))
        }
        if !headers.contains(where: { $0.name == "traceparent" }), let last = nodes.last,
            let slot = traceparentSlots[last.event.stream], case .string(let trace) = last.event.field(slot)
        {
            headers.append(("traceparent", trace))
        }
        json.beginObject("_match")
        json.string("pattern", pattern.name)
        json.string("id", id)
        json.raw("key", Self.json(output.key))
        json.string("topic", spec.topic)
        if let first = nodes.first, let last = nodes.last {
            json.raw("first_ts", String(first.event.timestamp))
            json.raw("last_ts", String(last.event.timestamp))
        }
        if case .timeout(let at) = output.kind { json.raw("timed_out_at", String(at)) }
        json.beginArray("events")
        for node in nodes {
            json.beginObject()
            json.string("step", pattern.bindings[node.binding].name)
            json.string("stream", automaton.streams[node.event.stream].name)
            json.string("topic", node.event.origin.topic)
            json.raw("partition", String(node.event.origin.partition))
            json.raw("offset", String(node.event.origin.offset))
            json.raw("ts", String(node.event.timestamp))
            json.endObject()
        }
        json.endArray()
        json.endObject()
        json.endObject()
        return Alert(
            pattern: pattern.name, id: id, topic: spec.topic, key: recordKey ?? Self.text(output.key), json: json.text,
            encoded: encoder.map { encoder in
                guard spec.registration != nil else { return encoder.encode(evaluated) }
                let slot = Self.slot(pattern: output.pattern, timeout: output.kind != .match)
                guard let header = schemaHeaders[slot] else {
                    preconditionFailure("an alert of '\(pattern.name)' before its schema was registered")
                }
                return header + encoder.encode(evaluated)
            }, headers: headers)
    }

    /// A value as the text of a Kafka key or header: a string as it is, anything else as JSON.
    static func text(_ value: Value) -> String {
        if case .string(let text) = value { return text }
        return json(value)
    }

    /// A value as JSON: times and durations as integer milliseconds, non-finite floats as null.
    public static func json(_ value: Value) -> String {
        switch value {
        case .string(let s): return JSONWriter.quoted(s)
        case .int(let i): return String(i)
        case .float(let d): return d.isFinite ? String(d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .time(let t): return String(t)
        case .duration(let d): return String(d)
        case .null: return "null"
        }
    }
}

/// 128-bit FNV-1a, with a separator after each part so that ("ab", "c") and ("a", "bc") differ.
struct FNV128 {
    private var high: UInt64 = 0x6c62_272e_07bb_0142
    private var low: UInt64 = 0x62b8_2175_6295_c58d

    mutating func add(_ text: String) {
        for byte in text.utf8 { mix(byte) }
        mix(0xFF)  // never part of UTF-8
    }

    /// Hashes one byte (the canonical fingerprint's encoding).
    mutating func add(byte: UInt8) { mix(byte) }

    private mutating func mix(_ byte: UInt8) {
        low ^= UInt64(byte)
        // Multiply by the FNV prime 2^88 + 0x13B, modulo 2^128.
        let product = low.multipliedFullWidth(by: 0x13B)
        let newHigh = product.high &+ high &* 0x13B &+ (low << 24)
        low = product.low
        high = newHigh
    }

    var hex: String {
        func pad(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return pad(high) + pad(low)
    }
}
