import CEPCore

/// The static type of an expression: a base type, and whether the value may be null.
struct ExprType: Hashable, CustomStringConvertible {
    enum Base: String {
        case string, int, float, bool, time, duration
        /// The type of an expression that already has an error; it fits everywhere, so one mistake gives one message.
        case error
    }

    var base: Base
    var isOptional: Bool

    init(_ base: Base, optional: Bool = false) {
        self.base = base
        self.isOptional = optional
    }

    init(field: FieldType, optional: Bool) {
        switch field {
        case .string: self.init(.string, optional: optional)
        case .int: self.init(.int, optional: optional)
        case .float: self.init(.float, optional: optional)
        case .bool: self.init(.bool, optional: optional)
        case .time: self.init(.time, optional: optional)
        }
    }

    static let error = ExprType(.error)
    static let boolean = ExprType(.bool)

    var isError: Bool { base == .error }

    /// The field type of the same name; nil for durations and errors.
    var fieldType: FieldType? {
        switch base {
        case .string: return .string
        case .int: return .int
        case .float: return .float
        case .bool: return .bool
        case .time: return .time
        case .duration, .error: return nil
        }
    }
    var isNumeric: Bool { base == .int || base == .float }
    var description: String { base.rawValue + (isOptional ? "?" : "") }

    func optional(_ flag: Bool) -> ExprType { ExprType(base, optional: isOptional || flag) }
}
