import CEPCore

/// Why a snapshot could not be restored.
public struct SnapshotError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One line for the log.
    public var message: String
    public var description: String { message }
}

/// Appends a compact binary encoding: LEB128 varints (zigzag for signed), length-prefixed strings.
///
/// Into a buffer it owns, not an array: a checkpoint of a million keys appends hundreds of millions of bytes a
/// varint at a time, and an array's append checks its uniqueness and capacity for every byte (callgrind: a third of
/// the store thread's instructions went to `unsigned` and the appends). Not copyable, so that no two writers share
/// the buffer.
struct SnapshotWriter: ~Copyable {
    private var start: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written.
    private(set) var count = 0

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        start = .allocate(capacity: self.capacity)
    }

    deinit { start.deallocate() }

    /// A copy of the bytes written.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: start, count: count)) }

    /// The bytes written, valid until the writer next changes or goes (a record handed to the store without an
    /// array of its own).
    var unsafeBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }

    /// Empties the writer, keeping its buffer.
    mutating func removeAll() { count = 0 }

    /// Empties the writer and starts it with `prefix` (a store key under a pattern's prefix).
    mutating func restart(with prefix: [UInt8]) {
        count = 0
        append(contentsOf: prefix)
    }

    /// Makes room for `more` bytes after the written ones.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if capacity - count < more { grow(more) }
    }

    @inline(never)
    private mutating func grow(_ more: Int) {
        let newCapacity = max(capacity * 2, count + more)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: start, count: count)
        start.deallocate()
        start = bigger
        capacity = newCapacity
    }

    mutating func byte(_ value: UInt8) {
        reserve(1)
        start[count] = value
        count += 1
    }

    /// Raw bytes, without a length.
    mutating func append(contentsOf raw: UnsafeRawBufferPointer) {
        reserve(raw.count)
        if let base = raw.baseAddress {
            (start + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: raw.count)
        }
        count += raw.count
    }

    /// Raw bytes, without a length.
    mutating func append(contentsOf raw: [UInt8]) {
        raw.withUnsafeBytes { append(contentsOf: $0) }
    }

    mutating func unsigned(_ value: UInt64) {
        reserve(10)
        var v = value
        var i = count
        while v >= 0x80 {
            start[i] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            i += 1
        }
        start[i] = UInt8(truncatingIfNeeded: v)
        count = i + 1
    }

    mutating func signed(_ value: Int64) { unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
    mutating func int(_ value: Int) { signed(Int64(value)) }
    mutating func bool(_ value: Bool) { byte(value ? 1 : 0) }

    mutating func string(_ value: String) {
        // A native string's UTF-8 is contiguous (a small one's is copied to the stack): no copy of the string.
        var value = value
        value.withUTF8 { utf8 in
            unsigned(UInt64(utf8.count))
            append(contentsOf: UnsafeRawBufferPointer(utf8))
        }
    }

    /// Length-prefixed raw bytes.
    mutating func blob(_ value: [UInt8]) {
        unsigned(UInt64(value.count))
        append(contentsOf: value)
    }

    /// Eight bytes, little-endian.
    mutating func double(_ value: Double) {
        reserve(8)
        let bits = value.bitPattern
        for i in 0..<8 { start[count + i] = UInt8(truncatingIfNeeded: bits >> UInt64(i * 8)) }
        count += 8
    }

    /// Eight bytes, big-endian (keys that sort by number).
    mutating func bigEndian(_ value: UInt64) {
        reserve(8)
        for i in 0..<8 { start[count + i] = UInt8(truncatingIfNeeded: value >> UInt64(56 - i * 8)) }
        count += 8
    }

    mutating func value(_ value: Value) {
        switch value {
        case .null: byte(0)
        case .string(let s):
            byte(1)
            string(s)
        case .int(let i):
            byte(2)
            signed(i)
        case .float(let d):
            byte(3)
            double(d)
        case .bool(let b): byte(b ? 5 : 4)
        case .time(let t):
            byte(6)
            signed(t)
        case .duration(let d):
            byte(7)
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
