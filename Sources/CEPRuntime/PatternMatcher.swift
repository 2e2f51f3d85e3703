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

/// Runs one pattern for every key: buffers each key's events until the watermark passes them, then feeds them to
/// the key's NFA (`NFAExecutor`) in matching order, and lets windows end as event time passes. Pure and
/// synchronous: events and watermarks in, matches out.
public struct PatternMatcher {
    /// Index into `Automaton.patterns`.
    public let index: Int
    let executor: NFAExecutor
    /// Key values to slots.
    var keyIndex: [Value: Int32] = [:]
    /// Per-key state; a slot is free (on `freeSlots`) when no key uses it.
    var slots: [KeySlot] = []
    var freeSlots: [Int32] = []
    /// Keys to look at when the watermark reaches a time.
    var timers = TimerQueue()
    /// The watermark this pattern has been advanced to.
    public internal(set) var watermark: Int64 = .min
    /// Buffers the executor reuses from call to call.
    var scratch = NFAExecutor.Scratch()

    struct KeySlot {
        var key: Value
        var state: KeyState
    }

    /// Creates the matcher of `automaton.patterns[index]`.
    public init(_ automaton: Automaton, index: Int) {
        self.index = index
        self.executor = NFAExecutor(automaton.patterns[index], index: index)
    }

    /// Number of keys that hold state.
    public var activeKeys: Int { keyIndex.count }

    /// Number of partial matches that have bound at least one event, over all keys.
    public var openPartialMatches: Int {
        keyIndex.values.reduce(0) { total, slot in total + slots[Int(slot)].state.partial.elements.count { $0.hasStarted } }
    }

    /// Number of events waiting for the watermark, over all keys.
    public var bufferedEvents: Int { keyIndex.values.reduce(0) { $0 + slots[Int($1)].state.buffer.count } }

    // MARK: - Event time

    /// Buffers an event of `key` until the watermark passes it. Returns false, and buffers nothing, when the
    /// event is late: its timestamp is at or below the watermark (Flink's CepOperator rule).
    public mutating func buffer(_ event: Event, key: Value) -> Bool {
        guard event.timestamp > watermark else { return false }
        let slot = slotIndex(for: key)
        slots[Int(slot)].state.buffer(event)
        if slots[Int(slot)].state.timer.map({ event.timestamp < $0 }) ?? true {
            slots[Int(slot)].state.timer = event.timestamp
            schedule(slot, at: event.timestamp)
        }
        return true
    }

    /// Queues a visit of the key in `slot` at `time`, unless one is already queued for that time.
    private mutating func schedule(_ slot: Int32, at time: Int64) {
        guard !slots[Int(slot)].state.queuedTimers.contains(time) else { return }
        slots[Int(slot)].state.queuedTimers.insert(time)
        timers.push(time: time, slot: slot)
    }

    private mutating func slotIndex(for key: Value) -> Int32 {
        if let existing = keyIndex[key] { return existing }
        let slot: Int32
        if let free = freeSlots.popLast() {
            // A freed slot keeps its (empty) buffers' capacity: a new key costs no allocation.
            slot = free
            slots[Int(slot)].key = key
        } else {
            slot = Int32(slots.count)
            slots.append(KeySlot(key: key, state: KeyState(start: executor.nfa.start)))
        }
        keyIndex[key] = slot
        return slot
    }

    /// Advances event time: every key with buffered events at or below `watermark`, or a window that ends by
    /// then, is matched (Flink's `onEventTime`). Outputs are appended in a deterministic order.
    public mutating func advance(to newWatermark: Int64, into outputs: inout [MatchOutput]) {
        guard newWatermark > watermark else { return }
        watermark = newWatermark
        let executor = self.executor
        while let entry = timers.popIfDue(newWatermark) {
            let slot = Int(entry.slot)
            let (idle, next) = Self.visit(
                &slots[slot], entry: entry, watermark: newWatermark, executor: executor, scratch: &scratch,
                into: &outputs)
            if let next { timers.push(time: next, slot: entry.slot) }
            if idle {
                // Nothing left for this key: free its slot, so that an idle key costs nothing. The slot keeps its
                // (empty, small) buffers for the next key.
                keyIndex[slots[slot].key] = nil
                slots[slot].key = .null
                slots[slot].state.reset(start: executor.nfa.start)
                freeSlots.append(entry.slot)
            }
        }
    }

