import CEPCore

/// What a decoder reads from one Protocol Buffers message type: the fields some stream declared, by number, each
/// filling a slot or leading into a nested message; other fields are skipped by wire type without being read.
///
/// The entries are plain values (no references, no strings): looking one up per field on the wire costs no
/// reference counting. Names, enum tables and nested plans sit beside them, reached only when needed.
// @unchecked: immutable once built (nested plans are filled in while building, never after).
final class ProtoPlan: @unchecked Sendable {
    struct Entry {
        var number: UInt64
        var kind: ProtoFieldKind
        /// The slot a scalar, enum or Timestamp fills; -1 for a nested message.
        var slot: Int
        /// For a nested message, its plan in `children`; -1 otherwise.
        var child: Int
        /// For an enum read as its value's name, its table in `enumNames`; -1 otherwise.
        var names: Int
        var isTimestamp: Bool
    }

    /// The declared fields of this message, by field number.
    private(set) var entries: [Entry] = []
    /// Each entry's field name, for messages.
    private(set) var names: [String] = []
    private(set) var children: [ProtoPlan] = []
    private(set) var enumNames: [[Int32: String]] = []
    /// What fields without presence read when the message lacks them (proto3's defaults).
    private(set) var defaults: [(slot: Int, value: RawJSONValue)] = []

    /// A declared field to read: its chain of fields from this message down, its slot and its declared type.
    struct Leaf {
        var chain: ArraySlice<ProtoField>
        var slot: Int
        var type: FieldType
    }

    init(schema: ProtoSchema, leaves: [Leaf]) {
        var nested: [Int32: (field: ProtoField, leaves: [Leaf])] = [:]
        var order: [Int32] = []
        for leaf in leaves {
            let field = leaf.chain[leaf.chain.startIndex]
            if leaf.chain.count > 1 {
                if nested[field.number] == nil { order.append(field.number) }
                nested[field.number, default: (field, [])].leaves.append(
                    Leaf(chain: leaf.chain.dropFirst(), slot: leaf.slot, type: leaf.type))
                continue
            }
            var names = -1
            let enumeration = field.kind == .enumeration ? schema.enumeration(field.typeName) : nil
            if let enumeration, leaf.type == .string {
                names = enumNames.count
                enumNames.append(
                    Dictionary(enumeration.values.map { ($0.number, $0.name) }, uniquingKeysWith: { first, _ in first })
                )
            }
            add(
                Entry(
                    number: UInt64(field.number), kind: field.kind, slot: leaf.slot, child: -1, names: names,
                    isTimestamp: field.isTimestamp), name: field.name)
            if !field.hasPresence {
                defaults.append(
                    (leaf.slot, Self.defaultValue(field.kind, enumeration: enumeration, asName: names >= 0)))
            }
        }
        for number in order {
            let (field, leaves) = nested[number]!
            add(
                Entry(
                    number: UInt64(number), kind: .message, slot: -1, child: children.count, names: -1,
                    isTimestamp: false),
                name: field.name)
            children.append(ProtoPlan(schema: schema, leaves: leaves))
        }
    }

    private func add(_ entry: Entry, name: String) {
        entries.append(entry)
        names.append(name)
    }

    private static func defaultValue(_ kind: ProtoFieldKind, enumeration: ProtoEnum?, asName: Bool) -> RawJSONValue {
        switch kind {
        case .bool: return .bool(false)
        case .string, .bytes: return .string("")
        case .float, .double: return .number(0)
        case .enumeration:
            // proto3's default is the value numbered 0 (which comes first); proto2's the first declared.
            let first = enumeration?.values.first { $0.number == 0 } ?? enumeration?.values.first
            if asName, let first { return .string(first.name) }
            return .integer(Int64(first?.number ?? 0))
        default: return .integer(0)
        }
    }

    /// The index of the entry for field `number`, or -1.
    @inline(__always)
    func entry(_ number: UInt64) -> Int {
        entries.withUnsafeBufferPointer { entries in
            for i in entries.indices where entries[i].number == number { return i }
            return -1
        }
    }
}

/// Reads a Protocol Buffers message into a decoder's slots, following a `ProtoPlan`. Every byte of the message is
/// walked (a truncated or corrupt message is always reported), but only planned fields are converted.
enum ProtoScanner {
    /// Nesting limit for groups skipped and messages read.
    private static let maxDepth = 64

    static func scan(
        _ bytes: UnsafeBufferPointer<UInt8>, plan: ProtoPlan, into slots: UnsafeMutableBufferPointer<RawJSONValue?>
    ) throws(BinaryDecodeError) {
        var reader = ByteReader(bytes)
        try message(&reader, plan: plan, into: slots, depth: 0)
    }

    private static func message(
        _ reader: inout ByteReader, plan: ProtoPlan, into slots: UnsafeMutableBufferPointer<RawJSONValue?>, depth: Int
    ) throws(BinaryDecodeError) {
        while !reader.isAtEnd {
            let tagStart = reader.index
            let tag = try reader.varint()
            let number = tag >> 3
            let wire = tag & 7
            guard number != 0, number <= 536_870_911 else {
                throw reader.error(
                    "field number \(number) is out of range (a corrupt or non-protobuf message)", at: tagStart)
            }
            let index = plan.entry(number)
            guard index >= 0 else {
                try skip(&reader, wire: wire, number: number, depth: depth, tagStart: tagStart)
                continue
            }
            let entry = plan.entries[index]
            guard wire == entry.kind.wireType else {
                let expected =
                    entry.isTimestamp
                    ? "google.protobuf.Timestamp" : entry.kind == .message ? "a message" : entry.kind.rawValue
                throw reader.error(
                    "field '\(plan.names[index])' (\(number)) has wire type \(wire), not that of \(expected) (the message was written with another schema?)",
                    at: tagStart)
            }
            if entry.isTimestamp {
                slots[entry.slot] = .integer(try timestamp(&reader, plan: plan, index: index))
            } else if entry.child >= 0 {
                guard depth < maxDepth else { throw reader.error("messages nested deeper than \(maxDepth)") }
                let length = try reader.lengthPrefix()
                let outer = reader.end
                reader.end = reader.index + length
                try message(&reader, plan: plan.children[entry.child], into: slots, depth: depth + 1)
                reader.end = outer
            } else {
                slots[entry.slot] = try scalar(&reader, entry, plan: plan, index: index)
            }
        }
        for (slot, value) in plan.defaults where slots[slot] == nil { slots[slot] = value }
    }

