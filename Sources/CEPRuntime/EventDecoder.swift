public import CEPCore

/// Why a message could not become an event: it goes to the dead-letter output with this reason.
public struct DecodeFailure: Error, Sendable, Hashable {
    /// A message with a null value (a tombstone, the delete marker of a compacted topic): not an event.
    public static let tombstone = DecodeFailure(reason: "null value (a tombstone: a delete marker, not an event)")

    /// One line for humans, e.g. `field 'amount': expected float, got string`.
    public var reason: String

    /// A failure with its reason.
    public init(reason: String) {
        self.reason = reason
    }
}

/// Decoded events not yet built into `Event` objects: their stream, time and field values, in flat arrays that
/// keep their capacity when emptied.
///
/// A reader thread decodes into one of these and hands it to the engine's thread, which builds the events: every
/// `Event` is then allocated, reference-counted and freed by one thread only (allocating on one thread and freeing
/// on another costs more in the allocator and in shared cache lines than the decoding thread saves).
public struct DecodedEvents: Sendable {
    /// One decoded event; its fields are the next `fieldCount` values after the previous entry's.
    public struct Entry: Sendable {
        /// Index into `Automaton.streams`.
        public var stream: Int32
        /// How many values of `values` are its fields.
        public var fieldCount: Int32
        /// Event time in epoch milliseconds.
        public var timestamp: Int64
    }

    /// The entries, in decoding order.
    public fileprivate(set) var entries: [Entry] = []
    /// The field values of all entries, one after the other.
    public fileprivate(set) var values: [Value] = []

    /// An empty buffer.
    public init() {}

    /// How many events it holds.
    public var count: Int { entries.count }

    /// A position in the buffer, for building its events in order.
    public struct Cursor: Sendable {
        var entry = 0
        var value = 0

        /// The first event.
        public init() {}
    }

    /// The event time of the entry at `cursor`.
    public func timestamp(at cursor: Cursor) -> Int64 { entries[cursor.entry].timestamp }

    /// Builds the event at `cursor` and moves the cursor to the next one.
    public func next(_ cursor: inout Cursor, origin: EventOrigin, sourceRank: Int32) -> Event {
        let entry = entries[cursor.entry]
        let end = cursor.value + Int(entry.fieldCount)
        let event = Event(
            stream: Int(entry.stream), timestamp: entry.timestamp, fields: values[cursor.value..<end],
            origin: origin, sourceRank: sourceRank)
        cursor.entry += 1
        cursor.value = end
        return event
    }

    /// Appends all of `other`.
    public mutating func append(contentsOf other: DecodedEvents) {
        entries.append(contentsOf: other.entries)
        values.append(contentsOf: other.values)
    }

    /// Appends `count` entries of `other` from `cursor` (and their values), moving the cursor past them.
    public mutating func append(_ count: Int, from other: DecodedEvents, at cursor: inout Cursor) {
        guard count > 0 else { return }
        var valueCount = 0
        for i in cursor.entry..<cursor.entry + count { valueCount += Int(other.entries[i].fieldCount) }
        entries.append(contentsOf: other.entries[cursor.entry..<cursor.entry + count])
        values.append(contentsOf: other.values[cursor.value..<cursor.value + valueCount])
        cursor.entry += count
        cursor.value += valueCount
    }

    /// Removes the entries (and values) before `cursor`, which then points at the first remaining entry.
    public mutating func removeFirst(upTo cursor: inout Cursor) {
        entries.removeFirst(cursor.entry)
        values.removeFirst(cursor.value)
        cursor = Cursor()
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func removeAll() {
        entries.clear()
        values.clear()
    }

    fileprivate var mark: (entries: Int, values: Int) { (entries.count, values.count) }

    fileprivate mutating func rollBack(to mark: (entries: Int, values: Int)) {
        entries.removeLast(entries.count - mark.entries)
        values.removeLast(values.count - mark.values)
    }
}

/// Decodes JSON messages of one topic into events of the streams that read it.
///
/// Only the fields some pattern, filter, key or time reads are decoded; the rest of the object is checked for
/// syntax and skipped. When several streams share the topic, each stream's `where` filter picks its events; a
/// message no filter accepts is not an error (it belongs to no stream of ours).
public struct EventDecoder: Sendable {
    /// Everything the decoder holds, behind one reference: readers keep a decoder per input and copy it per
    /// message, and a struct of six references made each copy six retains and six releases (~10 % of the Kafka
    /// reader's samples, perf).
    private let storage: Storage

