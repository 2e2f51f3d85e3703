public import CEPCore

/// The rows of the tables an engine's patterns look up (`table NAME from ...`), versioned by event time: a lookup
/// as of time t sees, for its key, the row with the largest time ≤ t (Flink SQL's `FOR SYSTEM_TIME AS OF`), so that
/// what a condition sees depends on event time alone — a replay and a live run see the same rows.
///
/// A row is the `Event` its message decoded to; a tombstone (a null message value) is a version without a row. Old
/// versions are dropped once no lookup can reach them (`forget(before:)`): the engine calls it with its oldest
/// watermark minus the longest window of the patterns that look tables up.
///
/// A class: every pattern matcher of one engine reads the same tables, and the engine is the only writer.
public final class TableStore {
    /// One version of a key's row: from `time` on (until the next version), `row` (nil: deleted).
    struct Version {
        var time: Int64
        var row: Event?
    }

    /// Per stream index: the versions of each key's row, ascending by time (equal times in arrival order). Empty
    /// for streams that are not tables.
    private var rows: [Rows]

    /// One table's keys and their versions, by slot. A `KeyIndex` rather than a `Dictionary`: a lookup per partial
    /// match an event is tested against is on the hot path, and SipHash of the key string cost a third of it.
    struct Rows {
        var index = KeyIndex()
        var keys: [Value] = []
        var versions: [[Version]] = []
        var free: [Int32] = []

        /// The slot of `key`, if it has versions.
        @inline(__always)
        func slot(of key: Value, hash: UInt64) -> Int32? { index.find(hash) { keys[Int($0)] == key } }

        /// Every key that has versions, with them.
        var all: [(key: Value, versions: [Version])] { index.slots.map { (keys[Int($0)], versions[Int($0)]) } }

        /// `key`'s versions (none when it has no slot).
        subscript(key: Value) -> [Version]? {
            slot(of: key, hash: KeyIndex.hash(key)).map { versions[Int($0)] }
        }

        /// Replaces `key`'s versions; none frees its slot.
        mutating func set(_ key: Value, _ new: [Version]) {
            let hash = KeyIndex.hash(key)
            if let slot = slot(of: key, hash: hash) {
                guard new.isEmpty else {
                    versions[Int(slot)] = new
                    return
                }
                index.remove(hash, slot: slot)
                keys[Int(slot)] = .null
                versions[Int(slot)] = []
                free.append(slot)
                return
            }
            guard !new.isEmpty else { return }
            let slot: Int32
            if let reused = free.popLast() {
                slot = reused
                keys[Int(slot)] = key
                versions[Int(slot)] = new
            } else {
                slot = Int32(keys.count)
                keys.append(key)
                versions.append(new)
            }
            index.insert(hash, slot: slot)
        }

        /// Removes and returns `key`'s versions (for a change in place without a copy); its slot stays.
        mutating func take(_ key: Value) -> (slot: Int32?, versions: [Version]) {
            guard let slot = slot(of: key, hash: KeyIndex.hash(key)) else { return (nil, []) }
            var taken: [Version] = []
            swap(&taken, &versions[Int(slot)])
            return (slot, taken)
        }
    }
    /// Keys that hold a version older than another of theirs, by the newer version's time: the older one can go
    /// once the horizon reaches that time. Nearly sorted (updates arrive nearly in time order); drained from the
    /// front while its time is at or below the horizon.
    private var superseded: [(time: Int64, table: Int32, key: Value)] = []
    private var supersededHead = 0
    /// Versions held, over all tables and keys.
    public private(set) var versionCount = 0
    /// Whether to note the keys whose versions change, for incremental checkpoints (`takeChanges`).
    var tracksChanges = false
    /// The keys whose versions changed since the last checkpoint.
    private var changed: Set<TableKey> = []

    struct TableKey: Hashable {
        var table: Int32
        var key: Value
    }

    /// Empty tables for an automaton with `streams` streams.
    public init(streams: Int) {
        rows = Array(repeating: Rows(), count: streams)
    }

    /// The row of table `table` for `key` as of `time`: the version with the largest time ≤ `time`; nil when there
    /// is none or it is a deletion. A null key has no row.
    public func row(_ table: Int, key: Value, at time: Int64) -> Event? {
        if case .null = key { return nil }
        // An event is tested against every partial match of its key, and a lookup by the key (or by a field of
        // the event) repeats for each: the last answer is kept until the tables change.
        if let last = lastLookup, last.table == table, last.time == time, last.key == key { return last.row }
        let found = find(table, key: key, at: time)
        lastLookup = (table, key, time, found)
        return found
    }

