public import CEPCore

/// Snapshots of the whole engine state: input partitions and their watermarks, every pattern's per-key partial
/// matches, held matches, buffered events, timers and watermark, and the shared events and match nodes they point
/// at (each stored once). Restoring a snapshot into a fresh engine and feeding it the rest of the input gives
/// byte for byte the output of an uninterrupted run.
///
/// A pattern is restored only when its compiled form is unchanged (same fingerprint); a changed or new pattern
/// starts empty and is listed in `RestoreReport.started`.
extension Engine {
    static let snapshotMagic: [UInt8] = Array("CEPS".utf8)
    /// Bumped whenever the encoding changes; an older or newer snapshot is refused, never misread.
    public static let snapshotVersion: UInt64 = 1

    /// What a restore did with each pattern.
    public struct RestoreReport: Sendable, Hashable {
        /// Patterns whose state was restored.
        public var restored: [String] = []
        /// Patterns that start empty: new, or changed since the snapshot.
        public var started: [String] = []
        /// Patterns in the snapshot that no longer exist.
        public var dropped: [String] = []
    }

    /// A stable fingerprint of a pattern's compiled form and of the streams it reads.
    public func fingerprint(ofPattern index: Int) -> String {
        let pattern = automaton.patterns[index]
        var hash = FNV128()
        hash.add(String(describing: pattern))
        for key in pattern.keys { hash.add(String(describing: automaton.streams[key.stream])) }
        return hash.hex
    }

    /// The engine state as bytes.
    public func snapshot() -> [UInt8] {
        var w = SnapshotWriter()
        w.bytes.append(contentsOf: Self.snapshotMagic)
        w.unsigned(Self.snapshotVersion)
        w.unsigned(UInt64(sources.count))
        for s in sources {
            w.string(s.topic)
            w.signed(Int64(s.partition))
            w.signed(s.maxTimestamp)
            w.bool(s.isIdle)
            w.bool(s.isFinished)
        }
        w.int(stats.events)
        w.int(stats.lateEvents)

        // Shared events and nodes, numbered on first sight.
        var eventIDs: [ObjectIdentifier: Int] = [:]
        var events: [Event] = []
        var nodeIDs: [ObjectIdentifier: Int] = [:]
        var nodes: [MatchNode] = []
        func noteEvent(_ event: Event) {
            if eventIDs[ObjectIdentifier(event)] == nil {
                eventIDs[ObjectIdentifier(event)] = events.count
                events.append(event)
            }
        }
        func noteNode(_ node: MatchNode?) {
            var chain: [MatchNode] = []
            var current = node
            while let n = current, nodeIDs[ObjectIdentifier(n)] == nil {
                chain.append(n)
                current = n.previous
            }
            for n in chain.reversed() {  // parents first
                nodeIDs[ObjectIdentifier(n)] = nodes.count
                nodes.append(n)
                noteEvent(n.event)
            }
        }
        for matcher in matchers {
            for slot in matcher.slots {
                for m in slot.state.partial.elements { noteNode(m.last) }
                for m in slot.state.completed.elements { noteNode(m.last) }
            }
            for item in matcher.pending.items { if let item { noteEvent(item.event) } }
        }
        w.unsigned(UInt64(events.count))
        for e in events {
            w.string(automaton.streams[e.stream].name)
            w.signed(e.timestamp)
            w.unsigned(UInt64(e.fields.count))
            for f in e.fields { w.value(f) }
            w.string(e.origin.topic)
            w.signed(Int64(e.origin.partition))
            w.signed(e.origin.offset)
            w.signed(Int64(e.sourceRank))
        }
        w.unsigned(UInt64(nodes.count))
        for n in nodes {
            w.int(eventIDs[ObjectIdentifier(n.event)]!)
            w.int(n.binding)
            w.unsigned(n.sequence)
            w.int(n.previous.map { nodeIDs[ObjectIdentifier($0)]! } ?? -1)
        }
        func write(_ m: PartialMatch) {
            w.int(Int(m.state))
            w.int(m.last.map { nodeIDs[ObjectIdentifier($0)]! } ?? -1)
            w.signed(m.startTimestamp)
            w.unsigned(m.startOrder)
            w.signed(m.previousTimestamp)
        }
        w.unsigned(UInt64(matchers.count))
        for (p, matcher) in matchers.enumerated() {
            w.string(automaton.patterns[p].name)
            w.string(fingerprint(ofPattern: p))
            w.int(stats.matches[p])
            w.int(stats.timeouts[p])
            w.signed(matcher.watermark)
            w.unsigned(matcher.timers.nextOrder)
            w.unsigned(UInt64(matcher.timers.heap.entries.count))
            for entry in matcher.timers.heap.entries {
                w.signed(entry.time)
                w.unsigned(entry.order)
                w.int(Int(entry.slot))
            }
            w.unsigned(matcher.pending.nextArrival)
            w.unsigned(UInt64(matcher.pending.heap.entries.count))
            for entry in matcher.pending.heap.entries {
                let item = matcher.pending.items[Int(entry.id)]!
                w.int(eventIDs[ObjectIdentifier(item.event)]!)
                w.value(item.key)
                w.unsigned(entry.arrival)
            }
            w.unsigned(UInt64(matcher.freeSlots.count))
            for f in matcher.freeSlots { w.int(Int(f)) }
            w.unsigned(UInt64(matcher.slots.count))
            for slot in matcher.slots {
                w.value(slot.key)
                let s = slot.state
                w.unsigned(UInt64(s.partial.elements.count))
                for m in s.partial.elements { write(m) }
                w.unsigned(UInt64(s.completed.elements.count))
                for m in s.completed.elements { write(m) }
                w.unsigned(s.nextSequence)
                w.bool(s.timer != nil)
                if let timer = s.timer { w.signed(timer) }
                w.bool(s.queuedTimer != nil)
                if let queued = s.queuedTimer { w.signed(queued) }
            }
        }
        return w.bytes
    }

