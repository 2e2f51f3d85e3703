public import CEPCore

/// A match or a timed-out partial match, produced by a `PatternMatcher`.
public struct MatchOutput: Sendable {
    /// Whether the pattern completed or its window closed first.
    public enum Kind: Sendable, Hashable {
        /// A complete match.
        case match
        /// A partial match whose window ended at this event time (only for patterns with `on timeout`).
        case timeout(at: Int64)
    }

    /// Index into `Automaton.patterns`.
    public var pattern: Int
    /// The key value the match belongs to.
    public var key: Value
    /// The newest node of the match; `last.path` lists its events.
    public var last: MatchNode?
    /// Match or timeout.
    public var kind: Kind
}

/// Runs one pattern's NFA for every key, following Flink CEP's `NFA` step for step: the same edge evaluation
/// order, the same branching, the same window checks and the same after-match skip rules. Pure and synchronous:
/// events and watermarks in, matches out.
public struct PatternMatcher {
    /// Index into `Automaton.patterns`.
    public let index: Int
    let pattern: PatternAutomaton
    private let stateKinds: [NFAState.Kind]
    /// Per-key state; a key is absent when it holds nothing.
    var keys: [Value: KeyState] = [:]
    /// Keys to look at when the watermark reaches a time.
    var timers = TimerQueue()
    /// The watermark this pattern has been advanced to.
    public private(set) var watermark: Int64 = .min

    /// Creates the matcher of `automaton.patterns[index]`.
    public init(_ automaton: Automaton, index: Int) {
        self.index = index
        self.pattern = automaton.patterns[index]
        self.stateKinds = pattern.states.map(\.kind)
    }

    /// Number of keys that hold state.
    public var activeKeys: Int { keys.count }

    /// Number of partial matches that have bound at least one event, over all keys.
    public var openPartialMatches: Int {
        keys.values.reduce(0) { $0 + $1.partial.elements.count { $0.hasStarted } }
    }

    /// Number of events waiting for the watermark, over all keys.
    public var bufferedEvents: Int { keys.values.reduce(0) { $0 + $1.buffer.count } }

    // MARK: - Event time

    /// Buffers an event of `key` until the watermark passes it. Returns false, and buffers nothing, when the
    /// event is late: its timestamp is at or below the watermark (Flink's CepOperator rule).
    public mutating func buffer(_ event: Event, key: Value) -> Bool {
        guard event.timestamp > watermark else { return false }
        var state = keys[key] ?? KeyState(start: pattern.start)
        state.buffer(event)
        if state.timer.map({ event.timestamp < $0 }) ?? true {
            state.timer = event.timestamp
            timers.push(time: event.timestamp, key: key)
        }
        keys[key] = state
        return true
    }

    /// Advances event time: every key with buffered events at or below `watermark`, or a window that ends by
    /// then, is matched (Flink's `onEventTime`). Outputs are appended in a deterministic order.
    public mutating func advance(to newWatermark: Int64, into outputs: inout [MatchOutput]) {
        guard newWatermark > watermark else { return }
        watermark = newWatermark
        while let entry = timers.popIfDue(newWatermark) {
            guard var state = keys[entry.key], state.timer == entry.time else { continue }
            keys[entry.key] = nil  // avoid a copy of the state while it is mutated
            run(&state, key: entry.key, to: newWatermark, into: &outputs)
            state.timer = nextTimer(state)
            if let timer = state.timer { timers.push(time: timer, key: entry.key) }
            if !state.isIdle { keys[entry.key] = state }
        }
    }

    /// Feeds the key's buffered events up to `watermark` to the NFA, then lets time pass to `watermark`.
    private func run(_ state: inout KeyState, key: Value, to watermark: Int64, into outputs: inout [MatchOutput]) {
        var consumed = 0
        let buffer = state.buffer
        while consumed < buffer.count && buffer[consumed].timestamp <= watermark {
            let timestamp = buffer[consumed].timestamp
            advanceTime(&state, to: timestamp, key: key, into: &outputs)
            while consumed < buffer.count && buffer[consumed].timestamp == timestamp {
                process(&state, buffer[consumed], key: key, into: &outputs)
                consumed += 1
            }
        }
        state.buffer.removeFirst(consumed)
        advanceTime(&state, to: watermark, key: key, into: &outputs)
    }

    /// The earliest event time at which the key needs attention: its next buffered event or window end.
    private func nextTimer(_ state: KeyState) -> Int64? {
        var next = state.buffer.first?.timestamp
        for match in state.partial.elements where match.hasStarted {
            if let deadline = deadline(of: match) { next = min(next ?? deadline, deadline) }
        }
        return next
    }

