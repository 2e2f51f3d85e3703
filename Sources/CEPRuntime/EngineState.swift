import CEPCore

/// Where `Engine.writeCheckpoint` puts the engine's state: keys and values, applied in the order given (a RocksDB
/// write batch in the daemon, a dictionary in memory).
public protocol EngineStateWriter {
    /// Stores `value` under `key`.
    mutating func put(_ key: [UInt8], _ value: [UInt8])
    /// Stores the bytes of `value` under those of `key`, both valid only during the call: a checkpoint's records
    /// without an array each (a default copies them into arrays for `put(_:_:)`).
    mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// Removes `key`.
    mutating func delete(_ key: [UInt8])
    /// Removes every key starting with `prefix`.
    mutating func deletePrefix(_ prefix: [UInt8])
}

extension EngineStateWriter {
    /// Copies the bytes into arrays for `put(_:_:)`.
    public mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        put(Array(key), Array(value))
    }
}

/// Where `Engine.restore(from:)` reads a checkpoint.
public protocol EngineStateReader {
    /// The value under `key`, or nil.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Calls `body` with each key starting with `prefix` and its value, in key order, until it returns false.
    func scan(prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws
}

/// One checkpoint of an engine, taken at an instant by `Engine.captureCheckpoint` and encoded later by `write`, on
/// any thread: records already encoded, and the changed keys' states as they were (values, shared with the engine
/// until it changes them).
public struct CheckpointCapture: Sendable {
    let automaton: Automaton
    /// Patterns whose stored state is deleted.
    let obsoletePatterns: [String]
    let engineRecord: [UInt8]
    var patterns: [Pattern] = []
    /// Put before every key written (a task's prefix in a store of several tasks).
    var keyPrefix: [UInt8] = []
    /// Tables whose stored rows are deleted (changed or no longer looked up).
    var obsoleteTables: [String] = []
    /// Table keys whose versions changed, with those versions (none: deleted).
    var tableRows: [(table: Int, key: Value, versions: [TableStore.Version])] = []

    struct Pattern: Sendable {
        let name: String
        let record: Engine.PatternRecord
        /// The events waiting for the watermark that the store gains and loses.
        var waiting: PendingEvents.Changes
        /// Keys whose state emptied: deleted.
        let released: [Value]
        /// Entries of the pattern's suppression put (a time) or forgotten (nil).
        let suppression: [(key: AlertSuppression.Key, time: Int64?)]
        /// Keys whose state changed, with that state, in chunks (`chunkSize`): no array of a million entries (glibc
        /// maps one afresh, page by page, each time), and `write` lets each go once it is encoded.
        var keys: [[Key]]
    }

    struct Key: Sendable {
        let key: Value
        let state: KeyState
    }

    /// Keys per chunk of `Pattern.keys`.
    static let chunkSize = 16_384

