import CEPCore

/// One pattern's NFA and conditions flattened into plain buffers for the matching loop.
///
/// `PatternAutomaton` is made of nested arrays and indirect enums: convenient to build and print, but every read
/// of a state, an edge or a condition there costs reference counting. The matcher reads this form instead: states,
/// edges, condition trees and expression trees as flat arrays of trivial structs in memory that lives as long as
/// the object, so the hot loop does no reference counting on the automaton at all.
// @unchecked: immutable after init; its buffers are written there and freed in deinit only.
final class CompiledNFA: @unchecked Sendable {
    struct State {
        var firstEdge: Int32
        var edgeCount: Int32
        var kind: NFAState.Kind
        /// Binding that TAKE edges out of this state bind, or -1.
        var binding: Int32
        /// Step window in milliseconds, or -1.
        var window: Int64
    }

    struct Edge {
        var action: Transition.Action
        var target: Int32
        var condition: Int32
    }

    enum ConditionKind: UInt8 { case always, stream, predicate, not, and, or }

    struct ConditionNode {
        var kind: ConditionKind
        /// Stream or predicate index; for not/and/or the first child in `conditionChildren`.
        var value: Int32
        var count: Int32
    }

    let states: UnsafeMutableBufferPointer<State>
    let edges: UnsafeMutableBufferPointer<Edge>
    let conditions: UnsafeMutableBufferPointer<ConditionNode>
    let conditionChildren: UnsafeMutableBufferPointer<Int32>
    /// The step conditions, by predicate index (owner of the tables `predicateEvaluator` reads).
    let predicates: FlatExpressions
    private let predicateEvaluator: FlatExpressions.Evaluator
    let start: Int
    let window: Int64?

    init(_ pattern: PatternAutomaton) {
        var states: [State] = []
        var edges: [Edge] = []
        var conditions: [ConditionNode] = []
        var children: [Int32] = []
        var conditionIndex: [Condition: Int32] = [:]

        func add(_ condition: Condition) -> Int32 {
            if let known = conditionIndex[condition] { return known }
            let node: ConditionNode
            switch condition {
            case .always: node = ConditionNode(kind: .always, value: 0, count: 0)
            case .stream(let s): node = ConditionNode(kind: .stream, value: Int32(s), count: 0)
            case .predicate(let p): node = ConditionNode(kind: .predicate, value: Int32(p), count: 0)
            case .not(let inner):
                let child = add(inner)
                let first = Int32(children.count)
                children.append(child)
                node = ConditionNode(kind: .not, value: first, count: 1)
            case .and(let parts), .or(let parts):
                let ids = parts.map(add)
                let first = Int32(children.count)
                children.append(contentsOf: ids)
                if case .and = condition {
                    node = ConditionNode(kind: .and, value: first, count: Int32(ids.count))
                } else {
                    node = ConditionNode(kind: .or, value: first, count: Int32(ids.count))
                }
            }
            conditions.append(node)
            let index = Int32(conditions.count - 1)
            conditionIndex[condition] = index
            return index
        }

        for state in pattern.states {
            let first = Int32(edges.count)
            for transition in state.transitions {
                edges.append(
                    Edge(
                        action: transition.action, target: Int32(transition.target),
                        condition: add(transition.condition)))
            }
            states.append(
                State(
                    firstEdge: first, edgeCount: Int32(state.transitions.count), kind: state.kind,
                    binding: state.binding.map(Int32.init) ?? -1, window: state.window ?? -1))
        }
        self.predicates = FlatExpressions(pattern.predicates)
        self.predicateEvaluator = predicates.evaluator
        self.states = .copy(states)
        self.edges = .copy(edges)
        self.conditions = .copy(conditions)
        self.conditionChildren = .copy(children)
        self.start = pattern.start
        self.window = pattern.window
    }

    deinit {
        states.deallocate()
        edges.deallocate()
        conditions.deallocate()
        conditionChildren.deallocate()
    }

    @inline(__always)
    func holds(_ condition: Int32, _ event: Event, _ match: MatchNode?) -> Bool {
        let node = conditions[Int(condition)]
        switch node.kind {
        case .always: return true
        case .stream: return event.stream == Int(node.value)
        case .predicate: return predicateEvaluator.holds(Int(node.value), current: event, match: match)
        case .not: return !holds(conditionChildren[Int(node.value)], event, match)
        case .and:
            for i in 0..<Int(node.count) where !holds(conditionChildren[Int(node.value) + i], event, match) {
                return false
            }
            return true
        case .or:
            for i in 0..<Int(node.count) where holds(conditionChildren[Int(node.value) + i], event, match) {
                return true
            }
            return false
        }
    }
}

extension UnsafeMutableBufferPointer {
    /// A new buffer holding a copy of `array` (deallocated by its owner).
    static func copy(_ array: [Element]) -> UnsafeMutableBufferPointer<Element> {
        let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: Swift.max(array.count, 1))
        _ = buffer.initialize(from: array)
        // The extra element of an empty array's buffer is never initialized: keep it out of `count`.
        return UnsafeMutableBufferPointer(start: buffer.baseAddress, count: array.count)
    }
}
