#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value carried by an event field, a literal, or the result of an expression.
///
/// Times and durations are integral milliseconds: event time in cepd has millisecond resolution, as in Flink.
///
/// Strings are equal when they hold the same Unicode scalars, as Java's `String.equals` (what a Flink condition or
/// `keyBy` uses) decides — not by Swift's canonical equivalence, which would make "é" (U+00E9) and "e" + U+0301
/// equal in a condition while they are different keys, and different in Flink.
public enum Value: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    /// Milliseconds since the Unix epoch.
    case time(Int64)
    /// A span of time in milliseconds.
    case duration(Int64)
    /// The value of an optional field that the event did not carry, or of a binding that was not bound.
    case null
}

extension Value: CustomStringConvertible {
    /// The value as it is written in a `.cep` file.
    public var description: String {
        switch self {
        case .string(let s): return JSONWriter.quoted(s)
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .time(let t): return "time(\(t))"
        case .duration(let d): return DurationFormat.format(milliseconds: d)
        case .null: return "null"
        }
    }
}

extension Value {
    /// Whether the value is null.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Whether the value is of `type` (null is of none).
    public func holds(_ type: FieldType) -> Bool {
        switch (self, type) {
        case (.string, .string), (.int, .int), (.float, .float), (.bool, .bool), (.time, .time): return true
        default: return false
        }
    }
}

extension Value {
    public static func == (l: Value, r: Value) -> Bool {
        switch (l, r) {
        case (.string(let a), .string(let b)): return a.hasSameScalars(as: b)
        case (.int(let a), .int(let b)), (.time(let a), .time(let b)), (.duration(let a), .duration(let b)):
            return a == b
        case (.float(let a), .float(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let s):
            hasher.combine(0 as UInt8)
            hasher.combine(s.utf8.count)
            let contiguous: Void? = s.utf8.withContiguousStorageIfAvailable {
                hasher.combine(bytes: UnsafeRawBufferPointer($0))
            }
            if contiguous == nil { for byte in s.utf8 { hasher.combine(byte) } }
        case .int(let i):
            hasher.combine(1 as UInt8)
            hasher.combine(i)
        case .float(let d):
            hasher.combine(2 as UInt8)
            hasher.combine(d)
        case .bool(let b):
            hasher.combine(3 as UInt8)
            hasher.combine(b)
        case .time(let t):
            hasher.combine(4 as UInt8)
            hasher.combine(t)
        case .duration(let d):
            hasher.combine(5 as UInt8)
            hasher.combine(d)
        case .null: hasher.combine(6 as UInt8)
        }
    }
}

extension String {
    /// Whether the two strings hold the same Unicode scalars (the same UTF-8 bytes), as Java's `equals` decides: no
    /// canonical equivalence. (A generic byte loop for every pair cost 5 % of a replay's instructions.)
    public func hasSameScalars(as other: String) -> Bool {
        // The same bits are the same string (a small string's bytes inline, or the same storage): the common case
        // of a key found in the matcher's table, decided without reading the bytes.
        if unsafeBitCast(self, to: (UInt64, UInt64).self) == unsafeBitCast(other, to: (UInt64, UInt64).self) {
            return true
        }
        // Byte-identical strings are canonically equivalent, so Swift's `==` (raw bits for small strings, memcmp
        // for normalized ones) rejects almost every pair that differs; only a pair it calls equal is compared
        // byte for byte, for the rare canonically equivalent but different spellings.
        guard self == other else { return false }
        let same = utf8.withContiguousStorageIfAvailable { mine in
            other.utf8.withContiguousStorageIfAvailable { theirs in
                mine.count == theirs.count
                    && (mine.isEmpty || memcmp(mine.baseAddress!, theirs.baseAddress!, mine.count) == 0)
            }
        }
        if let same, let same { return same }
        return utf8.elementsEqual(other.utf8)
    }

    /// Java's `String.compareTo`: UTF-16 code units in order (so U+FFFD sorts after U+1F600, whose first unit is a
    /// surrogate), and no canonical equivalence.
    public func javaOrder(_ other: String) -> Int {
        var a = utf16.makeIterator()
        var b = other.utf16.makeIterator()
        while true {
            switch (a.next(), b.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?) where x != y: return x < y ? -1 : 1
            default: continue
            }
        }
    }
}
