import CEPCore

/// A pattern's state in a checkpoint: the matcher's own record (watermark, timer and arrival counters), chunks of
/// the events waiting for the watermark (`PendingEvents.Changes`) and one record per key (`KeyState.record`). The
/// engine decides where they go.
extension PatternMatcher {
    /// What the record holds, as values: taken on the engine's thread, encoded on any.
    var recordParts: RecordParts {
        RecordParts(
            watermark: watermark, nextOrder: timers.nextOrder, nextArrival: pending.nextArrival,
            suppressed: suppressedAlerts)
    }

    struct RecordParts: Sendable {
        let watermark: Int64
        let nextOrder: UInt64
        let nextArrival: UInt64
        /// Alerts suppressed so far (format 4 on).
        let suppressed: Int

        func write(into w: inout SnapshotWriter) {
            w.signed(watermark)
            w.unsigned(nextOrder)
            w.unsigned(nextArrival)
            w.int(suppressed)
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
        if format >= 4 {
            let suppressed = try r.int()
            guard suppressed == 0 || suppression != nil else {
                throw r.fail(
                    "suppressed alerts counted for pattern '\(automaton.patterns[index].name)', which has no 'suppress'"
                )
            }
            suppression?.suppressed = suppressed
        }
    }

    /// Adds an entry of the pattern's suppression (`AlertSuppression`) read from its record: the key and value it
    /// is for (the record's key after the pattern's prefix), the last event time of the alert let through.
    mutating func restoreSuppression(key keyBytes: [UInt8], record: [UInt8], _ automaton: Automaton)
        throws(SnapshotError)
    {
        let name = automaton.patterns[index].name
        guard suppression != nil else {
            throw SnapshotError(message: "corrupt snapshot: suppression state for pattern '\(name)', which has none")
        }
        var k = SnapshotReader(keyBytes)
        let key = AlertSuppression.Key(key: try k.value(), by: try k.value())
        guard k.isAtEnd else { throw k.fail("trailing bytes in a suppression key of pattern '\(name)'") }
        var r = SnapshotReader(record)
        let time = try r.signed()
        guard r.isAtEnd else { throw r.fail("trailing bytes in a suppression record of pattern '\(name)'") }
        guard suppression!.last[key] == nil else {
            throw SnapshotError(
                message: "corrupt snapshot: suppression of \(key.key) in pattern '\(name)' stored twice")
        }
        suppression!.remember(key, time, noting: false)
    }