    /// Handles one timer entry of a key, all through one `inout` access (no copy of the key's state). Returns
    /// whether the key is now idle and the time to queue a new entry for, if any.
    private static func visit(
        _ slot: inout KeySlot, entry: TimerQueue.Entry, watermark: Int64, executor: NFAExecutor,
        scratch: inout NFAExecutor.Scratch, into outputs: inout [MatchOutput]
    ) -> (idle: Bool, next: Int64?) {
        guard slot.state.queuedTimers.remove(entry.time) else { return (false, nil) }
        // The key's own deadline may have moved since this entry was queued: only visit when work is due.
        guard let due = slot.state.timer, due <= watermark else { return (false, nil) }
        executor.run(&slot.state, key: slot.key, to: watermark, scratch: &scratch, into: &outputs)
        let next = executor.nextTimer(slot.state)
        slot.state.timer = next
        if slot.state.isIdle { return (true, nil) }
        guard let next, !slot.state.queuedTimers.contains(next) else { return (false, nil) }
        slot.state.queuedTimers.insert(next)
        return (false, next)
    }
}

/// Runs one pattern's NFA for one key, following Flink CEP's `NFA` step for step: the same edge evaluation order,
/// the same branching, the same window checks and the same after-match skip rules.
struct NFAExecutor {
    let index: Int
    let nfa: CompiledNFA
    let skip: SkipStrategy
    let emitsTimeouts: Bool

    /// Buffers reused across calls, so that processing an event allocates only for what it keeps.
    struct Scratch {
        var edges: [Edge] = []
        var stack: [Int32] = []
        var produced: [PartialMatch] = []
        var retained: [PartialMatch] = []
        var next = StartOrderedQueue<PartialMatch>()
        var potential = StartOrderedQueue<PartialMatch>()
    }

    struct Edge {
        var action: Transition.Action
        var source: Int32
        var target: Int32
    }

    init(_ pattern: PatternAutomaton, index: Int) {
        self.index = index
        self.nfa = CompiledNFA(pattern)
        self.skip = pattern.skip
        self.emitsTimeouts = pattern.timeoutEmit != nil
    }

    /// Feeds the key's buffered events up to `watermark` to the NFA, then lets time pass to `watermark`.
    func run(
        _ state: inout KeyState, key: Value, to watermark: Int64, scratch: inout Scratch, into outputs: inout [MatchOutput]
    ) {
        var consumed = 0
        while consumed < state.buffer.count && state.buffer[consumed].timestamp <= watermark {
            let timestamp = state.buffer[consumed].timestamp
            advanceTime(&state, to: timestamp, key: key, into: &outputs)
            while consumed < state.buffer.count && state.buffer[consumed].timestamp == timestamp {
                let event = state.buffer[consumed]
                process(&state, event, key: key, scratch: &scratch, into: &outputs)
                consumed += 1
            }
        }
        if consumed == state.buffer.count {
            state.buffer.removeAll(keepingCapacity: state.buffer.capacity <= 16)
        } else if consumed > 0 {
            state.buffer.removeFirst(consumed)
        }
        advanceTime(&state, to: watermark, key: key, into: &outputs)
    }

    /// The earliest event time at which the key needs attention: its next buffered event or window end.
    func nextTimer(_ state: KeyState) -> Int64? {
        var next = state.buffer.first?.timestamp
        for match in state.partial.elements where match.hasStarted {
            if let deadline = deadline(of: match) { next = min(next ?? deadline, deadline) }
        }
        return next
    }

    @inline(__always)
    private func deadline(of match: PartialMatch) -> Int64? {
        var result: Int64?
        if let window = nfa.window { result = match.startTimestamp.addingSaturated(window) }
        let stepWindow = nfa.states[Int(match.state)].window
        if stepWindow >= 0 {
            let end = match.previousTimestamp.addingSaturated(stepWindow)
            result = min(result ?? end, end)
        }
        return result
    }

    // MARK: - Flink's NFA.advanceTime

    private func advanceTime(_ state: inout KeyState, to time: Int64, key: Value, into outputs: inout [MatchOutput]) {
        // Nothing ends by `time`: Flink would rebuild the queue in array order, which leaves a heap unchanged, and
        // find no completed match newly unblocked. Skip the work.
        var due = false
        for i in state.partial.elements.indices {
            let match = state.partial.elements[i]
            if match.hasStarted, let end = deadline(of: match), time >= end {
                due = true
                break
            }
        }
        guard due else { return }
        var survivors = StartOrderedQueue<PartialMatch>()
        var potential = StartOrderedQueue<PartialMatch>()
        for match in state.partial.elements {
            guard match.hasStarted, let end = deadline(of: match), time >= end else {
                survivors.add(match)
                continue
            }
            if nfa.states[Int(match.state)].kind == .pending {
                potential.add(match)
                continue
            }
            if emitsTimeouts {
                outputs.append(MatchOutput(pattern: index, key: key, last: match.last, kind: .timeout(at: end)))
            }
        }
        emitCompleted(&state.completed, potential: potential, partial: &survivors, key: key, into: &outputs)
        state.partial = survivors
    }

