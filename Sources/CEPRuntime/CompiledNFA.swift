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
    /// Per predicate: whether it reads the partial match (else `holds` evaluates it once per event).
    private let predicateReadsMatch: UnsafeMutableBufferPointer<Bool>
    private let hasEventOnlyPredicates: Bool
    /// Per state and stream: whether an event of that stream leaves every partial match in the state as it is,
    /// whatever the match bound — decided from the conditions' stream tests alone (`leavesUnchanged`).
    private let unchangedByStream: UnsafeMutableBufferPointer<Bool>
    /// Columns of `unchangedByStream`: one per stream the conditions name (0 ..< count - 1), and a last one for
    /// every other stream.
    private let streamColumns: Int

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
        let predicates = FlatExpressions(pattern.predicates)
        self.predicates = predicates
        self.predicateEvaluator = predicates.evaluator
        let readsMatch = pattern.predicates.indices.map { predicates.readsMatch($0) }
        self.predicateReadsMatch = .copy(readsMatch)
        self.hasEventOnlyPredicates = readsMatch.contains(false)
        self.states = .copy(states)
        self.edges = .copy(edges)
        self.conditions = .copy(conditions)
        self.conditionChildren = .copy(children)
        self.start = pattern.start
        self.window = pattern.window
        let named = conditions.lazy.filter { $0.kind == .stream }.map { Int($0.value) }.max().map { $0 + 1 } ?? 0
        streamColumns = named + 1
        unchangedByStream = .allocate(capacity: max(states.count * streamColumns, 1))
        for state in states.indices {
            for column in 0..<streamColumns {
                unchangedByStream[state * streamColumns + column] = Self.leavesUnchanged(
                    state: Int32(state), stream: column < named ? column : nil, start: pattern.start,
                    states: states, edges: edges, conditions: conditions, children: children)
            }
        }
    }

    /// Whether an event of `stream` leaves every partial match in `state` unchanged: the matcher's fast path
    /// (`PatternMatcher.computeNextStates` returning `.unchanged`) taken before any condition is evaluated. Most
    /// events of a multi-stream pattern are of a stream the partial match does not wait for: a payment reaching a
    /// match that waits for a login only loops on IGNORE.
    @inline(__always)
    func leavesUnchanged(_ state: Int32, stream: Int) -> Bool {
        unchangedByStream[Int(state) * streamColumns + min(stream, streamColumns - 1)]
    }

    /// What a condition is for any event of `stream` (nil: a stream no condition names), when that is known
    /// without the event's fields or the match: the stream tests decide it, a predicate is unknown.
    private static func known(
        _ condition: Int32, stream: Int?, _ conditions: [ConditionNode], _ children: [Int32]
    ) -> Bool? {
        let node = conditions[Int(condition)]
        switch node.kind {
        case .always: return true
        case .stream: return stream == Int(node.value)
        case .predicate: return nil
        case .not: return known(children[Int(node.value)], stream: stream, conditions, children).map { !$0 }
        case .and, .or:
            let decisive = node.kind == .or  // the value one part decides the whole with
            var unknown = false
            for i in 0..<Int(node.count) {
                switch known(children[Int(node.value) + i], stream: stream, conditions, children) {
                case decisive?: return decisive
                case nil: unknown = true
                default: break
                }
            }
            return unknown ? nil : !decisive
        }
    }

    /// `PatternMatcher.decisionGraph` and the fast path of `computeNextStates`, run on what is known of an event
    /// of `stream`: true only when every condition they would test is decided and they would return
    /// `.unchanged`.
    private static func leavesUnchanged(
        state: Int32, stream: Int?, start: Int, states: [State], edges: [Edge], conditions: [ConditionNode],
        children: [Int32]
    ) -> Bool {
        var found: [(action: Transition.Action, target: Int32)] = []
        var stack = [state]
        var visited = 0
        while let current = stack.popLast() {
            // A PROCEED cycle would loop here as in the matcher; bound it and call the state undecided.
            visited += 1
            if visited > states.count * 4 { return false }
            let info = states[Int(current)]
            for e in 0..<Int(info.edgeCount) {
                let edge = edges[Int(info.firstEdge) + e]
                guard let holds = known(edge.condition, stream: stream, conditions, children) else { return false }
                guard holds else { continue }
                switch edge.action {
                case .proceed:
                    if states[Int(edge.target)].kind == .stop { return false }  // taken into the stop state
                    stack.append(edge.target)
                case .take, .ignore:
                    found.append((edge.action, edge.target))
                }
            }
        }
        if Int(state) == start { return !found.contains { $0.action != .ignore } }
        return found.count == 1 && found[0].action == .ignore && found[0].target == state
    }

    deinit {
        states.deallocate()
        edges.deallocate()
        conditions.deallocate()
        conditionChildren.deallocate()
        unchangedByStream.deallocate()
        predicateReadsMatch.deallocate()
    }

    /// Whether `condition` holds for `event` and the partial match whose newest node is `match`. A predicate that
    /// reads only the event is evaluated once per event (`memo`, reset for each event with `PredicateMemo.reset`):
    /// `p.amount > 1000` is the same for every partial match a payment is tested against.
    @inline(__always)
    func holds(_ condition: Int32, _ event: Event, _ match: MatchNode?, memo: inout PredicateMemo) -> Bool {
        let node = conditions[Int(condition)]
        switch node.kind {
        case .always: return true
        case .stream: return event.stream == Int(node.value)
        case .predicate:
            let predicate = Int(node.value)
            guard !predicateReadsMatch[predicate] else {
                return predicateEvaluator.holds(predicate, current: event, match: match)
            }
            switch memo.results[predicate] {
            case PredicateMemo.yes: return true
            case PredicateMemo.no: return false
            default:
                let holds = predicateEvaluator.holds(predicate, current: event, match: nil)
                memo.results[predicate] = holds ? PredicateMemo.yes : PredicateMemo.no
                return holds
            }
        case .not: return !holds(conditionChildren[Int(node.value)], event, match, memo: &memo)
        case .and:
            for i in 0..<Int(node.count)
            where !holds(conditionChildren[Int(node.value) + i], event, match, memo: &memo) {
                return false
            }
            return true
        case .or:
            for i in 0..<Int(node.count)
            where holds(conditionChildren[Int(node.value) + i], event, match, memo: &memo) {
                return true
            }
            return false
        }
    }

    /// Prepares `memo` for a new event.
    @inline(__always)
    func reset(_ memo: inout PredicateMemo) {
        guard hasEventOnlyPredicates else { return }
        if memo.results.count != predicateReadsMatch.count {
            memo.results = Array(repeating: PredicateMemo.unknown, count: predicateReadsMatch.count)
        } else {
            memo.results.withUnsafeMutableBufferPointer { $0.update(repeating: PredicateMemo.unknown) }
        }
    }
}

/// The results of a pattern's predicates that read only the current event, for the event being matched
/// (`CompiledNFA.holds`).
struct PredicateMemo {
    static let unknown: UInt8 = 0
    static let yes: UInt8 = 1
    static let no: UInt8 = 2
    /// Per predicate index: `unknown`, `yes` or `no`.
    var results: [UInt8] = []
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
