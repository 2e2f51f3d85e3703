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

    /// The pattern.
    public var pattern: PatternID
    /// The key value the match belongs to.
    public var key: Value
    /// The newest node of the match; `last.path` lists its events.
    public var last: MatchNode?
    /// Match or timeout.
    public var kind: Kind
    /// The rows its alert reads (`PatternAutomaton.rowSites`, nil: none), looked up as of its last event's time.
    public var rows: [Event?] = []
}

/// Runs one pattern for every key: holds events until the watermark passes them, then feeds them to their key's
/// NFA (`NFAExecutor`) in matching order, and lets windows end as event time passes. Pure and synchronous: events
/// and watermarks in, matches out.
///
/// Waiting events sit in one queue per pattern, ordered by (time, topic rank, partition, offset) — per key that is
/// exactly the order Flink's CepOperator feeds its NFA. A key gets state only when an event can start a match or
/// it already has partial matches, so the many events that touch no partial match cost a hash lookup and nothing
/// else; a key whose state empties is released.
public struct PatternMatcher {
    /// Index into `Automaton.patterns`.
    public let index: Int
    let executor: NFAExecutor
    /// Key values to slots.
    var keyIndex = KeyIndex()
    /// Per-key state; a slot is free (on `freeSlots`) when no key uses it.
    var slots: [KeySlot] = []
    var freeSlots: [Int32] = []
    /// Events waiting for the watermark.
    var pending = PendingEvents()
    /// Keys to look at when a window of theirs ends.
    var timers = TimerQueue()
    /// The watermark this pattern has been advanced to.
    public internal(set) var watermark: Int64 = .min
    /// Buffers the executor reuses from call to call.
    var scratch = NFAExecutor.Scratch()
    /// Whether to note changed and released keys for incremental checkpoints (off: nothing accumulates).
    var tracksChanges = false
    /// Slots whose key state changed since the last checkpoint (each once).
    var changedSlots: [Int32] = []
    /// Keys released since the last checkpoint: their stored state is deleted.
    var releasedKeys: [Value] = []
    /// The caps on open partial matches and their bookkeeping, when set (`setLimits`).
    var limitState: LimitState?
    /// The alerts let through lately, for a pattern with `suppress`.
    var suppression: AlertSuppression?
    /// The engine's tables, for a pattern that looks them up.
    private(set) var tables: TableStore?
    /// The keys of the rows its alerts read (`PatternAutomaton.rowSites`); nil when they read none.
    let rowKeys: FlatExpressions?
    /// The table of each of those rows.
    let rowTables: [Int]
    /// The lookups of its steps' conditions, each once per step (table, step, key), and their keys ready to
    /// evaluate: what `explain` shows a partial match read. Nil for a pattern that looks no table up.
    let conditionLookups: (sites: [(table: Int, step: Int)], keys: FlatExpressions)?

    struct KeySlot {
        var key: Value
        var state: KeyState
        /// Listed in `changedSlots`.
        var changed = false
        /// Bumped each time the slot is freed, so that a note about an earlier key of the slot can tell.
        var generation: UInt32 = 0
    }

    /// Creates the matcher of `automaton.patterns[index]`.
    public init(_ automaton: Automaton, index: Int) {
        self.index = index
        self.executor = NFAExecutor(automaton.patterns[index], index: index)
        branches = Self.branches(automaton.patterns[index])
        suppression = AlertSuppression(automaton.patterns[index])
        let sites = automaton.patterns[index].rowSites
        rowKeys = sites.isEmpty ? nil : FlatExpressions(sites.map(\.key))
        rowTables = sites.map(\.table)
        conditionLookups = Self.conditionLookups(automaton.patterns[index])
    }

    private static func conditionLookups(_ pattern: PatternAutomaton) -> (
        sites: [(table: Int, step: Int)], keys: FlatExpressions
    )? {
        guard !pattern.tables.isEmpty else { return nil }
        var found: [(table: Int, step: Int, key: CompiledExpr)] = []
        for (predicate, step) in zip(pattern.predicates, pattern.predicateSteps) {
            var stack = [predicate]
            while let expr = stack.popLast() {
                if case .lookup(let table, let key, _) = expr,
                    !found.contains(where: { $0.table == table && $0.step == step && $0.key == key })
                {
                    found.append((table, step, key))
                }
                stack += expr.children
            }
        }
        return (found.map { ($0.table, $0.step) }, FlatExpressions(found.map(\.key)))
    }