    // MARK: - Flink's NFA.doProcess

    private func process(
        _ state: inout KeyState, _ event: Event, key: Value, scratch: inout Scratch, into outputs: inout [MatchOutput]
    ) {
        let sequence = state.nextSequence
        state.nextSequence += 1
        scratch.next.removeAll()
        scratch.potential.removeAll()
        // Most events leave most partial matches as they are (an IGNORE loop, or the start state taking nothing).
        // Flink would still rebuild its queue, but re-adding an unchanged heap in array order gives the same
        // array, so the queue is only rebuilt from the first partial match that changes.
        var firstChanged: Int?
        for i in state.partial.elements.indices {
            scratch.produced.removeAll(keepingCapacity: true)
            let outcome = computeNextStates(
                state.partial.elements[i], event, sequence: sequence, edges: &scratch.edges, stack: &scratch.stack,
                into: &scratch.produced)
            if outcome == .unchanged {
                if firstChanged != nil { scratch.next.add(state.partial.elements[i]) }
                continue
            }
            if firstChanged == nil {
                firstChanged = i
                for j in 0..<i { scratch.next.add(state.partial.elements[j]) }
            }
            scratch.retained.removeAll(keepingCapacity: true)
            for candidate in scratch.produced {
                switch nfa.states[Int(candidate.state)].kind {
                case .final: scratch.potential.add(candidate)
                case .stop: break
                default: scratch.retained.append(candidate)
                }
            }
            // A negation saw its event: the whole branch dies (its completed matches were already kept, as in Flink).
            if outcome != .reachedStop { scratch.next.add(contentsOf: scratch.retained) }
        }
        guard firstChanged != nil else { return }
        scratch.produced.removeAll(keepingCapacity: true)
        scratch.retained.removeAll(keepingCapacity: true)
        state.partial.swapContents(with: &scratch.next)
        if !scratch.potential.isEmpty || !state.completed.isEmpty {
            let potential = scratch.potential
            emitCompleted(&state.completed, potential: potential, partial: &state.partial, key: key, into: &outputs)
        }
    }

    /// What one event did to one partial match.
    enum StepOutcome {
        /// Nothing: the partial match stays as it was (nothing was added to the results).
        case unchanged
        /// The results replace it.
        case changed
        /// A negation's event arrived: the partial match and its other results die.
        case reachedStop
    }

    /// Flink's `computeNextStates`.
    private func computeNextStates(
        _ match: PartialMatch, _ event: Event, sequence: UInt64, edges: inout [Edge], stack: inout [Int32],
        into result: inout [PartialMatch]
    ) -> StepOutcome {
        decisionGraph(match, event, edges: &edges, stack: &stack)
        let isStart = Int(match.state) == nfa.start
        // The common cases first: an IGNORE loop back to the same state, or a start state that takes nothing.
        if isStart {
            if !edges.contains(where: { $0.action != .ignore }) { return .unchanged }
        } else if edges.count == 1, edges[0].action == .ignore, edges[0].target == match.state {
            return .unchanged
        }
        var reachedStop = false
        for edge in edges {
            switch edge.action {
            case .ignore:
                if !isStart {
                    var moved = match
                    moved.state = edge.target
                    result.append(moved)
                }
            case .take:
                let target = nfa.states[Int(edge.target)]
                if target.kind == .stop {
                    reachedStop = true
                    continue
                }
                let binding = nfa.states[Int(edge.source)].binding
                guard binding >= 0 else { continue }
                let node = MatchNode(event: event, binding: Int(binding), sequence: sequence, previous: match.last)
                let taken = PartialMatch(
                    state: edge.target, last: node,
                    startTimestamp: isStart ? event.timestamp : match.startTimestamp,
                    startOrder: isStart ? sequence : match.startOrder, previousTimestamp: event.timestamp)
                result.append(taken)
                if let final = finalStateAfterProceed(from: edge.target, event, context: match.last, stack: &stack) {
                    var completed = taken
                    completed.state = final
                    result.append(completed)
                }
            case .proceed:
                break
            }
        }
        if isStart { result.append(match) }
        return reachedStop ? .reachedStop : .changed
    }

    /// Flink's `createDecisionGraph`: follow PROCEED edges depth first (a stack), collect TAKE and IGNORE edges
    /// into `edges`. Reaching a STOP state counts as taking the event into it (Flink's stop states have a
    /// TAKE loop).
    private func decisionGraph(_ match: PartialMatch, _ event: Event, edges: inout [Edge], stack: inout [Int32]) {
        edges.removeAll(keepingCapacity: true)
        stack.removeAll(keepingCapacity: true)
        stack.append(match.state)
        while let current = stack.popLast() {
            let state = nfa.states[Int(current)]
            for e in 0..<Int(state.edgeCount) {
                let edge = nfa.edges[Int(state.firstEdge) + e]
                guard nfa.holds(edge.condition, event, match.last) else { continue }
                switch edge.action {
                case .proceed:
                    if nfa.states[Int(edge.target)].kind == .stop {
                        edges.append(Edge(action: .take, source: edge.target, target: edge.target))
                    } else {
                        stack.append(edge.target)
                    }
                case .take, .ignore:
                    edges.append(Edge(action: edge.action, source: current, target: edge.target))
                }
            }
        }
    }

