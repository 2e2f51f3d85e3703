import CEPCore

/// A JSON value as the scanner found it, before it is checked against a field's declared type.
enum RawJSONValue {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    case string(String)
    /// An object or array (never a valid field value: fields are scalars).
    case composite
}

/// Why a line is not valid JSON, with the byte offset where the scanner stopped.
struct JSONSyntaxError: Error {
    var message: String
    var offset: Int
}

/// The fields a decoder wants from one JSON object, as a tree of member names: a leaf is a slot of the output.
final class FieldTree {
    /// A member name the decoder wants, with its first eight bytes as a little-endian word (zero beyond the name):
    /// the scanner compares a name it reads by that word first, one comparison for most names.
    struct Child {
        let name: [UInt8]
        let prefix: UInt64
        let node: FieldTree
    }

    private(set) var children: [Child] = []
    var slot: Int?

    func child(_ name: String) -> FieldTree {
        let bytes = Array(name.utf8)
        if let existing = children.first(where: { $0.name == bytes }) { return existing.node }
        let node = FieldTree()
        children.append(Child(name: bytes, prefix: bytes.withUnsafeBufferPointer(Self.prefix), node: node))
        return node
    }

    /// The first eight bytes of `name` (fewer when it is shorter, the rest zero) as a little-endian word.
    static func prefix(_ name: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var word: UInt64 = 0
        for i in 0..<min(8, name.count) { word |= UInt64(name[i]) << UInt64(i * 8) }
        return word
    }
}

