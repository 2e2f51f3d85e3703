import CEPCore

/// A list of compiled expressions flattened into an array of trivial nodes, and the one evaluator of the
/// language: step conditions, stream filters and alert fields all go through it.
///
/// `CompiledExpr` is an indirect enum: convenient to build and print, but every step through it costs reference
/// counting. These nodes are plain structs in memory owned by this object, so evaluation on the hot path does no
/// reference counting on the expression at all (see `CompiledNFA`). The checker has already matched operand types
/// to operators, so evaluation never fails: null operands give null (`ValueOperations`), and a null condition is
/// false.
// @unchecked: immutable after init; its node buffer is written there and freed in deinit only.
final class FlatExpressions: @unchecked Sendable {
    enum Kind: UInt8 { case literal, currentField, bindingField, aggregate, unary, binary, inList, call, lookup, row }

    struct Node {
        var kind: Kind
        var unary: UnaryOp = .not
        var binary: BinaryOp = .and
        var aggregate: Aggregate = .count
        var function: Function = .exists
        var negated = false
        /// Literal index, field, binding, child or first child, depending on `kind`.
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
    }

    /// The tables, owned by this object. A hot loop copies this plain struct out once (`evaluator`) and
    /// evaluates through it, so that no read of the object is retained per call.
    let evaluator: Evaluator

    /// Flattens `expressions`; expression `i` is then evaluated with `evaluate(i, ...)`.
    init(_ expressions: [CompiledExpr]) {
        var builder = Builder()
        let roots = expressions.map { builder.add($0) }
        evaluator = Evaluator(
            nodes: .copy(builder.nodes), children: .copy(builder.children), literals: .copy(builder.literals),
            roots: .copy(roots))
    }

    deinit {
        evaluator.nodes.deallocate()
        evaluator.children.deallocate()
        _ = evaluator.literals.deinitialize()
        evaluator.literals.deallocate()
        evaluator.roots.deallocate()
    }

    private struct Builder {
        var nodes: [Node] = []
        var children: [Int32] = []
        var literals: [Value] = []

        mutating func add(_ expr: CompiledExpr) -> Int32 {
            var node: Node
            switch expr {
            case .literal(let value):
                literals.append(value)
                node = Node(kind: .literal, a: Int32(literals.count - 1))
            case .field(let ref):
                switch ref.source {
                case .current: node = Node(kind: .currentField, a: Int32(ref.field))
                case .binding(let binding): node = Node(kind: .bindingField, a: Int32(binding), b: Int32(ref.field))
                }
            case .aggregate(let aggregate, let binding, let field):
                node = Node(kind: .aggregate, aggregate: aggregate, a: Int32(binding), b: Int32(field ?? -1))
            case .unary(let op, let operand):
                node = Node(kind: .unary, unary: op, a: add(operand))
            case .binary(let op, let lhs, let rhs):
                node = Node(kind: .binary, binary: op, a: add(lhs), b: add(rhs))
            case .inList(let value, let list, let negated):
                let v = add(value)
                let items = list.map { add($0) }
                node = Node(kind: .inList, negated: negated, a: v, b: Int32(children.count), c: Int32(items.count))
                children.append(contentsOf: items)
            case .call(let function, let arguments):
                let items = arguments.map { add($0) }
                node = Node(kind: .call, function: function, b: Int32(children.count), c: Int32(items.count))
                children.append(contentsOf: items)
            case .lookup(let table, let key, let field):
                node = Node(kind: .lookup, a: Int32(table), b: add(key), c: Int32(field))
            case .row(let site, let field):
                node = Node(kind: .row, a: Int32(site), c: Int32(field))
            }
            nodes.append(node)
            return Int32(nodes.count - 1)
        }
    }

    /// Whether expression `index` reads the partial match (an earlier step's field, an aggregate over a step):
    /// one that does not has the same value for every partial match an event is tested against.
    func readsMatch(_ index: Int) -> Bool {
        var stack = [evaluator.roots[index]]
        while let node = stack.popLast().map({ evaluator.nodes[Int($0)] }) {
            switch node.kind {
            case .bindingField, .aggregate: return true
            case .literal, .currentField: break
            case .unary: stack.append(node.a)
            case .binary: stack += [node.a, node.b]
            case .inList:
                stack.append(node.a)
                stack += evaluator.children[Int(node.b)..<Int(node.b + node.c)]
            case .call: stack += evaluator.children[Int(node.b)..<Int(node.b + node.c)]
            case .lookup: stack.append(node.b)
            case .row: return true
            }
        }
        return false
    }

    /// Whether expression `index` is `true` for the event (a step's candidate, or a filtered stream's event) and
    /// the partial match it is tested against.
    @inline(__always)
    func holds(_ index: Int, current: Event?, match: MatchNode?) -> Bool {
        evaluator.holds(index, current: current, match: match)
    }

    /// The value of expression `index`; `rows` answers its table lookups.
    func evaluate(_ index: Int, current: Event?, match: MatchNode?, rows: RowContext = RowContext()) -> Value {
        var evaluator = evaluator
        evaluator.rows = rows
        return evaluator.evaluate(index, current: current, match: match)
    }