    /// Looks tables up in `tables` (the engine's) from now on.
    mutating func lookUp(in tables: TableStore) {
        self.tables = tables
        scratch.memo.tables = tables
        scratch.memo.looksUpTables = true
    }

    /// Looks up the rows the alerts of `outputs[from...]` read, each as of its last event's time.
    private func resolveRows(_ outputs: inout [MatchOutput], from first: Int) {
        guard let rowKeys, let tables, first < outputs.count else { return }
        let sites = rowKeys.evaluator.roots.count
        for o in first..<outputs.count {
            guard let last = outputs[o].last else { continue }
            var rows: [Event?] = []
            rows.reserveCapacity(sites)
            for site in 0..<sites {
                // A key may itself read a row (`lookup(t, lookup(u, x.k).f)`): the checker gives the inner lookup
                // the earlier site, so it is resolved already.
                let key = rows.withUnsafeBufferPointer {
                    rowKeys.evaluate(site, current: nil, match: last, rows: RowContext(resolved: $0))
                }
                rows.append(tables.row(rowTables[site], key: key, at: last.event.timestamp))
            }
            outputs[o].rows = rows
        }
    }

    /// Matches not emitted by `suppress` since the pattern's state began (0 without it).
    public var suppressedAlerts: Int { suppression?.suppressed ?? 0 }

    /// Whether the pattern branches every partial match on every event (an IGNORE that takes anything: `->>` or
    /// `any`), so that a key's partial matches can multiply with its events (see `PartialMatchLimits`).
    let branches: Bool

    private static func branches(_ pattern: PatternAutomaton) -> Bool {
        for (state, nfaState) in pattern.states.enumerated() where state != pattern.start {
            for edge in nfaState.transitions where edge.action == .ignore {
                if case .always = edge.condition { return true }
            }
        }
        return false
    }

    /// Number of keys that hold state.
    public var activeKeys: Int { keyIndex.count }

    /// Number of partial matches that have bound at least one event, over all keys.
    public var openPartialMatches: Int {
        keyIndex.slots.reduce(0) { total, slot in total + slots[Int(slot)].state.startedCount }
    }

    /// Open partial matches (those that have bound an event) by the NFA state they wait in, indexed like the
    /// pattern's `states`: where the pattern's partial matches stand. Walks every key (for metrics, not per event).
    public func partialMatchesByState() -> [Int] {
        var counts = Array(repeating: 0, count: executor.nfa.states.count)
        for slot in keyIndex.slots {
            for match in slots[Int(slot)].state.partial.elements where match.hasStarted {
                counts[Int(match.state)] += 1
            }
        }
        return counts
    }

    /// Number of events waiting for the watermark.
    public var bufferedEvents: Int { pending.count }

    // MARK: - Event time

    /// Holds an event of `key` until the watermark passes it. Returns false, and holds nothing, when the event is
    /// late: its timestamp is at or below the watermark (Flink's CepOperator rule).
    public mutating func buffer(_ event: Event, key: Value) -> Bool {
        guard event.timestamp > watermark else { return false }
        pending.push(event, key: key)
        return true
    }

    /// Advances event time (Flink's `onEventTime`): the events at or below `watermark` are matched in order, then
    /// every key with a window ending by then lets time pass to `watermark`. Outputs are appended in a
    /// deterministic order.
    public mutating func advance(to newWatermark: Int64, into outputs: inout [MatchOutput]) {
        guard newWatermark > watermark else { return }
        watermark = newWatermark
        let firstOutput = outputs.count
        defer {
            resolveRows(&outputs, from: firstOutput)
            if suppression != nil {
                suppression!.filter(&outputs, from: firstOutput, noting: tracksChanges)
                suppression!.expire(at: newWatermark, noting: tracksChanges)
            }
        }
        let executor = self.executor
        while let (event, key) = pending.popIfDue(newWatermark) {
            let slot: Int32
            let hash = KeyIndex.hash(key)
            if let existing = keyIndex.find(hash, isKey: { slots[Int($0)].key == key }) {
                slot = existing
            } else {
                // No state for this key: an event that its start state only ignores changes nothing.
                guard executor.canStart(with: event, scratch: &scratch) else { continue }
                slot = newSlot(for: key, hash: hash)
            }
            let before = limitState == nil ? 0 : slots[Int(slot)].state.startedCount
            var (idle, next) = Self.feed(
                &slots[Int(slot)], event, executor: executor, scratch: &scratch, into: &outputs)
            if let next { slots[Int(slot)].state.queuedOrder = timers.push(time: next, slot: slot) }
            if limitState != nil {
                idle = enforceLimits(slot, before: before, startedBy: slots[Int(slot)].state.nextSequence - 1) || idle
            }
            if tracksChanges { markChanged(slot) }
            if idle { release(slot) }
        }
        while let entry = timers.popIfDue(newWatermark) {
            let before = limitState == nil ? 0 : slots[Int(entry.slot)].state.startedCount
            var (idle, next) = Self.expire(
                &slots[Int(entry.slot)], entry: entry, watermark: newWatermark, executor: executor, scratch: &scratch,
                into: &outputs)
            if let next { slots[Int(entry.slot)].state.queuedOrder = timers.push(time: next, slot: entry.slot) }
            if limitState != nil { idle = enforceLimits(entry.slot, before: before, startedBy: nil) || idle }
            if tracksChanges { markChanged(entry.slot) }
            if idle { release(entry.slot) }
        }
    }

