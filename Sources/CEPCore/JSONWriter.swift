/// A minimal, allocation-conscious JSON writer: cepd writes diagnostics and alerts without Foundation.
public struct JSONWriter: Sendable {
    /// The JSON text written so far.
    public private(set) var text: String = ""
    private var needsComma: [Bool] = []

    /// Creates an empty writer.
    public init() {}

    /// Returns `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    private mutating func separate() {
        if let last = needsComma.last {
            if last { text += "," }
            needsComma[needsComma.count - 1] = true
        }
    }

    /// Opens an object; inside another object, `key` names it.
    public mutating func beginObject(_ key: String? = nil) {
        separate()
        if let key { text += Self.quoted(key) + ":" }
        text += "{"
        needsComma.append(false)
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        needsComma.removeLast()
        text += "}"
    }

    /// Opens an array; inside an object, `key` names it.
    public mutating func beginArray(_ key: String? = nil) {
        separate()
        if let key { text += Self.quoted(key) + ":" }
        text += "["
        needsComma.append(false)
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        needsComma.removeLast()
        text += "]"
    }

    /// Writes a raw, already valid JSON fragment as the next member or element.
    public mutating func raw(_ key: String?, _ json: String) {
        separate()
        if let key { text += Self.quoted(key) + ":" }
        text += json
    }

    /// Writes a string member or element.
    public mutating func string(_ key: String?, _ value: String) { raw(key, Self.quoted(value)) }

    /// Writes an integer member or element.
    public mutating func int(_ key: String?, _ value: Int) { raw(key, String(value)) }
}
