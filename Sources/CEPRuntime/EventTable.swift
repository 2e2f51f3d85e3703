import CEPCore

/// The part of the shared buffer one state record needs — events and match nodes, numbered on first sight — so
/// that a record stores each once (partial matches of a key share their prefixes and events), as Flink's
/// `SharedBufferNodeSerializer` does for its nodes. Each event and node writes and reads its own fields.
struct EventTable {
    private var events = Numbered<Event>()
    private var nodes = Numbered<MatchNode>()
    /// The chain of nodes `note` walks, kept for its capacity.
    private var chain: [Unmanaged<MatchNode>] = []

    /// Objects numbered by position, unretained: the key state being written holds every event and node a table
    /// notes, and a checkpoint notes millions (a retain and a release each, for nothing). Emptied by its count, not
    /// by the array's `removeAll`, which costs ~100 instructions even keeping its capacity (once per key record).
    private struct Numbered<Object: AnyObject> {
        private var list: [Unmanaged<Object>] = []
        private(set) var count = 0
        /// Numbers by identity, used once the list outgrows a linear search (most keys bind an event or two: a
        /// dictionary per key record would cost more than the record).
        private var ids: [ObjectIdentifier: Int] = [:]
        private static var linearLimit: Int { 16 }

        mutating func removeAll() {
            count = 0
            if !ids.isEmpty { ids.removeAll(keepingCapacity: true) }
        }

        subscript(i: Int) -> Object { list[i].takeUnretainedValue() }

        func find(_ object: Object) -> Int? {
            if count > Self.linearLimit { return ids[ObjectIdentifier(object)] }
            let target = Unmanaged.passUnretained(object).toOpaque()
            var i = 0
            while i < count {
                if list[i].toOpaque() == target { return i }
                i += 1
            }
            return nil
        }

        /// Numbers `object` by its position; the dictionary of numbers is filled when the list reaches
        /// `linearLimit` and kept up from then on.
        mutating func append(_ object: Object) {
            if count >= Self.linearLimit {
                if ids.isEmpty {
                    for i in 0..<count { ids[ObjectIdentifier(list[i].takeUnretainedValue())] = i }
                }
                ids[ObjectIdentifier(object)] = count
            }
            if count < list.count {
                list[count] = Unmanaged.passUnretained(object)
            } else {
                list.append(Unmanaged.passUnretained(object))
            }
            count += 1
        }
    }

    /// Empties the table for the next record, keeping its capacity.
    mutating func removeAll() {
        events.removeAll()
        nodes.removeAll()
    }

    mutating func note(_ event: Event) {
        guard events.find(event) == nil else { return }
        events.append(event)
    }

    mutating func note(_ node: MatchNode?) {
        chain.clear()
        var current = node
        while let n = current, nodes.find(n) == nil {
            chain.append(Unmanaged.passUnretained(n))
            current = n.previous
        }
        for n in chain.reversed() {  // parents first
            nodes.append(n.takeUnretainedValue())
            note(n.takeUnretainedValue().event)
        }
    }

    /// The number `note` gave `event`.
    func id(of event: Event) -> Int { events.find(event)! }

    /// The number `note` gave `node`; -1 for none.
    func id(of node: MatchNode?) -> Int { node.map { nodes.find($0)! } ?? -1 }

    func write(_ w: inout SnapshotWriter, _ automaton: Automaton) {
        w.unsigned(UInt64(events.count))
        for e in 0..<events.count { events[e].write(into: &w, automaton) }
        w.unsigned(UInt64(nodes.count))
        for n in 0..<nodes.count {
            let node = nodes[n]
            node.write(into: &w, event: id(of: node.event), previous: id(of: node.previous))
        }
    }

    /// Reads what `write` wrote for `pattern`, checking what the matcher and the alert formatter rely on without
    /// checking again (see `Event.read` and `MatchNode.read`). A damaged record that slipped past the store's
    /// checksums is refused here, never run (found by Fuzz/ FuzzCheckpoints).
    static func read(
        _ r: inout SnapshotReader, _ automaton: Automaton, pattern: PatternAutomaton
    ) throws(SnapshotError) -> (events: [Event], nodes: [MatchNode]) {
        var events: [Event] = []
        for _ in 0..<(try r.count()) { events.append(try Event.read(&r, automaton, pattern: pattern)) }
        var nodes: [MatchNode] = []
        for _ in 0..<(try r.count()) { nodes.append(try MatchNode.read(&r, pattern: pattern, events, nodes)) }
        return (events, nodes)
    }
}