    /// Writes the capture into `writer`, in the order a restore needs: deletions of obsolete patterns, the engine
    /// and pattern records, each pattern's released keys, then its changed keys. Empties the capture as it goes:
    /// the key states it held and what `writer` collects are not both whole at once.
    @discardableResult
    public mutating func write(into writer: inout some EngineStateWriter) -> Engine.CheckpointCounts {
        var counts = Engine.CheckpointCounts()
        for name in obsoletePatterns {
            writer.deletePrefix(keyPrefix + Engine.keyPrefix(name))
            writer.deletePrefix(keyPrefix + Engine.waitingPrefix(name))
            writer.deletePrefix(keyPrefix + Engine.suppressionPrefix(name))
            writer.delete(keyPrefix + Engine.patternKey(name))
        }
        for name in obsoleteTables { writer.deletePrefix(keyPrefix + Engine.tablePrefix(name)) }
        writer.put(keyPrefix + [UInt8(ascii: "e")], engineRecord)
        // One buffer for every key and one for every record, reused: a million keys cost no allocation each.
        var key = SnapshotWriter()
        var record = SnapshotWriter()
        var table = EventTable()
        for (index, row, versions) in tableRows {
            key.restart(with: keyPrefix + Engine.tablePrefix(automaton.streams[index].name))
            key.value(row)
            guard !versions.isEmpty else {
                writer.delete(key.bytes)
                continue
            }
            record.removeAll()
            record.unsigned(UInt64(versions.count))
            for version in versions {
                record.signed(version.time)
                record.bool(version.row != nil)
                version.row?.write(into: &record, automaton)
            }
            writer.put(key: key.unsafeBytes, value: record.unsafeBytes)
            counts.tableKeysWritten += 1
        }
        tableRows = []
        for p in patterns.indices {
            let name = patterns[p].name
            writer.put(keyPrefix + Engine.patternKey(name), patterns[p].record.encoded())
            patterns[p].waiting.write(into: &writer, prefix: keyPrefix + Engine.waitingPrefix(name), automaton)
            counts.waitingWritten += patterns[p].waiting.eventCount
            counts.waitingChunksDeleted += patterns[p].waiting.removed.count
            let suppressionPrefix = keyPrefix + Engine.suppressionPrefix(name)
            for (entry, time) in patterns[p].suppression {
                key.restart(with: suppressionPrefix)
                key.value(entry.key)
                key.value(entry.by)
                if let time {
                    record.removeAll()
                    record.signed(time)
                    writer.put(key: key.unsafeBytes, value: record.unsafeBytes)
                } else {
                    writer.delete(key.bytes)
                }
            }
            let prefix = keyPrefix + Engine.keyPrefix(name)
            // Deletions first: a key released and back again since the last checkpoint is put after its delete.
            for released in patterns[p].released {
                key.restart(with: prefix)
                key.value(released)
                writer.delete(key.bytes)
                counts.keysDeleted += 1
            }
            // Moved out, so that the only reference to each chunk goes with its turn below.
            var chunks: [[Key]] = []
            swap(&chunks, &patterns[p].keys)
            while let chunk = chunks.popLast() {
                for changed in chunk {
                    key.restart(with: prefix)
                    key.value(changed.key)
                    record.removeAll()
                    changed.state.record(into: &record, table: &table, automaton)
                    writer.put(key: key.unsafeBytes, value: record.unsafeBytes)
                    counts.keysWritten += 1
                }
            }
        }
        return counts
    }
}

/// The engine's state as keys and values, so that a checkpoint writes only what changed:
///
/// - `e` — the engine: format version, input partitions and their largest event times, counters, and the
///   patterns (name and fingerprint) whose state the store holds;
/// - `p<name>\0` — a pattern: its watermark, counters, timer order and arrival count;
/// - `w<name>\0<arrival>` — a chunk of events waiting for the pattern's watermark, with their keys and arrival
///   numbers: those in one range of 2,048 arrival numbers, under the range's start (eight bytes, big-endian), of
///   the events that arrived since the last checkpoint and still wait, written once; deleted once the watermark has passed them all (a restore skips those of its
///   events at or below the watermark: they were matched);
/// - `k<name>\0<key>` — one key of a pattern: its partial and held matches with the events they bind (each once),
///   its sequence counter and its timer;
/// - `s<name>\0<key><value>` — for a pattern with `suppress`, the last event time of the last alert let through
///   for a key and value of `by` (`AlertSuppression`), deleted once it can suppress nothing more;
/// - `r<table>\0<key>` — the versions of a key's row in a table patterns look up (`TableStore`): each a time and
///   the row's event, or a deletion; deleted when none is left.
///
/// A pattern is restored only when its compiled form is unchanged (same fingerprint); a changed or new pattern
/// starts empty and is listed in `RestoreReport.started`, and the stored state of changed and removed patterns is
/// deleted at the next checkpoint. Restoring into a fresh engine and feeding it the rest of the input gives the
/// output of an uninterrupted run.
extension Engine {
    static let stateMagic: [UInt8] = Array("CEPS".utf8)
    /// Bumped whenever the encoding changes; a checkpoint of another format is refused, never misread. Format 2
    /// (a pattern's waiting events inside its record) is still read; the next checkpoint rewrites it in the
    /// current format. Format 3 lacks only what format 4 added: the suppressed alerts counted in a pattern's record
    /// and the suppression records (`s`). Format 4 lacks only what format 5 added: the tables (name and
    /// fingerprint) listed in the engine record, and their rows (`r`).
    public static let stateVersion: UInt64 = 5
    /// The oldest format `restore` reads.
    static let oldestStateVersion: UInt64 = 2

