import CEPCore

/// What a decoder does with each part of an Avro datum, in the writer's order: Avro binary has no field tags, so
/// every value is walked, but only declared fields are converted; the rest are skipped by their encoded sizes.
indirect enum AvroStep {
    /// A value no stream reads.
    case skip(AvroType)
    /// A scalar into `slot` (a union's null branch reads as null).
    case read(slot: Int, AvroType)
    /// A record with declared fields: one step per writer field.
    case record([AvroStep])
    /// A union with declared fields inside: one step per branch.
    case union([AvroStep])

    /// A declared field below this point: its path from here, slot and declared type.
    struct Leaf {
        var path: ArraySlice<String>
        var slot: Int
        var type: FieldType
    }

    /// The steps for a value of `type` that fill `leaves`.
    init(_ type: AvroType, leaves: [Leaf]) {
        guard !leaves.isEmpty else {
            self = .skip(type)
            return
        }
        switch type {
        case .record(let record):
            self = .record(
                record.fields.map { field in
                    AvroStep(
                        field.type,
                        leaves: leaves.filter { $0.path.first == field.name }.map {
                            Leaf(path: $0.path.dropFirst(), slot: $0.slot, type: $0.type)
                        })
                })
        case .union(let branches):
            self = .union(branches.map { AvroStep($0, leaves: leaves) })
        default:
            // A scalar: the checker has made sure the path ends here (several streams may read it).
            if let leaf = leaves.first(where: { $0.path.isEmpty }) {
                self = .read(slot: leaf.slot, type)
            } else {
                self = .skip(type)
            }
        }
    }
}

/// Reads one Avro binary datum into a decoder's slots, following `AvroStep`s built from the writer schema.
enum AvroScanner {
    /// Nesting limit for values skipped and read (schemas are not recursive, so this bounds only hostile schemas).
    private static let maxDepth = 64

    static func scan(
        _ bytes: UnsafeBufferPointer<UInt8>, step: AvroStep, into slots: UnsafeMutableBufferPointer<RawJSONValue?>
    ) throws(BinaryDecodeError) {
        var reader = ByteReader(bytes)
        // (A record of no fields is empty, but an event has a key.)
        guard !bytes.isEmpty else { throw reader.error("an empty message") }
        try run(step, &reader, slots, depth: 0)
        guard reader.isAtEnd else {
            throw reader.error("\(reader.remaining) bytes after the datum (a message of another schema?)")
        }
    }

    private static func run(
        _ step: AvroStep, _ reader: inout ByteReader, _ slots: UnsafeMutableBufferPointer<RawJSONValue?>, depth: Int
    ) throws(BinaryDecodeError) {
        switch step {
        case .skip(let type): try skip(type, &reader, depth: depth)
        case .read(let slot, let type): slots[slot] = try read(type, &reader, depth: depth)
        case .record(let fields):
            for field in fields { try run(field, &reader, slots, depth: depth + 1) }
        case .union(let branches):
            try run(branches[try branch(&reader, of: branches.count)], &reader, slots, depth: depth + 1)
        }
    }

    /// The branch index that starts a union's value.
    @inline(__always)
    private static func branch(_ reader: inout ByteReader, of count: Int) throws(BinaryDecodeError) -> Int {
        let start = reader.index
        let index = try reader.zigzag()
        guard index >= 0, index < Int64(count) else {
            throw reader.error("union branch \(index) of \(count)", at: start)
        }
        return Int(index)
    }

    @inline(__always)
    private static func length(_ reader: inout ByteReader) throws(BinaryDecodeError) -> Int {
        let start = reader.index
        let length = try reader.zigzag()
        guard length >= 0, length <= Int64(reader.remaining) else {
            throw reader.error(
                length < 0
                    ? "negative length \(length)" : "truncated: \(length) bytes announced, \(reader.remaining) left",
                at: start)
        }
        return Int(length)
    }

