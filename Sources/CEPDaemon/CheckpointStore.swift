import CEPRuntime
import Foundation
import KafkaClient
import RocksStore

/// What a driver stores in a checkpoint beside the engine's records, under its own key.
protocol CheckpointRecord: Codable {
    /// The record's key in the store.
    static var key: String { get }
    /// Bumped when the record changes; another version is refused.
    static var currentVersion: Int { get }
    var version: Int { get }
}

/// What `cepd serve` records beside the engine: where each input partition goes on, and where each output
/// partition ended when the checkpoint was taken (alerts and side outputs at or after those offsets may have been
/// produced by a run that then crashed; recovery reads them to avoid writing them again).
struct DaemonCheckpoint: CheckpointRecord {
    static let key = "d"
    static let currentVersion = 1
    var version = Self.currentVersion
    /// Counts checkpoints in this state directory.
    var number: UInt64
    /// Wall-clock time it was taken, epoch ms.
    var writtenAt: Int64
    /// The cluster the offsets belong to (nil if the broker does not say).
    var clusterID: String?
    /// The next offset to process, per input partition.
    var inputs: [Position]
    /// The end of each output partition: everything cepd wrote before this checkpoint lies below it.
    var outputs: [Position]

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
        Dictionary(positions.map { (TopicPartition(topic: $0.topic, partition: $0.partition), $0.offset) }, uniquingKeysWith: max)
    }
}

/// Why the checkpoint store cannot be used.
struct CheckpointError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The checkpoint store in `--state-dir`: a RocksDB database holding the engine's records (see `Engine`'s state
/// layout) and the driver's record (`d` for `cepd serve`, `r` for `cepd run`), all written by one atomic, synced
/// batch per checkpoint.
final class CheckpointStore: EngineStateReader {
    private let database: RocksDatabase
    let path: String

    /// What one checkpoint cost.
    struct Cost {
        var milliseconds: Double
        var batchBytes: Int
        var keysWritten: Int
        var keysDeleted: Int
    }

    init(path: String) throws {
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

    /// The driver's record of the last checkpoint, if there is one.
    func record<Record: CheckpointRecord>(_ type: Record.Type) throws -> Record? {
        guard let bytes = try database.get(Array(Record.key.utf8)) else { return nil }
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: Data(bytes))
        } catch {
            throw CheckpointError(message: "the checkpoint's '\(Record.key)' record is damaged or of another kind (\(error))")
        }
        guard record.version == Record.currentVersion else {
            throw CheckpointError(
                message: "checkpoint record version \(record.version) is not the version this cepd reads (\(Record.currentVersion))")
        }
        return record
    }

    /// Writes the engine's changes and the driver's record in one synced batch.
    func write<Record: CheckpointRecord>(_ engine: inout Engine, _ record: Record) throws -> Cost {
        let start = DispatchTime.now().uptimeNanoseconds
        let writer = BatchWriter()
        var sink = writer
        let counts = engine.writeCheckpoint(into: &sink)
        writer.batch.put(Array(Record.key.utf8), Array(try JSONEncoder().encode(record)))
        try database.write(writer.batch, sync: true)
        return Cost(
            milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, batchBytes: writer.batch.payloadBytes,
            keysWritten: counts.keysWritten, keysDeleted: counts.keysDeleted)
    }

    /// RocksDB's estimate of the state's size on disk.
    var approximateSize: Int { database.approximateSize }

    /// Collects the engine's puts and deletes into a RocksDB write batch.
    private final class BatchWriter: EngineStateWriter {
        var batch = WriteBatch()
        func put(_ key: [UInt8], _ value: [UInt8]) { batch.put(key, value) }
        func delete(_ key: [UInt8]) { batch.delete(key) }
        func deletePrefix(_ prefix: [UInt8]) { batch.deletePrefix(prefix) }
    }
}
