import CEPCore
import Synchronization

/// The read plans of a topic in the Confluent wire format, one per writer schema (and Protobuf message) met,
/// built on first use from the registry's schema and the declared fields. Shared by the copies of a decoder.
final class RegistryPlans: Sendable {
    /// A plan, or why messages of that schema cannot become events (each is then a dead letter).
    enum Plan {
        case protobuf(ProtoPlan)
        case avro(AvroStep)
        case unusable(String)
    }

    private struct Key: Hashable {
        var id: Int32
        var indexes: [Int]
    }

    private struct State {
        var plans: [Key: Plan] = [:]
        /// The schemas met, by id (a Protobuf schema serves each of its messages).
        var schemas: [Int32: RegistrySchema] = [:]
        /// The problem of the first schema met, if it did not fit the declared fields.
        var first: String??
    }

    let format: RegistryFormat
    let source: (any RegistrySchemas)?
    /// The declared fields read from the value: path, slot, type, whether optional.
    let leaves: [(path: [String], slot: Int, field: FieldSpec)]
    /// Every declared value field of the topic's streams, read or not: the first schema must fit them all.
    let declared: [FieldSpec]
    private let state = Mutex(State())

    init(
        format: RegistryFormat, source: (any RegistrySchemas)?, leaves: [(path: [String], slot: Int, field: FieldSpec)],
        declared: [FieldSpec]
    ) {
        self.format = format
        self.source = source
        self.leaves = leaves
        self.declared = declared
    }

    /// What the message's header says: its schema id, for Protobuf its message indexes, and where its payload
    /// starts; or why it is not in the wire format.
    func header(_ bytes: UnsafeBufferPointer<UInt8>) throws(BinaryDecodeError) -> (
        id: Int32, indexes: [Int], start: Int
    ) {
        var reader = ByteReader(bytes)
        guard bytes.count >= 5 else {
            throw reader.error("not in the schema registry's wire format: \(bytes.count) bytes, a header needs 5")
        }
        guard bytes[0] == 0 else {
            throw reader.error(
                "not in the schema registry's wire format: the first byte is 0x\(String(bytes[0], radix: 16)), not 0 "
                    + "(a message written without a schema registry?)")
        }
        let id = Int32(
            bitPattern: UInt32(bytes[1]) << 24 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 8 | UInt32(bytes[4]))
        reader.index = 5
        guard case .protobuf = format else { return (id, [], 5) }
        // The message indexes: a zigzag count, then that many zigzag indexes; a count of 0 means [0] (the first
        // message of the file).
        let count = try reader.zigzag()
        guard (0...64).contains(count) else { throw reader.error("a message-index list of \(count) entries", at: 5) }
        // The common case (the file's first message) shares one array: no allocation per message.
        if count == 0 { return (id, Self.firstMessage, reader.index) }
        var indexes: [Int] = []
        for _ in 0..<count {
            let start = reader.index
            let index = try reader.zigzag()
            guard (0..<1_000_000).contains(index) else { throw reader.error("message index \(index)", at: start) }
            indexes.append(Int(index))
        }
        return (id, indexes, reader.index)
    }

    private static let firstMessage = [0]

    /// The plan for messages of schema `id` (and message `indexes`): looked up, or built after asking the registry
    /// (which may block while it is unreachable). `firstProblem` is set when this was the first schema the topic
    /// met and it does not fit the declared fields.
    func plan(id: Int32, indexes: [Int]) throws(RegistryLookupError) -> (plan: Plan, firstProblem: String?) {
        let key = Key(id: id, indexes: indexes)
        if let known = state.withLock({ $0.plans[key] }) { return (known, nil) }
        guard let source else {
            return (.unusable("schema id \(id): no schema registry is configured (--schema-registry)"), nil)
        }
        let schema: RegistrySchema
        if let known = state.withLock({ $0.schemas[id] }) {
            schema = known
        } else {
            schema = try source.schema(id: id)
            state.withLock { $0.schemas[id] = schema }
        }
        let plan = build(schema, id: id, indexes: indexes, fields: leaves)
        return state.withLock { state in
            if let known = state.plans[key] { return (known, nil) }
            state.plans[key] = plan
            guard state.first == nil else { return (plan, nil) }
            // The first schema must fit every declared field, read or not (later versions only those read).
            let all = build(
                schema, id: id, indexes: indexes,
                fields: declared.enumerated().map { ($0.element.path, $0.offset, $0.element) })
            if case .unusable(let problem) = all {
                state.first = .some(problem)
                return (plan, problem)
            }
            state.first = .some(nil)
            return (plan, nil)
        }
    }