    private func deadline(of match: PartialMatch) -> Int64? {
        var result: Int64?
        if let window = pattern.window { result = match.startTimestamp.addingSaturated(window) }
        if let window = pattern.states[Int(match.state)].window {
            let end = match.previousTimestamp.addingSaturated(window)
            result = min(result ?? end, end)
        }
        return result
    }

    // MARK: - Flink's NFA.advanceTime

    private func advanceTime(_ state: inout KeyState, to time: Int64, key: Value, into outputs: inout [MatchOutput]) {
        // Nothing ends by `time`: Flink would rebuild the queue in array order, which leaves a heap unchanged, and
        // find no completed match newly unblocked. Skip the work.
        guard state.partial.elements.contains(where: { $0.hasStarted && (deadline(of: $0).map { time >= $0 } ?? false) })
        else { return }
        var survivors = StartOrderedQueue<PartialMatch>()
        var potential = StartOrderedQueue<PartialMatch>()
        for match in state.partial.elements {
            guard match.hasStarted, let end = deadline(of: match), time >= end else {
                survivors.add(match)
                continue
            }
            if stateKinds[Int(match.state)] == .pending {
                potential.add(match)
                continue
            }
            if pattern.timeoutEmit != nil {
                outputs.append(MatchOutput(pattern: index, key: key, last: match.last, kind: .timeout(at: end)))
            }
        }
        emitCompleted(&state, potential: potential, partial: &survivors, key: key, into: &outputs)
        state.partial = survivors
    }

    // MARK: - Flink's NFA.doProcess

    private func process(_ state: inout KeyState, _ event: Event, key: Value, into outputs: inout [MatchOutput]) {
        let sequence = state.nextSequence
        state.nextSequence += 1
        var next = StartOrderedQueue<PartialMatch>()
        var potential = StartOrderedQueue<PartialMatch>()
        var produced: [PartialMatch] = []
        for match in state.partial.elements {
            produced.removeAll(keepingCapacity: true)
            let reachedStop = computeNextStates(match, event, sequence: sequence, into: &produced)
            var retained: [PartialMatch] = []
            for candidate in produced {
                switch stateKinds[Int(candidate.state)] {
                case .final: potential.add(candidate)
                case .stop: break
                default: retained.append(candidate)
                }
            }
            // A negation saw its event: the whole branch dies (its completed matches were already kept, as in Flink).
            if !reachedStop { next.add(contentsOf: retained) }
        }
        emitCompleted(&state, potential: potential, partial: &next, key: key, into: &outputs)
        state.partial = next
    }

    private struct Edge {
        var action: Transition.Action
        var source: Int
        var target: Int
    }

    /// Flink's `computeNextStates`; returns whether a STOP state was reached.
    private func computeNextStates(
        _ match: PartialMatch, _ event: Event, sequence: UInt64, into result: inout [PartialMatch]
    ) -> Bool {
        let edges = decisionGraph(match, event)
        let isStart = Int(match.state) == pattern.start
        var reachedStop = false
        for edge in edges {
            switch edge.action {
            case .ignore:
                if !isStart {
                    var moved = match
                    moved.state = Int32(edge.target)
                    result.append(moved)
                }
            case .take:
                if stateKinds[edge.target] == .stop {
                    reachedStop = true
                    continue
                }
                guard let binding = pattern.states[edge.source].binding else { continue }
                let node = MatchNode(event: event, binding: binding, sequence: sequence, previous: match.last)
                let startTimestamp = isStart ? event.timestamp : match.startTimestamp
                let startOrder = isStart ? sequence : match.startOrder
                let taken = PartialMatch(
                    state: Int32(edge.target), last: node, startTimestamp: startTimestamp, startOrder: startOrder,
                    previousTimestamp: event.timestamp)
                result.append(taken)
                if let final = finalStateAfterProceed(from: edge.target, event, context: match.last) {
                    var completed = taken
                    completed.state = Int32(final)
                    result.append(completed)
                }
            case .proceed:
                break
            }
        }
        if isStart { result.append(match) }
        return reachedStop
    }

