import CEPRuntime
import Foundation
import KafkaClient
import RocksStore

/// The task state of a group in Kafka, so that a task can move to another process: one compacted topic per group
/// and pattern set, partition *i* holding task *i*'s checkpoints.
///
/// A checkpoint of task *i* appends to partition *i* the state records it changed — key the engine's state key,
/// value `P` + the record; a deleted key a tombstone (null value); a deleted key range a record keyed `0x00` +
/// the range's prefix; a record larger than `Writer.fragmentBytes` (a pattern's record holding many events that
/// wait for the watermark can take tens of MB, and brokers refuse messages over 1 MB by default) as fragments
/// keyed `0x01` + key + index (4 bytes, big-endian), value `F` + the piece, then under its own key `S` + the
/// number of fragments (4 bytes) — and then the task's checkpoint record (key `d`: input positions, output ends), which
/// marks the checkpoint complete. A process that gets the task reads the partition from where its own copy in
/// `--state-dir` ends (the start, if it has none) and applies each complete checkpoint to that copy; records
/// after the last `d` belong to a checkpoint that never completed (its writer died) and are not applied — the
/// next checkpoint first writes those keys again with the restored values (`repair`), so that a later reader
/// never applies them either.
///
/// Correctness does not depend on compaction (Tansu does not compact): compaction only drops records a later
/// one supersedes. `min.compaction.lag.ms` keeps a dead writer's incomplete tail from superseding the values it
/// would replace until the next owner has repaired it.
final class Changelog: Sendable {
    /// The topic.
    let topic: String
    private let properties: [(key: String, value: String)]

    /// Topic settings the changelog is created with.
    static let topicConfig: [(key: String, value: String)] = [
        ("cleanup.policy", "compact"), ("min.compaction.lag.ms", "86400000"),
    ]

    /// The key of a task's checkpoint record, in the changelog and (under the task's prefix) in the local store.
    static let recordKey: [UInt8] = Array("d".utf8)

    init(topic: String, properties: [(key: String, value: String)]) {
        self.topic = topic
        self.properties = properties
    }