    /// What a restore did with each pattern.
    public struct RestoreReport: Sendable, Hashable {
        /// Patterns whose state was restored.
        public var restored: [String] = []
        /// Patterns that start empty: new, or changed since the checkpoint.
        public var started: [String] = []
        /// Of those, the ones the checkpoint held under another compiled form (changed, not new).
        public var changed: [String] = []
        /// Patterns in the checkpoint that no longer exist.
        public var dropped: [String] = []
        /// Keys restored, over all patterns.
        public var keys = 0

        /// Nothing restored.
        public init() {}
    }

    /// What one checkpoint wrote.
    public struct CheckpointCounts: Sendable, Hashable {
        /// Key records written (changed keys, or all of them in a full checkpoint).
        public var keysWritten = 0
        /// Key records deleted (keys whose state emptied).
        public var keysDeleted = 0
        /// Events waiting for the watermark written (those that arrived since the last checkpoint and still wait).
        public var waitingWritten = 0
        /// Table keys written (those whose versions changed; deletions included).
        public var tableKeysWritten = 0
        /// Stored chunks of waiting events deleted (none of their events waits any more).
        public var waitingChunksDeleted = 0

        /// Nothing written.
        public init() {}

        /// Adds what another checkpoint (or another task's part of this one) wrote.
        public static func += (a: inout CheckpointCounts, b: CheckpointCounts) {
            a.keysWritten += b.keysWritten
            a.keysDeleted += b.keysDeleted
            a.waitingWritten += b.waitingWritten
            a.waitingChunksDeleted += b.waitingChunksDeleted
            a.tableKeysWritten += b.tableKeysWritten
        }
    }

    /// A stable fingerprint of a pattern's compiled form and of the streams it reads: what its stored state
    /// depends on (`CanonicalWriter`). Not where it is written (moving a pattern in its file, or removing another
    /// above it, keeps its state), nor which fields other patterns read, nor how events and alerts are encoded.
    public func fingerprint(ofPattern id: PatternID) -> String {
        let pattern = automaton.patterns[id]
        var writer = CanonicalWriter()
        pattern.canonical(into: &writer)
        for key in pattern.keys { automaton.streams[key.stream].canonical(into: &writer) }
        // The tables it reads: a changed table changes what its conditions saw (absent for patterns without).
        for table in pattern.tables { automaton.streams[table].canonical(into: &writer) }
        return writer.hex
    }

    /// The fingerprint checkpoints written before fingerprints version 2 carry (`String(describing:)` of the same
    /// parts): a stored one that equals it is accepted once, and the next checkpoint writes the canonical one —
    /// so existing checkpoints restore across the upgrade (docs/operations.md, "Upgrading").
    func legacyFingerprint(ofPattern index: Int) -> String {
        var pattern = automaton.patterns[index]
        pattern.location = ""
        pattern.emit?.encoding = nil
        pattern.timeoutEmit?.encoding = nil
        pattern.emit?.registration = nil
        pattern.timeoutEmit?.registration = nil
        var hash = FNV128()
        hash.add(String(describing: pattern))
        for key in pattern.keys {
            var stream = automaton.streams[key.stream]
            stream.location = ""
            stream.format = .json
            stream.keyFormat = .json
            for f in stream.fields.indices { stream.fields[f].isUsed = false }
            hash.add(String(describing: stream))
        }
        return hash.hex
    }

    /// From now on, notes which keys change, so that `writeCheckpoint` writes only those. Costs a flag per key
    /// and a list of the keys changed since the last checkpoint.
    public mutating func trackChanges() {
        for p in matchers.indices { matchers[p].tracksChanges = true }
        tables?.tracksChanges = true
    }

    /// Writes the state into `writer`: the engine and pattern records, then the keys changed since the last
    /// checkpoint (every key when `full`, for an empty store), and deletions for keys whose state emptied and for
    /// the state of changed or removed patterns. Clears the change notes. (`captureCheckpoint`, then its `write`.)
    @discardableResult
    public mutating func writeCheckpoint(into writer: inout some EngineStateWriter, full: Bool = false)
        -> CheckpointCounts
    {
        var capture = captureCheckpoint(full: full)
        return capture.write(into: &writer)
    }

