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
    /// Per condition (as first numbered) and stream: `residual`.
    private let residuals: UnsafeMutableBufferPointer<Int32>
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
        self.start = pattern.start
        self.window = pattern.window
        let named = conditions.lazy.filter { $0.kind == .stream }.map { Int($0.value) }.max().map { $0 + 1 } ?? 0
        let columns = named + 1
        streamColumns = columns
        // Each condition as it stands for an event of each stream: new nodes for the simplified ones are added
        // after the originals, which keep their indices.
        let originals = conditions.count
        var residuals = [Int32](repeating: Self.alwaysFalse, count: max(originals * columns, 1))
        for condition in 0..<originals {
            for column in 0..<columns {
                residuals[condition * columns + column] = Self.residual(
                    Int32(condition), stream: column < named ? column : nil, &conditions, &children)
            }
        }
        self.residuals = .copy(residuals)
        self.conditions = .copy(conditions)
        self.conditionChildren = .copy(children)
        unchangedByStream = .allocate(capacity: max(states.count * columns, 1))
        for state in states.indices {
            for column in 0..<columns {
                unchangedByStream[state * columns + column] = Self.leavesUnchanged(
                    state: Int32(state), start: pattern.start, states: states, edges: edges,
                    residual: { residuals[Int($0) * columns + column] })
            }
        }
    }

    /// `residual`'s answer for a condition that holds for every event of the stream.
    static let alwaysTrue: Int32 = -2
    /// `residual`'s answer for a condition that holds for no event of the stream.
    static let alwaysFalse: Int32 = -1

    /// What edge condition `condition` leaves to test for an event of `stream`: `alwaysTrue`, `alwaysFalse`, or a
    /// condition without the stream tests that event decides (`and(stream == geo, g.country != l.country)` is the
    /// predicate alone for a geo event, false for any other). The matcher tests this instead of the condition.
    @inline(__always)
    func residual(_ condition: Int32, stream: Int) -> Int32 {
        residuals[Int(condition) * streamColumns + column(stream)]
    }

    /// Whether edge condition `condition` holds for `event` and the partial match whose newest node is `match`:
    /// what `residual` leaves of it for the event's stream.
    @inline(__always)
    func edgeHolds(_ condition: Int32, _ event: Event, _ match: MatchNode?, memo: inout PredicateMemo) -> Bool {
        let rest = residual(condition, stream: event.stream)
        if rest == Self.alwaysTrue { return true }
        if rest == Self.alwaysFalse { return false }
        return holds(rest, event, match, memo: &memo)
    }

    /// The column of the per-stream tables for `stream`.
    @inline(__always)
    private func column(_ stream: Int) -> Int { min(stream, streamColumns - 1) }

    /// Whether an event of `stream` leaves every partial match in `state` unchanged: the matcher's fast path
    /// (`PatternMatcher.computeNextStates` returning `.unchanged`) taken before any condition is evaluated. Most
    /// events of a multi-stream pattern are of a stream the partial match does not wait for: a payment reaching a
    /// match that waits for a login only loops on IGNORE.
    @inline(__always)
    func leavesUnchanged(_ state: Int32, stream: Int) -> Bool {
        unchangedByStream[Int(state) * streamColumns + column(stream)]
    }

    /// `condition` for any event of `stream` (nil: a stream no condition names): the stream tests decided, the
    /// parts they make irrelevant dropped, what is left a node of `conditions` (the condition itself when nothing
    /// changed, a new node otherwise), or `alwaysTrue` / `alwaysFalse`. Predicates have no side effects, so
    /// testing fewer parts changes nothing but the time.
    private static func residual(
        _ condition: Int32, stream: Int?, _ conditions: inout [ConditionNode], _ children: inout [Int32]
    ) -> Int32 {
        let node = conditions[Int(condition)]
        switch node.kind {
        case .always: return alwaysTrue
        case .stream: return stream == Int(node.value) ? alwaysTrue : alwaysFalse
        case .predicate: return condition
        case .not:
            let inner = children[Int(node.value)]
            let rest = residual(inner, stream: stream, &conditions, &children)
            if rest == alwaysTrue { return alwaysFalse }
            if rest == alwaysFalse { return alwaysTrue }
            if rest == inner { return condition }
            children.append(rest)
            conditions.append(ConditionNode(kind: .not, value: Int32(children.count - 1), count: 1))
            return Int32(conditions.count - 1)
        case .and, .or:
            // The value one part decides the whole with, and the one that leaves it to the others.
            let decisive = node.kind == .or ? alwaysTrue : alwaysFalse
            let neutral = node.kind == .or ? alwaysFalse : alwaysTrue
            var kept: [Int32] = []
            var changed = false
            for i in 0..<Int(node.count) {
                let part = children[Int(node.value) + i]
                let rest = residual(part, stream: stream, &conditions, &children)
                if rest == decisive { return decisive }
                if rest != part { changed = true }
                if rest != neutral { kept.append(rest) }
            }
            if !changed { return condition }
            if kept.isEmpty { return neutral }
            if kept.count == 1 { return kept[0] }
            let first = Int32(children.count)
            children.append(contentsOf: kept)
            conditions.append(ConditionNode(kind: node.kind, value: first, count: Int32(kept.count)))
            return Int32(conditions.count - 1)
        }
    }

    /// `PatternMatcher.decisionGraph` and the fast path of `computeNextStates`, run on what is known of an event
    /// of `stream`: true only when every condition they would test is decided and they would return
    /// `.unchanged`.
    private static func leavesUnchanged(
        state: Int32, start: Int, states: [State], edges: [Edge], residual: (Int32) -> Int32
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
                let rest = residual(edge.condition)
                guard rest == alwaysTrue || rest == alwaysFalse else { return false }  // a predicate decides
                guard rest == alwaysTrue else { continue }
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
        residuals.deallocate()
    }

    /// Whether `condition` holds for `event` and the partial match whose newest node is `match`. A predicate that
    /// reads only the event is evaluated once per event (`memo`, cleared for each event with `reset`):
    /// `p.amount > 1000` is the same for every partial match a payment is tested against.
    @inline(__always)
    private func holds(_ condition: Int32, _ event: Event, _ match: MatchNode?, memo: inout PredicateMemo) -> Bool {
        let node = conditions[Int(condition)]
        switch node.kind {
        case .always: return true
        case .stream: return event.stream == Int(node.value)
        case .predicate:
            let predicate = Int(node.value)
            guard memo.looksUpTables else { return holds(predicate, event, match, memo: &memo, predicateEvaluator) }
            // A lookup in a step's condition is as of the step's event. (Only here is the evaluator copied: patterns
            // without tables never pay for it.)
            var evaluator = predicateEvaluator
            evaluator.rows = RowContext(tables: memo.tables, time: event.timestamp)
            return holds(predicate, event, match, memo: &memo, evaluator)
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

    /// Predicate `predicate` through `evaluator`: one that reads only the event once per event (`memo`).
    @inline(__always)
    private func holds(
        _ predicate: Int, _ event: Event, _ match: MatchNode?, memo: inout PredicateMemo,
        _ evaluator: FlatExpressions.Evaluator
    ) -> Bool {
        guard !predicateReadsMatch[predicate] else { return evaluator.holds(predicate, current: event, match: match) }
        if let known = memo.results[predicate] { return known }
        let holds = evaluator.holds(predicate, current: event, match: nil)
        memo.results[predicate] = holds
        return holds
    }

    /// Prepares `memo` for a new event.
    @inline(__always)
    func reset(_ memo: inout PredicateMemo) {
        guard hasEventOnlyPredicates else { return }
        if memo.results.count != predicateReadsMatch.count {
            memo.results = Array(repeating: nil, count: predicateReadsMatch.count)
        } else {
            memo.results.withUnsafeMutableBufferPointer { $0.update(repeating: nil) }
        }
    }
}

/// The results of a pattern's predicates that read only the current event, for the event being matched
/// (`CompiledNFA.edgeHolds`).
struct PredicateMemo {
    /// Per predicate index: its result for the event, nil until evaluated.
    var results: [Bool?] = []
    /// The engine's tables, for a pattern that looks them up (`PatternMatcher.lookUp(in:)`).
    unowned(unsafe) var tables: TableStore?
    /// Whether `tables` is set: a flag, since testing an unowned reference for nil retains it (on every predicate).
    var looksUpTables = false
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
