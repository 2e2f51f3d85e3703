/// An in-memory key-value store for the engine's state: what a checkpoint store holds, as a dictionary. Tests
/// use it for incremental checkpoints; `Engine.snapshot()` serializes one to bytes.
public struct MemoryEngineState: EngineStateWriter, EngineStateReader, Sendable {
    /// The records, by key.
    public private(set) var records: [[UInt8]: [UInt8]] = [:]

    /// An empty store.
    public init() {}

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { records[key] = value }
    public mutating func delete(_ key: [UInt8]) { records[key] = nil }
    public mutating func deletePrefix(_ prefix: [UInt8]) { records = records.filter { !$0.key.starts(with: prefix) } }
    public func get(_ key: [UInt8]) throws -> [UInt8]? { records[key] }

    public func scan(prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        for key in records.keys.filter({ $0.starts(with: prefix) }).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard try body(key, records[key]!) else { return }
        }
    }

    /// Bytes of keys and values.
    public var byteCount: Int { records.reduce(0) { $0 + $1.key.count + $1.value.count } }
}

extension MemoryEngineState {
    /// The records of what `Engine.snapshot()` returned (a format this cepd reads).
    init(snapshot bytes: [UInt8]) throws(SnapshotError) {
        var r = try Engine.reader(checkingHeaderOf: bytes, kind: "snapshot").0
        self.init()
        for _ in 0..<(try r.count()) { put(try r.blob(), try r.blob()) }
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
    }
}

extension Engine {
    /// The whole engine state as bytes: a full checkpoint into memory, serialized (`CEPS`, the format version,
    /// then the records in key order).
    public func snapshot() -> [UInt8] {
        var copy = self
        var store = MemoryEngineState()
        copy.writeCheckpoint(into: &store, full: true)
        var w = SnapshotWriter()
        w.append(contentsOf: Self.stateMagic)
        w.unsigned(Self.stateVersion)
        let keys = store.records.keys.sorted { $0.lexicographicallyPrecedes($1) }
        w.unsigned(UInt64(keys.count))
        for key in keys {
            w.blob(key)
            w.blob(store.records[key]!)
        }
        return w.bytes
    }

    /// Restores what `snapshot()` returned into this engine, which must be fresh (no events fed yet).
    public mutating func restore(_ bytes: [UInt8]) throws(SnapshotError) -> RestoreReport {
        let store = try MemoryEngineState(snapshot: bytes)
        do {
            guard let report = try restore(from: store) else { throw SnapshotError(message: "empty snapshot") }
            return report
        } catch let error as SnapshotError {
            throw error
        } catch {
            throw SnapshotError(message: "\(error)")  // the memory store itself never throws
        }
    }
}
