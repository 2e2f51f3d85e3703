import CEPCore

/// Why a snapshot could not be restored.
public struct SnapshotError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One line for the log.
    public var message: String
    public var description: String { message }
}

/// Appends a compact binary encoding: LEB128 varints (zigzag for signed), length-prefixed strings.
struct SnapshotWriter {
    var bytes: [UInt8] = []

    mutating func unsigned(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func signed(_ value: Int64) { unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
    mutating func int(_ value: Int) { signed(Int64(value)) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func string(_ value: String) {
        // Straight from the string's UTF-8 view: no array per string (a checkpoint writes millions of them).
        unsigned(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// Length-prefixed raw bytes.
    mutating func blob(_ value: [UInt8]) {
        unsigned(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func double(_ value: Double) {
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    mutating func value(_ value: Value) {
        switch value {
        case .null: bytes.append(0)
        case .string(let s):
            bytes.append(1)
            string(s)
        case .int(let i):
            bytes.append(2)
            signed(i)
        case .float(let d):
            bytes.append(3)
            double(d)
        case .bool(let b): bytes.append(b ? 5 : 4)
        case .time(let t):
            bytes.append(6)
            signed(t)
        case .duration(let d):
            bytes.append(7)
            signed(d)
        }
    }
}

/// Reads what `SnapshotWriter` wrote; every read is bounds-checked, so damaged bytes give an error, not a crash.
struct SnapshotReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }

    func fail(_ what: String) -> SnapshotError {
        SnapshotError(message: "corrupt snapshot at byte \(position): \(what)")
    }

    mutating func byte() throws(SnapshotError) -> UInt8 {
        guard position < bytes.count else { throw fail("unexpected end") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func unsigned() throws(SnapshotError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw fail("varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    mutating func signed() throws(SnapshotError) -> Int64 {
        let raw = try unsigned()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func int() throws(SnapshotError) -> Int {
        let v = try signed()
        guard let i = Int(exactly: v) else { throw fail("integer out of range") }
        return i
    }

    /// An index that must be below `limit`.
    mutating func index(below limit: Int) throws(SnapshotError) -> Int {
        let i = try int()
        guard i >= 0 && i < limit else { throw fail("index \(i) out of range 0..<\(limit)") }
        return i
    }

    mutating func bool() throws(SnapshotError) -> Bool { try byte() != 0 }

    mutating func string() throws(SnapshotError) -> String {
        let count = try unsigned()
        guard count <= UInt64(bytes.count - position) else { throw fail("string longer than the snapshot") }
        let end = position + Int(count)
        defer { position = end }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func blob() throws(SnapshotError) -> [UInt8] {
        let count = try unsigned()
        guard count <= UInt64(bytes.count - position) else { throw fail("bytes longer than the snapshot") }
        let end = position + Int(count)
        defer { position = end }
        return Array(bytes[position..<end])
    }

    mutating func double() throws(SnapshotError) -> Double {
        var bits: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) { bits |= UInt64(try byte()) << UInt64(shift) }
        return Double(bitPattern: bits)
    }

    mutating func value() throws(SnapshotError) -> Value {
        switch try byte() {
        case 0: return .null
        case 1: return .string(try string())
        case 2: return .int(try signed())
        case 3: return .float(try double())
        case 4: return .bool(false)
        case 5: return .bool(true)
        case 6: return .time(try signed())
        case 7: return .duration(try signed())
        case let tag: throw fail("unknown value tag \(tag)")
        }
    }

    /// A count that cannot exceed the bytes left (each element takes at least one byte).
    mutating func count() throws(SnapshotError) -> Int {
        let n = try unsigned()
        guard n <= UInt64(bytes.count - position) else { throw fail("count \(n) larger than the snapshot") }
        return Int(n)
    }
}
