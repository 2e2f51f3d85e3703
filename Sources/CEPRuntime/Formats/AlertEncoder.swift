public import CEPCore

/// How a pattern's alerts are encoded in Kafka when not as JSON (`emit to "t" as avro "alert.avsc" { ... }`).
public enum AlertEncoding: Sendable, Hashable {
    /// One Avro binary datum of this writer schema (a record).
    case avro(AvroSchema)
    /// A Protocol Buffers message of this type.
    case protobuf(ProtoSchema, message: String)

    /// Whether an output field of static type `type` can be written to a schema field of this type (`nullable`:
    /// the value may be null). The checker's rule, and so what `AlertEncoder` can write.
    public static func avroAccepts(_ schema: AvroType, _ type: FieldType?, duration: Bool, nullable: Bool) -> Bool {
        if case .union(let branches) = schema {
            if nullable && !branches.contains(.null) { return false }
            return branches.contains { $0 != .null && avroAccepts($0, type, duration: duration, nullable: false) }
        }
        if nullable { return false }
        switch schema {
        case .string, .bytes: return type == .string
        case .long: return type == .int || type == .time || duration
        case .timestampMillis, .timestampMicros: return type == .time
        case .float, .double: return type == .float || type == .int
        case .boolean: return type == .bool
        default: return false
        }
    }

    /// The same for a Protocol Buffers field (a null value is left out, so any field may take one).
    public static func protobufAccepts(_ field: ProtoField, _ type: FieldType?, duration: Bool) -> Bool {
        guard !field.isRepeated else { return false }
        switch field.kind {
        case .string, .bytes: return type == .string
        case .int64, .sint64, .sfixed64: return type == .int || type == .time || duration
        case .double, .float: return type == .float || type == .int
        case .bool: return type == .bool
        case .message: return field.isTimestamp && type == .time
        default: return false
        }
    }
}

/// Writes alerts in Avro or Protocol Buffers: the output fields' values by name into the schema's fields.
struct AlertEncoder: Sendable {
    private enum Plan {
        /// Per field of the writer schema, in its order: its type and the output field that fills it (nil: null).
        case avro([(type: AvroType, value: Int?)])
        /// The output fields a message field takes, in output order.
        case protobuf([(field: ProtoField, value: Int)])
    }

    private let plan: Plan

    /// An encoder for output fields named `names` (their order is that of the values `encode` gets).
    init(_ encoding: AlertEncoding, names: [String]) {
        switch encoding {
        case .avro(let schema):
            guard case .record(let record) = schema.root else {
                plan = .avro([])
                return
            }
            plan = .avro(record.fields.map { field in (field.type, names.firstIndex(of: field.name)) })
        case .protobuf(let schema, let message):
            let fields = schema.message(message)?.fields ?? []
            plan = .protobuf(
                names.enumerated().compactMap { index, name in
                    fields.first { $0.name == name }.map { ($0, index) }
                })
        }
    }

    /// The alert's bytes.
    func encode(_ values: [Value]) -> [UInt8] {
        var out: [UInt8] = []
        switch plan {
        case .avro(let fields):
            for (type, index) in fields { Self.avro(index.map { values[$0] } ?? .null, as: type, into: &out) }
        case .protobuf(let fields):
            for (field, index) in fields { Self.protobuf(values[index], as: field, into: &out) }
        }
        return out
    }

    // MARK: Avro

