/// The type of a declared event field: what a stream's `fields { ... }` block may name.
public enum FieldType: String, Sendable, Hashable, CaseIterable {
    case string
    case int
    case float
    case bool
    /// Event time: epoch milliseconds in JSON numbers, or an RFC 3339 string.
    case time
}