    // @unchecked: immutable after init (the plans inside are read-only trees the compiler cannot see through).
    private final class Storage: @unchecked Sendable {
        let topic: String
        let streams: [StreamPlan]
        let slotCount: Int
        let valuePlan: ValuePlan
        let format: EventFormat
        let envelopePlan: EnvelopePlan?

        init(
            topic: String, streams: [StreamPlan], slotCount: Int, valuePlan: ValuePlan, format: EventFormat,
            envelopePlan: EnvelopePlan?
        ) {
            self.topic = topic
            self.streams = streams
            self.slotCount = slotCount
            self.valuePlan = valuePlan
            self.format = format
            self.envelopePlan = envelopePlan
        }
    }

    /// The topic this decoder reads.
    public var topic: String { storage.topic }
    private var streams: [StreamPlan] { storage.streams }
    private var slotCount: Int { storage.slotCount }
    /// How the message value is read into the slots.
    private var valuePlan: ValuePlan { storage.valuePlan }
    /// How the topic's messages are encoded.
    public var format: EventFormat { storage.format }
    /// What the streams read from the message's envelope; nil when nothing.
    private var envelopePlan: EnvelopePlan? { storage.envelopePlan }

    /// The slots filled from the message's envelope rather than its JSON value.
    // @unchecked: immutable after init (the plans inside are read-only trees the compiler cannot see through).
    private final class EnvelopePlan: @unchecked Sendable {
        let slots: [(slot: Int, field: EnvelopeField)]
        /// How to read the members of the message key that streams read (`@key.PATH`), if any.
        let keyPlan: ValuePlan?
        /// The key's format (`format @key ...`; JSON by default).
        let keyFormat: EventFormat
        let readsKey: Bool
        let readsHeaders: [String]

        init(slots: [(slot: Int, field: EnvelopeField)], keyPlan: ValuePlan?, keyFormat: EventFormat) {
            self.slots = slots
            self.keyPlan = keyPlan
            self.keyFormat = keyFormat
            readsKey = slots.contains { $0.field.readsKey }
            readsHeaders = slots.compactMap { if case .header(let name) = $0.field { name } else { nil } }
        }
    }

    /// Whether the message keys some stream reads members of are Protobuf or Avro (`format @key ...`).
    public var keyIsBinary: Bool { envelopePlan?.keyFormat.isBinary ?? false }

    /// Whether some stream reads a field of the envelope: without, a reader need not build one.
    public var readsEnvelope: Bool { envelopePlan != nil }
    /// Whether some stream reads the message key (`@key`): the reader then passes it in the envelope.
    public var readsKey: Bool { envelopePlan?.readsKey ?? false }
    /// The headers some stream reads (`@header.NAME`): the reader passes those in the envelope.
    public var readsHeaders: [String] { envelopePlan?.readsHeaders ?? [] }

    /// The reader of the message value for the topic's format; each fills the declared fields' slots.
    private enum ValuePlan {
        case json(FieldTree)
        case protobuf(ProtoPlan)
        case avro(AvroStep)
        case registry(RegistryPlans)
    }

    /// Whether a message can be decoded now (`prepare`).
    public enum Readiness: Sendable, Equatable {
        /// Its schema is known (or it needs none, or it is a dead letter whatever happens).
        case ready
        /// The registry did not answer and the process is stopping: leave the message unread.
        case stopping(String)
        /// It carries the first schema this topic met, and that schema does not fit the declared fields.
        case firstSchemaMismatch(String)
    }

    /// (A class: `appendEvents` visits every plan per message, and a struct holding a `StreamSpec` cost a copy —
    /// a dozen retains — per visit.)
    private final class StreamPlan: Sendable {
        let stream: Int
        let spec: StreamSpec
        /// For each declared field, the slot of the scanned object it comes from; `nil` when no one reads it.
        let slots: [Int?]
        /// The stream's `where`, if it has one.
        let filter: FlatExpressions?

        init(stream: Int, spec: StreamSpec, slots: [Int?], filter: FlatExpressions?) {
            self.stream = stream
            self.spec = spec
            self.slots = slots
            self.filter = filter
        }
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

