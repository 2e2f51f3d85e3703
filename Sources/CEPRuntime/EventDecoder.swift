public import CEPCore

/// Why a message could not become an event: it goes to the dead-letter output with this reason.
public struct DecodeFailure: Error, Sendable, Hashable {
    /// One line for humans, e.g. `field 'amount': expected float, got string`.
    public var reason: String
}

/// Decodes JSON messages of one topic into events of the streams that read it.
///
/// Only the fields some pattern, filter, key or time reads are decoded; the rest of the object is checked for
/// syntax and skipped. When several streams share the topic, each stream's `where` filter picks its events; a
/// message no filter accepts is not an error (it belongs to no stream of ours).
public struct EventDecoder: Sendable {
    /// The topic this decoder reads.
    public let topic: String
    private let streams: [StreamPlan]
    private let slotCount: Int
    private nonisolated(unsafe) let tree: FieldTree

    private struct StreamPlan: Sendable {
        var stream: Int
        var spec: StreamSpec
        /// For each declared field, the slot of the scanned object it comes from; `nil` when no one reads it.
        var slots: [Int?]
        /// The stream's `where`, if it has one.
        var filter: FlatExpressions?
    }

    /// The result of decoding one message.
    public enum Outcome: Sendable {
        /// The one event of the one stream that accepted the message (the common case: no array to allocate).
        case event(Event)
        /// The events, one per stream that accepted the message: none when no filter accepted it, or several on a
        /// shared topic.
        case events([Event])
        /// The message is malformed.
        case failure(DecodeFailure)

        /// The decoded events, or nil for a malformed message.
        public var decoded: [Event]? {
            switch self {
            case .event(let event): return [event]
            case .events(let events): return events
            case .failure: return nil
            }
        }
    }

    /// A decoder for `topic` over the streams of `automaton` that read it.
    public init(automaton: Automaton, topic: String) {
        self.topic = topic
        let tree = FieldTree()
        var slotsByPath: [[String]: Int] = [:]
        var plans: [StreamPlan] = []
        for (index, spec) in automaton.streams.enumerated() where spec.topic == topic {
            var slots: [Int?] = []
            for (f, field) in spec.fields.enumerated() {
                let needed = field.isUsed || f == spec.keyField || f == spec.timeField
                guard needed else { slots.append(nil); continue }
                if let slot = slotsByPath[field.path] {
                    slots.append(slot)
                    continue
                }
                var node = tree
                for name in field.path { node = node.child(name) }
                let slot = slotsByPath.count
                node.slot = slot
                slotsByPath[field.path] = slot
                slots.append(slot)
            }
            plans.append(
                StreamPlan(stream: index, spec: spec, slots: slots, filter: spec.filter.map { FlatExpressions([$0]) }))
        }
        self.tree = tree
        self.streams = plans
        self.slotCount = slotsByPath.count
    }

    /// Whether any stream reads this topic.
    public var isEmpty: Bool { streams.isEmpty }