    private static func avro(_ value: Value, as type: AvroType, into out: inout [UInt8]) {
        if case .union(let branches) = type {
            let index =
                value.isNull
                ? branches.firstIndex(of: .null) ?? 0
                : branches.firstIndex { $0 != .null && fits(value, $0) } ?? branches.firstIndex { $0 != .null } ?? 0
            zigzag(Int64(index), into: &out)
            avro(value, as: branches[index], into: &out)
            return
        }
        // A value the checker let through is of a fitting type; a null where none may be (arithmetic past 64 bits
        // at run time) is written as the type's zero.
        switch type {
        case .null: return
        case .boolean: out.append(value == .bool(true) ? 1 : 0)
        case .int, .long: zigzag(integer(value), into: &out)
        case .timestampMillis: zigzag(integer(value), into: &out)
        case .timestampMicros:
            let (micros, overflow) = integer(value).multipliedReportingOverflow(by: 1000)
            zigzag(overflow ? (integer(value) < 0 ? Int64.min : Int64.max) : micros, into: &out)
        case .float: littleEndian(UInt64(Float(real(value)).bitPattern), bytes: 4, into: &out)
        case .double: littleEndian(real(value).bitPattern, bytes: 8, into: &out)
        case .string, .bytes:
            let text = if case .string(let s) = value { s } else { "" }
            zigzag(Int64(text.utf8.count), into: &out)
            out.append(contentsOf: text.utf8)
        case .record, .enumeration, .array, .map, .union, .fixed:
            // Not writable from an output field (the checker refuses it); an empty value keeps the datum readable
            // only for types that have one.
            return
        }
    }

    private static func fits(_ value: Value, _ type: AvroType) -> Bool {
        switch (value, type) {
        case (.string, .string), (.string, .bytes), (.bool, .boolean): return true
        case (.int, .long), (.int, .float), (.int, .double), (.float, .float), (.float, .double): return true
        case (.time, .long), (.time, .timestampMillis), (.time, .timestampMicros), (.duration, .long): return true
        default: return false
        }
    }

    private static func integer(_ value: Value) -> Int64 {
        switch value {
        case .int(let i), .time(let i), .duration(let i): return i
        case .float(let d): return d.isFinite ? Int64(exactly: d.rounded(.towardZero)) ?? 0 : 0
        default: return 0
        }
    }

    private static func real(_ value: Value) -> Double {
        switch value {
        case .float(let d): return d
        case .int(let i), .time(let i), .duration(let i): return Double(i)
        default: return 0
        }
    }

    private static func zigzag(_ value: Int64, into out: inout [UInt8]) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)), into: &out)
    }

    private static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func littleEndian(_ value: UInt64, bytes: Int, into out: inout [UInt8]) {
        for k in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
    }

    // MARK: Protocol Buffers

    private static func protobuf(_ value: Value, as field: ProtoField, into out: inout [UInt8]) {
        if value.isNull { return }  // absent: proto3 reads the default, fields with presence read as unset
        let number = UInt64(field.number)
        switch field.kind {
        case .string, .bytes:
            guard case .string(let text) = value else { return }
            varint(number << 3 | 2, into: &out)
            varint(UInt64(text.utf8.count), into: &out)
            out.append(contentsOf: text.utf8)
        case .int64:
            varint(number << 3, into: &out)
            varint(UInt64(bitPattern: integer(value)), into: &out)
        case .sint64:
            varint(number << 3, into: &out)
            zigzag(integer(value), into: &out)
        case .sfixed64:
            varint(number << 3 | 1, into: &out)
            littleEndian(UInt64(bitPattern: integer(value)), bytes: 8, into: &out)
        case .double:
            varint(number << 3 | 1, into: &out)
            littleEndian(real(value).bitPattern, bytes: 8, into: &out)
        case .float:
            varint(number << 3 | 5, into: &out)
            littleEndian(UInt64(Float(real(value)).bitPattern), bytes: 4, into: &out)
        case .bool:
            varint(number << 3, into: &out)
            out.append(value == .bool(true) ? 1 : 0)
        case .message where field.isTimestamp:
            // seconds and nanos, the seconds rounded down (a time before 1970 has positive nanos).
            let (quotient, remainder) = integer(value).quotientAndRemainder(dividingBy: 1000)
            let seconds = remainder < 0 ? quotient - 1 : quotient
            let nanos = (remainder < 0 ? remainder + 1000 : remainder) * 1_000_000
            var inner: [UInt8] = []
            if seconds != 0 {
                varint(1 << 3, into: &inner)
                varint(UInt64(bitPattern: seconds), into: &inner)
            }
            if nanos != 0 {
                varint(2 << 3, into: &inner)
                varint(UInt64(nanos), into: &inner)
            }
            varint(number << 3 | 2, into: &out)
            varint(UInt64(inner.count), into: &out)
            out.append(contentsOf: inner)
        default:
            return  // refused by the checker
        }
    }
}
