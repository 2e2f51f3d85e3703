import CEPRuntime
import Foundation
import KafkaClient

/// What cepd has already written to its output partitions, so that a run recovering from a checkpoint does not
/// write it again.
///
/// A checkpoint records where each output partition ended when it was taken. Everything the engine outputs after
/// the checkpoint is output again when a restarted cepd replays the input from there; the restarted cepd first
/// reads each output partition from the recorded offset to its end and keeps the identity of every message it
/// finds (an alert's match id; a late event's or dead letter's source position). An output with one of those
/// identities is then not produced again.
struct OutputLedger {
    /// Per output partition, an offset at or before which everything cepd wrote before now lies.
    private(set) var ends: [TopicPartition: Int64] = [:]
    /// Identities found after the checkpoint and not yet met again, with the offset they were found at.
    private var written: [String: (partition: TopicPartition, offset: Int64, task: TaskID)] = [:]
    /// Outputs not produced because they already were.
    private(set) var skipped = 0
    /// After a recovery for some tasks: the identities it noted, per task.
    private(set) var found: [TaskID: Int] = [:]

    /// Identities still expected to come up again.
    var pending: Int { written.count }

    /// The identity of an alert.
    static func identity(matchID: String) -> String { "m:" + matchID }

    /// The identity of a late event or a dead letter: its kind and source position.
    static func identity(late: Bool, topic: String, partition: Int32, offset: Int64) -> String {
        (late ? "l:" : "d:") + topic + "/" + String(partition) + "/" + String(offset)
    }

    init(ends: [TopicPartition: Int64] = [:]) { self.ends = ends }

    /// Reads the output partitions from each task's recorded ends (`tasks`: per task, per partition) to their
    /// current ends, and notes what those tasks wrote there (an alert's `cepd-task` header; a side output's source
    /// partition): the other tasks' outputs, and what a task wrote before its checkpoint, are not this recovery's to
    /// skip. `found` counts what it noted per task. Throws when the partitions cannot be read to their end within
    /// `timeoutMs`: going on would risk writing duplicates.
    static func recover(
        properties: [(key: String, value: String)], tasks: [TaskID: [TopicPartition: Int64]], timeoutMs: Int64,
        clock: any DaemonClock = SystemClock()
    ) throws(KafkaError) -> OutputLedger {
        var partitions: [TopicPartition: Int64] = [:]
        for ends in tasks.values { partitions.merge(ends, uniquingKeysWith: min) }
        var ledger = OutputLedger(ends: partitions)
        guard !partitions.isEmpty else { return ledger }
        // Outputs deleted by retention since the checkpoint cannot be checked; what is left of them can.
        let consumer = try KafkaConsumer(
            properties: properties, reading: partitions.map { PartitionOffset($0.key, offset: $0.value) },
            whenGone: .readFromStart)
        var open = Set(partitions.keys)
        let deadline = clock.uptimeNanos + UInt64(timeoutMs) * 1_000_000
        while !open.isEmpty {
            guard clock.uptimeNanos < deadline else {
                let names = open.map { "\($0.topic)[\($0.partition)]" }.sorted().joined(separator: ", ")
                throw KafkaError(
                    message: "could not read the output partitions \(names) to their end within \(timeoutMs / 1000) s")
            }
            switch consumer.poll(timeoutMs: 200) {
            case .message(let m):
                ledger.ends[m.partition] = max(ledger.ends[m.partition] ?? 0, m.offset + 1)
                guard let (identity, task) = identity(of: m), let task, let from = tasks[task],
                    m.offset >= from[m.partition] ?? 0
                else { continue }
                ledger.found[task, default: 0] += 1
                ledger.written[identity] = (m.partition, m.offset, task)
            case .endOfPartition(let partition, let offset):
                ledger.ends[partition] = max(ledger.ends[partition] ?? 0, offset)
                open.remove(partition)
            case .error(let error, let fatal):
                if fatal { throw error }
            case .assigned, .revoked, nil:
                continue
            }
        }
        return ledger
    }

    /// A cepd output's identity, and the task that wrote it (nil for an alert of a build before tasks).
    private static func identity(of message: KafkaMessage) -> (String, task: TaskID?)? {
        func header(_ name: String) -> String? { message.header(name).map { String(decoding: $0, as: UTF8.self) } }
        if let id = header("cepd-match-id") {
            return (identity(matchID: id), header("cepd-task").flatMap { Int($0) }.map(TaskID.init))
        }
        guard let reason = header("cepd-reason"), let topic = header("cepd-source-topic"),
            let partition = header("cepd-source-partition").flatMap({ Int32($0) }),
            let offset = header("cepd-source-offset").flatMap({ Int64($0) })
        else { return nil }
        return (
            identity(late: reason == "late", topic: topic, partition: partition, offset: offset),
            TaskID(ofPartition: partition)
        )
    }

    /// Adds what another recovery found (a task restored here).
    mutating func add(_ other: OutputLedger) {
        ends.merge(other.ends, uniquingKeysWith: max)
        written.merge(other.written) { $1 }
    }

    /// Whether an output with this identity was already written (then it is not to be produced, and is
    /// forgotten: the replay meets it once).
    mutating func alreadyWritten(_ identity: String) -> Bool {
        guard !written.isEmpty, written.removeValue(forKey: identity) != nil else { return false }
        skipped += 1
        return true
    }

    /// The output positions a checkpoint taken now records: the known ends and what the producer delivered since
    /// (after a flush), but never past an output found at recovery and not yet met again — a crash after this
    /// checkpoint must still find it.
    /// With `task`, only that task's outputs count: what other tasks still expect is not this task's to find.
    func checkpointPositions(delivered: [TopicPartition: Int64], task: TaskID? = nil) -> [TopicPartition: Int64] {
        var positions = ends.merging(delivered, uniquingKeysWith: max)
        for (_, place) in written where task == nil || place.task == task {
            positions[place.partition] = min(positions[place.partition] ?? 0, place.offset)
        }
        return positions
    }

    /// Forgets what `task` still expected to meet (it left this process: its next owner looks it up itself).
    mutating func forget(task: TaskID) {
        written = written.filter { $0.value.task != task }
    }
}