    private static func read(_ type: AvroType, _ reader: inout ByteReader, depth: Int) throws(BinaryDecodeError)
        -> RawJSONValue
    {
        switch type {
        case .null: return .null
        case .boolean:
            let start = reader.index
            let byte = try reader.take(1)[0]
            guard byte <= 1 else { throw reader.error("a boolean byte of \(byte)", at: start) }
            return .bool(byte == 1)
        case .int:
            let start = reader.index
            let value = try reader.zigzag()
            guard Int32(exactly: value) != nil else { throw reader.error("an int out of the 32-bit range", at: start) }
            return .integer(value)
        case .long, .timestampMillis: return .integer(try reader.zigzag())
        case .timestampMicros:
            // Floor division: a time before 1970 rounds down to its millisecond, as Java's Instant does (and without
            // `micros - 999`, which overflows at the smallest long: found by the fuzzer).
            let (quotient, remainder) = try reader.zigzag().quotientAndRemainder(dividingBy: 1000)
            return .integer(remainder < 0 ? quotient - 1 : quotient)
        case .float: return .number(Double(Float(bitPattern: try reader.fixed32())))
        case .double: return .number(Double(bitPattern: try reader.fixed64()))
        case .string, .bytes:
            let count = try length(&reader)
            let start = reader.index
            guard let text = try reader.text(count) else {
                throw reader.error("a string: invalid UTF-8", at: start)
            }
            return .string(text)
        case .enumeration(_, let symbols):
            let start = reader.index
            let index = try reader.zigzag()
            guard index >= 0, index < Int64(symbols.count) else {
                throw reader.error("enum symbol \(index) of \(symbols.count)", at: start)
            }
            return .string(symbols[Int(index)])
        case .union(let branches):
            return try read(branches[try branch(&reader, of: branches.count)], &reader, depth: depth + 1)
        case .record, .array, .map, .fixed:
            // Not a readable leaf (the checker refuses it); walked so that the rest of the datum still lines up.
            try skip(type, &reader, depth: depth)
            return .composite
        }
    }

    private static func skip(_ type: AvroType, _ reader: inout ByteReader, depth: Int) throws(BinaryDecodeError) {
        guard depth < maxDepth else { throw reader.error("values nested deeper than \(maxDepth)") }
        switch type {
        case .null: return
        case .boolean: try reader.skip(1)
        case .int, .long, .timestampMillis, .timestampMicros, .enumeration: _ = try reader.varint()
        case .float: try reader.skip(4)
        case .double: try reader.skip(8)
        case .string, .bytes: try reader.skip(try length(&reader))
        case .fixed(_, let size): try reader.skip(size)
        case .record(let record):
            for field in record.fields { try skip(field.type, &reader, depth: depth + 1) }
        case .union(let branches):
            try skip(branches[try branch(&reader, of: branches.count)], &reader, depth: depth + 1)
        case .array(let items):
            try blocks(&reader, depth: depth) { (r: inout ByteReader) throws(BinaryDecodeError) in
                try skip(items, &r, depth: depth + 1)
            }
        case .map(let values):
            try blocks(&reader, depth: depth) { (r: inout ByteReader) throws(BinaryDecodeError) in
                try r.skip(try length(&r))
                try skip(values, &r, depth: depth + 1)
            }
        }
    }

    /// The blocks of an array or map: a count, then that many items (a negative count is followed by the
    /// block's size in bytes, which is skipped at once), until a count of zero.
    private static func blocks(
        _ reader: inout ByteReader, depth: Int, item: (inout ByteReader) throws(BinaryDecodeError) -> Void
    ) throws(BinaryDecodeError) {
        var items: Int64 = 0
        while true {
            let start = reader.index
            let count = try reader.zigzag()
            if count == 0 { return }
            if count < 0 {
                guard count != Int64.min else { throw reader.error("a block count out of range", at: start) }
                try reader.skip(try length(&reader))
                continue
            }
            // Items take a byte or more, except those of a type that takes none (null): a short message that
            // announced billions of them would loop for ages.
            guard count <= Int64(reader.remaining) + 64 - items else {
                throw reader.error("\(count) items announced in \(reader.remaining) bytes", at: start)
            }
            items += count
            for _ in 0..<count { try item(&reader) }
        }
    }
}
