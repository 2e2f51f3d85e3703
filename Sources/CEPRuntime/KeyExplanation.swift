public import CEPCore

/// What a pattern holds for one key, for people asking "why didn't this alert fire?": its open partial matches
/// (what each has bound, what it waits for, when it times out), matches held back by the skip strategy, events
/// waiting for the watermark, and the watermark.
public struct KeyExplanation: Sendable {
    /// One event bound to a step.
    public struct Bound: Sendable {
        /// The step's binding name.
        public var step: String
        /// Where the event came from and its event time.
        public var origin: EventOrigin
        public var timestamp: Int64
    }

    /// One open partial match.
    public struct Partial: Sendable {
        /// The NFA state it waits in (`cepd explain` shows the automaton).
        public var state: String
        /// The steps that can take its next event, with their streams: `g (geo)`.
        public var waitsFor: [String]
        /// Steps whose event would discard it (a negation): `c (confirmations)`.
        public var diesOn: [String]
        /// Whether it completes when its window ends without a further event (absence at the end).
        public var completesAtWindowEnd: Bool
        /// Its events, first to last.
        public var bound: [Bound]
        /// When its window ends (event time, ms), if it has one: it times out (or, for an absence, completes)
        /// once the watermark passes this.
        public var windowEnd: Int64?
        /// The table rows its steps' conditions read when they took their events.
        public var rows: [Row] = []
    }

    /// A table row a step's condition read: `lookup(table, key)` as of the step's event.
    public struct Row: Sendable {
        /// The table's name.
        public var table: String
        /// The step whose condition looked it up.
        public var step: String
        /// The key looked up.
        public var key: Value
        /// The event time the lookup was as of (the step's event).
        public var asOf: Int64
        /// The row's declared fields and their values; nil when there was no row.
        public var fields: [(name: String, value: Value)]?
    }

    /// A span in which `suppress` keeps the key's alerts back (for one value of its `by`).
    public struct Suppression: Sendable {
        /// The value of `by` (null without it).
        public var by: Value
        /// The last event time of the last alert let through.
        public var lastAlert: Int64
        /// Matches whose last event is before this are not emitted.
        public var until: Int64
    }

    /// The pattern's name.
    public var pattern: String
    /// The pattern's watermark (epoch ms; `Int64.min` before any).
    public var watermark: Int64
    /// Open partial matches, oldest first.
    public var partial: [Partial]
    /// Completed matches held back until an earlier partial match completes or ends (after-match skip).
    public var heldMatches: Int
    /// Events of the key waiting for the watermark.
    public var bufferedEvents: Int
    /// The key's alerts `suppress` keeps back, by value of `by`, soonest end first.
    public var suppressions: [Suppression] = []

    /// Whether the pattern holds nothing of the key.
    public var isEmpty: Bool { partial.isEmpty && heldMatches == 0 && bufferedEvents == 0 && suppressions.isEmpty }
}

extension PatternMatcher {
    /// What this pattern holds for `key` (an empty explanation when it holds nothing).
    public func explain(key: Value, automaton: Automaton) -> KeyExplanation {
        let pattern = automaton.patterns[index]
        var result = KeyExplanation(
            pattern: pattern.name, watermark: watermark, partial: [], heldMatches: 0,
            bufferedEvents: pending.items.count { $0?.key == key })
        if let suppression {
            // A scan of every entry: for a question asked by a person, not per event.
            result.suppressions = suppression.last.compactMap { entry, time in
                guard entry.key == key else { return nil }
                return KeyExplanation.Suppression(
                    by: entry.by, lastAlert: time, until: time.addingSaturated(suppression.duration))
            }.sorted { ($0.until, AlertFormatter.json($0.by)) < ($1.until, AlertFormatter.json($1.by)) }
        }
        guard let slot = keyIndex.find(KeyIndex.hash(key), isKey: { slots[Int($0)].key == key }) else { return result }
        let state = slots[Int(slot)].state
        result.heldMatches = state.completed.count
        let ordered = state.partial.elements.filter(\.hasStarted).sorted { $0.startOrder < $1.startOrder }
        for match in ordered {
            let (takes, stops) = Self.nextSteps(from: Int(match.state), in: pattern)
            let describe = { (binding: Int) -> String in
                let spec = pattern.bindings[binding]
                return "\(spec.name) (\(automaton.streams[spec.stream].name))"
            }
            var windowEnd: Int64?
            if let window = pattern.window { windowEnd = match.startTimestamp.addingSaturated(window) }
            if let step = pattern.states[Int(match.state)].window {
                let end = match.previousTimestamp.addingSaturated(step)
                windowEnd = min(windowEnd ?? end, end)
            }
            var partial = KeyExplanation.Partial(
                state: pattern.states[Int(match.state)].name, waitsFor: takes.map(describe),
                diesOn: stops.map(describe),
                completesAtWindowEnd: pattern.states[Int(match.state)].kind == .pending,
                bound: (match.last?.path ?? []).map {
                    KeyExplanation.Bound(
                        step: pattern.bindings[$0.binding].name, origin: $0.event.origin,
                        timestamp: $0.event.timestamp)
                },
                windowEnd: windowEnd)
            partial.rows = rowsRead(by: match.last, automaton: automaton)
            result.partial.append(partial)
        }
        return result
    }

    /// The rows the conditions of a partial match's steps read: for each event it bound, each lookup of that
    /// step's conditions, evaluated as the condition was — the event as the current one, the match before it — as
    /// of the event's time (versions that old are still held: the partial match is within its window).
    private func rowsRead(by last: MatchNode?, automaton: Automaton) -> [KeyExplanation.Row] {
        guard let tables, let conditionLookups, let last else { return [] }
        let pattern = automaton.patterns[index]
        var rows: [KeyExplanation.Row] = []
        for node in last.path {
            for (i, lookup) in conditionLookups.sites.enumerated() where lookup.step == node.binding {
                let key = conditionLookups.keys.evaluate(
                    i, current: node.event, match: node.previous,
                    rows: RowContext(tables: tables, time: node.event.timestamp))
                let spec = automaton.streams[lookup.table]
                let row = tables.row(lookup.table, key: key, at: node.event.timestamp)
                rows.append(
                    KeyExplanation.Row(
                        table: spec.name, step: pattern.bindings[node.binding].name, key: key,
                        asOf: node.event.timestamp,
                        fields: row.map { row in spec.fields.indices.map { (spec.fields[$0].dotted, row.field($0)) } }))
            }
        }
        return rows
    }

    /// The bindings whose TAKE edges a partial match in `state` can follow (through PROCEED edges), and those
    /// whose TAKE leads to a stop state (a negation that discards it).
    private static func nextSteps(from state: Int, in pattern: PatternAutomaton) -> (takes: [Int], stops: [Int]) {
        var takes: [Int] = []
        var stops: [Int] = []
        var seen: Set<Int> = [state]
        var stack = [state]
        while let current = stack.popLast() {
            for transition in pattern.states[current].transitions {
                switch transition.action {
                case .take:
                    guard let binding = pattern.states[current].binding else { continue }
                    if pattern.states[transition.target].kind == .stop {
                        if !stops.contains(binding) { stops.append(binding) }
                    } else if !takes.contains(binding) {
                        takes.append(binding)
                    }
                case .proceed:
                    if pattern.states[transition.target].kind == .stop,
                        let binding = pattern.states[transition.target].binding
                    {
                        if !stops.contains(binding) { stops.append(binding) }
                    } else if seen.insert(transition.target).inserted {
                        stack.append(transition.target)
                    }
                case .ignore:
                    break
                }
            }
        }
        return (takes, stops)
    }
}