    /// Takes what `writeCheckpoint` would write, without encoding the keys: the engine and pattern records, and a
    /// copy of each changed key's state (every key when `full`) and of the released keys. Clears the change notes.
    ///
    /// A key's state is a value whose events and nodes are immutable, so the copy costs a few reference counts per
    /// key and stays what it was while the engine goes on: the capture can be encoded and stored on another thread
    /// (`CheckpointCapture.write`), so that a checkpoint of a million changed keys does not hold up matching. Until
    /// then it keeps alive the key states the engine has since replaced — at most one checkpoint's changes.
    public mutating func captureCheckpoint(full: Bool = false) -> CheckpointCapture {
        var capture = CheckpointCapture(
            automaton: automaton, obsoletePatterns: obsoletePatternState, engineRecord: engineRecord())
        obsoletePatternState = []
        capture.obsoleteTables = obsoleteTableState
        obsoleteTableState = []
        if let tables { capture.tableRows = tables.takeChanges(all: full) }
        for p in matchers.indices {
            let record = patternRecord(p)
            // The notes are taken before the matcher is read: clearing them later, while a copy of it is held,
            // would copy its whole slot array.
            let (changed, released) = matchers[p].takeChanges()
            let waiting = matchers[p].pending.takeChanges(all: full, watermark: matchers[p].watermark)
            let suppression = matchers[p].suppression?.takeChanges(all: full) ?? []
            let matcher = matchers[p]
            let slots = full ? Array(matcher.keyIndex.slots) : changed
            var keys: [[CheckpointCapture.Key]] = []
            var chunk: [CheckpointCapture.Key] = []
            for slot in slots {
                let held = matcher.slots[Int(slot)]
                // A slot freed since (and not reused) has nothing to write: its key is among the deletions. A freed
                // slot's key is null, so only a null key needs the index to tell.
                guard held.key != .null || matcher.holdsKey(slot) else { continue }
                if chunk.isEmpty { chunk.reserveCapacity(min(slots.count, CheckpointCapture.chunkSize)) }
                chunk.append(CheckpointCapture.Key(key: held.key, state: held.state))
                if chunk.count == CheckpointCapture.chunkSize {
                    keys.append(chunk)
                    chunk = []
                }
            }
            if !chunk.isEmpty { keys.append(chunk) }
            capture.patterns.append(
                CheckpointCapture.Pattern(
                    name: automaton.patterns[p].name, record: record, waiting: waiting, released: released,
                    suppression: suppression, keys: keys))
        }
        return capture
    }