    /// `cepd-<group>-<pattern files>-changelog`: one per group and set of pattern files, as Kafka Streams names
    /// its changelogs after the application id. Characters Kafka does not allow in topic names become `_`.
    static func topicName(group: String, patternPaths: [String]) -> String {
        let files = patternPaths.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }.joined(
            separator: "+")
        let raw = "cepd-\(group)-\(files)-changelog"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        return String(raw.map { allowed.contains($0) ? $0 : "_" }.prefix(249))
    }

    /// Creates the topic with `partitions` partitions if it does not exist; throws (with what to do) when it
    /// exists with fewer. Returns what it did, for the log.
    func ensure(producer: KafkaProducer, partitions: Int, timeoutMs: Int32) throws(KafkaError) -> String {
        if let existing = try producer.partitionCounts(of: [topic], timeoutMs: timeoutMs)[topic] {
            guard existing >= partitions else {
                throw KafkaError(
                    message: "the changelog topic \(topic) has \(existing) partitions, but the input topics have "
                        + "\(partitions): add partitions to it (kafka-topics.sh --alter --topic \(topic) --partitions "
                        + "\(partitions)) or delete it together with every --state-dir of the group")
            }
            return "changelog topic \(topic) (\(existing) partitions)"
        }
        let created = try producer.createTopic(
            topic, partitions: partitions, config: Self.topicConfig, timeoutMs: timeoutMs)
        return
            "changelog topic \(topic) \(created ? "created" : "found") (\(partitions) partitions, cleanup.policy=compact)"
    }

    // MARK: - Writing (the engine thread, inside a checkpoint)

    /// Appends one task's state changes to its partition.
    struct Writer: EngineStateWriter {
        let producer: KafkaProducer
        let topic: String
        let partition: Int32
        /// The first produce that could not be queued.
        var error: KafkaError?

        /// Values above this go in fragments (librdkafka refuses messages over 1,000,000 bytes by default, brokers
        /// over 1 MiB).
        static let fragmentBytes = 512 * 1024

        mutating func put(_ key: [UInt8], _ value: [UInt8]) {
            guard value.count > Self.fragmentBytes else {
                send(key, [UInt8(ascii: "P")] + value)
                return
            }
            let count = (value.count + Self.fragmentBytes - 1) / Self.fragmentBytes
            for i in 0..<count {
                let piece = value[(i * Self.fragmentBytes)..<min(value.count, (i + 1) * Self.fragmentBytes)]
                send(Changelog.fragmentKey(key, i), [UInt8(ascii: "F")] + piece)
            }
            send(key, [UInt8(ascii: "S")] + Changelog.bigEndian(count))
        }
        mutating func delete(_ key: [UInt8]) { send(key, nil) }
        mutating func deletePrefix(_ prefix: [UInt8]) { send([0] + prefix, [UInt8(ascii: "X")]) }

        mutating func send(_ key: [UInt8], _ value: [UInt8]?) {
            guard error == nil else { return }
            do {
                try producer.send(topic: topic, partition: partition, key: key, value: value)
            } catch {
                self.error = error
            }
        }
    }

    /// The key of fragment `index` of the value of `key` (`Writer.put`).
    static func fragmentKey(_ key: [UInt8], _ index: Int) -> [UInt8] { [1] + key + bigEndian(index) }

    static func bigEndian(_ value: Int) -> [UInt8] {
        let v = UInt32(truncatingIfNeeded: value)
        return [
            UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
            UInt8(truncatingIfNeeded: v),
        ]
    }

    /// The value `Writer.put` wrote in fragments, from the fragments read so far; nil when one is missing (taken by
    /// compaction: a later checkpoint wrote the key again, and applying that one puts the value).
    static func assemble(_ key: [UInt8], marker: [UInt8], fragments: [[UInt8]: [UInt8]]) -> [UInt8]? {
        guard marker.count == 5 else { return nil }
        let count = marker.dropFirst().reduce(0) { $0 << 8 | Int($1) }
        var value: [UInt8] = []
        for i in 0..<count {
            guard let piece = fragments[fragmentKey(key, i)] else { return nil }
            value.append(contentsOf: piece)
        }
        return value
    }

    // MARK: - Reading (the reader thread, inside a rebalance)

    /// One change read from the changelog.
    enum Change {
        case put([UInt8], [UInt8])
        case delete([UInt8])
        case deletePrefix([UInt8])
    }

    /// What bringing a task's local copy up to date did.
    struct CatchUp {
        /// Changelog records read.
        var records = 0
        /// Complete checkpoints applied to the local copy.
        var checkpoints = 0
        /// Changes after the last complete checkpoint: never applied; the next checkpoint writes them again.
        var tail: [Change] = []
        /// The task's checkpoint record after catching up (nil: the task has none, it starts empty).
        var record: DaemonCheckpoint?
    }

    /// Brings the local copies of `tasks` in `store` up to the end of their changelog partitions: reads each from
    /// the offset after the last checkpoint the copy holds and applies every complete checkpoint found. Throws
    /// when a partition cannot be read to its end within `timeoutMs` (going on would process with old state).
    func catchUp(
        tasks: [TaskID], store: CheckpointStore, timeoutMs: Int64, clock: any DaemonClock = SystemClock()
    ) throws -> [TaskID: CatchUp] {
        var result: [TaskID: CatchUp] = [:]
        var from: [TopicPartition: Int64] = [:]
        for task in tasks {
            let record = try store.taskRecord(task)
            result[task] = CatchUp(record: record)
            from[TopicPartition(topic: topic, partition: task.partition)] = record?.changelogEnd ?? 0
        }
        guard !from.isEmpty else { return result }
        let consumer = try KafkaConsumer(
            properties: properties, reading: from.map { PartitionOffset($0.key, offset: $0.value) })
        var open = Set(from.keys)
        var pending: [TaskID: [Change]] = [:]
        /// Fragments of large values (`Writer.put`) by key, until the checkpoint's end.
        var fragments: [TaskID: [[UInt8]: [UInt8]]] = [:]
        let deadline = clock.uptimeNanos + UInt64(timeoutMs) * 1_000_000
        while !open.isEmpty {
            guard clock.uptimeNanos < deadline else {
                let names = open.map(\.description).sorted().joined(separator: ", ")
                throw KafkaError(
                    message:
                        "could not read the changelog partitions \(names) to their end within \(timeoutMs / 1000) s")
            }
            switch consumer.poll(timeoutMs: 200) {
            case .message(let m):
                let task = TaskID(ofPartition: m.partition.partition)
                result[task]!.records += 1
                guard let key = m.key else { continue }
                if key == Self.recordKey {
                    var record = try CheckpointStore.decode(DaemonCheckpoint.self, m.value.dropFirst())
                    record.changelogEnd = m.offset + 1
                    try store.apply(task: task, pending[task] ?? [], record: record, wipe: result[task]!.record == nil)
                    pending[task] = []
                    fragments[task] = [:]
                    result[task]!.checkpoints += 1
                    result[task]!.record = record
                } else if key.first == 0 {
                    pending[task, default: []].append(.deletePrefix(Array(key.dropFirst())))
                } else if key.first == 1 {
                    fragments[task, default: [:]][key] = Array(m.value.dropFirst())
                } else if m.value.first == UInt8(ascii: "S") {
                    if let value = Self.assemble(key, marker: m.value, fragments: fragments[task] ?? [:]) {
                        pending[task, default: []].append(.put(key, value))
                    }
                } else if m.value.isEmpty {
                    pending[task, default: []].append(.delete(key))
                } else {
                    pending[task, default: []].append(.put(key, Array(m.value.dropFirst())))
                }
            case .endOfPartition(let partition, _):
                open.remove(partition)
            case .error(let error, _) where error.isOffsetOutOfRange:
                // Retention deleted records this copy has not applied (the topic was created compacted only; a
                // `delete` policy or a broker that trims partitions removes them): the task's state cannot be
                // rebuilt, and starting it empty would lose its open matches without a word.
                let asked = from.map { "\($0.key) from offset \($0.value)" }.sorted().joined(separator: ", ")
                var gone = error  // (keeps its code: the caller tells a restart that cannot help from one that can)
                gone.message =
                    "the changelog no longer holds what the state needs (reading \(asked): \(error.message)); "
                    + "records were deleted from \(topic) — keep it cleanup.policy=compact without retention. "
                    + "To start the group over with empty state, delete \(topic) and every --state-dir of the group"
                throw gone
            case .error(let error, let fatal):
                if fatal { throw error }
            case .assigned, .revoked, nil:
                continue
            }
        }
        for (task, tail) in pending { result[task]!.tail = tail }
        return result
    }
}
