public import CEPCore

/// A type-checked expression with names resolved to binding and field indices. The checker guarantees that
/// operand types fit each operator, so the evaluator needs no type errors of its own.
public indirect enum CompiledExpr: Sendable, Hashable {
    case literal(Value)
    /// A field of an event.
    case field(FieldRef)
    /// An aggregate over the events bound to a quantified step.
    case aggregate(Aggregate, binding: Int, field: Int?)
    case unary(UnaryOp, CompiledExpr)
    case binary(BinaryOp, CompiledExpr, CompiledExpr)
    /// `value in [elements]`, or `not in` when `negated`.
    case inList(CompiledExpr, [CompiledExpr], negated: Bool)
    case call(Function, [CompiledExpr])
    /// `lookup(T, key).field` in a step's condition: field `field` of table `table`'s row for `key` as of the event
    /// being tested (null when there is none). `table` indexes `Automaton.streams`.
    case lookup(table: Int, key: CompiledExpr, field: Int)
    /// `lookup(T, key).field` in an alert (or `suppress by`): field `field` of the row the engine looked up for the
    /// pattern's `rowSites[site]` when the match was emitted (`MatchOutput.rows`).
    case row(site: Int, field: Int)
}

/// A `lookup(T, key)` of an alert: the engine looks the row up as of the match's last event when it emits it.
public struct RowSite: Sendable, Hashable {
    /// The table (index into `Automaton.streams`).
    public var table: Int
    /// The key, an expression over the match.
    public var key: CompiledExpr

    /// Creates a row site.
    public init(table: Int, key: CompiledExpr) {
        self.table = table
        self.key = key
    }
}

/// Which event's field an expression reads.
public struct FieldRef: Sendable, Hashable {
    /// Whose event.
    public enum Source: Sendable, Hashable {
        /// The event being tested (the step's own binding, or the stream's event in a filter).
        case current
        /// The event bound to an earlier step; for an optional step it may be absent (null).
        case binding(Int)
    }

    /// Whose event.
    public var source: Source
    /// Index into the stream's `fields`.
    public var field: Int

    /// Creates a field reference.
    public init(source: Source, field: Int) {
        self.source = source
        self.field = field
    }
}

/// Aggregates over a quantified binding (the events already taken; in the step's own condition the candidate
/// event is not yet among them, as with Flink's `ctx.getEventsForPattern`).
public enum Aggregate: String, Sendable, Hashable, CaseIterable {
    case count, sum, avg, min, max, first, last
}

/// Prefix operators.
public enum UnaryOp: String, Sendable, Hashable {
    case negate = "-"
    case not = "not"
}

/// Infix operators. Null operands give null, except for `and`, `or` and `??`; a null condition is false.
public enum BinaryOp: String, Sendable, Hashable {
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
}

/// Built-in scalar functions.
public enum Function: String, Sendable, Hashable, CaseIterable {
    case lower, upper, length, contains
    case startsWith = "starts_with"
    case endsWith = "ends_with"
    case substring
    case abs, round, floor, ceil
    /// Great-circle distance in kilometres between two latitude/longitude points (haversine, R = 6371 km).
    case distanceKm = "distance_km"
    /// Whether an optional value is present.
    case exists
}

extension CompiledExpr {
    /// The expressions it is made of, one level down.
    public var children: [CompiledExpr] {
        switch self {
        case .literal, .field, .aggregate, .row: return []
        case .unary(_, let e): return [e]
        case .binary(_, let l, let r): return [l, r]
        case .inList(let e, let list, _): return [e] + list
        case .call(_, let args): return args
        case .lookup(_, let key, _): return [key]
        }
    }

    /// Every field an expression reads, as (source, field index) pairs.
    public func visitFields(_ visit: (FieldRef) -> Void) {
        var stack: [CompiledExpr] = [self]
        while let expr = stack.popLast() {
            switch expr {
            case .field(let ref): visit(ref)
            case .aggregate(_, let binding, let field):
                if let field { visit(FieldRef(source: .binding(binding), field: field)) }
            default: stack += expr.children
            }
        }
    }
}
