/// A value carried by an event field, a literal, or the result of an expression.
///
/// Times and durations are integral milliseconds: event time in cepd has millisecond resolution, as in Flink.
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
