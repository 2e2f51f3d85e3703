internal import CRocksDB

/// Puts and deletes applied together by `RocksDatabase.write`: all of them or, after a crash, none.
public struct WriteBatch: ~Copyable {
    let handle: OpaquePointer  // rocksdb_writebatch_t*, owned
    /// Bytes of keys and values put so far (what the batch will write, before compression).
    public private(set) var payloadBytes = 0
    /// Puts so far.
    public private(set) var puts = 0
    /// Deletes (single keys and ranges) so far.
    public private(set) var deletes = 0

    /// An empty batch.
    public init() { handle = rocksdb_writebatch_create()! }

    /// Stores `value` under `key` when the batch is written.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        withChars(key) { k, kn in withChars(value) { v, vn in rocksdb_writebatch_put(handle, k, kn, v, vn) } }
        payloadBytes += key.count + value.count
        puts += 1
    }

    /// Stores the bytes of `value` under those of `key` when the batch is written (RocksDB copies them now: they
    /// need to stay valid only during the call).
    public mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        rocksdb_writebatch_put(
            handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
            value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count)
        payloadBytes += key.count + value.count
        puts += 1
    }

    /// Removes `key` when the batch is written (nothing happens if it is absent).
    public mutating func delete(_ key: [UInt8]) {
        withChars(key) { k, kn in rocksdb_writebatch_delete(handle, k, kn) }
        deletes += 1
    }

    /// Removes every key that starts with `prefix` (a range delete: one entry, whatever the number of keys).
    public mutating func deletePrefix(_ prefix: [UInt8]) {
        guard let end = RocksDatabase.prefixEnd(prefix) else { return }
        withChars(prefix) { s, sn in withChars(end) { e, en in rocksdb_writebatch_delete_range(handle, s, sn, e, en) } }
        deletes += 1
    }

    deinit { rocksdb_writebatch_destroy(handle) }
}