    private func build(
        _ schema: RegistrySchema, id: Int32, indexes: [Int],
        fields leaves: [(path: [String], slot: Int, field: FieldSpec)]
    ) -> Plan {
        switch (schema, format) {
        case (.avro(let avro), .avro):
            // Avro's resolution: a reader field the writer lacks takes its default; a declared optional field's
            // default is null, a required one has none.
            let (found, problems) = Self.match(
                leaves, missing: "is not in the writer schema (and has no default: declare it optional)"
            ) { leaf in
                avro.resolve(leaf.path).map { chain in
                    (
                        chain.last!.type.accepts(leaf.field.type), chain.last!.type.description,
                        AvroStep.Leaf(path: leaf.path[...], slot: leaf.slot, type: leaf.field.type)
                    )
                }.mapError { problem in if case .missing = problem { nil } else { "\(problem)" } }
            }
            guard problems.isEmpty else {
                return .unusable("schema id \(id) (\(avro.root.name ?? "avro")): " + problems.joined(separator: "; "))
            }
            return .avro(AvroStep(avro.root, leaves: found))
        case (.protobuf(let proto, let messages), .protobuf(let expected)):
            var level = messages
            var name: String?
            for index in indexes {
                guard index < level.count else {
                    return .unusable("schema id \(id): no message at index path \(indexes)")
                }
                name = level[index].name
                level = level[index].nested
            }
            guard let message = name else { return .unusable("schema id \(id): an empty message-index path") }
            if let expected, expected != message {
                return .unusable("schema id \(id): the message is \(message), the stream reads \(expected)")
            }
            // Matched by name: a field the writer's message lacks is absent from every message.
            let (found, problems) = Self.match(leaves, missing: "is not in \(message)") { leaf in
                proto.resolve(leaf.path, in: message).map { chain in
                    (
                        chain.last!.accepts(leaf.field.type), chain.last!.typeDescription,
                        ProtoPlan.Leaf(chain: chain[...], slot: leaf.slot, type: leaf.field.type)
                    )
                }.mapError { problem in if case .missing = problem { nil } else { "\(problem)" } }
            }
            guard problems.isEmpty else {
                return .unusable("schema id \(id) (\(message)): " + problems.joined(separator: "; "))
            }
            return .protobuf(ProtoPlan(schema: proto, leaves: found))
        case (.avro, _):
            return .unusable("schema id \(id) is an Avro schema; the stream reads Protobuf")
        case (.protobuf, _):
            return .unusable("schema id \(id) is a Protobuf schema; the stream reads Avro")
        }
    }

    /// Looks each declared field up with `resolve` (the field's plan leaf, whether the schema's type can be read as
    /// the declared one and how to name it; or nil for a path the schema lacks, or another problem): the leaves, and
    /// what does not fit. A field the schema lacks is no problem when declared optional.
    private static func match<Leaf>(
        _ leaves: [(path: [String], slot: Int, field: FieldSpec)], missing: String,
        resolve: ((path: [String], slot: Int, field: FieldSpec)) -> Result<(Bool, String, Leaf), PathError>
    ) -> (found: [Leaf], problems: [String]) {
        var found: [Leaf] = []
        var problems: [String] = []
        for leaf in leaves {
            switch resolve(leaf) {
            case .success((true, _, let planned)): found.append(planned)
            case .success((false, let type, _)):
                problems.append("field '\(leaf.field.dotted)' is \(type), not readable as \(leaf.field.type.rawValue)")
            case .failure(let problem):
                if let text = problem.text {
                    problems.append("field '\(leaf.field.dotted)': \(text)")
                } else if !leaf.field.isOptional {
                    problems.append("field '\(leaf.field.dotted)' \(missing)")
                }
            }
        }
        return (found, problems)
    }

    /// A path problem: nil text for a field the schema lacks.
    struct PathError: Error, ExpressibleByNilLiteral, ExpressibleByStringInterpolation {
        var text: String?
        init(nilLiteral: ()) { text = nil }
        init(stringLiteral value: String) { text = value }
    }
}
