import CEPCore

/// A key's state record: its own table of the events and nodes its matches bind, its partial and held matches,
/// its sequence counter and timers. (`eventTime` is not stored: see its comment.)
extension KeyState {
    func record(_ automaton: Automaton) -> [UInt8] {
        var w = SnapshotWriter()
        var table = EventTable()
        record(into: &w, table: &table, automaton)
        return w.bytes
    }

    /// Appends the record to `w`, numbering its events and nodes in `table` (emptied first; one table serves
    /// every key of a checkpoint).
    func record(into w: inout SnapshotWriter, table: inout EventTable, _ automaton: Automaton) {
        table.removeAll()
        for m in partial.elements { table.note(m.last) }
        for m in completed.elements { table.note(m.last) }
        table.write(&w, automaton)
        w.unsigned(UInt64(partial.elements.count))
        for m in partial.elements { m.write(into: &w, last: table.id(of: m.last)) }
        w.unsigned(UInt64(completed.elements.count))
        for m in completed.elements { m.write(into: &w, last: table.id(of: m.last)) }
        w.unsigned(nextSequence)
        w.bool(timer != nil)
        if let timer { w.signed(timer) }
        w.bool(queuedTimer != nil)
        if let queuedTimer {
            w.signed(queuedTimer)
            w.unsigned(queuedOrder)
        }
    }

    /// Reads what `record` wrote for a key of `pattern`.
    init(record bytes: [UInt8], _ automaton: Automaton, pattern: PatternAutomaton) throws(SnapshotError) {
        var r = SnapshotReader(bytes)
        let (_, nodes) = try EventTable.read(&r, automaton, pattern: pattern)
        self.init(start: pattern.start)
        var partial: [PartialMatch] = []
        for _ in 0..<(try r.count()) { partial.append(try PartialMatch.read(&r, pattern: pattern, nodes)) }
        var completed: [PartialMatch] = []
        for _ in 0..<(try r.count()) { completed.append(try PartialMatch.read(&r, pattern: pattern, nodes)) }
        self.partial = StartOrderedQueue(elements: partial)
        self.completed = StartOrderedQueue(elements: completed)
        nextSequence = try r.unsigned()
        timer = try r.bool() ? try r.signed() : nil
        if try r.bool() {
            queuedTimer = try r.signed()
            queuedOrder = try r.unsigned()
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes in a key of pattern '\(pattern.name)'") }
    }
}

extension PartialMatch {
    /// Its state, its newest node by number in the record's table, and its timestamps and start order.
    func write(into w: inout SnapshotWriter, last: Int) {
        w.int(Int(state))
        w.int(last)
        w.signed(startTimestamp)
        w.unsigned(startOrder)
        w.signed(previousTimestamp)
    }

    /// Reads what `write` wrote: a state of `pattern`, a node among `nodes` (or none).
    static func read(
        _ r: inout SnapshotReader, pattern: PatternAutomaton, _ nodes: [MatchNode]
    ) throws(SnapshotError) -> PartialMatch {
        let state = try r.index(below: pattern.states.count)
        let node = try r.int()
        guard node < nodes.count else { throw r.fail("unknown node") }
        return PartialMatch(
            state: Int32(state), last: node < 0 ? nil : nodes[node], startTimestamp: try r.signed(),
            startOrder: try r.unsigned(), previousTimestamp: try r.signed())
    }
}
