import CEPCore

/// Compiled expressions flattened into an array of trivial nodes (see `CompiledNFA` for why), evaluated with the
/// rules of `ExpressionEvaluator`.
final class FlatExpressions: @unchecked Sendable {
    enum Kind: UInt8 { case literal, currentField, bindingField, aggregate, unary, binary, inList, call }

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

    private var building: [Node] = []
    private var buildingChildren: [Int32] = []
    private var buildingLiterals: [Value] = []
    private var nodes = UnsafeMutableBufferPointer<Node>(start: nil, count: 0)
    private var children = UnsafeMutableBufferPointer<Int32>(start: nil, count: 0)
    private var literals = UnsafeMutableBufferPointer<Value>(start: nil, count: 0)

    deinit {
        nodes.deallocate()
        children.deallocate()
        _ = literals.deinitialize()
        literals.deallocate()
    }

    /// Adds an expression; returns its root node.
    func add(_ expr: CompiledExpr) -> Int32 {
        var node: Node
        switch expr {
        case .literal(let value):
            buildingLiterals.append(value)
            node = Node(kind: .literal, a: Int32(buildingLiterals.count - 1))
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
            let items = list.map(add)
            node = Node(kind: .inList, negated: negated, a: v, b: Int32(buildingChildren.count), c: Int32(items.count))
            buildingChildren.append(contentsOf: items)
        case .call(let function, let arguments):
            let items = arguments.map(add)
            node = Node(kind: .call, function: function, b: Int32(buildingChildren.count), c: Int32(items.count))
            buildingChildren.append(contentsOf: items)
        }
        building.append(node)
        return Int32(building.count - 1)
    }

    /// Moves the nodes into their final buffers; no `add` after this.
    func seal() {
        nodes = .copy(building)
        children = .copy(buildingChildren)
        literals = .copy(buildingLiterals)
        building = []
        buildingChildren = []
        buildingLiterals = []
    }

    @inline(__always)
    func holds(_ root: Int32, current: Event?, match: MatchNode?) -> Bool {
        if case .bool(true) = evaluate(root, current, match) { return true }
        return false
    }

    func evaluate(_ index: Int32, _ current: Event?, _ match: MatchNode?) -> Value {
        let node = nodes[Int(index)]
        switch node.kind {
        case .literal:
            return literals[Int(node.a)]
        case .currentField:
            return current?.fields[Int(node.a)] ?? .null
        case .bindingField:
            return match.lastEvent(of: Int(node.a))?.fields[Int(node.b)] ?? .null
        case .aggregate:
            return ExpressionEvaluator.aggregate(
                node.aggregate, of: Int(node.a), field: node.b < 0 ? nil : Int(node.b), in: match)
        case .unary:
            return ExpressionEvaluator.unary(node.unary, evaluate(node.a, current, match))
        case .binary:
            switch node.binary {
            case .and:
                let l = evaluate(node.a, current, match)
                if case .bool(false) = l { return .bool(false) }
                let r = evaluate(node.b, current, match)
                if case .bool(false) = r { return .bool(false) }
                if case .bool(true) = l, case .bool(true) = r { return .bool(true) }
                return .null
            case .or:
                let l = evaluate(node.a, current, match)
                if case .bool(true) = l { return .bool(true) }
                let r = evaluate(node.b, current, match)
                if case .bool(true) = r { return .bool(true) }
                if case .bool(false) = l, case .bool(false) = r { return .bool(false) }
                return .null
            case .coalesce:
                let l = evaluate(node.a, current, match)
                if case .null = l { return evaluate(node.b, current, match) }
                return l
            default:
                return ExpressionEvaluator.apply(
                    node.binary, evaluate(node.a, current, match), evaluate(node.b, current, match))
            }
        case .inList:
            let v = evaluate(node.a, current, match)
            if case .null = v { return .null }
            var found = false
            for i in 0..<Int(node.c) where ExpressionEvaluator.equal(v, evaluate(children[Int(node.b) + i], current, match)) == true {
                found = true
                break
            }
            return .bool(found != node.negated)
        case .call:
            var arguments: [Value] = []
            arguments.reserveCapacity(Int(node.c))
            for i in 0..<Int(node.c) { arguments.append(evaluate(children[Int(node.b) + i], current, match)) }
            return ExpressionEvaluator.call(node.function, arguments)
        }
    }
}