    private mutating func newSlot(for key: Value, hash: UInt64) -> Int32 {
        let slot: Int32
        if let free = freeSlots.popLast() {
            // A freed slot keeps its (empty, small) queues' capacity: a new key costs no allocation.
            slot = free
            slots[Int(slot)].key = key
        } else {
            slot = Int32(slots.count)
            slots.append(KeySlot(key: key, state: KeyState(start: executor.nfa.start)))
        }
        keyIndex.insert(hash, slot: slot)
        return slot
    }

    /// Notes that a key's state changed since the last checkpoint.
    @inline(__always)
    mutating func markChanged(_ slot: Int32) {
        guard !slots[Int(slot)].changed else { return }
        slots[Int(slot)].changed = true
        changedSlots.append(slot)
    }

    /// The slots changed and the keys released since the last call, and clears those notes.
    mutating func takeChanges() -> (changed: [Int32], released: [Value]) {
        for slot in changedSlots { slots[Int(slot)].changed = false }
        defer {
            changedSlots.removeAll(keepingCapacity: true)
            releasedKeys.removeAll(keepingCapacity: true)
        }
        return (changedSlots, releasedKeys)
    }

    /// Whether `slot` holds a key now (it may have been freed since it was noted).
    func holdsKey(_ slot: Int32) -> Bool {
        let key = slots[Int(slot)].key
        return keyIndex.find(KeyIndex.hash(key), isKey: { slots[Int($0)].key == key }) == slot
    }

    /// Nothing left for this key: free its slot, so that an idle key costs nothing.
    mutating func release(_ slot: Int32) {
        if tracksChanges { releasedKeys.append(slots[Int(slot)].key) }
        keyIndex.remove(KeyIndex.hash(slots[Int(slot)].key), slot: slot)
        slots[Int(slot)].key = .null
        slots[Int(slot)].state.reset(start: executor.nfa.start)
        slots[Int(slot)].generation &+= 1
        freeSlots.append(slot)
    }

    /// Feeds one event to its key, all through one `inout` access (no copy of the key's state). Returns whether
    /// the key is now idle and a time to queue a timer entry for, if a new one is needed.
    private static func feed(
        _ slot: inout KeySlot, _ event: Event, executor: NFAExecutor, scratch: inout NFAExecutor.Scratch,
        into outputs: inout [MatchOutput]
    ) -> (idle: Bool, next: Int64?) {
        var changed = false
        if event.timestamp > slot.state.eventTime {
            changed = executor.advanceTime(
                &slot.state, to: event.timestamp, key: slot.key, scratch: &scratch, into: &outputs)
            slot.state.eventTime = event.timestamp
        }
        changed = executor.process(&slot.state, event, key: slot.key, scratch: &scratch, into: &outputs) || changed
        return reschedule(&slot.state, executor: executor, partialsChanged: changed)
    }

    /// A timer entry of a key is due: let time pass to the watermark for it.
    private static func expire(
        _ slot: inout KeySlot, entry: TimerQueue.Entry, watermark: Int64, executor: NFAExecutor,
        scratch: inout NFAExecutor.Scratch, into outputs: inout [MatchOutput]
    ) -> (idle: Bool, next: Int64?) {
        guard slot.state.queuedTimer == entry.time else { return (false, nil) }  // stale: an earlier one took over
        slot.state.queuedTimer = nil
        // The key's windows may have changed since this entry was queued: only act when one has ended.
        if let due = slot.state.timer, due <= watermark {
            executor.advanceTime(&slot.state, to: watermark, key: slot.key, scratch: &scratch, into: &outputs)
        }
        return reschedule(&slot.state, executor: executor, partialsChanged: true)
    }