    @inline(__always)
    private static func scalar(
        _ reader: inout ByteReader, _ entry: ProtoPlan.Entry, plan: ProtoPlan, index: Int
    ) throws(BinaryDecodeError) -> RawJSONValue {
        switch entry.kind {
        case .int64: return .integer(Int64(bitPattern: try reader.varint()))
        case .int32: return .integer(Int64(Int32(truncatingIfNeeded: try reader.varint())))
        case .uint32: return .integer(Int64(UInt32(truncatingIfNeeded: try reader.varint())))
        case .uint64: return unsigned(try reader.varint())
        case .sint64: return .integer(try reader.zigzag())
        case .sint32: return .integer(Int64(Int32(truncatingIfNeeded: try reader.zigzag())))
        case .bool: return .bool(try reader.varint() != 0)
        case .enumeration:
            let number = Int32(truncatingIfNeeded: try reader.varint())
            guard entry.names >= 0 else { return .integer(Int64(number)) }
            guard let name = plan.enumNames[entry.names][number] else {
                throw reader.error("field '\(plan.names[index])': enum value \(number) has no name in the schema")
            }
            return .string(name)
        case .fixed32: return .integer(Int64(try reader.fixed32()))
        case .sfixed32: return .integer(Int64(Int32(bitPattern: try reader.fixed32())))
        case .float: return .number(Double(Float(bitPattern: try reader.fixed32())))
        case .fixed64: return unsigned(try reader.fixed64())
        case .sfixed64: return .integer(Int64(bitPattern: try reader.fixed64()))
        case .double: return .number(Double(bitPattern: try reader.fixed64()))
        case .string, .bytes:
            let count = try reader.lengthPrefix()
            let start = reader.index
            guard let text = try reader.text(count) else {
                throw reader.error("field '\(plan.names[index])': invalid UTF-8", at: start)
            }
            return .string(text)
        case .message, .group:
            preconditionFailure("planned as a message, not a scalar")
        }
    }

    /// A uint64 beyond Int64's range reads as a float, which a declared `int` refuses (out of range).
    private static func unsigned(_ value: UInt64) -> RawJSONValue {
        value <= UInt64(Int64.max) ? .integer(Int64(value)) : .number(Double(value))
    }

    /// A `google.protobuf.Timestamp` (seconds = 1, nanos = 2) as epoch milliseconds.
    private static func timestamp(_ reader: inout ByteReader, plan: ProtoPlan, index: Int) throws(BinaryDecodeError)
        -> Int64
    {
        var seconds: Int64 = 0
        var nanos: Int64 = 0
        let length = try reader.lengthPrefix()
        let outer = reader.end
        reader.end = reader.index + length
        while !reader.isAtEnd {
            let tagStart = reader.index
            let tag = try reader.varint()
            switch (tag >> 3, tag & 7) {
            case (1, 0): seconds = Int64(bitPattern: try reader.varint())
            case (2, 0): nanos = Int64(Int32(truncatingIfNeeded: try reader.varint()))
            case (let number, let wire): try skip(&reader, wire: wire, number: number, depth: 1, tagStart: tagStart)
            }
        }
        reader.end = outer
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let (sum, overflowSum) = ms.addingReportingOverflow(nanos / 1_000_000)
        guard !overflow, !overflowSum, (0..<1_000_000_000).contains(nanos) else {
            throw reader.error("field '\(plan.names[index])': Timestamp \(seconds) s \(nanos) ns is out of range")
        }
        return sum
    }

    /// Skips a field no stream reads.
    private static func skip(
        _ reader: inout ByteReader, wire: UInt64, number: UInt64, depth: Int, tagStart: Int
    ) throws(BinaryDecodeError) {
        switch wire {
        case 0: _ = try reader.varint()
        case 1: try reader.skip(8)
        case 2: try reader.skip(try reader.lengthPrefix())
        case 3:
            // A group (proto2): fields up to the matching end-group tag.
            guard depth < maxDepth else { throw reader.error("groups nested deeper than \(maxDepth)") }
            while true {
                guard !reader.isAtEnd else { throw reader.error("truncated: group \(number) has no end", at: tagStart) }
                let innerStart = reader.index
                let tag = try reader.varint()
                if tag & 7 == 4 {
                    guard tag >> 3 == number else {
                        throw reader.error("end of group \(tag >> 3) inside group \(number)", at: innerStart)
                    }
                    return
                }
                try skip(&reader, wire: tag & 7, number: tag >> 3, depth: depth + 1, tagStart: innerStart)
            }
        case 5: try reader.skip(4)
        default:
            throw reader.error(
                wire == 4
                    ? "an end-group tag without its group"
                    : "invalid wire type \(wire) (a corrupt or non-protobuf message)", at: tagStart)
        }
    }
}