    /// A decoder for `topic` over the streams of `automaton` that read it. `asJSON` reads JSON whatever the
    /// streams' format (`cepd test` cases write every event as JSON).
    /// `schemas` serves the streams that read schema ids (`format ... registry`).
    public init(automaton: Automaton, topic: String, asJSON: Bool = false, schemas: (any RegistrySchemas)? = nil) {
        // Streams that share a topic share its format (the checker sees to it).
        let format = asJSON ? .json : automaton.streams.first { $0.topic == topic }?.format ?? .json
        var valueLeaves: [(path: [String], slot: Int, field: FieldSpec)] = []
        var keyLeaves: [(path: [String], slot: Int, field: FieldSpec)] = []
        var slotsByPath: [[String]: Int] = [:]
        var plans: [StreamPlan] = []
        var envelopeSlots: [(slot: Int, field: EnvelopeField)] = []
        for (index, spec) in automaton.streams.enumerated() where spec.topic == topic {
            var slots: [Int?] = []
            for (f, field) in spec.fields.enumerated() {
                let needed = field.isUsed || f == spec.keyField || f == spec.timeField
                guard needed else {
                    slots.append(nil)
                    continue
                }
                if let slot = slotsByPath[field.path] {
                    slots.append(slot)
                    continue
                }
                let slot = slotsByPath.count
                if let envelope = EnvelopeField(path: field.path) {
                    if case .keyMember(let members) = envelope { keyLeaves.append((members, slot, field)) }
                    envelopeSlots.append((slot, envelope))
                } else {
                    valueLeaves.append((field.path, slot, field))
                }
                slotsByPath[field.path] = slot
                slots.append(slot)
            }
            plans.append(
                StreamPlan(stream: index, spec: spec, slots: slots, filter: spec.filter.map { FlatExpressions([$0]) }))
        }
        let valuePlan = Self.plan(format, leaves: valueLeaves, schemas: schemas) {
            automaton.streams.filter { $0.topic == topic }.flatMap(\.fields).filter {
                !EnvelopeField.isEnvelopePath($0.path)
            }
        }
        // The members of the message key that streams read (`@key.PATH`), in the key's format.
        let keyFormat = asJSON ? .json : automaton.streams.first { $0.topic == topic }?.keyFormat ?? .json
        let keyPlan =
            keyLeaves.isEmpty
            ? nil
            : Self.plan(keyFormat, leaves: keyLeaves, schemas: schemas) {
                automaton.streams.filter { $0.topic == topic }.flatMap(\.fields).compactMap { field in
                    guard case .keyMember(let members)? = EnvelopeField(path: field.path) else { return nil }
                    var member = field
                    member.path = members
                    return member
                }
            }
        storage = Storage(
            topic: topic, streams: plans, slotCount: slotsByPath.count, valuePlan: valuePlan, format: format,
            envelopePlan: envelopeSlots.isEmpty
                ? nil : EnvelopePlan(slots: envelopeSlots, keyPlan: keyPlan, keyFormat: keyFormat))
    }

    /// How to read `leaves` (declared paths, their slots and specs) from messages in `format`. `declared` gives
    /// every declared field read in that format, for the first schema a registry topic meets.
    private static func plan(
        _ format: EventFormat, leaves: [(path: [String], slot: Int, field: FieldSpec)], schemas: (any RegistrySchemas)?,
        declared: () -> [FieldSpec]
    ) -> ValuePlan {
        switch format {
        case .json:
            let tree = FieldTree()
            for leaf in leaves {
                var node = tree
                for name in leaf.path { node = node.child(name) }
                node.slot = leaf.slot
            }
            return .json(tree)
        case .protobuf(let schema, let message):
            // A path the schema lacks (which the checker refuses) stays unfilled: its field reads as missing.
            let found = leaves.compactMap { leaf in
                (try? schema.resolve(leaf.path, in: message).get()).map {
                    ProtoPlan.Leaf(chain: $0[...], slot: leaf.slot, type: leaf.field.type)
                }
            }
            return .protobuf(ProtoPlan(schema: schema, leaves: found))
        case .avro(let schema):
            return .avro(
                AvroStep(
                    schema.root,
                    leaves: leaves.map { AvroStep.Leaf(path: $0.path[...], slot: $0.slot, type: $0.field.type) }))
        case .registry(let registry):
            return .registry(RegistryPlans(format: registry, source: schemas, leaves: leaves, declared: declared()))
        }
    }

