public import CEPCore

/// The messages and enums of a Protocol Buffers descriptor set, as much of them as decoding needs. Built from a
/// `FileDescriptorSet` (`protoc --include_imports --descriptor_set_out=...`) by `CEPSchemas`.
public struct ProtoSchema: Sendable, Hashable {
    /// Every message of every file, sorted by full name.
    public var messages: [ProtoMessage]
    /// Every enum of every file, sorted by full name.
    public var enums: [ProtoEnum]

    /// A schema of these messages and enums.
    public init(messages: [ProtoMessage], enums: [ProtoEnum]) {
        self.messages = messages.sorted { $0.fullName < $1.fullName }
        self.enums = enums.sorted { $0.fullName < $1.fullName }
    }

    /// The message of this full name (`fraud.v1.Login`, no leading dot).
    public func message(_ fullName: String) -> ProtoMessage? {
        messages.first { $0.fullName == fullName }
    }

    /// The enum of this full name.
    public func enumeration(_ fullName: String) -> ProtoEnum? {
        enums.first { $0.fullName == fullName }
    }

    /// The chain of fields a declared path names in `message`, from the outermost to the leaf, or why it names
    /// none. The leaf is a scalar, an enum or a `google.protobuf.Timestamp`.
    public func resolve(_ path: [String], in message: String) -> Result<[ProtoField], ProtoPathProblem> {
        var chain: [ProtoField] = []
        var current = message
        for (depth, name) in path.enumerated() {
            guard let container = self.message(current) else {
                return .failure(.notAMessage(prefix: chain.map(\.name)))
            }
            guard let field = container.fields.first(where: { $0.name == name }) else {
                return .failure(
                    .missing(
                        prefix: chain.map(\.name), name: name, message: current, available: container.fields.map(\.name)
                    ))
            }
            chain.append(field)
            if field.isRepeated { return .failure(.repeated(path: chain.map(\.name))) }
            let isLast = depth == path.count - 1
            if field.kind == .message && !field.isTimestamp {
                guard self.message(field.typeName) != nil else {
                    return .failure(.typeMissing(path: chain.map(\.name), type: field.typeName))
                }
                if isLast {
                    let members = self.message(field.typeName)?.fields.map(\.name) ?? []
                    return .failure(.isMessage(path: chain.map(\.name), members: members))
                }
                current = field.typeName
            } else if !isLast {
                return .failure(.notAMessage(prefix: chain.map(\.name)))
            }
        }
        return .success(chain)
    }
}

/// Why a declared path names no field of a Protocol Buffers message.
public enum ProtoPathProblem: Sendable, Hashable, Error {
    /// `message` (reached through `prefix`) has no field `name`; its fields are `available`.
    case missing(prefix: [String], name: String, message: String, available: [String])
    /// The path goes on past a field that is not a message.
    case notAMessage(prefix: [String])
    /// The path ends at a message (other than a Timestamp): its members are `members`.
    case isMessage(path: [String], members: [String])
    /// The path reaches a repeated field (or a map): an event field is one value.
    case repeated(path: [String])
    /// The path goes through a message whose type the descriptor set lacks (written without --include_imports).
    case typeMissing(path: [String], type: String)
}

/// A message type.
public struct ProtoMessage: Sendable, Hashable {
    /// The full name, e.g. `fraud.v1.Login`.
    public var fullName: String
    /// Its fields, in declaration order.
    public var fields: [ProtoField]

    /// A message type.
    public init(fullName: String, fields: [ProtoField]) {
        self.fullName = fullName
        self.fields = fields
    }
}

/// A field of a message type.
public struct ProtoField: Sendable, Hashable {
    /// The field's name in the `.proto` file.
    public var name: String
    /// Its number on the wire.
    public var number: Int32
    /// Its type.
    public var kind: ProtoFieldKind
    /// For messages and enums, the type's full name (no leading dot); empty otherwise.
    public var typeName: String
    /// Whether it is `repeated` (maps are repeated entries).
    public var isRepeated: Bool
    /// Whether its absence is visible (proto2 `optional`, proto3 `optional`, messages, oneof members); without
    /// presence an absent field reads as its type's default (0, "", false, the first enum value).
    public var hasPresence: Bool

    /// A field.
    public init(
        name: String, number: Int32, kind: ProtoFieldKind, typeName: String, isRepeated: Bool, hasPresence: Bool
    ) {
        self.name = name
        self.number = number
        self.kind = kind
        self.typeName = typeName
        self.isRepeated = isRepeated
        self.hasPresence = hasPresence
    }

    /// Whether it is a `google.protobuf.Timestamp`: read as a time.
    public var isTimestamp: Bool { kind == .message && typeName == "google.protobuf.Timestamp" }

    /// Whether a field declared with `type` can be read from it.
    public func accepts(_ type: FieldType) -> Bool {
        switch type {
        case .string: return kind == .string || kind == .bytes || kind == .enumeration
        case .int: return kind.isInteger || kind == .enumeration
        case .float: return kind.isInteger || kind == .float || kind == .double
        case .bool: return kind == .bool
        case .time: return isTimestamp || kind.isInteger || kind == .string
        }
    }

    /// How the checker names its type: `int64`, `string`, `fraud.v1.Kind`, `google.protobuf.Timestamp`.
    public var typeDescription: String { typeName.isEmpty ? kind.rawValue : typeName }
}

/// The scalar types of Protocol Buffers, and messages, enums and groups.
public enum ProtoFieldKind: String, Sendable, Hashable {
    case double, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message, bytes, uint32
    case enumeration = "enum"
    case sfixed32, sfixed64, sint32, sint64

    /// The integer kinds (each read as a 64-bit integer).
    public var isInteger: Bool {
        switch self {
        case .int64, .uint64, .int32, .fixed64, .fixed32, .uint32, .sfixed32, .sfixed64, .sint32, .sint64: return true
        default: return false
        }
    }

    /// The wire type a value of this kind is written with.
    var wireType: UInt64 {
        switch self {
        case .int64, .uint64, .int32, .uint32, .bool, .enumeration, .sint32, .sint64: return 0
        case .double, .fixed64, .sfixed64: return 1
        case .string, .bytes, .message: return 2
        case .group: return 3
        case .float, .fixed32, .sfixed32: return 5
        }
    }
}

/// An enum type.
public struct ProtoEnum: Sendable, Hashable {
    /// The full name, e.g. `fraud.v1.Channel`.
    public var fullName: String
    /// Its values' names and numbers, in declaration order (the first is the default).
    public var values: [ProtoEnumValue]

    /// An enum type.
    public init(fullName: String, values: [ProtoEnumValue]) {
        self.fullName = fullName
        self.values = values
    }
}

/// A value of an enum type.
public struct ProtoEnumValue: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its number.
    public var number: Int32

    /// An enum value.
    public init(name: String, number: Int32) {
        self.name = name
        self.number = number
    }
}