/// A validating, single-pass JSON scanner over bytes that keeps only the members a `FieldTree` asks for and skips
/// everything else without building it. Every byte is still checked, so a malformed line is always reported.
struct JSONScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Nesting limit: deeper input is refused instead of exhausting the stack.
    private static let maxDepth = 64

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Scans one JSON object that makes up the whole input, storing wanted members in `slots`.
    static func scanObject(
        _ bytes: UnsafeBufferPointer<UInt8>, fields: FieldTree, into slots: UnsafeMutableBufferPointer<RawJSONValue?>
    )
        throws(JSONSyntaxError)
    {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else {
            throw scanner.error(scanner.index >= bytes.count ? "empty line" : "an event must be a JSON object")
        }
        try scanner.object(fields, into: slots, depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw scanner.error("unexpected text after the JSON object") }
    }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: index) }

    /// The index of the first byte from `start` on that ends a run of plain string bytes — a quote, a backslash or
    /// a control character — or the end of the input. Eight bytes at a time (SWAR): strings and member names are
    /// most of a line's bytes, and a byte-by-byte loop made three comparisons per byte.
    @inline(__always)
    private func plainEnd(from start: Int) -> Int {
        var i = start
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let high: UInt64 = 0x8080_8080_8080_8080
            while i + 8 <= bytes.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                // A byte's high bit is set where it is zero (or below 0x20, for the last term); a borrow can flag
                // bytes above a true hit, never below it, so the lowest flag is exact.
                let hits =
                    (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word))
                    & high
                if hits != 0 { return i + hits.trailingZeroBitCount >> 3 }
                i += 8
            }
        }
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return i }
            i += 1
        }
        return i
    }

    @inline(__always) private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    @inline(__always) private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        skipWhitespace()
        guard peek() == byte else { throw error("expected \(what)") }
        index += 1
    }

    private mutating func object(
        _ fields: FieldTree?, into slots: UnsafeMutableBufferPointer<RawJSONValue?>, depth: Int
    )
        throws(JSONSyntaxError)
    {
        guard depth < Self.maxDepth else { throw error("JSON nested too deeply") }
        index += 1  // {
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let wanted = try memberName(fields)
            try expect(UInt8(ascii: ":"), "':' after a member name")
            skipWhitespace()
            if let wanted, let slot = wanted.slot {
                slots[slot] = try value(depth: depth + 1)
            } else if let wanted, peek() == UInt8(ascii: "{") {
                try object(wanted, into: slots, depth: depth + 1)
            } else {
                try skipValue(depth: depth + 1)
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    /// Reads a member name and returns the matching child of `fields`, if any.
    private mutating func memberName(_ fields: FieldTree?) throws(JSONSyntaxError) -> FieldTree? {
        let start = index + 1
        let end = plainEnd(from: start)
        guard end < bytes.count else { throw error("unterminated string") }
        if bytes[end] != UInt8(ascii: "\"") {
            // An escape (or a control character, which `string` reports where it is).
            let name = Array(try string().utf8)
            return fields?.children.first { $0.name == name }?.node
        }
        // An unescaped name is compared in place.
        index = end + 1
        guard let fields else { return nil }
        let length = end - start
        // The name's first eight bytes in one load: the line goes on after the name (at least `":` and a value),
        // so only a truncated line needs the byte-by-byte way.
        let probe: UInt64
        if let base = bytes.baseAddress, start + 8 <= bytes.count {
            let word = UInt64(
                littleEndian: UnsafeRawPointer(base).loadUnaligned(fromByteOffset: start, as: UInt64.self))
            probe = length >= 8 ? word : word & ((1 << UInt64(length * 8)) &- 1)
        } else {
            probe = FieldTree.prefix(UnsafeBufferPointer(rebasing: bytes[start..<end]))
        }
        // Through the children's buffer: iterating the array copies each child (two reference counts).
        return fields.children.withUnsafeBufferPointer { children in
            for c in children.indices where children[c].prefix == probe && children[c].name.count == length {
                if length <= 8 { return children[c].node }
                let same = children[c].name.withUnsafeBufferPointer { name in
                    for i in 8..<length where name[i] != bytes[start + i] { return false }
                    return true
                }
                if same { return children[c].node }
            }
            return nil
        }
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> RawJSONValue {
        guard let byte = peek() else { throw error("unexpected end of line") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipValue(depth: depth)
            return .composite
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    private mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
        guard depth < Self.maxDepth else { throw error("JSON nested too deeply") }
        switch peek() {
        case UInt8(ascii: "{"):
            try object(nil, into: UnsafeMutableBufferPointer(start: nil, count: 0), depth: depth)
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw error("expected ',' or ']' in an array")
                }
            }
        case UInt8(ascii: "\""):
            try skipString()
        case let byte? where byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")):
            try skipNumber()
        default:
            _ = try value(depth: depth)
        }
    }

    /// Checks and passes a string nobody reads, without building it.
    private mutating func skipString() throws(JSONSyntaxError) {
        index += 1
        while index < bytes.count {
            index = plainEnd(from: index)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard let escape = peek() else { break }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    _ = try hex4()
                default: throw error("invalid escape in a string")
                }
                continue
            }
            index += 1
        }
        throw error("unterminated string")
    }

    /// Checks and passes a number nobody reads (JSON's grammar, without computing its value).
    private mutating func skipNumber() throws(JSONSyntaxError) {
        @inline(__always) func digits() -> Int {
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            return index - start
        }
        if peek() == UInt8(ascii: "-") { index += 1 }
        if peek() == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw error("invalid number")
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("invalid number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("invalid number") }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of line") }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw error("unexpected character") }
        index += count
    }

    private mutating func number() throws(JSONSyntaxError) -> RawJSONValue {
        let start = index
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard let first = peek(), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw error("invalid number")
        }
        var magnitude: UInt64 = 0
        var overflow = false
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(d - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = m2
                index += 1
            }
        }
        var integral = true
        var fraction: UInt64 = 0
        var fractionDigits = 0
        if peek() == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { throw error("invalid number") }
            while let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                if fractionDigits < 19 {
                    fraction = fraction &* 10 &+ UInt64(d - UInt8(ascii: "0"))
                    fractionDigits += 1
                } else {
                    overflow = true  // too many digits for the fast path below
                }
                index += 1
            }
        }
        var exponent = false
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            integral = false
            exponent = true
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { throw error("invalid number") }
            while let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { index += 1 }
        }
        if integral && !overflow {
            if negative, magnitude <= UInt64(Int64.max) + 1 {
                return .integer(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
            }
            if !negative, magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
        }
        // Fast path for plain decimals such as 1523.75: when the digits fit in 2^53 and the scale is an exact
        // power of ten, one division is correctly rounded, so the result equals strtod's.
        if !exponent && !overflow && fractionDigits <= 15 {
            let scale = Self.powersOfTen[fractionDigits]
            let (scaled, o1) = magnitude.multipliedReportingOverflow(by: scale)
            let (digits, o2) = scaled.addingReportingOverflow(fraction)
            if !o1 && !o2 && digits <= (1 << 53) {
                let value = Double(digits) / Double(scale)
                return .number(negative ? -value : value)
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text) else { throw error("invalid number") }
        return .number(double)
    }

    private static let powersOfTen: [UInt64] = (0...15).map { n in (0..<n).reduce(UInt64(1)) { v, _ in v * 10 } }

    private mutating func string() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        let start = index
        while index < bytes.count {
            index = plainEnd(from: index)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                // Invalid UTF-8 is refused, not repaired: repairing maps different bytes to the same U+FFFD, so two
                // users' keys would correlate.
                guard let text = Self.validString(UnsafeBufferPointer(rebasing: bytes[start..<index])) else {
                    throw error("invalid UTF-8 in a string")
                }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw error("control character in a string") }
            index += 1
        }
        throw error("unterminated string")
    }

    private static func validString(_ bytes: UnsafeBufferPointer<UInt8>) -> String? { String.validUTF8(bytes) }

    private mutating func escapedString(from start: Int) throws(JSONSyntaxError) -> String {
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = out.withUnsafeBufferPointer(Self.validString) else {
                    throw error("invalid UTF-8 in a string")
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = peek() else { throw error("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), peek() == UInt8(ascii: "\\"),
                        index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    // A lone surrogate has no character: refused, as invalid UTF-8 is.
                    guard let character = Unicode.Scalar(scalar) else { throw error("lone surrogate in a \\u escape") }
                    out.append(contentsOf: Array(String(Character(character)).utf8))
                default: throw error("invalid escape in a string")
                }
            default:
                if byte < 0x20 { throw error("control character in a string") }
                out.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}

extension String {
    /// The string the bytes hold if they are valid UTF-8. (`String(validating:as:)` is generic and looked its
    /// type up on every call: 7% more instructions for a replay. Repairing decoding replaces every invalid
    /// sequence, so bytes are valid exactly when decoding changed nothing; ASCII needs no comparison.)
    @inline(__always)
    static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        if !bytes.contains(where: { $0 >= 0x80 }) { return text }
        return text.utf8.elementsEqual(bytes) ? text : nil
    }
}
