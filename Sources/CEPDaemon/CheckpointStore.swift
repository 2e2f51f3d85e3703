import CEPRuntime
import Foundation
import KafkaClient
import RocksStore

/// What a checkpoint records besides the engine: where each input partition goes on, and where each output
/// partition ended when the checkpoint was taken (alerts and side outputs at or after those offsets may have been
/// produced by a run that then crashed; recovery reads them to avoid writing them again).
struct DaemonCheckpoint: Codable {
    /// Bumped when the record changes; another version is refused.
    static let version = 1
    var version = Self.version
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
/// layout) and the daemon's record under `d`, all written by one atomic, synced batch per checkpoint.
final class CheckpointStore: EngineStateReader {
    private let database: RocksDatabase
    let path: String
    private static let daemonKey: [UInt8] = Array("d".utf8)

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

    /// The daemon's record of the last checkpoint, if there is one.
    func daemonCheckpoint() throws -> DaemonCheckpoint? {
        guard let bytes = try database.get(Self.daemonKey) else { return nil }
        let record: DaemonCheckpoint
        do {
            record = try JSONDecoder().decode(DaemonCheckpoint.self, from: Data(bytes))
        } catch {
            throw CheckpointError(message: "the checkpoint's offsets record is damaged (\(error))")
        }
        guard record.version == DaemonCheckpoint.version else {
            throw CheckpointError(
                message: "checkpoint record version \(record.version) is not the version this cepd reads (\(DaemonCheckpoint.version))")
        }
        return record
    }

    /// Writes the engine's changes and the daemon's record in one synced batch.
    func write(_ engine: inout Engine, _ record: DaemonCheckpoint) throws -> Cost {
        let start = DispatchTime.now().uptimeNanoseconds
        let writer = BatchWriter()
        var sink = writer
        let counts = engine.writeCheckpoint(into: &sink)
        writer.batch.put(Self.daemonKey, Array(try JSONEncoder().encode(record)))
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