    /// Flink's `findFinalStateAfterProceed`: whether PROCEED edges from `state` reach the final state for this event.
    private func finalStateAfterProceed(
        from state: Int32, _ event: Event, context: MatchNode?, stack: inout [Int32]
    ) -> Int32? {
        stack.removeAll(keepingCapacity: true)
        stack.append(state)
        while let current = stack.popLast() {
            let info = nfa.states[Int(current)]
            for e in 0..<Int(info.edgeCount) {
                let edge = nfa.edges[Int(info.firstEdge) + e]
                guard edge.action == .proceed, nfa.holds(edge.condition, event, context) else { continue }
                if nfa.states[Int(edge.target)].kind == .final { return edge.target }
                stack.append(edge.target)
            }
        }
        return nil
    }

    // MARK: - After-match skip (Flink's processMatchesAccordingToSkipStrategy)

    private func emitCompleted(
        _ completed: inout StartOrderedQueue<PartialMatch>, potential: StartOrderedQueue<PartialMatch>,
        partial: inout StartOrderedQueue<PartialMatch>, key: Value, into outputs: inout [MatchOutput]
    ) {
        completed.add(contentsOf: potential)
        while let earliest = completed.first {
            if skip != .noSkip, let earliestPartial = partial.first, earliest.startOrder > earliestPartial.startOrder {
                break  // an earlier partial match may still complete: hold this one back
            }
            _ = completed.poll()
            if let pruning = pruningOrder(of: earliest) {
                // Flink: skip past last and skip to next prune starts at or before the event, skip to an element
                // only those strictly before it.
                let inclusive = skip == .pastLast || skip == .toNext
                partial.removeAll { $0.hasStarted && ($0.startOrder < pruning || (inclusive && $0.startOrder == pruning)) }
                completed.removeAll {
                    $0.hasStarted && ($0.startOrder < pruning || (inclusive && $0.startOrder == pruning))
                }
            }
            outputs.append(MatchOutput(pattern: index, key: key, last: earliest.last, kind: .match))
        }
    }

    /// The event (as a sequence number) that the skip strategy prunes relative to.
    private func pruningOrder(of match: PartialMatch) -> UInt64? {
        guard let last = match.last else { return nil }
        switch skip {
        case .noSkip: return nil
        case .pastLast: return last.sequence
        case .toNext: return last.path.first?.sequence
        case .toFirst(let binding): return last.path.first { $0.binding == binding }?.sequence
        case .toLast(let binding): return last.path.last { $0.binding == binding }?.sequence
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

/// Keys (as slots) to revisit at an event time, earliest first; equal times in the order they were registered.
struct TimerQueue {
    struct Entry {
        var time: Int64
        var order: UInt64
        var slot: Int32
    }

    var heap: [Entry] = []
    private var nextOrder: UInt64 = 0

    /// The order the next entry gets (snapshots keep it, so that restored runs order equal times the same way).
    var nextOrderValue: UInt64 {
        get { nextOrder }
        set { nextOrder = newValue }
    }

    var count: Int { heap.count }

    @inline(__always)
    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time != b.time ? a.time < b.time : a.order < b.order
    }

    mutating func push(time: Int64, slot: Int32) {
        heap.append(Entry(time: time, order: nextOrder, slot: slot))
        nextOrder += 1
        heap.withUnsafeMutableBufferPointer { h in
            var k = h.count - 1
            let item = h[k]
            while k > 0 {
                let parent = (k - 1) / 2
                guard Self.less(item, h[parent]) else { break }
                h[k] = h[parent]
                k = parent
            }
            h[k] = item
        }
    }

    /// Removes and returns the earliest entry if its time is at or below `watermark`.
    mutating func popIfDue(_ watermark: Int64) -> Entry? {
        guard let top = heap.first, top.time <= watermark else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap.withUnsafeMutableBufferPointer { h in
                let n = h.count
                var k = 0
                while true {
                    let l = 2 * k + 1
                    guard l < n else { break }
                    var m = l
                    if l + 1 < n && Self.less(h[l + 1], h[l]) { m = l + 1 }
                    guard Self.less(h[m], last) else { break }
                    h[k] = h[m]
                    k = m
                }
                h[k] = last
            }
        }
        return top
    }
}