    /// Decodes one message. `messageTimestamp` is the broker's timestamp, used by streams without a `time` field.
    public func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, origin: EventOrigin, sourceRank: Int32, messageTimestamp: Int64? = nil
    ) -> Outcome {
        // The scanned members live on the stack for the duration of the call: no allocation per message for them.
        return withUnsafeTemporaryAllocation(of: RawJSONValue?.self, capacity: slotCount) { raw in
            raw.initialize(repeating: nil)
            defer { raw.deinitialize() }
            do throws(JSONSyntaxError) {
                try JSONScanner.scanObject(bytes, fields: tree, into: raw)
            } catch {
                return .failure(DecodeFailure(reason: "invalid JSON at byte \(error.offset): \(error.message)"))
            }
            return makeEvents(raw, origin: origin, sourceRank: sourceRank, messageTimestamp: messageTimestamp)
        }
    }

    private func makeEvents(
        _ raw: UnsafeMutableBufferPointer<RawJSONValue?>, origin: EventOrigin, sourceRank: Int32, messageTimestamp: Int64?
    ) -> Outcome {
        var events: [Event] = []
        var only: Event?
        for plan in streams {
            var values = [Value](repeating: .null, count: plan.spec.fields.count)
            var problem: String?
            for (f, slot) in plan.slots.enumerated() {
                guard let slot else { continue }
                switch Self.convert(raw[slot], plan.spec.fields[f]) {
                case .success(let value): values[f] = value
                case .failure(let failure): if problem == nil { problem = failure.reason }
                }
            }
            if let filter = plan.filter {
                let probe = Event(stream: plan.stream, timestamp: 0, fields: values, origin: origin)
                guard filter.holds(0, current: probe, match: nil) else { continue }
            }
            if let problem { return .failure(DecodeFailure(reason: Self.prefix(plan, streams.count) + problem)) }
            let timestamp: Int64
            if let timeField = plan.spec.timeField {
                guard case .time(let t) = values[timeField] else {
                    return .failure(DecodeFailure(reason: Self.prefix(plan, streams.count) + "no event time"))
                }
                timestamp = t
            } else if let messageTimestamp {
                timestamp = messageTimestamp
            } else {
                return .failure(
                    DecodeFailure(
                        reason: Self.prefix(plan, streams.count)
                            + "the stream has no 'time' field and the input carries no message timestamp"))
            }
            let event = Event(stream: plan.stream, timestamp: timestamp, fields: values, origin: origin, sourceRank: sourceRank)
            if only == nil && events.isEmpty {
                only = event
            } else {
                if let first = only { events.append(first) }
                only = nil
                events.append(event)
            }
        }
        if let only { return .event(only) }
        return .events(events)
    }

    private static func prefix(_ plan: StreamPlan, _ count: Int) -> String {
        count > 1 ? "stream '\(plan.spec.name)': " : ""
    }

    /// Checks a scanned value against a declared field.
    static func convert(_ raw: RawJSONValue?, _ field: FieldSpec) -> Result<Value, DecodeFailure> {
        func fail(_ message: String) -> Result<Value, DecodeFailure> {
            .failure(DecodeFailure(reason: "field '\(field.dotted)': \(message)"))
        }
        guard let raw else { return field.isOptional ? .success(.null) : fail("missing") }
        switch (field.type, raw) {
        case (_, .null): return field.isOptional ? .success(.null) : fail("null, but the field is not optional")
        case (.string, .string(let s)): return .success(.string(s))
        case (.int, .integer(let i)): return .success(.int(i))
        case (.float, .integer(let i)): return .success(.float(Double(i)))
        case (.float, .number(let d)): return .success(.float(d))
        case (.bool, .bool(let b)): return .success(.bool(b))
        case (.time, .integer(let ms)): return .success(.time(ms))
        case (.time, .string(let text)):
            guard let ms = RFC3339.parse(text) else { return fail("'\(text)' is not an RFC 3339 time") }
            return .success(.time(ms))
        default:
            let expected = field.type == .time ? "time (epoch milliseconds or RFC 3339)" : field.type.rawValue
            return fail("expected \(expected), got \(describe(raw))")
        }
    }

    private static func describe(_ raw: RawJSONValue) -> String {
        switch raw {
        case .null: return "null"
        case .bool: return "bool"
        case .integer: return "int"
        case .number: return "float"
        case .string: return "string"
        case .composite: return "object or array"
        }
    }
}

/// RFC 3339 timestamps (`2026-11-25T14:36:11.250Z`, `2026-11-25T15:36:11+01:00`) to epoch milliseconds.
public enum RFC3339 {
    /// Epoch milliseconds, or `nil` when `text` is not an RFC 3339 date-time. Fractions beyond milliseconds are
    /// truncated.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func expect(_ set: [UInt8]) -> Bool {
            guard i < b.count, set.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect([45]), let month = digits(2), expect([45]), let day = digits(2),
            expect([84, 116, 32]), let hour = digits(2), expect([58]), let minute = digits(2), expect([58]),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var millis: Int64 = 0
        if i < b.count && b[i] == 46 {
            i += 1
            var scale: Int64 = 100
            var count = 0
            while i < b.count && b[i] >= 48 && b[i] <= 57 {
                millis += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offset: Int64 = 0
        if expect([90, 122]) {
            offset = 0
        } else if i < b.count && (b[i] == 43 || b[i] == 45) {
            let sign: Int64 = b[i] == 45 ? -1 : 1
            i += 1
            guard let oh = digits(2), expect([58]), let om = digits(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 60 + om) * 60_000
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return ((days * 24 + hour) * 60 + minute) * 60_000 + min(second, 59) * 1000 + millis - offset
    }
}