    /// Sets the key's timer to its earliest window end — known already when its partial matches did not change
    /// (most events: `nextDeadline` reads every partial match) — and says whether the key is idle and when to
    /// queue it.
    private static func reschedule(_ state: inout KeyState, executor: NFAExecutor, partialsChanged: Bool) -> (
        idle: Bool, next: Int64?
    ) {
        let next = partialsChanged ? executor.nextDeadline(state) : state.timer
        state.timer = next
        if state.isIdle { return (true, nil) }
        // A queued entry at or before `next` will come first and reschedule then.
        guard let next, state.queuedTimer.map({ next < $0 }) ?? true else { return (false, nil) }
        state.queuedTimer = next
        return (false, next)
    }
}

/// Events waiting for the watermark, in matching order: time, then topic rank and partition, then offset, then
/// arrival. The heap holds small plain entries; the events sit in a side table.
struct PendingEvents: Sendable {
    struct Entry: TimeOrdered, Sendable {
        var time: Int64
        var rank: Int32
        var id: Int32
        var offset: Int64
        var arrival: UInt64

        @inline(__always)
        static func precedes(_ a: Entry, _ b: Entry) -> Bool {
            if a.time != b.time { return a.time < b.time }
            if a.rank != b.rank { return a.rank < b.rank }
            if a.offset != b.offset { return a.offset < b.offset }
            return a.arrival < b.arrival
        }
    }

    var heap = TimeOrderedHeap<Entry>()
    var items: [(event: Event, key: Value)?] = []
    var freeIDs: [Int32] = []
    var nextArrival: UInt64 = 0

    // What the store holds, so that a checkpoint writes each waiting event once (rewriting the whole queue at every
    // checkpoint cost seconds when millions wait). The queue holds exactly the events buffered with a time above
    // the watermark, so a stored chunk's events at or below the watermark are known to have left it.
    /// Waiting events that arrived before this are in stored chunks (taken by the last checkpoint).
    var storedBelow: UInt64 = 0
    /// The stored chunks: each one's key (the start of its range of arrival numbers) and the latest time of its
    /// events — once the watermark reaches that, none of them waits and the next checkpoint deletes the chunk.
    var chunks: [(first: UInt64, latest: Int64)] = []
    /// The next checkpoint deletes what the store holds of the queue and writes every waiting event: after a reload
    /// or a restore of format 2, when what the store holds is not known chunk by chunk.
    var rewriteAll = false

    var count: Int { heap.count }

    mutating func push(_ event: Event, key: Value) {
        let id: Int32
        if let free = freeIDs.popLast() {
            id = free
            items[Int(id)] = (event, key)
        } else {
            id = Int32(items.count)
            items.append((event, key))
        }
        insert(
            Entry(
                time: event.timestamp, rank: event.sourceRank, id: id, offset: event.origin.offset, arrival: nextArrival
            ))
        nextArrival += 1
    }

    /// Adds an entry whose item is already in `items` (restoring a snapshot).
    mutating func insert(_ entry: Entry) { heap.push(entry) }

