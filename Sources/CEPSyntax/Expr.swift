/// An expression as written, before names are resolved.
public struct Expr: Sendable, Hashable {
    /// The expression's shape.
    public indirect enum Kind: Sendable, Hashable {
        case int(Int64)
        case float(Double)
        case string(String)
        case bool(Bool)
        /// A duration literal, in milliseconds.
        case duration(Int64)
        /// A bare name: a binding, or a field of the stream in a stream filter.
        case name(Identifier)
        /// `base.member`.
        case member(Expr, Identifier)
        /// `function(arguments)`.
        case call(Identifier, [Expr])
        case unary(UnaryOperator, Expr)
        case binary(BinaryOperator, Expr, Expr)
        /// `value [not] in [elements]`.
        case inList(Expr, [Expr], negated: Bool)
        /// Stands in for an expression that did not parse; the parser has reported it.
        case error
    }

    /// The shape.
    public var kind: Kind
    /// The whole expression.
    public var range: SourceRange

    /// Creates an expression.
    public init(_ kind: Kind, range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}

/// Prefix operators.
public enum UnaryOperator: String, Sendable, Hashable {
    case negate = "-"
    case not = "not"
}

/// Infix operators, by precedence from loosest: `or`, `and`, comparisons, `??`, `+ -`, `* / %`.
public enum BinaryOperator: String, Sendable, Hashable {
    case or, and
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessEqual = "<="
    case greater = ">"
    case greaterEqual = ">="
    case coalesce = "??"
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"

    /// Whether the operator compares its operands.
    public var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: return true
        default: return false
        }
    }
}
