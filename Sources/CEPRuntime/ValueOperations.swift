import CEPCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the operators and functions of the language do to values: `FlatExpressions` evaluates expression trees
/// with these. Null operands give null, except for `and`, `or` and `??`, which `FlatExpressions` handles itself.
enum ValueOperations {
    static func unary(_ op: UnaryOp, _ value: Value) -> Value {
        switch (op, value) {
        case (.not, .bool(let b)): return .bool(!b)
        case (.negate, .int(let i)): return checked(Int64(0).subtractingReportingOverflow(i), Value.int)
        case (.negate, .float(let d)): return .float(-d)
        case (.negate, .duration(let d)): return checked(Int64(0).subtractingReportingOverflow(d), Value.duration)
        default: return .null
        }
    }

    /// A binary operator on two values (not `and`, `or`, `??`).
    static func apply(_ op: BinaryOp, _ l: Value, _ r: Value) -> Value {
        switch op {
        case .equal: return equal(l, r).map(Value.bool) ?? .null
        case .notEqual: return equal(l, r).map { .bool(!$0) } ?? .null
        case .less: return compare(l, r).map { .bool($0 < 0) } ?? .null
        case .lessEqual: return compare(l, r).map { .bool($0 <= 0) } ?? .null
        case .greater: return compare(l, r).map { .bool($0 > 0) } ?? .null
        case .greaterEqual: return compare(l, r).map { .bool($0 >= 0) } ?? .null
        case .add, .subtract, .multiply, .divide, .remainder: return arithmetic(op, l, r)
        case .and, .or, .coalesce: return .null
        }
    }

    static func equal(_ l: Value, _ r: Value) -> Bool? {
        switch (l, r) {
        case (.null, _), (_, .null): return nil
        case (.string(let a), .string(let b)): return a.hasSameScalars(as: b)  // not canonical equivalence (Value)
        case (.bool(let a), .bool(let b)): return a == b
        case (.time(let a), .time(let b)), (.duration(let a), .duration(let b)), (.int(let a), .int(let b)):
            return a == b
        default:
            guard let a = number(l), let b = number(r) else { return nil }
            return a == b
        }
    }

