import CEPCore

/// A pattern's state in a checkpoint: the matcher's own record (watermark, timer and arrival counters, the events
/// waiting for the watermark) and one record per key (`KeyState.record`). The engine decides where they go.
extension PatternMatcher {
    func writeRecord(into w: inout SnapshotWriter, _ automaton: Automaton) {
        recordParts.write(into: &w, automaton)
    }

    /// What `writeRecord` writes, as values: taken on the engine's thread, encoded on any (the waiting events are
    /// shared with the matcher until it changes them).
    var recordParts: RecordParts { RecordParts(watermark: watermark, nextOrder: timers.nextOrder, pending: pending) }

    struct RecordParts: Sendable {
        let watermark: Int64
        let nextOrder: UInt64
        let pending: PendingEvents

        func write(into w: inout SnapshotWriter, _ automaton: Automaton) {
            w.signed(watermark)
            w.unsigned(nextOrder)
            pending.write(into: &w, automaton)
        }
    }

    /// The matcher of `automaton.patterns[index]` as `writeRecord` wrote it, without keys (`restoreKey` adds them).
    init(reading r: inout SnapshotReader, _ automaton: Automaton, index: Int) throws(SnapshotError) {
        self.init(automaton, index: index)
        watermark = try r.signed()
        timers.nextOrder = try r.unsigned()
        pending = try PendingEvents(reading: &r, automaton, pattern: automaton.patterns[index])
    }

    /// The key of `slot` and its record.
    func keyRecord(_ slot: Int32, _ automaton: Automaton) -> (key: Value, record: [UInt8]) {
        let s = slots[Int(slot)]
        return (s.key, s.state.record(automaton))
    }

    /// Adds a key read from its record, with its timer queued as it was.
    mutating func restoreKey(_ key: Value, record: [UInt8], _ automaton: Automaton) throws(SnapshotError) {
        let pattern = automaton.patterns[index]
        let state = try KeyState(record: record, automaton, pattern: pattern)
        // Two records of one key (a damaged store can spell one value twice) would leave a slot the index cannot
        // reach, holding timers of its own.
        let hash = KeyIndex.hash(key)
        guard keyIndex.find(hash, isKey: { slots[Int($0)].key == key }) == nil else {
            throw SnapshotError(message: "corrupt snapshot: key \(key) of pattern '\(pattern.name)' stored twice")
        }
        let slot = Int32(slots.count)
        slots.append(KeySlot(key: key, state: state))
        keyIndex.insert(hash, slot: slot)
        if let time = state.queuedTimer {
            timers.heap.push(TimerQueue.Entry(time: time, order: state.queuedOrder, slot: slot))
        }
    }
}

extension PendingEvents {
    /// The arrival counter, a table of the waiting events, and the heap's entries with their keys.
    func write(into w: inout SnapshotWriter, _ automaton: Automaton) {
        w.unsigned(nextArrival)
        var table = EventTable()
        for entry in heap.entries { table.note(items[Int(entry.id)]!.event) }
        table.write(&w, automaton)
        w.unsigned(UInt64(heap.entries.count))
        for entry in heap.entries {
            let item = items[Int(entry.id)]!
            w.int(table.id(of: item.event))
            w.value(item.key)
            w.unsigned(entry.arrival)
        }
    }

    /// Reads what `write` wrote for `pattern`.
    init(reading r: inout SnapshotReader, _ automaton: Automaton, pattern: PatternAutomaton) throws(SnapshotError) {
        self.init()
        nextArrival = try r.unsigned()
        let events = try EventTable.read(&r, automaton, pattern: pattern).events
        for _ in 0..<(try r.count()) {
            let event = events[try r.index(below: events.count)]
            let key = try r.value()
            let arrival = try r.unsigned()
            // Heap order is restored entry by entry: the array of an equal heap need not be identical, and pops
            // follow the entries' total order, not their positions.
            let id = Int32(items.count)
            items.append((event, key))
            insert(
                Entry(
                    time: event.timestamp, rank: event.sourceRank, id: id, offset: event.origin.offset, arrival: arrival
                ))
        }
    }
}