    /// The last lookup and its answer; cleared by every change of the tables.
    private var lastLookup: (table: Int, key: Value, time: Int64, row: Event?)?

    private func find(_ table: Int, key: Value, at time: Int64) -> Event? {
        rows.withUnsafeBufferPointer { rows in
            let table = rows.baseAddress! + table
            guard let slot = table.pointee.slot(of: key, hash: KeyIndex.hash(key)) else { return nil }
            return table.pointee.versions.withUnsafeBufferPointer { all in
                let versions = all.baseAddress! + Int(slot)
                // Most lookups are for the newest version.
                if let last = versions.pointee.last, last.time <= time { return last.row }
                let index = Self.upperBound(versions.pointee, time)
                return index == 0 ? nil : versions.pointee[index - 1].row
            }
        }
    }

    /// Adds a version of `key`'s row in table `table` from `time` on (`row` nil: a deletion). One at an equal time
    /// goes after those already there: the later message wins, as in a compacted topic.
    public func apply(_ table: Int, key: Value, time: Int64, row: Event?) {
        if case .null = key { return }
        lastLookup = nil
        versionCount += 1
        var versions = rows[table].take(key).versions
        let index = Self.upperBound(versions, time)
        versions.insert(Version(time: time, row: row), at: index)
        // The version before the new one is superseded from `time` on (a new first version, by the next one, from
        // that one's time); a deletion alone can go entirely once nothing reads before it.
        if index > 0 || row == nil {
            superseded.append((time, Int32(table), key))
        } else if versions.count > 1 {
            superseded.append((versions[1].time, Int32(table), key))
        }
        rows[table].set(key, versions)
        if tracksChanges { changed.insert(TableKey(table: Int32(table), key: key)) }
    }

    /// Drops the versions no lookup at or after `horizon` can see: for each key, those before its latest version
    /// at or before the horizon, and that version too when it is a deletion.
    public func forget(before horizon: Int64) {
        while supersededHead < superseded.count, superseded[supersededHead].time <= horizon {
            let (_, table, key) = superseded[supersededHead]
            supersededHead += 1
            lastLookup = nil
            let (slot, taken) = rows[Int(table)].take(key)
            guard slot != nil else { continue }
            var versions = taken
            let keep = Self.upperBound(versions, horizon) - 1
            var drop = max(keep, 0)
            if keep >= 0 && versions[keep].row == nil { drop = keep + 1 }
            versionCount -= drop
            versions.removeFirst(drop)
            rows[Int(table)].set(key, versions)
            if tracksChanges && drop > 0 { changed.insert(TableKey(table: table, key: key)) }
        }
        if supersededHead > 1024 && supersededHead * 2 > superseded.count {
            superseded.removeFirst(supersededHead)
            supersededHead = 0
        }
    }

    /// The keys whose versions changed since the last call (every key when `all`), with their versions now (none:
    /// the key is gone); clears the notes, except for `all` — a snapshot or a reload takes a full checkpoint of a
    /// copy of the engine, and the copy shares this store: the engine's next incremental checkpoint still needs
    /// them. The versions are values: the engine goes on while a checkpoint writes them.
    func takeChanges(all: Bool) -> [(table: Int, key: Value, versions: [Version])] {
        var taken: [(table: Int, key: Value, versions: [Version])] = []
        if all {
            for table in rows.indices {
                for (key, versions) in rows[table].all { taken.append((table, key, versions)) }
            }
        } else {
            for note in changed { taken.append((Int(note.table), note.key, rows[Int(note.table)][note.key] ?? [])) }
            changed.removeAll()
        }
        return taken
    }

    /// Puts back a key's versions from a checkpoint, oldest first (into a store that holds none for it).
    func restore(_ table: Int, key: Value, versions: [Version]) {
        let tracking = tracksChanges
        tracksChanges = false
        for version in versions { apply(table, key: key, time: version.time, row: version.row) }
        tracksChanges = tracking
    }

    /// The number of keys with a row or a deletion in table `table`.
    public func keyCount(_ table: Int) -> Int { rows[table].index.count }

    /// The index of the first version later than `time`.
    private static func upperBound(_ versions: [Version], _ time: Int64) -> Int {
        var low = 0
        var high = versions.count
        while low < high {
            let mid = (low + high) / 2
            if versions[mid].time <= time { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