    /// Flink's `createDecisionGraph`: follow PROCEED edges depth first (a stack), collect TAKE and IGNORE edges.
    /// Reaching a STOP state counts as taking the event into it (Flink's stop states have a TAKE loop).
    private func decisionGraph(_ match: PartialMatch, _ event: Event) -> [Edge] {
        var edges: [Edge] = []
        var stack = [Int(match.state)]
        while let current = stack.popLast() {
            for transition in pattern.states[current].transitions
            where holds(transition.condition, event, match.last) {
                switch transition.action {
                case .proceed:
                    if stateKinds[transition.target] == .stop {
                        edges.append(Edge(action: .take, source: transition.target, target: transition.target))
                    } else {
                        stack.append(transition.target)
                    }
                case .take, .ignore:
                    edges.append(Edge(action: transition.action, source: current, target: transition.target))
                }
            }
        }
        return edges
    }

    /// Flink's `findFinalStateAfterProceed`: whether PROCEED edges from `state` reach the final state for this event.
    private func finalStateAfterProceed(from state: Int, _ event: Event, context: MatchNode?) -> Int? {
        var stack = [state]
        while let current = stack.popLast() {
            for transition in pattern.states[current].transitions
            where transition.action == .proceed && holds(transition.condition, event, context) {
                if stateKinds[transition.target] == .final { return transition.target }
                stack.append(transition.target)
            }
        }
        return nil
    }

    func holds(_ condition: Condition, _ event: Event, _ match: MatchNode?) -> Bool {
        switch condition {
        case .always: return true
        case .stream(let stream): return event.stream == stream
        case .predicate(let index):
            return ExpressionEvaluator(current: event, match: match).holds(pattern.predicates[index])
        case .not(let inner): return !holds(inner, event, match)
        case .and(let parts): return parts.allSatisfy { holds($0, event, match) }
        case .or(let parts): return parts.contains { holds($0, event, match) }
        }
    }

    // MARK: - After-match skip (Flink's processMatchesAccordingToSkipStrategy)

    private func emitCompleted(
        _ state: inout KeyState, potential: StartOrderedQueue<PartialMatch>,
        partial: inout StartOrderedQueue<PartialMatch>, key: Value, into outputs: inout [MatchOutput]
    ) {
        state.completed.add(contentsOf: potential)
        while let earliest = state.completed.first {
            if pattern.skip != .noSkip, let earliestPartial = partial.first,
                earliest.startOrder > earliestPartial.startOrder
            {
                break  // an earlier partial match may still complete: hold this one back
            }
            _ = state.completed.poll()
            if let pruning = pruningOrder(of: earliest) {
                let prune = shouldPrune(pruning)
                partial.removeAll { $0.hasStarted && prune($0.startOrder) }
                state.completed.removeAll { $0.hasStarted && prune($0.startOrder) }
            }
            outputs.append(MatchOutput(pattern: index, key: key, last: earliest.last, kind: .match))
        }
    }

    /// The event (as a sequence number) that the skip strategy prunes relative to.
    private func pruningOrder(of match: PartialMatch) -> UInt64? {
        guard let last = match.last else { return nil }
        switch pattern.skip {
        case .noSkip: return nil
        case .pastLast: return last.sequence
        case .toNext: return last.path.first?.sequence
        case .toFirst(let binding): return last.path.first { $0.binding == binding }?.sequence
        case .toLast(let binding): return last.path.last { $0.binding == binding }?.sequence
        }
    }

    private func shouldPrune(_ pruning: UInt64) -> (UInt64) -> Bool {
        switch pattern.skip {
        case .toFirst, .toLast: return { $0 < pruning }
        default: return { $0 <= pruning }
        }
    }
}

extension Int64 {
    /// Addition that stops at the bounds instead of trapping: windows near the end of time stay ordered.
    @inlinable
    func addingSaturated(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// Keys to revisit at an event time, earliest first; equal times in the order they were registered.
struct TimerQueue {
    struct Entry {
        var time: Int64
        var order: UInt64
        var key: Value
    }

    private(set) var heap: [Entry] = []
    private var nextOrder: UInt64 = 0

    var count: Int { heap.count }

    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time != b.time ? a.time < b.time : a.order < b.order
    }

    mutating func push(time: Int64, key: Value) {
        heap.append(Entry(time: time, order: nextOrder, key: key))
        nextOrder += 1
        var k = heap.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            guard Self.less(heap[k], heap[parent]) else { break }
            heap.swapAt(k, parent)
            k = parent
        }
    }

    /// Removes and returns the earliest entry if its time is at or below `watermark`.
    mutating func popIfDue(_ watermark: Int64) -> Entry? {
        guard let top = heap.first, top.time <= watermark else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var k = 0
            while true {
                let l = 2 * k + 1, r = l + 1
                var m = k
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                if m == k { break }
                heap.swapAt(k, m)
                k = m
            }
        }
        return top
    }
}
