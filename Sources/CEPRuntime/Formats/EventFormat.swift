/// How a stream's messages are encoded: the `format` clause of a stream declaration.
public enum EventFormat: Sendable, Hashable {
    /// A JSON object per message (the default).
    case json
    /// Protocol Buffers: messages of `message` (a full name, e.g. `fraud.v1.Login`) as described by `schema`.
    case protobuf(schema: ProtoSchema, message: String)
    /// Avro binary: one datum of the writer schema `schema`, a record.
    case avro(AvroSchema)
    /// The Confluent wire format (a zero byte, a 4-byte schema id, for Protobuf the message indexes, then the
    /// message), each message's schema from a schema registry.
    case registry(RegistryFormat)

    /// Whether messages are bytes rather than text: a replay file then carries one base64 message per line.
    public var isBinary: Bool {
        if case .json = self { return false }
        return true
    }

    /// The name used in messages: `json`, `protobuf fraud.v1.Login`, `avro payments.Payment`.
    public var description: String {
        switch self {
        case .json: return "json"
        case .protobuf(_, let message): return "protobuf \(message)"
        case .avro(let schema): return "avro \(schema.root.name ?? schema.root.kindName)"
        case .registry(.avro): return "avro (schema registry)"
        case .registry(.protobuf(let message)): return "protobuf\(message.map { " " + $0 } ?? "") (schema registry)"
        }
    }
}

/// Why a binary message cannot be read, with the byte offset where reading stopped.
struct BinaryDecodeError: Error {
    var message: String
    var offset: Int
}

/// Reads the primitive encodings that Protocol Buffers and Avro share (little-endian fixed-width numbers, base-128
/// varints) from a buffer, never past `end` (the end of the buffer, or of the nested message being read: offsets
/// in errors stay those of the whole message).
struct ByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.end = bytes.count
    }

    var isAtEnd: Bool { index >= end }
    var remaining: Int { end - index }

    func error(_ message: String, at offset: Int? = nil) -> BinaryDecodeError {
        BinaryDecodeError(message: message, offset: offset ?? index)
    }

    /// An unsigned base-128 varint of at most 10 bytes.
    @inline(__always)
    mutating func varint() throws(BinaryDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = index
        while index < end {
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw error("a varint longer than 64 bits", at: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw error("a varint longer than 10 bytes", at: start) }
        }
        throw error("truncated: the message ends inside a varint", at: start)
    }

    /// The length of a Protocol Buffers length-delimited value (an unsigned varint), checked against what is left.
    @inline(__always)
    mutating func lengthPrefix() throws(BinaryDecodeError) -> Int {
        let length = try varint()
        guard length <= UInt64(remaining) else {
            throw error("truncated: \(length) bytes announced, \(remaining) left")
        }
        return Int(length)
    }

    /// A zigzag-encoded signed varint (Avro's int and long, Protocol Buffers' sint32/sint64).
    @inline(__always)
    mutating func zigzag() throws(BinaryDecodeError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    @inline(__always)
    mutating func fixed32() throws(BinaryDecodeError) -> UInt32 {
        guard remaining >= 4 else { throw error("truncated: 4 bytes needed, \(remaining) left") }
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(bytes[index + k]) << (8 * UInt32(k)) }
        index += 4
        return value
    }

    @inline(__always)
    mutating func fixed64() throws(BinaryDecodeError) -> UInt64 {
        guard remaining >= 8 else { throw error("truncated: 8 bytes needed, \(remaining) left") }
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(bytes[index + k]) << (8 * UInt64(k)) }
        index += 8
        return value
    }

    /// The next `count` bytes.
    @inline(__always)
    mutating func take(_ count: Int) throws(BinaryDecodeError) -> UnsafeBufferPointer<UInt8> {
        guard count >= 0, count <= remaining else {
            throw error("truncated: \(count) bytes announced, \(remaining) left")
        }
        let slice = UnsafeBufferPointer(rebasing: bytes[index..<index + count])
        index += count
        return slice
    }

    /// Skips `count` bytes.
    @inline(__always)
    mutating func skip(_ count: Int) throws(BinaryDecodeError) {
        guard count >= 0, count <= remaining else {
            throw error("truncated: \(count) bytes announced, \(remaining) left")
        }
        index += count
    }

    /// The next `count` bytes as UTF-8 text; nil (the reader past them) when they are not UTF-8.
    @inline(__always)
    mutating func text(_ count: Int) throws(BinaryDecodeError) -> String? {
        String.validUTF8(try take(count))
    }
}