    /// Restores a snapshot into this engine, which must be fresh (no events fed yet).
    public mutating func restore(_ bytes: [UInt8]) throws(SnapshotError) -> RestoreReport {
        var r = SnapshotReader(bytes)
        guard bytes.count >= 4, Array(bytes[0..<4]) == Self.snapshotMagic else {
            throw SnapshotError(message: "not a cepd snapshot")
        }
        r.position = 4
        let version = try r.unsigned()
        guard version == Self.snapshotVersion else {
            throw SnapshotError(
                message: "snapshot format \(version) is not the format this cepd reads (\(Self.snapshotVersion))")
        }
        for _ in 0..<(try r.count()) {
            let topic = try r.string()
            let partition = Int32(truncatingIfNeeded: try r.signed())
            let index = source(topic: topic, partition: partition)
            sources[index].maxTimestamp = try r.signed()
            sources[index].isIdle = try r.bool()
            sources[index].isFinished = try r.bool()
        }
        stats.events = try r.int()
        stats.lateEvents = try r.int()

        let streamIndex = Dictionary(automaton.streams.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var events: [Event?] = []
        for _ in 0..<(try r.count()) {
            let stream = try r.string()
            let timestamp = try r.signed()
            var fields: [Value] = []
            for _ in 0..<(try r.count()) { fields.append(try r.value()) }
            let origin = EventOrigin(
                topic: try r.string(), partition: Int32(truncatingIfNeeded: try r.signed()), offset: try r.signed())
            let rank = Int32(truncatingIfNeeded: try r.signed())
            if let s = streamIndex[stream], automaton.streams[s].fields.count == fields.count {
                events.append(Event(stream: s, timestamp: timestamp, fields: fields, origin: origin, sourceRank: rank))
            } else {
                events.append(nil)  // its stream is gone: only patterns that start empty referred to it
            }
        }
        var nodes: [MatchNode?] = []
        for _ in 0..<(try r.count()) {
            let event = events[try r.index(below: events.count)]
            let binding = try r.int()
            let sequence = try r.unsigned()
            let previous = try r.int()
            guard previous < nodes.count else { throw r.fail("node refers forward") }
            if let event {
                nodes.append(MatchNode(event: event, binding: binding, sequence: sequence, previous: previous < 0 ? nil : nodes[previous]))
            } else {
                nodes.append(nil)
            }
        }
        var report = RestoreReport()
        var seen = Set<String>()
        let patternIndex = Dictionary(automaton.patterns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        for _ in 0..<(try r.count()) {
            let name = try r.string()
            let fingerprint = try r.string()
            let target = patternIndex[name].flatMap { self.fingerprint(ofPattern: $0) == fingerprint ? $0 : nil }
            let matches = try r.int()
            let timeouts = try r.int()
            let watermark = try r.signed()
            var timers = TimerQueue()
            timers.nextOrder = try r.unsigned()
            for _ in 0..<(try r.count()) {
                timers.heap.entries.append(TimerQueue.Entry(time: try r.signed(), order: try r.unsigned(), slot: Int32(try r.int())))
            }
            var pending = PendingEvents()
            pending.nextArrival = try r.unsigned()
            for _ in 0..<(try r.count()) {
                let event = events[try r.index(below: events.count)]
                let key = try r.value()
                let arrival = try r.unsigned()
                if let event {
                    // Heap order is restored entry by entry: the array of an equal heap need not be identical, and
                    // pops follow the entries' total order, not their positions.
                    let id = Int32(pending.items.count)
                    pending.items.append((event, key))
                    pending.insert(
                        PendingEvents.Entry(
                            time: event.timestamp, rank: event.sourceRank, id: id, offset: event.origin.offset,
                            arrival: arrival))
                }
            }
            var freeSlots: [Int32] = []
            for _ in 0..<(try r.count()) { freeSlots.append(Int32(try r.int())) }
            var slots: [PatternMatcher.KeySlot] = []
            func partialMatch(_ r: inout SnapshotReader, states: Int) throws(SnapshotError) -> PartialMatch {
                let state = try r.index(below: states)
                let node = try r.int()
                guard node < nodes.count else { throw r.fail("unknown node") }
                return PartialMatch(
                    state: Int32(state), last: node < 0 ? nil : nodes[node], startTimestamp: try r.signed(),
                    startOrder: try r.unsigned(), previousTimestamp: try r.signed())
            }
            let states = target.map { automaton.patterns[$0].states.count } ?? Int.max
            for _ in 0..<(try r.count()) {
                let key = try r.value()
                var state = KeyState(start: target.map { automaton.patterns[$0].start } ?? 0)
                var partial: [PartialMatch] = []
                for _ in 0..<(try r.count()) { partial.append(try partialMatch(&r, states: states)) }
                var completed: [PartialMatch] = []
                for _ in 0..<(try r.count()) { completed.append(try partialMatch(&r, states: states)) }
                state.partial = StartOrderedQueue(elements: partial)
                state.completed = StartOrderedQueue(elements: completed)
                state.nextSequence = try r.unsigned()
                state.timer = try r.bool() ? try r.signed() : nil
                state.queuedTimer = try r.bool() ? try r.signed() : nil
                slots.append(PatternMatcher.KeySlot(key: key, state: state))
            }
            guard let target else {
                // Gone, or changed (then it starts empty and is reported below).
                if patternIndex[name] == nil { report.dropped.append(name) }
                continue
            }
            guard timers.heap.entries.allSatisfy({ Int($0.slot) < slots.count }), freeSlots.allSatisfy({ Int($0) < slots.count })
            else { throw r.fail("timer or free slot out of range") }
            seen.insert(name)
            var matcher = PatternMatcher(automaton, index: target)
            matcher.watermark = watermark
            matcher.timers = timers
            matcher.freeSlots = freeSlots
            matcher.pending = pending
            matcher.slots = slots
            let free = Set(freeSlots)
            for (i, slot) in slots.enumerated() where !free.contains(Int32(i)) {
                matcher.keyIndex.insert(KeyIndex.hash(slot.key), slot: Int32(i))
            }
            matchers[target] = matcher
            stats.matches[target] = matches
            stats.timeouts[target] = timeouts
            report.restored.append(name)
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
        for pattern in automaton.patterns where !seen.contains(pattern.name) { report.started.append(pattern.name) }
        return report
    }
}
