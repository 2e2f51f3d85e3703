import CEPCore

/// A pattern's state in a checkpoint: the matcher's own record (watermark, timer and arrival counters), one record
/// per event waiting for the watermark (`PendingEvents.Changes`) and one per key (`KeyState.record`). The engine
/// decides where they go.
extension PatternMatcher {
    /// What the record holds, as values: taken on the engine's thread, encoded on any.
    var recordParts: RecordParts {
        RecordParts(watermark: watermark, nextOrder: timers.nextOrder, nextArrival: pending.nextArrival)
    }

    struct RecordParts: Sendable {
        let watermark: Int64
        let nextOrder: UInt64
        let nextArrival: UInt64

        func write(into w: inout SnapshotWriter) {
            w.signed(watermark)
            w.unsigned(nextOrder)
            w.unsigned(nextArrival)
        }
    }

    /// The matcher of `automaton.patterns[index]` as `RecordParts.write` wrote it, without keys (`restoreKey` adds
    /// them) or waiting events (`restoreWaiting`). A record of format 2 holds the waiting events itself.
    init(reading r: inout SnapshotReader, _ automaton: Automaton, index: Int, format: UInt64) throws(SnapshotError) {
        self.init(automaton, index: index)
        watermark = try r.signed()
        timers.nextOrder = try r.unsigned()
        if format == 2 {
            pending = try PendingEvents(readingFormat2: &r, automaton, pattern: automaton.patterns[index])
        } else {
            pending.nextArrival = try r.unsigned()
            pending.storedBelow = pending.nextArrival
        }
    }

    /// Adds an event read from its record (`PendingEvents.Changes.write`) to the queue, with the arrival number its
    /// store key carries.
    mutating func restoreWaiting(arrival: UInt64, record: [UInt8], _ automaton: Automaton) throws(SnapshotError) {
        let pattern = automaton.patterns[index]
        guard arrival < pending.nextArrival else {
            throw SnapshotError(
                message: "corrupt snapshot: waiting event \(arrival) of pattern '\(pattern.name)' arrived after the "
                    + "pattern's count (\(pending.nextArrival))")
        }
        var r = SnapshotReader(record)
        let event = try Event.read(&r, automaton, pattern: pattern)
        let key = try r.value()
        guard r.isAtEnd else { throw r.fail("trailing bytes in a waiting event of pattern '\(pattern.name)'") }
        pending.restore(event, key: key, arrival: arrival)
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
    /// What a checkpoint writes of the queue: the events that arrived since the last one and still wait, and the
    /// arrivals of stored events that have left — or, when `rewrite`, every waiting event after a deletion of all.
    struct Changes: Sendable {
        var rewrite = false
        var added: [(arrival: UInt64, event: Event, key: Value)] = []
        var removed: [UInt64] = []

        /// Puts and deletes the records under `prefix` (the pattern's, `Engine.waitingPrefix`): each keyed by its
        /// arrival, big-endian so that a scan reads them in arrival order, and holding the event and its key.
        func write(into writer: inout some EngineStateWriter, prefix: [UInt8], _ automaton: Automaton) -> (
            written: Int, deleted: Int
        ) {
            if rewrite { writer.deletePrefix(prefix) }
            var key = SnapshotWriter()
            for arrival in removed {
                Self.key(arrival, prefix: prefix, into: &key)
                writer.delete(key.bytes)
            }
            var record = SnapshotWriter()
            for item in added {
                Self.key(item.arrival, prefix: prefix, into: &key)
                record.bytes.removeAll(keepingCapacity: true)
                item.event.write(into: &record, automaton)
                record.value(item.key)
                writer.put(key.bytes, record.bytes)
            }
            return (added.count, removed.count)
        }

        static func key(_ arrival: UInt64, prefix: [UInt8], into w: inout SnapshotWriter) {
            w.bytes.removeAll(keepingCapacity: true)
            w.bytes.append(contentsOf: prefix)
            for shift in stride(from: 56, through: 0, by: -8) {
                w.bytes.append(UInt8(truncatingIfNeeded: arrival >> shift))
            }
        }

        /// The arrival number in a key `key(_:prefix:into:)` made, or nil for a key of another shape.
        static func arrival(inKey key: some Collection<UInt8>, prefixCount: Int) -> UInt64? {
            guard key.count == prefixCount + 8 else { return nil }
            return key.dropFirst(prefixCount).reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    /// What the next checkpoint writes (every waiting event when `all`), and from then on the store counts as
    /// holding the queue as it is now.
    mutating func takeChanges(all: Bool) -> Changes {
        var changes = Changes(rewrite: all || rewriteAll)
        for entry in heap.entries where changes.rewrite || entry.arrival >= storedBelow {
            let item = items[Int(entry.id)]!
            changes.added.append((entry.arrival, item.event, item.key))
        }
        if !changes.rewrite { changes.removed = leftStore }
        leftStore.removeAll(keepingCapacity: true)
        storedBelow = nextArrival
        rewriteAll = false
        return changes
    }

    /// Adds a restored event with the arrival number it had.
    mutating func restore(_ event: Event, key: Value, arrival: UInt64) {
        let id = Int32(items.count)
        items.append((event, key))
        // Heap order is restored entry by entry: the array of an equal heap need not be identical, and pops follow
        // the entries' total order, not their positions.
        insert(
            Entry(time: event.timestamp, rank: event.sourceRank, id: id, offset: event.origin.offset, arrival: arrival))
    }

    /// Reads the queue as a pattern record of format 2 held it: the arrival counter, a table of the waiting events,
    /// and the heap's entries with their keys. The next checkpoint writes them as records of their own.
    init(readingFormat2 r: inout SnapshotReader, _ automaton: Automaton, pattern: PatternAutomaton)
        throws(SnapshotError)
    {
        self.init()
        nextArrival = try r.unsigned()
        let events = try EventTable.read(&r, automaton, pattern: pattern).events
        for _ in 0..<(try r.count()) {
            let event = events[try r.index(below: events.count)]
            let key = try r.value()
            restore(event, key: key, arrival: try r.unsigned())
        }
        rewriteAll = true
    }
}