    static func compare(_ l: Value, _ r: Value) -> Int? {
        func order<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a == b ? 0 : 1) }
        switch (l, r) {
        case (.null, _), (_, .null): return nil
        case (.string(let a), .string(let b)): return a.javaOrder(b)
        case (.time(let a), .time(let b)), (.duration(let a), .duration(let b)), (.int(let a), .int(let b)):
            return order(a, b)
        case (.bool(let a), .bool(let b)): return order(a ? 1 : 0, b ? 1 : 0)
        default:
            guard let a = number(l), let b = number(r) else { return nil }
            return order(a, b)
        }
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .float(let d): return d
        default: return nil
        }
    }

    /// Integer, time and duration arithmetic that overflows 64 bits has no value: null, as a division by zero —
    /// one rule for every operator (never a wrapped-around number).
    @inline(__always)
    private static func checked(_ result: (partialValue: Int64, overflow: Bool), _ make: (Int64) -> Value) -> Value {
        result.overflow ? .null : make(result.partialValue)
    }

    static func arithmetic(_ op: BinaryOp, _ l: Value, _ r: Value) -> Value {
        switch (l, r) {
        case (.int(let a), .int(let b)):
            switch op {
            case .add: return checked(a.addingReportingOverflow(b), Value.int)
            case .subtract: return checked(a.subtractingReportingOverflow(b), Value.int)
            case .multiply: return checked(a.multipliedReportingOverflow(by: b), Value.int)
            // Integer division by zero has no value: null, like SQL.
            case .divide: return b == 0 || (a == .min && b == -1) ? .null : .int(a / b)
            case .remainder: return b == 0 || (a == .min && b == -1) ? .null : .int(a % b)
            default: return .null
            }
        case (.string(let a), .string(let b)) where op == .add: return .string(a + b)
        case (.time(let t), .duration(let d)), (.duration(let d), .time(let t)):
            if op == .add { return checked(t.addingReportingOverflow(d), Value.time) }
            if op == .subtract, case .time = l { return checked(t.subtractingReportingOverflow(d), Value.time) }
            return .null
        case (.time(let a), .time(let b)) where op == .subtract:
            return checked(a.subtractingReportingOverflow(b), Value.duration)
        case (.duration(let a), .duration(let b)):
            switch op {
            case .add: return checked(a.addingReportingOverflow(b), Value.duration)
            case .subtract: return checked(a.subtractingReportingOverflow(b), Value.duration)
            case .divide: return .float(Double(a) / Double(b))
            default: return .null
            }
        case (.duration(let d), .int(let i)), (.int(let i), .duration(let d)):
            if op == .multiply { return checked(d.multipliedReportingOverflow(by: i), Value.duration) }
            if op == .divide, case .duration = l { return i == 0 || (d == .min && i == -1) ? .null : .duration(d / i) }
            return .null
        default:
            guard let a = number(l), let b = number(r) else { return .null }
            switch op {
            case .add: return .float(a + b)
            case .subtract: return .float(a - b)
            case .multiply: return .float(a * b)
            case .divide: return .float(a / b)
            case .remainder: return .float(fmod(a, b))
            default: return .null
            }
        }
    }

    static func call(_ function: Function, _ args: [Value]) -> Value {
        switch function {
        case .exists:
            if case .null = args[0] { return .bool(false) }
            return .bool(true)
        default: break
        }
        if args.contains(where: { if case .null = $0 { return true } else { return false } }) { return .null }
        switch (function, args.count) {
        case (.lower, 1): if case .string(let s) = args[0] { return .string(s.lowercased()) }
        case (.upper, 1): if case .string(let s) = args[0] { return .string(s.uppercased()) }
        case (.length, 1): if case .string(let s) = args[0] { return .int(Int64(s.count)) }
        // By UTF-8 bytes, as == compares (Java's contains/startsWith/endsWith compare code units alike); UTF-8 is
        // self-synchronizing, so a byte match is a match of whole scalars.
        case (.contains, 2):
            if case .string(let s) = args[0], case .string(let t) = args[1] {
                return .bool(t.isEmpty || s.utf8.firstRange(of: t.utf8) != nil)
            }
        case (.startsWith, 2):
            if case .string(let s) = args[0], case .string(let t) = args[1] {
                return .bool(s.utf8.starts(with: t.utf8))
            }
        case (.endsWith, 2):
            if case .string(let s) = args[0], case .string(let t) = args[1] {
                return .bool(s.utf8.count >= t.utf8.count && s.utf8.suffix(t.utf8.count).elementsEqual(t.utf8))
            }
        case (.substring, 3):
            if case .string(let s) = args[0], case .int(let start) = args[1], case .int(let length) = args[2] {
                let characters = Array(s)
                let from = Int(max(0, min(start, Int64(characters.count))))
                let to = Int(max(Int64(from), min(Int64(from) + max(0, length), Int64(characters.count))))
                return .string(String(characters[from..<to]))
            }
        case (.abs, 1):
            switch args[0] {
            case .int(let i): return i == .min ? .null : .int(Swift.abs(i))
            case .float(let d): return .float(Swift.abs(d))
            default: break
            }
        case (.round, 1), (.floor, 1), (.ceil, 1):
            if case .int = args[0] { return args[0] }
            if case .float(let d) = args[0] {
                let rule: FloatingPointRoundingRule =
                    function == .round ? .toNearestOrAwayFromZero : function == .floor ? .down : .up
                let rounded = d.rounded(rule)
                guard rounded.isFinite, rounded >= -9.2e18, rounded <= 9.2e18 else { return .null }
                return .int(Int64(rounded))
            }
        case (.distanceKm, 4):
            let numbers = args.compactMap(number)
            guard numbers.count == 4 else { return .null }
            return .float(haversine(numbers[0], numbers[1], numbers[2], numbers[3]))
        default: break
        }
        return .null
    }

    /// Great-circle distance in kilometres (R = 6371 km).
    static func haversine(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double) -> Double {
        let radians = Double.pi / 180
        let dLat = (lat2 - lat1) * radians
        let dLon = (lon2 - lon1) * radians
        let a =
            sin(dLat / 2) * sin(dLat / 2) + cos(lat1 * radians) * cos(lat2 * radians) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * 6371 * atan2(a.squareRoot(), (1 - a).squareRoot())
    }

    /// An aggregate over the events bound to `binding` in `match`, oldest first.
    static func aggregate(_ aggregate: Aggregate, of binding: Int, field: Int?, in match: MatchNode?) -> Value {
        var values: [Value] = []
        var count: Int64 = 0
        var node = match
        while let current = node {
            if current.binding == binding {
                count += 1
                if let field { values.append(current.event.field(field)) }
            }
            node = current.previous
        }
        values.reverse()
        let present = values.filter { if case .null = $0 { return false } else { return true } }
        switch aggregate {
        case .count: return .int(count)
        case .first: return present.first ?? .null
        case .last: return present.last ?? .null
        case .min: return present.min { (compare($0, $1) ?? 0) < 0 } ?? .null
        case .max: return present.max { (compare($0, $1) ?? 0) < 0 } ?? .null
        case .sum:
            guard let first = present.first else { return .int(0) }
            var total: Value
            switch first {
            case .duration: total = .duration(0)
            case .float: total = .float(0)
            default: total = .int(0)
            }
            for value in present { total = arithmetic(.add, total, value) }
            return total
        case .avg:
            let numbers = present.compactMap(number)
            guard !numbers.isEmpty else { return .null }
            return .float(numbers.reduce(0, +) / Double(numbers.count))
        }
    }
}