    /// Whether expression `index` is `true` for a candidate given by its field values alone (a stream filter tested
    /// while decoding, before any `Event` exists).
    func holds(_ index: Int, fields: UnsafeMutableBufferPointer<Value>) -> Bool {
        evaluator.holds(index, fields: fields, match: nil)
    }
}

extension FlatExpressions {
    /// The flattened tables and the evaluation over them: trivial to copy (four pointers), valid while the
    /// `FlatExpressions` that made them lives.
    struct Evaluator {
        let nodes: UnsafeMutableBufferPointer<Node>
        let children: UnsafeMutableBufferPointer<Int32>
        let literals: UnsafeMutableBufferPointer<Value>
        /// The root node of each expression, by the index it had in the list.
        let roots: UnsafeMutableBufferPointer<Int32>
        /// Where `lookup` and `row` nodes find their rows; none outside the engine's patterns.
        var rows = RowContext()

        /// Whether expression `index` is `true`.
        @inline(__always)
        func holds(_ index: Int, current: Event?, match: MatchNode?) -> Bool {
            withExtendedLifetime(current) { holds(index, fields: current?.storage, match: match) }
        }

        /// Whether expression `index` is `true` for a candidate's field values (`nil`: no candidate).
        @inline(__always)
        func holds(_ index: Int, fields: UnsafeMutableBufferPointer<Value>?, match: MatchNode?) -> Bool {
            if case .bool(true) = evaluate(node: roots[index], fields, match) { return true }
            return false
        }

        /// The value of expression `index`.
        func evaluate(_ index: Int, current: Event?, match: MatchNode?) -> Value {
            withExtendedLifetime(current) { evaluate(node: roots[index], current?.storage, match) }
        }

        /// `current` is the candidate event's field buffer (kept alive by the caller).
        fileprivate func evaluate(node index: Int32, _ current: UnsafeMutableBufferPointer<Value>?, _ match: MatchNode?)
            -> Value
        {
            let node = nodes[Int(index)]
            switch node.kind {
            case .literal:
                return literals[Int(node.a)]
            case .currentField:
                return current?[Int(node.a)] ?? .null
            case .bindingField:
                return match.lastField(of: Int(node.a), field: Int(node.b))
            case .aggregate:
                return ValueOperations.aggregate(
                    node.aggregate, of: Int(node.a), field: node.b < 0 ? nil : Int(node.b), in: match)
            case .unary:
                return ValueOperations.unary(node.unary, evaluate(node: node.a, current, match))
            case .binary:
                switch node.binary {
                case .and:
                    let l = evaluate(node: node.a, current, match)
                    if case .bool(false) = l { return .bool(false) }
                    let r = evaluate(node: node.b, current, match)
                    if case .bool(false) = r { return .bool(false) }
                    if case .bool(true) = l, case .bool(true) = r { return .bool(true) }
                    return .null
                case .or:
                    let l = evaluate(node: node.a, current, match)
                    if case .bool(true) = l { return .bool(true) }
                    let r = evaluate(node: node.b, current, match)
                    if case .bool(true) = r { return .bool(true) }
                    if case .bool(false) = l, case .bool(false) = r { return .bool(false) }
                    return .null
                case .coalesce:
                    let l = evaluate(node: node.a, current, match)
                    if case .null = l { return evaluate(node: node.b, current, match) }
                    return l
                default:
                    return ValueOperations.apply(
                        node.binary, evaluate(node: node.a, current, match), evaluate(node: node.b, current, match))
                }
            case .inList:
                let v = evaluate(node: node.a, current, match)
                if case .null = v { return .null }
                var found = false
                for i in 0..<Int(node.c)
                where ValueOperations.equal(v, evaluate(node: children[Int(node.b) + i], current, match)) == true {
                    found = true
                    break
                }
                return .bool(found != node.negated)
            case .call:
                var arguments: [Value] = []
                arguments.reserveCapacity(Int(node.c))
                for i in 0..<Int(node.c) { arguments.append(evaluate(node: children[Int(node.b) + i], current, match)) }
                return ValueOperations.call(node.function, arguments)
            case .lookup:
                let key = evaluate(node: node.b, current, match)
                guard let tables = rows.tables, let row = tables.row(Int(node.a), key: key, at: rows.time) else {
                    return .null
                }
                return row.field(Int(node.c))
            case .row:
                let site = Int(node.a)
                guard site < rows.resolved.count, let row = rows.resolved[site] else { return .null }
                return row.field(Int(node.c))
            }
        }
    }
}

/// What a table lookup in an expression reads: the engine's tables as of `time` (a step's condition), or the rows
/// the engine looked up when it emitted a match (`MatchOutput.rows`, for an alert's fields).
struct RowContext {
    /// The engine's tables; nil outside the engine.
    unowned(unsafe) var tables: TableStore?
    /// The event time lookups are made as of.
    var time: Int64 = 0
    /// The rows of the pattern's `rowSites`, by site (a buffer the caller keeps alive: a plain pointer, so that an
    /// evaluator holding a context copies without reference counting).
    var resolved = UnsafeBufferPointer<Event?>(start: nil, count: 0)
}
