import CEPRuntime
import Foundation
import KafkaClient
import Logging
import RocksStore

/// What a driver stores in a checkpoint beside the engine's records, under its own key.
protocol CheckpointRecord: Codable {
    /// The record's key in the store.
    static var key: String { get }
    /// Bumped when the record changes; another version is refused.
    static var currentVersion: Int { get }
    var version: Int { get }
}

/// What `cepd serve` records with each task's state (under `t<task>/d`, and as the last record of each of the
/// task's checkpoints in the changelog): where each of the task's input partitions goes on, and where each output
/// partition ended when the checkpoint was taken (alerts and side outputs at or after those offsets may have been
/// produced by a run that then crashed; recovery reads them to avoid writing them again).
struct DaemonCheckpoint: CheckpointRecord {
    static let key = "d"
    /// 2: one record per task, the engine's state kept per task (`t<task>/…`).
    static let currentVersion = 2
    var version = Self.currentVersion
    /// The task.
    var task: TaskID
    /// Counts the task's checkpoints (over every process that ran it).
    var number: UInt64
    /// Wall-clock time it was taken, epoch ms.
    var writtenAt: Int64
    /// The cluster the offsets belong to (nil if the broker does not say).
    var clusterID: String?
    /// The next offset to process, per input partition of the task.
    var inputs: [Position]
    /// The end of each output partition: everything the task wrote before this checkpoint lies at or above it.
    var outputs: [Position]
    /// In the local store only: the changelog offset after this checkpoint's last record (where catching up from
    /// the changelog goes on).
    var changelogEnd: Int64?