    /// Removes and returns the first event if its time is at or below `watermark`.
    mutating func popIfDue(_ watermark: Int64) -> (Event, Value)? {
        guard let top = heap.popIfDue(watermark) else { return nil }
        let item = items[Int(top.id)]!
        items[Int(top.id)] = nil
        freeIDs.append(top.id)
        return (item.event, item.key)
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
        var memo = PredicateMemo()
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

    /// Whether the start state takes `event` (so that a key without state needs some).
    func canStart(with event: Event, scratch: inout Scratch) -> Bool {
        if nfa.leavesUnchanged(Int32(nfa.start), stream: event.stream) { return false }
        nfa.reset(&scratch.memo)
        decisionGraph(
            PartialMatch.start(nfa.start), event, edges: &scratch.edges, stack: &scratch.stack, memo: &scratch.memo)
        return scratch.edges.contains { $0.action != .ignore }
    }

    /// The earliest end of a window of the key's partial matches, if any.
    func nextDeadline(_ state: KeyState) -> Int64? {
        var next: Int64?
        for match in state.partial.elements where match.hasStarted {
            if let deadline = deadline(of: match) { next = min(next ?? deadline, deadline) }
        }
        return next
    }

    ///
    /// A window that would end after the largest timestamp (`Int64.max`) never ends: Flink's test
    /// `timestamp - start >= window` is false for every later timestamp, so an event at `Int64.max` still matches
    /// (a saturated end would have closed the window just before it).
    @inline(__always)
    private func deadline(of match: PartialMatch) -> Int64? {
        var result: Int64?
        if let window = nfa.window {
            let (end, overflow) = match.startTimestamp.addingReportingOverflow(window)
            if !overflow { result = end }
        }
        let stepWindow = nfa.states[Int(match.state)].window
        if stepWindow >= 0 {
            let (end, overflow) = match.previousTimestamp.addingReportingOverflow(stepWindow)
            if !overflow { result = min(result ?? end, end) }
        }
        return result
    }

    // MARK: - Flink's NFA.advanceTime

    /// Returns whether the key's partial matches may have changed.
    @discardableResult
    func advanceTime(
        _ state: inout KeyState, to time: Int64, key: Value, scratch: inout Scratch, into outputs: inout [MatchOutput]
    ) -> Bool {
        // Nothing ends by `time`: Flink would rebuild the queue in array order, which leaves a heap unchanged, and
        // find no completed match newly unblocked. Skip the work. (`state.timer` is the earliest window end; the
        // matcher recomputes it after every change of the key's partial matches.)
        guard let due = state.timer, time >= due else { return false }
        // The scratch queues, not new ones: no allocation per key whose window ends (`process` empties them first).
        scratch.next.removeAll()
        scratch.potential.removeAll()
        for match in state.partial.elements {
            guard match.hasStarted, let end = deadline(of: match), time >= end else {
                scratch.next.add(match)
                continue
            }
            if nfa.states[Int(match.state)].kind == .pending {
                scratch.potential.add(match)
                continue
            }
            if emitsTimeouts {
                outputs.append(
                    MatchOutput(pattern: PatternID(index), key: key, last: match.last, kind: .timeout(at: end)))
            }
        }
        state.partial.swapContents(with: &scratch.next)
        emitCompleted(&state.completed, potential: scratch.potential, partial: &state.partial, key: key, into: &outputs)
        return true
    }

    // MARK: - Flink's NFA.doProcess

    /// Returns whether the key's partial or completed matches changed.
    @discardableResult
    func process(
        _ state: inout KeyState, _ event: Event, key: Value, scratch: inout Scratch, into outputs: inout [MatchOutput]
    ) -> Bool {
        let sequence = state.nextSequence
        state.nextSequence += 1
        scratch.next.removeAll()
        scratch.potential.removeAll()
        nfa.reset(&scratch.memo)
        // Most events leave most partial matches as they are (an IGNORE loop, or the start state taking nothing).
        // Flink would still rebuild its queue, but re-adding an unchanged heap in array order gives the same
        // array, so the queue is only rebuilt from the first partial match that changes.
        var firstChanged: Int?
        // Through a buffer pointer rather than the array's subscript (bounds checks, a copy of each partial match
        // per access): a replay of 1M events took 0.92 of the wall time (Benchmarks/ab.sh, 5 runs each).
        state.partial.elements.withUnsafeBufferPointer { partials in
            for i in partials.indices {
                // Waiting for another stream (most partial matches, for most events): decided without the
                // conditions.
                let outcome: StepOutcome
                if nfa.leavesUnchanged(partials[i].state, stream: event.stream) {
                    outcome = .unchanged
                } else {
                    scratch.produced.clear()
                    outcome = computeNextStates(
                        partials[i], event, sequence: sequence, edges: &scratch.edges, stack: &scratch.stack,
                        memo: &scratch.memo, into: &scratch.produced)
                }
                if outcome == .unchanged {
                    if firstChanged != nil { scratch.next.add(partials[i]) }
                    continue
                }
                if firstChanged == nil {
                    firstChanged = i
                    scratch.next.add(heapPrefix: partials[0..<i])
                }
                scratch.retained.clear()
                for candidate in scratch.produced {
                    switch nfa.states[Int(candidate.state)].kind {
                    case .final: scratch.potential.add(candidate)
                    case .stop: break
                    default: scratch.retained.append(candidate)
                    }
                }
                // A negation saw its event: the whole branch dies (its completed matches were already kept, as in
                // Flink).
                if outcome != .reachedStop { scratch.next.add(contentsOf: scratch.retained) }
            }
        }
        guard firstChanged != nil else { return false }
        scratch.produced.clear()
        scratch.retained.clear()
        state.partial.swapContents(with: &scratch.next)
        if !scratch.potential.isEmpty || !state.completed.isEmpty {
            let potential = scratch.potential
            emitCompleted(&state.completed, potential: potential, partial: &state.partial, key: key, into: &outputs)
        }
        return true
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
        _ match: borrowing PartialMatch, _ event: Event, sequence: UInt64, edges: inout [Edge], stack: inout [Int32],
        memo: inout PredicateMemo, into result: inout [PartialMatch]
    ) -> StepOutcome {
        decisionGraph(match, event, edges: &edges, stack: &stack, memo: &memo)
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
                    var moved = copy match
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
                if let final = finalStateAfterProceed(
                    from: edge.target, event, context: match.last, stack: &stack, memo: &memo)
                {
                    var completed = taken
                    completed.state = final
                    result.append(completed)
                }
            case .proceed:
                break
            }
        }
        if isStart { result.append(copy match) }
        return reachedStop ? .reachedStop : .changed
    }

    /// Flink's `createDecisionGraph`: follow PROCEED edges depth first (a stack), collect TAKE and IGNORE edges
    /// into `edges`. Reaching a STOP state counts as taking the event into it (Flink's stop states have a
    /// TAKE loop).
    private func decisionGraph(
        _ match: borrowing PartialMatch, _ event: Event, edges: inout [Edge], stack: inout [Int32],
        memo: inout PredicateMemo
    ) {
        edges.clear()
        stack.clear()
        stack.append(match.state)
        while let current = stack.popLast() {
            let state = nfa.states[Int(current)]
            for e in 0..<Int(state.edgeCount) {
                let edge = nfa.edges[Int(state.firstEdge) + e]
                guard nfa.edgeHolds(edge.condition, event, match.last, memo: &memo) else { continue }
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
        from state: Int32, _ event: Event, context: MatchNode?, stack: inout [Int32], memo: inout PredicateMemo
    ) -> Int32? {
        stack.clear()
        stack.append(state)
        while let current = stack.popLast() {
            let info = nfa.states[Int(current)]
            for e in 0..<Int(info.edgeCount) {
                let edge = nfa.edges[Int(info.firstEdge) + e]
                guard edge.action == .proceed, nfa.edgeHolds(edge.condition, event, context, memo: &memo) else {
                    continue
                }
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
        completed.add(contentsOf: potential.elements)
        while let earliest = completed.first {
            if skip != .noSkip, let earliestPartial = partial.first, earliest.startOrder > earliestPartial.startOrder {
                break  // an earlier partial match may still complete: hold this one back
            }
            _ = completed.poll()
            if let pruning = pruningOrder(of: earliest) {
                // Flink: skip past last and skip to next prune starts at or before the event, skip to an element
                // only those strictly before it.
                let inclusive = skip == .pastLast || skip == .toNext
                let pruned = { (m: PartialMatch) in
                    m.hasStarted && (m.startOrder < pruning || (inclusive && m.startOrder == pruning))
                }
                partial.removeAll(where: pruned)
                completed.removeAll(where: pruned)
            }
            outputs.append(MatchOutput(pattern: PatternID(index), key: key, last: earliest.last, kind: .match))
        }
    }

    /// The event (as a sequence number) that the skip strategy prunes relative to.
    private func pruningOrder(of match: PartialMatch) -> UInt64? {
        guard let last = match.last else { return nil }
        switch skip {
        case .noSkip: return nil
        case .pastLast: return last.sequence
        case .toNext: return match.startOrder  // the sequence of the match's first event
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
    struct Entry: TimeOrdered {
        var time: Int64
        var order: UInt64
        var slot: Int32

        @inline(__always)
        static func precedes(_ a: Entry, _ b: Entry) -> Bool {
            a.time != b.time ? a.time < b.time : a.order < b.order
        }
    }

    var heap = TimeOrderedHeap<Entry>()
    /// The order the next entry gets (snapshots keep it, so that restored runs order equal times the same way).
    var nextOrder: UInt64 = 0

    /// Queues an entry and returns its order.
    @discardableResult
    mutating func push(time: Int64, slot: Int32) -> UInt64 {
        heap.push(Entry(time: time, order: nextOrder, slot: slot))
        nextOrder += 1
        return nextOrder - 1
    }

    /// Removes and returns the earliest entry if its time is at or below `watermark`.
    mutating func popIfDue(_ watermark: Int64) -> Entry? { heap.popIfDue(watermark) }
}