    /// Restores a checkpoint into this engine, which must be fresh (no events fed yet). Returns nil when the store
    /// holds no checkpoint. Throws `SnapshotError` for a checkpoint of another format or damaged bytes, and the
    /// store's own errors.
    public mutating func restore(from reader: some EngineStateReader) throws -> RestoreReport? {
        guard let engineBytes = try reader.get([UInt8(ascii: "e")]) else { return nil }
        let header = try Self.reader(checkingHeaderOf: engineBytes, kind: "checkpoint")
        var r = header.0
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
        var stored: [(name: String, fingerprint: String)] = []
        for _ in 0..<(try r.count()) { stored.append((try r.string(), try r.string())) }
        var storedTables: [(name: String, fingerprint: String)] = []
        if header.format >= 5 {
            for _ in 0..<(try r.count()) { storedTables.append((try r.string(), try r.string())) }
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
        try restoreTables(storedTables, from: reader)

        var report = RestoreReport()
        let patternIndex = Dictionary(
            automaton.patterns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var restored = Set<Int>()
        for (name, fingerprint) in stored {
            guard let p = patternIndex[name] else {
                report.dropped.append(name)
                obsoletePatternState.append(name)
                continue
            }
            guard
                self.fingerprint(ofPattern: PatternID(p)) == fingerprint
                    || legacyFingerprint(ofPattern: p) == fingerprint
            else {
                obsoletePatternState.append(name)
                report.changed.append(name)
                continue
            }
            guard let patternBytes = try reader.get(Self.patternKey(name)) else {
                throw SnapshotError(message: "checkpoint lacks the record of pattern '\(name)'")
            }
            try restorePattern(p, patternBytes, format: header.format)
            var decodeError: SnapshotError?
            let waitingPrefix = Self.waitingPrefix(name)
            var lastArrival: UInt64?
            try reader.scan(prefix: waitingPrefix) { key, value in
                do throws(SnapshotError) {
                    guard
                        let first = PendingEvents.Changes.arrival(inKey: key, prefixCount: waitingPrefix.count)
                    else {
                        throw SnapshotError(message: "corrupt snapshot: a waiting chunk's key of \(key.count) bytes")
                    }
                    try matchers[p].restoreWaiting(first: first, record: value, after: &lastArrival, automaton)
                    return true
                } catch {
                    decodeError = error
                    return false
                }
            }
            if let decodeError { throw decodeError }
            let suppressionPrefix = Self.suppressionPrefix(name)
            try reader.scan(prefix: suppressionPrefix) { key, value in
                do throws(SnapshotError) {
                    try matchers[p].restoreSuppression(
                        key: Array(key[suppressionPrefix.count...]), record: value, automaton)
                    return true
                } catch {
                    decodeError = error
                    return false
                }
            }
            if let decodeError { throw decodeError }
            let prefix = Self.keyPrefix(name)
            try reader.scan(prefix: prefix) { key, value in
                do throws(SnapshotError) {
                    var k = SnapshotReader(Array(key[prefix.count...]))
                    let keyValue = try k.value()
                    try matchers[p].restoreKey(keyValue, record: value, automaton)
                    report.keys += 1
                    return true
                } catch {
                    decodeError = error
                    return false
                }
            }
            if let decodeError { throw decodeError }
            restored.insert(p)
            report.restored.append(name)
        }
        for (p, pattern) in automaton.patterns.enumerated() where !restored.contains(p) {
            report.started.append(pattern.name)
        }
        return report
    }

    // MARK: - Records

    /// A reader placed after the magic and format version, which must be one this cepd reads, and that version.
    static func reader(checkingHeaderOf bytes: [UInt8], kind: String) throws(SnapshotError) -> (
        SnapshotReader, format: UInt64
    ) {
        var r = SnapshotReader(bytes)
        guard bytes.count >= 4, Array(bytes[0..<4]) == stateMagic else {
            throw SnapshotError(message: "not a cepd \(kind)")
        }
        r.position = 4
        let version = try r.unsigned()
        guard (oldestStateVersion...stateVersion).contains(version) else {
            throw SnapshotError(
                message:
                    "\(kind) format \(version) is not one this cepd reads (\(oldestStateVersion) to \(stateVersion))")
        }
        return (r, version)
    }

    static func patternKey(_ name: String) -> [UInt8] { [UInt8(ascii: "p")] + Array(name.utf8) + [0] }
    static func keyPrefix(_ name: String) -> [UInt8] { [UInt8(ascii: "k")] + Array(name.utf8) + [0] }
    static func waitingPrefix(_ name: String) -> [UInt8] { [UInt8(ascii: "w")] + Array(name.utf8) + [0] }
    static func suppressionPrefix(_ name: String) -> [UInt8] { [UInt8(ascii: "s")] + Array(name.utf8) + [0] }
    static func tablePrefix(_ name: String) -> [UInt8] { [UInt8(ascii: "r")] + Array(name.utf8) + [0] }

    /// A stable fingerprint of a table's declaration: what its stored rows depend on.
    func fingerprint(ofTable index: Int) -> String {
        var writer = CanonicalWriter()
        automaton.streams[index].canonical(into: &writer)
        return writer.hex
    }

    /// Restores the rows of the tables a checkpoint lists whose declaration is unchanged; the rows of the others are
    /// deleted at the next checkpoint (their topic is read again from the stored position: a changed table
    /// starts empty, as a changed pattern does).
    private mutating func restoreTables(
        _ stored: [(name: String, fingerprint: String)], from reader: some EngineStateReader
    ) throws {
        let current = Dictionary(
            automaton.tables.map { (automaton.streams[$0].name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, fingerprint) in stored {
            guard let table = current[name], let tables, self.fingerprint(ofTable: table) == fingerprint else {
                obsoleteTableState.append(name)
                continue
            }
            let prefix = Self.tablePrefix(name)
            var decodeError: SnapshotError?
            try reader.scan(prefix: prefix) { key, value in
                do throws(SnapshotError) {
                    var k = SnapshotReader(Array(key[prefix.count...]))
                    let row = try k.value()
                    var r = SnapshotReader(value)
                    var versions: [TableStore.Version] = []
                    for _ in 0..<(try r.count()) {
                        let time = try r.signed()
                        let event = try r.bool() ? try Event.read(&r, automaton, table: table) : nil
                        versions.append(TableStore.Version(time: time, row: event))
                    }
                    guard r.isAtEnd else { throw r.fail("trailing bytes in a row of table '\(name)'") }
                    tables.restore(table, key: row, versions: versions)
                    return true
                } catch {
                    decodeError = error
                    return false
                }
            }
            if let decodeError { throw decodeError }
        }
    }

    static func encoded(_ value: Value) -> [UInt8] {
        var w = SnapshotWriter()
        w.value(value)
        return w.bytes
    }

    private func engineRecord() -> [UInt8] {
        var w = SnapshotWriter()
        w.append(contentsOf: Self.stateMagic)
        w.unsigned(Self.stateVersion)
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
        w.unsigned(UInt64(automaton.patterns.count))
        for p in automaton.patterns.indices {
            w.string(automaton.patterns[p].name)
            w.string(fingerprint(ofPattern: PatternID(p)))
        }
        let tables = automaton.tables
        w.unsigned(UInt64(tables.count))
        for table in tables {
            w.string(automaton.streams[table].name)
            w.string(fingerprint(ofTable: table))
        }
        return w.bytes
    }

    /// The engine's counters of the pattern, then the matcher's own record (`PatternMatcher.recordParts`).
    private func patternRecord(_ p: Int) -> PatternRecord {
        PatternRecord(matches: stats.matches[p], timeouts: stats.timeouts[p], matcher: matchers[p].recordParts)
    }

    /// A pattern's record as values (`patternRecord`), encoded by `write`.
    struct PatternRecord: Sendable {
        let matches: Int
        let timeouts: Int
        let matcher: PatternMatcher.RecordParts

        func encoded() -> [UInt8] {
            var w = SnapshotWriter()
            w.int(matches)
            w.int(timeouts)
            matcher.write(into: &w)
            return w.bytes
        }
    }

    private mutating func restorePattern(_ p: Int, _ bytes: [UInt8], format: UInt64) throws(SnapshotError) {
        var r = SnapshotReader(bytes)
        stats.matches[p] = try r.int()
        stats.timeouts[p] = try r.int()
        var matcher = try PatternMatcher(reading: &r, automaton, index: p, format: format)
        guard r.isAtEnd else { throw r.fail("trailing bytes in pattern '\(automaton.patterns[p].name)'") }
        matcher.tracksChanges = matchers[p].tracksChanges
        if let tables = matchers[p].tables { matcher.lookUp(in: tables) }
        matchers[p] = matcher
    }
}

extension Engine {
    /// The engine a reload of the patterns continues with: this engine's state carried over to `automaton`'s
    /// patterns by the rules of a restore — a pattern unchanged (same compiled form, same streams) keeps its
    /// state, a new or changed one starts empty, a removed one's state is dropped — along with the input
    /// partitions, their watermarks and the counters. With change tracking on, the next checkpoint deletes the
    /// stored state of every pattern and writes that of the new engine whole: the notes of what changed since the
    /// last checkpoint (keys whose state emptied, waiting events matched) do not survive the copy.
    public func reloading(_ automaton: Automaton) throws -> (engine: Engine, report: RestoreReport) {
        var copy = self  // writing a checkpoint clears change notes: not this engine's
        var memory = MemoryEngineState()
        copy.writeCheckpoint(into: &memory, full: true)
        var fresh = Engine(automaton: automaton)
        let tracking = matchers.contains { $0.tracksChanges }
        if tracking { fresh.trackChanges() }
        guard let report = try fresh.restore(from: memory) else {
            throw SnapshotError(message: "reload: the engine wrote no state record")
        }
        for name in obsoletePatternState where !fresh.obsoletePatternState.contains(name) {
            fresh.obsoletePatternState.append(name)
        }
        if tracking {
            for p in fresh.matchers.indices {
                let name = automaton.patterns[p].name
                if !fresh.obsoletePatternState.contains(name) { fresh.obsoletePatternState.append(name) }
                for slot in fresh.matchers[p].keyIndex.slots { fresh.matchers[p].markChanged(slot) }
                fresh.matchers[p].pending.rewriteAll = true
                fresh.matchers[p].suppression?.markAllChanged()
            }
        }
        let old = Dictionary(
            self.automaton.patterns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (p, pattern) in automaton.patterns.enumerated() where report.restored.contains(pattern.name) {
            if let q = old[pattern.name] {
                fresh.stats.matches[p] = stats.matches[q]
                fresh.stats.timeouts[p] = stats.timeouts[q]
            }
        }
        return (fresh, report)
    }
}