    /// Reads a message (or key) with `plan` into the slots; the reason when it cannot be read.
    private static func scan(
        _ bytes: UnsafeBufferPointer<UInt8>, _ plan: ValuePlan, format: EventFormat,
        into raw: UnsafeMutableBufferPointer<RawJSONValue?>
    ) -> DecodeFailure? {
        switch plan {
        case .json(let tree):
            do throws(JSONSyntaxError) {
                try JSONScanner.scanObject(bytes, fields: tree, into: raw)
            } catch {
                return DecodeFailure(reason: "invalid JSON at byte \(error.offset): \(error.message)")
            }
        case .protobuf(let plan):
            do throws(BinaryDecodeError) {
                try ProtoScanner.scan(bytes, plan: plan, into: raw)
            } catch {
                return DecodeFailure(
                    reason: "invalid \(format.description) message at byte \(error.offset): \(error.message)")
            }
        case .avro(let step):
            do throws(BinaryDecodeError) {
                try AvroScanner.scan(bytes, step: step, into: raw)
            } catch {
                return DecodeFailure(
                    reason: "invalid \(format.description) datum at byte \(error.offset): \(error.message)")
            }
        case .registry(let plans):
            return scanRegistered(bytes, plans: plans, into: raw)
        }
        return nil
    }

    /// Whether any stream reads this topic.
    public var isEmpty: Bool { streams.isEmpty }

    /// Whether the topic is a table's (`table NAME from ...`): its null values delete rows (`decodeDeletion`).
    public var isTable: Bool { streams.count == 1 && streams[0].spec.isTable }

    /// Decodes a null message value (a tombstone) of a table's topic into a deletion of the row keyed by the
    /// message key: an entry of the table with the key field set, every other field null and one value more than
    /// the table has fields (what `Engine` tells a deletion by). Its time is the message timestamp. The key is
    /// the message key as text (an `int` key parsed from it), as producers of compacted topics write it.
    public func decodeDeletion(key: [UInt8]?, messageTimestamp: Int64?, into decoded: inout DecodedEvents)
        -> DecodeFailure?
    {
        guard isTable else { return .tombstone }
        let spec = streams[0].spec
        guard let key else { return DecodeFailure(reason: "a tombstone without a message key: no row to delete") }
        guard let timestamp = messageTimestamp else {
            return DecodeFailure(reason: "a tombstone without a message timestamp: no time to delete the row at")
        }
        let keyPath = spec.fields[spec.keyField].path
        if case .keyMember? = EnvelopeField(path: keyPath) {
            return DecodeFailure(reason: "a tombstone of a table keyed by a member of the message key is not read yet")
        }
        guard let text = String(validating: key, as: UTF8.self) else {
            return DecodeFailure(reason: "a tombstone whose message key is not UTF-8 text")
        }
        let value: Value
        switch spec.fields[spec.keyField].type {
        case .int:
            guard let number = Int64(text) else {
                return DecodeFailure(
                    reason: "a tombstone whose message key '\(text)' is not an integer (the table's key)")
            }
            value = .int(number)
        default: value = .string(text)
        }
        let count = spec.fields.count
        decoded.values.append(contentsOf: repeatElement(.null, count: count + 1))
        decoded.values[decoded.values.count - count - 1 + spec.keyField] = value
        decoded.entries.append(
            DecodedEvents.Entry(stream: Int32(streams[0].stream), fieldCount: Int32(count + 1), timestamp: timestamp))
        return nil
    }

    /// Decodes one message. `messageTimestamp` is the broker's timestamp, used by streams without a `time` field.
    public func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, origin: EventOrigin, sourceRank: Int32, messageTimestamp: Int64? = nil,
        envelope: MessageEnvelope? = nil
    ) -> Outcome {
        var decoded = DecodedEvents()
        if let failure = decode(bytes, messageTimestamp: messageTimestamp, envelope: envelope, into: &decoded) {
            return .failure(failure)
        }
        var cursor = DecodedEvents.Cursor()
        if decoded.count == 1 { return .event(decoded.next(&cursor, origin: origin, sourceRank: sourceRank)) }
        return .events((0..<decoded.count).map { _ in decoded.next(&cursor, origin: origin, sourceRank: sourceRank) })
    }

