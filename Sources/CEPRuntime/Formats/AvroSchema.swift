public import CEPCore

/// An Avro writer schema: the type of each message's one datum (a record). Parsed from an `.avsc` file (or a
/// registry's answer) by `CEPSchemas`.
public struct AvroSchema: Sendable, Hashable {
    /// The datum's type.
    public var root: AvroType

    /// A schema whose datum has type `root`.
    public init(root: AvroType) {
        self.root = root
    }

    /// The chain of record fields a declared path names, from the outermost to the leaf (the leaf's type may be
    /// a union with null), or why it names none.
    public func resolve(_ path: [String]) -> Result<[AvroRecordField], AvroPathProblem> {
        var chain: [AvroRecordField] = []
        var current = root
        for name in path {
            guard case .record(let record) = current.nonNull else {
                return .failure(.notARecord(prefix: chain.map(\.name), type: current.description))
            }
            guard let field = record.field(named: name) else {
                return .failure(
                    .missing(
                        prefix: chain.map(\.name), name: name, record: record.name, available: record.fields.map(\.name)
                    ))
            }
            chain.append(field)
            current = field.type
        }
        if case .record(let record) = current.nonNull {
            return .failure(.isRecord(path: chain.map(\.name), members: record.fields.map(\.name)))
        }
        return .success(chain)
    }
}

/// Why a declared path names no field of an Avro record.
public enum AvroPathProblem: Sendable, Hashable, Error {
    /// `record` (reached through `prefix`) has no field `name`; its fields are `available`.
    case missing(prefix: [String], name: String, record: String, available: [String])
    /// The path goes on past a field that is not a record (`type`).
    case notARecord(prefix: [String], type: String)
    /// The path ends at a record: its members are `members`.
    case isRecord(path: [String], members: [String])
}

/// An Avro type. Logical types the decoder converts (`timestamp-millis`, `timestamp-micros` and their `local-`
/// forms) are cases of their own; other logical types read as their underlying type.
public indirect enum AvroType: Sendable, Hashable {
    case null, boolean, int, long, float, double, bytes, string
    /// A long of epoch milliseconds.
    case timestampMillis
    /// A long of epoch microseconds.
    case timestampMicros
    case record(AvroRecord)
    case enumeration(name: String, symbols: [String])
    case array(AvroType)
    case map(AvroType)
    case union([AvroType])
    case fixed(name: String, size: Int)

    /// The type without a union's null branch when one other branch remains (`["null", "string"]` is a string
    /// that may be null); itself otherwise.
    public var nonNull: AvroType {
        guard case .union(let branches) = self else { return self }
        let others = branches.filter { $0 != .null }
        return others.count == 1 ? others[0] : self
    }

    /// The name of a named type (record, enum, fixed).
    public var name: String? {
        switch self {
        case .record(let record): return record.name
        case .enumeration(let name, _), .fixed(let name, _): return name
        default: return nil
        }
    }

    /// The type's kind as Avro spells it: `record`, `long`, `union`, ...
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .boolean: return "boolean"
        case .int: return "int"
        case .long: return "long"
        case .float: return "float"
        case .double: return "double"
        case .bytes: return "bytes"
        case .string: return "string"
        case .timestampMillis: return "timestamp-millis"
        case .timestampMicros: return "timestamp-micros"
        case .record: return "record"
        case .enumeration: return "enum"
        case .array: return "array"
        case .map: return "map"
        case .union: return "union"
        case .fixed: return "fixed"
        }
    }

    /// How messages name it: `long`, `["null","string"]`, `record payments.Payment`.
    public var description: String {
        switch self {
        case .union(let branches): return "[" + branches.map(\.description).joined(separator: ",") + "]"
        case .array(let items): return "array<\(items.description)>"
        case .map(let values): return "map<\(values.description)>"
        default: return name.map { "\(kindName) \($0)" } ?? kindName
        }
    }

    /// Whether a field declared with `type` can be read from a value of this type (every branch of a union but
    /// null: a null reads as an absent value).
    public func accepts(_ type: FieldType) -> Bool {
        switch self {
        case .union(let branches):
            let others = branches.filter { $0 != .null }
            return !others.isEmpty && others.allSatisfy { $0.accepts(type) }
        case .string, .bytes: return type == .string || type == .time
        case .enumeration: return type == .string
        case .int, .long: return type == .int || type == .float || type == .time
        case .float, .double: return type == .float
        case .boolean: return type == .bool
        case .timestampMillis, .timestampMicros: return type == .time
        default: return false
        }
    }
}

/// A record type.
public struct AvroRecord: Sendable, Hashable {
    /// The full name, e.g. `payments.Payment`.
    public var name: String
    /// Its fields, in the writer's order.
    public var fields: [AvroRecordField]

    /// A record type.
    public init(name: String, fields: [AvroRecordField]) {
        self.name = name
        self.fields = fields
    }

    /// The field a reader's name matches (by name: aliases belong to reader schemas, and declared fields have none).
    public func field(named name: String) -> AvroRecordField? {
        fields.first { $0.name == name }
    }
}

/// A field of a record type.
public struct AvroRecordField: Sendable, Hashable {
    /// The field's name.
    public var name: String
    /// Its type.
    public var type: AvroType

    /// A field.
    public init(name: String, type: AvroType) {
        self.name = name
        self.type = type
    }
}