extension Event {
    /// Its stream by name, time, field values, origin and rank.
    func write(into w: inout SnapshotWriter, _ automaton: Automaton) {
        w.string(automaton.streams[stream].name)
        w.signed(timestamp)
        w.unsigned(UInt64(fieldCount))
        for f in 0..<fieldCount { w.value(field(f)) }
        w.string(origin.topic)
        w.signed(Int64(origin.partition))
        w.signed(origin.offset)
        w.signed(Int64(sourceRank))
    }

    /// Reads what `write` wrote: an event of a stream `pattern` reads, with a value of its declared type (or null)
    /// in every field.
    static func read(
        _ r: inout SnapshotReader, _ automaton: Automaton, pattern: PatternAutomaton
    ) throws(SnapshotError) -> Event {
        let name = try r.string()
        guard let stream = automaton.streams.firstIndex(where: { $0.name == name }),
            pattern.bindings.contains(where: { $0.stream == stream })
        else {
            throw r.fail("stream '\(name)' is not one pattern '\(pattern.name)' reads")
        }
        return try readAfterName(&r, automaton, stream: stream)
    }

    /// The rest of what `write` wrote, after the stream's name: a value of its declared type (or null) in every
    /// field.
    private static func readAfterName(_ r: inout SnapshotReader, _ automaton: Automaton, stream: Int)
        throws(SnapshotError) -> Event
    {
        let name = automaton.streams[stream].name
        let timestamp = try r.signed()
        var fields: [Value] = []
        for _ in 0..<(try r.count()) { fields.append(try r.value()) }
        let specs = automaton.streams[stream].fields
        guard fields.count == specs.count else { throw r.fail("fields of stream '\(name)'") }
        for (value, spec) in zip(fields, specs) where !value.isNull && !value.holds(spec.type) {
            throw r.fail("field '\(spec.dotted)' of stream '\(name)' holds \(value), not a \(spec.type.rawValue)")
        }
        let origin = EventOrigin(
            topic: try r.string(), partition: Int32(truncatingIfNeeded: try r.signed()), offset: try r.signed())
        let rank = Int32(truncatingIfNeeded: try r.signed())
        return Event(stream: stream, timestamp: timestamp, fields: fields, origin: origin, sourceRank: rank)
    }
}

extension Event {
    /// Reads a row of table `table` that `write` wrote (a table's rows are events of its stream).
    static func read(_ r: inout SnapshotReader, _ automaton: Automaton, table: Int) throws(SnapshotError) -> Event {
        let name = automaton.streams[table].name
        guard try r.string() == name else { throw r.fail("a row of another stream in table '\(name)'") }
        return try readAfterName(&r, automaton, stream: table)
    }
}

extension MatchNode {
    /// Its event and previous node by their numbers in the record's table, its binding and sequence.
    func write(into w: inout SnapshotWriter, event: Int, previous: Int) {
        w.int(event)
        w.int(binding)
        w.unsigned(sequence)
        w.int(previous)
    }

    /// Reads what `write` wrote: a node that binds an event of its binding's stream and refers back only to
    /// `nodes` read before it.
    static func read(
        _ r: inout SnapshotReader, pattern: PatternAutomaton, _ events: [Event], _ nodes: [MatchNode]
    ) throws(SnapshotError) -> MatchNode {
        let event = events[try r.index(below: events.count)]
        let binding = try r.index(below: pattern.bindings.count)
        guard pattern.bindings[binding].stream == event.stream else {
            throw r.fail("step '\(pattern.bindings[binding].name)' bound to an event of another stream")
        }
        let sequence = try r.unsigned()
        let previous = try r.int()
        guard previous < nodes.count else { throw r.fail("node refers forward") }
        return MatchNode(
            event: event, binding: binding, sequence: sequence, previous: previous < 0 ? nil : nodes[previous])
    }
}