    /// Decodes one message into `decoded` without building `Event` objects: appends one entry per stream that
    /// accepts the message, or nothing and returns the failure for a malformed one. This lets one thread decode
    /// and another, the one that owns the events from then on, build them (see `DecodedEvents`).
    /// `envelope` fills the fields read from the Kafka message (`@key`, `@partition`, ...); without it they are
    /// absent.
    public func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, messageTimestamp: Int64? = nil, envelope: MessageEnvelope? = nil,
        into decoded: inout DecodedEvents
    ) -> DecodeFailure? {
        // The scanned members live on the stack for the duration of the call: no allocation per message for them.
        return withUnsafeTemporaryAllocation(of: RawJSONValue?.self, capacity: slotCount) { raw in
            raw.initialize(repeating: nil)
            defer { raw.deinitialize() }
            if let failure = Self.scan(bytes, valuePlan, format: format, into: raw) { return failure }
            if let envelopePlan, let envelope {
                if let keyPlan = envelopePlan.keyPlan, let key = envelope.key {
                    let failure = key.withUnsafeBufferPointer {
                        Self.scan($0, keyPlan, format: envelopePlan.keyFormat, into: raw)
                    }
                    if let failure { return DecodeFailure(reason: "the message key: " + failure.reason) }
                }
                for (slot, field) in envelopePlan.slots {
                    switch field {
                    case .key:
                        guard let key = envelope.key else { continue }
                        guard let text = String(validating: key, as: UTF8.self) else {
                            return DecodeFailure(reason: "field '@key': invalid UTF-8 in the message key")
                        }
                        raw[slot] = .string(text)
                    case .keyMember: break  // scanned above
                    case .timestamp: if let t = envelope.timestamp { raw[slot] = .integer(t) }
                    case .partition: raw[slot] = .integer(Int64(envelope.partition))
                    case .offset: raw[slot] = .integer(envelope.offset)
                    case .header(let name):
                        guard let header = envelope.headers[name] else { continue }  // absent
                        guard let value = header else {
                            raw[slot] = .null
                            continue
                        }
                        guard let text = String(validating: value, as: UTF8.self) else {
                            return DecodeFailure(reason: "field '@header.\(name)': invalid UTF-8 in the header")
                        }
                        raw[slot] = .string(text)
                    }
                }
            }
            let mark = decoded.mark
            if let failure = appendEvents(raw, messageTimestamp: messageTimestamp, into: &decoded) {
                decoded.rollBack(to: mark)
                return failure
            }
            return nil
        }
    }

    /// Reads a message in the Confluent wire format with the plan of its schema.
    private static func scanRegistered(
        _ bytes: UnsafeBufferPointer<UInt8>, plans: RegistryPlans, into raw: UnsafeMutableBufferPointer<RawJSONValue?>
    ) -> DecodeFailure? {
        let header: (id: Int32, indexes: [Int], start: Int)
        do throws(BinaryDecodeError) {
            header = try plans.header(bytes)
        } catch {
            return DecodeFailure(reason: error.message)
        }
        let plan: RegistryPlans.Plan
        do throws(RegistryLookupError) {
            plan = try plans.plan(id: header.id, indexes: header.indexes).plan
        } catch {
            switch error {
            case .unusable(let reason), .stopping(let reason): return DecodeFailure(reason: reason)
            }
        }
        let payload = UnsafeBufferPointer(rebasing: bytes[header.start...])
        do throws(BinaryDecodeError) {
            switch plan {
            case .protobuf(let proto): try ProtoScanner.scan(payload, plan: proto, into: raw)
            case .avro(let step): try AvroScanner.scan(payload, step: step, into: raw)
            case .unusable(let reason): return DecodeFailure(reason: reason)
            }
        } catch {
            let kind = if case .avro = plans.format { "Avro datum" } else { "protobuf message" }
            return DecodeFailure(
                reason:
                    "invalid \(kind) of schema id \(header.id) at byte \(header.start + error.offset): \(error.message)"
            )
        }
        return nil
    }

    /// For a topic whose messages carry schema ids: fetches the schema of this message if it is new (blocking
    /// while the registry is unreachable), so that decoding it needs no registry. Call it before `decode` where
    /// leaving a message unread is possible (a consumer that is stopping).
    public func prepare(_ bytes: UnsafeBufferPointer<UInt8>, key: [UInt8]? = nil) -> Readiness {
        if let key, let keyPlan = envelopePlan?.keyPlan {
            let ready = key.withUnsafeBufferPointer { Self.prepare($0, keyPlan) }
            guard ready == .ready else { return ready }
        }
        return Self.prepare(bytes, valuePlan)
    }