    /// Adds the events of a stored chunk (`PendingEvents.Changes.write`) that still wait — those after the watermark
    /// — to the queue, with their arrival numbers. Chunks come in key order; `last` is the last arrival read before.
    mutating func restoreWaiting(first: UInt64, record: [UInt8], after last: inout UInt64?, _ automaton: Automaton)
        throws(SnapshotError)
    {
        let pattern = automaton.patterns[index]
        var r = SnapshotReader(record)
        var latest = Int64.min
        for _ in 0..<(try r.count()) {
            let arrival = try r.unsigned()
            // In arrival order over all chunks, from the chunk's key on, and before the pattern's count: no event
            // twice.
            guard arrival >= first, last.map({ arrival > $0 }) ?? true, arrival < pending.nextArrival else {
                throw r.fail("waiting event \(arrival) out of order in its chunk of pattern '\(pattern.name)'")
            }
            last = arrival
            let event = try Event.read(&r, automaton, pattern: pattern)
            let key = try r.value()
            latest = max(latest, event.timestamp)
            if event.timestamp > watermark { pending.restore(event, key: key, arrival: arrival) }
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes in a waiting chunk of pattern '\(pattern.name)'") }
        pending.chunks.append((first, latest))
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
    /// What a checkpoint writes of the queue: the events that arrived since the last one and still wait, in chunks
    /// (each a record of its own), and the keys of stored chunks none of whose events waits any more — or, when
    /// `rewrite`, every waiting event after a deletion of all.
    struct Changes: Sendable {
        var rewrite = false
        /// The events to write, in no particular order: `write` sorts them by arrival on the store's thread (at
        /// millions of new waiting events, a sort on the engine's thread held matching up for ~0.1 s).
        var events: [(arrival: UInt64, event: Event, key: Value)] = []
        /// Where the ranges of arrival numbers start: a chunk holds the events of one range of `chunkSize` from here.
        var base: UInt64 = 0
        var removed: [UInt64] = []

        /// Arrival numbers per chunk: a record well under the changelog's fragment size, and few records per
        /// checkpoint.
        static let chunkSize: UInt64 = 2048

        /// Events written.
        var eventCount: Int { events.count }

        /// The key of the chunk holding the event of `arrival`: its range's start.
        func chunk(of arrival: UInt64) -> UInt64 { base + (arrival - base) / Self.chunkSize * Self.chunkSize }

        /// Puts and deletes the records under `prefix` (the pattern's, `Engine.waitingPrefix`): each keyed by its
        /// range's start, big-endian so that a scan reads them in arrival order, and holding its events with their
        /// arrivals and keys, in arrival order.
        mutating func write(into writer: inout some EngineStateWriter, prefix: [UInt8], _ automaton: Automaton) {
            if rewrite { writer.deletePrefix(prefix) }
            var key = SnapshotWriter()
            for first in removed {
                Self.key(first, prefix: prefix, into: &key)
                writer.delete(key.bytes)
            }
            events.sort { $0.arrival < $1.arrival }
            var record = SnapshotWriter()
            var next = 0
            while next < events.count {
                let first = chunk(of: events[next].arrival)
                var end = next
                while end < events.count && events[end].arrival < first + Self.chunkSize { end += 1 }
                Self.key(first, prefix: prefix, into: &key)
                record.removeAll()
                record.unsigned(UInt64(end - next))
                for item in events[next..<end] {
                    record.unsigned(item.arrival)
                    item.event.write(into: &record, automaton)
                    record.value(item.key)
                }
                writer.put(key: key.unsafeBytes, value: record.unsafeBytes)
                next = end
            }
        }

        static func key(_ arrival: UInt64, prefix: [UInt8], into w: inout SnapshotWriter) {
            w.restart(with: prefix)
            w.bigEndian(arrival)
        }

        /// The arrival number in a key `key(_:prefix:into:)` made, or nil for a key of another shape.
        static func arrival(inKey key: some Collection<UInt8>, prefixCount: Int) -> UInt64? {
            guard key.count == prefixCount + 8 else { return nil }
            return key.dropFirst(prefixCount).reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    /// What the next checkpoint writes (every waiting event when `all`) at `watermark`, and from then on the store
    /// counts as holding the queue as it is now.
    mutating func takeChanges(all: Bool, watermark: Int64) -> Changes {
        var changes = Changes(rewrite: all || rewriteAll)
        if changes.rewrite {
            chunks = []
        } else {
            changes.removed = chunks.lazy.filter { $0.latest <= watermark }.map(\.first)
            chunks.removeAll { $0.latest <= watermark }
        }
        // One pass, no sort (the store's thread sorts: `Changes.write`): the events, and each range's latest time
        // for the bookkeeping of stored chunks, in an array by range (the new arrivals lie in [base, nextArrival)).
        let size = Changes.chunkSize
        changes.base =
            changes.rewrite ? heap.entries.lazy.map(\.arrival).min() ?? nextArrival : storedBelow
        var latest = [Int64](repeating: .min, count: Int((nextArrival - changes.base) / size) + 1)
        for entry in heap.entries where changes.rewrite || entry.arrival >= storedBelow {
            let item = items[Int(entry.id)]!
            changes.events.append((entry.arrival, item.event, item.key))
            let range = Int((entry.arrival - changes.base) / size)
            latest[range] = max(latest[range], entry.time)
        }
        for (range, time) in latest.enumerated() where time != .min {
            chunks.append((changes.base + UInt64(range) * size, time))
        }
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