    struct Position: Codable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    static func positions(_ map: [TopicPartition: Int64]) -> [Position] {
        map.map { Position(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
            .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    static func map(_ positions: [Position]) -> [TopicPartition: Int64] {
        Dictionary(
            positions.map { (TopicPartition(topic: $0.topic, partition: $0.partition), $0.offset) },
            uniquingKeysWith: max)
    }
}

/// Why the checkpoint store cannot be used.
struct CheckpointError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The checkpoint store in `--state-dir` (used from the engine thread, and from the reader thread to bring a
/// task's copy up to date while the engine does not run that task: RocksDB is thread-safe): a RocksDB database holding the engine's records (see `Engine`'s state
/// layout) and the driver's record (`d` for `cepd serve`, `r` for `cepd run`), all written by one atomic, synced
/// batch per checkpoint — and, written once, the owner's mark (`o`: which command the directory belongs to).
// @unchecked: RocksDB's handle is thread-safe; the failpoint counter is touched by the engine thread only.
final class CheckpointStore: EngineStateReader, @unchecked Sendable {
    private let database: RocksDatabase
    let path: String

    /// What one checkpoint cost.
    struct Cost {
        var milliseconds: Double
        var batchBytes: Int
        /// Records written and deleted.
        var counts: Engine.CheckpointCounts
    }

    /// Times the checkpoints' writes (`Cost`).
    private let clock: any DaemonClock
    /// Where the changelog's failpoints are (tests).
    private let failpoints: Failpoints

    init(path: String, clock: any DaemonClock = SystemClock(), failpoints: Failpoints = .none) throws {
        self.clock = clock
        self.failpoints = failpoints
        if let status = FileStatus(path), !status.isDirectory {
            throw CheckpointError(
                message:
                    "the state directory '\(path)' is a file, not a directory; name a directory (it is created if missing)"
            )
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(message: "cannot create \(path): \(error.localizedDescription)")
        }
        database = try RocksDatabase(path: path)
        self.path = path
    }

    func get(_ key: [UInt8]) throws -> [UInt8]? { try database.get(key) }

    func scan(prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        try database.scan(prefix: prefix, body)
    }

    /// The driver's record of the last checkpoint, if there is one (under `key`: the record's own by default).
    func record<Record: CheckpointRecord>(_ type: Record.Type, at key: [UInt8]? = nil) throws -> Record? {
        guard let bytes = try database.get(key ?? Array(Record.key.utf8)) else { return nil }
        return try Self.decode(type, bytes)
    }

    /// A record from its bytes; another version of it is refused.
    static func decode<Record: CheckpointRecord>(_ type: Record.Type, _ bytes: some Collection<UInt8>) throws -> Record
    {
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: Data(bytes))
        } catch {
            throw CheckpointError(
                message: "the checkpoint's '\(Record.key)' record is damaged or of another kind (\(error))")
        }
        guard record.version == Record.currentVersion else {
            throw CheckpointError(
                message:
                    "checkpoint record version \(record.version) is not the version this cepd reads (\(Record.currentVersion))"
            )
        }
        return record
    }

    /// Which command a state directory belongs to: a replay's state and a daemon's cannot be mixed (`cepd serve`
    /// on a replay's directory wrote into it, and the replay resumed afterwards was wrong).
    enum Owner: String {
        case replay = "cepd run"
        case daemon = "cepd serve"
    }

    private static let ownerKey = Array("o".utf8)

    /// Claims the store for `owner`: an empty one is marked as its, one that another command wrote is refused. (A
    /// store of an earlier cepd, without the mark, is told by its records: a replay's has `r`.)
    func claim(_ owner: Owner) throws {
        let mark = try database.get(Self.ownerKey)
        let found: Owner?
        if let mark {
            guard let marked = Owner(rawValue: String(decoding: mark, as: UTF8.self)) else {
                throw CheckpointError(message: "the state in \(path) names an unknown owner")
            }
            found = marked
        } else {
            found = try earlierOwner()
        }
        if let found, found != owner {
            throw CheckpointError(
                message: "the state in \(path) is \(found.rawValue)'s; \(owner.rawValue) cannot use it: give another "
                    + "--state-dir (each kind of run keeps its own)")
        }
        if mark == nil { try database.put(Self.ownerKey, Array(owner.rawValue.utf8)) }
    }

    /// The owner of a store without the mark (empty, or written by a cepd before marks): a replay's holds `r`.
    private func earlierOwner() throws -> Owner? {
        if try database.get(Array(ReplayCheckpoint.key.utf8)) != nil { return .replay }
        var anything = false
        try database.scan(prefix: []) { _, _ in
            anything = true
            return false
        }
        return anything ? .daemon : nil
    }

    /// Refuses a write the disk has no room for. RocksDB 7.8 (Debian's build keeps its assertions) aborts the
    /// process when a synced write fails for lack of space (`sync_without_flush_called_`), instead of returning the
    /// error, so the space is checked first: a batch needs about its size in the log and as much again when the
    /// memtable is flushed, plus room for RocksDB's own files.
    private func ensureSpace(for bytes: Int) throws {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        let needed = UInt64(bytes) * 2 + (1 << 20)
        guard free >= needed else {
            throw CheckpointError(
                message:
                    "only \(free / 1024) KiB are free under \(path) and a checkpoint needs about \(needed / 1024) KiB: "
                    + "make room (the last complete checkpoint stays, and the next start resumes from it)")
        }
    }

    /// Whether the store holds a checkpoint of an earlier cepd, whose state was not kept per task.
    var holdsEarlierLayout: Bool { (try? database.get(Array(DaemonCheckpoint.key.utf8))) != nil }

    /// Task `task`'s checkpoint record, if the store holds one.
    func taskRecord(_ task: TaskID) throws -> DaemonCheckpoint? {
        try record(DaemonCheckpoint.self, at: TaskEngines.statePrefix(task) + Changelog.recordKey)
    }

    /// A value of task `task`'s state (a key as the engine names it).
    func taskValue(_ task: TaskID, _ key: [UInt8]) throws -> [UInt8]? {
        try database.get(TaskEngines.statePrefix(task) + key)
    }

    /// Calls `body` with each key of task `task`'s state under `prefix` (as the engine names it) and its value.
    func scanTask(_ task: TaskID, prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let taskPrefix = TaskEngines.statePrefix(task)
        try database.scan(prefix: taskPrefix + prefix) { key, value in try body(Array(key[taskPrefix.count...]), value)
        }
    }

    /// Applies one complete checkpoint read from the changelog to task `task`'s copy, in one synced batch (after
    /// removing what the copy held, with `wipe`).
    func apply(task: TaskID, _ changes: [Changelog.Change], record: DaemonCheckpoint, wipe: Bool) throws {
        let prefix = TaskEngines.statePrefix(task)
        var batch = WriteBatch()
        if wipe { batch.deletePrefix(prefix) }
        for change in changes {
            switch change {
            case .put(let key, let value): batch.put(prefix + key, value)
            case .delete(let key): batch.delete(prefix + key)
            case .deletePrefix(let keyPrefix): batch.deletePrefix(prefix + keyPrefix)
            }
        }
        batch.put(prefix + Changelog.recordKey, Array(try JSONEncoder().encode(record)))
        try ensureSpace(for: batch.payloadBytes)
        try database.write(batch, sync: true)
    }

    /// Writes a checkpoint of the given tasks and waits for it (`beginWrite`, then `waitForWrite`).
    func write(
        _ engine: inout TaskEngines, records: [DaemonCheckpoint], changelog: (Changelog, KafkaProducer)?,
        repair: [TaskID: [Changelog.Change]] = [:],
        atStep: (@Sendable (Failpoints.CheckpointStep) throws -> Void)? = nil
    ) throws -> Cost {
        try beginWrite(&engine, records: records, changelog: changelog, repair: repair, atStep: atStep)
        guard let cost = try waitForWrite() else { preconditionFailure("the checkpoint just started left no cost") }
        return cost
    }

    /// Takes a checkpoint of the given tasks from the engine (`TaskEngines.captureCheckpoint`) and writes it on the
    /// store's thread while the engine goes on: each task's changes (and, with a changelog, first the changes
    /// `repair` lists for it, then its changes and its record, to its changelog partition; the changelog is
    /// flushed), then everything with the tasks' records into the store in one synced batch. The caller learns
    /// how it ended from `waitForWrite` (or `isWriting` turning false), and must have collected the previous
    /// one's end first.
    func beginWrite(
        _ engine: inout TaskEngines, records: [DaemonCheckpoint], changelog: (Changelog, KafkaProducer)?,
        repair: [TaskID: [Changelog.Change]] = [:],
        atStep: (@Sendable (Failpoints.CheckpointStep) throws -> Void)? = nil
    ) throws {
        precondition(!isWriting && outcome == nil, "a checkpoint begun before the previous one's end was collected")
        let captures = Captures(records.map { engine.captureCheckpoint(task: $0.task) })
        let changelog = changelog.map { SendableChangelog(log: $0.0, producer: $0.1) }
        startWrite { store in
            try store.store(captures, records: records, changelog: changelog, repair: repair, atStep: atStep)
        }
    }

    /// The changelog and its producer, for the store's thread.
    private struct SendableChangelog: @unchecked Sendable {
        // @unchecked: the producer is thread-safe; the changelog's description is immutable.
        let log: Changelog
        let producer: KafkaProducer
    }

    /// Encodes and writes a daemon checkpoint (`beginWrite`), on the store's thread.
    private func store(
        _ captures: Captures, records: [DaemonCheckpoint], changelog: SendableChangelog?,
        repair: [TaskID: [Changelog.Change]], atStep: ((Failpoints.CheckpointStep) throws -> Void)?
    ) throws -> Cost {
        let start = clock.uptimeNanos
        let writer = BatchWriter()
        var counts = Engine.CheckpointCounts()
        var records = records
        for (i, record) in records.enumerated() {
            let written: Engine.CheckpointCounts
            if let log = changelog?.log, let producer = changelog?.producer {
                var tee = TeeWriter(
                    local: writer,
                    changelog: Changelog.Writer(producer: producer, topic: log.topic, partition: record.task.partition),
                    taskPrefix: TaskEngines.statePrefix(record.task).count)
                for change in repair[record.task] ?? [] { try rewrite(change, task: record.task, into: &tee.changelog) }
                written = captures.parts[i].write(into: &tee)
                if let pause = failpoints.changelogPauseMs, record.task == records[0].task {
                    // A failpoint for the crash test: the task's changes are in the changelog, its record is not (an
                    // unfinished checkpoint for the next owner to find).
                    try producer.flush(timeoutMs: 30_000)
                    Log.info(
                        "checkpoint: failpoint: task \(record.task)'s changes are in the changelog, not its record; pausing \(pause) ms"
                    )
                    Thread.sleep(forTimeInterval: Double(pause) / 1000)
                }
                if let hangAt = failpoints.changelogHang, record.task == records[0].task,
                    written.keysWritten + written.keysDeleted > 0
                {
                    changelogCheckpointsWithChanges += 1
                    if changelogCheckpointsWithChanges == hangAt {
                        try producer.flush(timeoutMs: 30_000)
                        Log.info(
                            "checkpoint: failpoint: task \(record.task)'s changes are in the changelog, not its record; "
                                + "pausing until killed", ["failpoint": "changelog", "task": "\(record.task)"])
                        failpoints.hang()
                    }
                }
                if let atStep, record.task == records[0].task {
                    try producer.flush(timeoutMs: 30_000)
                    try atStep(.changelogChanges)
                }
                tee.changelog.send(Changelog.recordKey, [UInt8(ascii: "P")] + Array(try JSONEncoder().encode(record)))
                if let error = tee.changelog.error { throw error }
            } else {
                var sink = writer
                written = captures.parts[i].write(into: &sink)
            }
            counts += written
        }
        if let log = changelog?.log, let producer = changelog?.producer {
            try producer.flush(timeoutMs: 30_000)
            let ends = producer.deliveredEnds
            for i in records.indices {
                records[i].changelogEnd = ends[TopicPartition(topic: log.topic, partition: records[i].task.partition)]
            }
            try atStep?(.changelogRecords)
        }
        for record in records {
            writer.batch.put(
                TaskEngines.statePrefix(record.task) + Changelog.recordKey, Array(try JSONEncoder().encode(record)))
        }
        return try commit(writer, counts, since: start)
    }

    /// Writes a checkpoint's batch, synced (after checking the disk has room for it), and says what it cost.
    private func commit(_ writer: BatchWriter, _ counts: Engine.CheckpointCounts, since start: UInt64) throws -> Cost {
        try ensureSpace(for: writer.batch.payloadBytes)
        try database.write(writer.batch, sync: true)
        return Cost(
            milliseconds: Double(clock.uptimeNanos - start) / 1e6,
            batchBytes: writer.batch.payloadBytes, counts: counts)
    }

    /// Checkpoints whose first task wrote changes to the changelog, for `CEPD_FAILPOINT_CHANGELOG_HANG`.
    private var changelogCheckpointsWithChanges = 0

    /// Writes again, to the changelog, the local value of a key an incomplete checkpoint changed there.
    private func rewrite(_ change: Changelog.Change, task: TaskID, into log: inout Changelog.Writer) throws {
        switch change {
        case .put(let key, _), .delete(let key):
            if let value = try taskValue(task, key) { log.put(key, value) } else { log.delete(key) }
        case .deletePrefix(let prefix):
            try scanTask(task, prefix: prefix) { key, value in
                log.put(key, value)
                return true
            }
        }
    }

    /// Takes the tasks' checkpoint from the engine (`TaskEngines.captureCheckpoint`: a copy of the changed keys'
    /// states, no encoding) and has it encoded and written, with the driver's record in one synced batch, on the
    /// store's own thread, so that matching goes on meanwhile. First waits for the previous one: at most one
    /// checkpoint is in flight, which bounds what the captures keep alive. Returns the previous one's cost, if
    /// there was one to wait for; throws its error (the checkpoints from then on would not be complete).
    func writeInBackground<Record: CheckpointRecord>(_ engine: inout TaskEngines, tasks: [TaskID], _ record: Record)
        throws -> Cost?
    {
        let previous = try waitForWrite()
        let recordBytes = Array(try JSONEncoder().encode(record))
        // In a box of its own that the writing empties, so that each part is freed once encoded (`write`).
        let captures = Captures(tasks.map { engine.captureCheckpoint(task: $0) })
        startWrite { store in try store.store(captures, record: (Array(Record.key.utf8), recordBytes)) }
        return previous
    }

    /// Runs `write` on the store's thread as the checkpoint in flight. The block holds the store only while it
    /// writes: an owner that waited for the write may close the store at once (RocksDB's lock goes with it).
    private func startWrite(_ write: @escaping @Sendable (CheckpointStore) throws -> Cost) {
        let inFlight = self.inFlight
        inFlight.enter()
        writeQueue.async { [weak self] in
            if let self { self.outcome = Result { try write(self) } }
            inFlight.leave()
        }
    }

    /// Whether a checkpoint is being written in the background (`writeInBackground` would wait for it).
    var isWriting: Bool { inFlight.wait(timeout: .now()) == .timedOut }

    /// Waits for the checkpoint being written in the background, if any; returns its cost or throws its error.
    func waitForWrite() throws -> Cost? {
        inFlight.wait()
        defer { outcome = nil }
        return try outcome?.get()
    }

    /// Encodes captures and a driver's record into one batch and writes it, synced.
    private func store(_ captures: Captures, record: (key: [UInt8], value: [UInt8])) throws -> Cost {
        let start = clock.uptimeNanos
        var sink = BatchWriter()
        var counts = Engine.CheckpointCounts()
        for i in captures.parts.indices {
            let written = captures.parts[i].write(into: &sink)
            counts += written
        }
        sink.batch.put(record.key, record.value)
        return try commit(sink, counts, since: start)
    }

    /// A checkpoint's captures, handed to the writing thread, which empties them.
    // @unchecked: written by that thread only, after the engine's thread let go of it.
    private final class Captures: @unchecked Sendable {
        var parts: [CheckpointCapture]
        init(_ parts: [CheckpointCapture]) { self.parts = parts }
    }

    /// The thread checkpoints are written on (`writeInBackground`), the one in flight, and how it ended (set on that
    /// thread before it leaves `inFlight`; read after waiting for it).
    private let writeQueue = DispatchQueue(label: "cepd.checkpoint")
    private let inFlight = DispatchGroup()
    private var outcome: Result<Cost, any Error>?

    /// RocksDB's estimate of the state's size on disk.
    var approximateSize: Int { database.approximateSize }

    /// Hands a task's changes to the store's batch (keys under the task's prefix) and to the task's changelog
    /// partition (keys as the engine names them: the partition is the task).
    private struct TeeWriter: EngineStateWriter {
        var local: BatchWriter
        var changelog: Changelog.Writer
        let taskPrefix: Int
        mutating func put(_ key: [UInt8], _ value: [UInt8]) {
            local.put(key, value)
            changelog.put(Array(key[taskPrefix...]), value)
        }
        mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            local.put(key: key, value: value)
            changelog.put(Array(key[taskPrefix...]), Array(value))
        }
        mutating func delete(_ key: [UInt8]) {
            local.delete(key)
            changelog.delete(Array(key[taskPrefix...]))
        }
        mutating func deletePrefix(_ prefix: [UInt8]) {
            local.deletePrefix(prefix)
            changelog.deletePrefix(Array(prefix[taskPrefix...]))
        }
    }

    /// Collects the engine's puts and deletes into a RocksDB write batch.
    private final class BatchWriter: EngineStateWriter {
        var batch = WriteBatch()
        func put(_ key: [UInt8], _ value: [UInt8]) { batch.put(key, value) }
        func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) { batch.put(key: key, value: value) }
        func delete(_ key: [UInt8]) { batch.delete(key) }
        func deletePrefix(_ prefix: [UInt8]) { batch.deletePrefix(prefix) }
    }
}