    private static func prepare(_ bytes: UnsafeBufferPointer<UInt8>, _ plan: ValuePlan) -> Readiness {
        guard case .registry(let plans) = plan, let header = try? plans.header(bytes) else { return .ready }
        do throws(RegistryLookupError) {
            if let problem = try plans.plan(id: header.id, indexes: header.indexes).firstProblem {
                return .firstSchemaMismatch(problem)
            }
            return .ready
        } catch {
            switch error {
            case .unusable: return .ready  // a dead letter when decoded
            case .stopping(let reason): return .stopping(reason)
            }
        }
    }

    private func appendEvents(
        _ raw: UnsafeMutableBufferPointer<RawJSONValue?>, messageTimestamp: Int64?, into decoded: inout DecodedEvents
    ) -> DecodeFailure? {
        for plan in streams {
            let first = decoded.values.count
            let count = plan.spec.fields.count
            decoded.values.append(contentsOf: repeatElement(.null, count: count))
            // The first field that does not fit; its message is only written if the stream keeps the event (when
            // streams share a topic, most lines lack most streams' fields: a message per line and stream cost
            // more than the decoding).
            var problem: (field: Int, slot: Int)?
            for (f, slot) in plan.slots.enumerated() {
                guard let slot else { continue }  // a field no pattern reads stays .null, unchecked
                if let value = Self.value(raw[slot], plan.spec.fields[f]) {
                    decoded.values[first + f] = value
                } else if problem == nil {
                    problem = (f, slot)
                }
            }
            if let filter = plan.filter {
                // Tested on the decoded values in place: no throwaway `Event` per candidate stream.
                let kept = decoded.values.withUnsafeMutableBufferPointer { all in
                    filter.holds(0, fields: UnsafeMutableBufferPointer(rebasing: all[first..<first + count]))
                }
                guard kept else {
                    decoded.values.removeLast(count)
                    continue
                }
            }
            if let problem {
                let failure = Self.failure(raw[problem.slot], plan.spec.fields[problem.field])
                return DecodeFailure(reason: Self.prefix(plan, streams.count) + failure)
            }
            let timestamp: Int64
            if let timeField = plan.spec.timeField {
                guard case .time(let t) = decoded.values[first + timeField] else {
                    return DecodeFailure(reason: Self.prefix(plan, streams.count) + "no event time")
                }
                timestamp = t
            } else if let messageTimestamp {
                timestamp = messageTimestamp
            } else {
                return DecodeFailure(
                    reason: Self.prefix(plan, streams.count)
                        + "the stream has no 'time' field and the input carries no message timestamp")
            }
            decoded.entries.append(
                DecodedEvents.Entry(stream: Int32(plan.stream), fieldCount: Int32(count), timestamp: timestamp))
        }
        return nil
    }

    private static func prefix(_ plan: StreamPlan, _ count: Int) -> String {
        count > 1 ? "stream '\(plan.spec.name)': " : ""
    }

    /// A scanned value (nil: the member is absent) as a declared field's value; nil when it does not fit
    /// (`failure` says why).
    @inline(__always)
    static func value(_ raw: RawJSONValue?, _ field: FieldSpec) -> Value? {
        guard let raw else { return field.isOptional ? .null : nil }
        switch (field.type, raw) {
        case (_, .null): return field.isOptional ? .null : nil
        case (.string, .string(let s)): return .string(s)
        case (.int, .integer(let i)): return .int(i)
        case (.float, .integer(let i)): return .float(Double(i))
        case (.float, .number(let d)): return .float(d)
        case (.bool, .bool(let b)): return .bool(b)
        case (.time, .integer(let ms)): return .time(ms)
        case (.time, .string(let text)): return RFC3339.parse(text).map { .time($0) }
        default: return nil
        }
    }

    /// Why `value(raw, field)` is nil: `field 'amount': expected float, got string`.
    static func failure(_ raw: RawJSONValue?, _ field: FieldSpec) -> String {
        let message: String
        switch raw {
        case nil: message = "missing"
        case .null: message = "null, but the field is not optional"
        case .string(let text) where field.type == .time: message = "'\(text)' is not an RFC 3339 time"
        case .number(let number)
        where (field.type == .int || field.type == .time) && number.isFinite
            && number.rounded() == number && Swift.abs(number) >= 9.2e18:
            message = "the integer is out of the 64-bit range (\(number))"
        case let raw?:
            let expected = field.type == .time ? "time (epoch milliseconds or RFC 3339)" : field.type.rawValue
            message = "expected \(expected), got \(describe(raw))"
        }
        return "field '\(field.dotted)': \(message)"
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
