internal import CRocksDB

/// An open RocksDB database with a single owner (wraps `rocksdb_t`). Reads see the latest writes; `withSnapshot`
/// gives a consistent view; iteration happens inside a closure, so that no iterator outlives its database.
public struct RocksDatabase: ~Copyable {
    private let handle: OpaquePointer  // rocksdb_t*, owned
    private let options: OpaquePointer  // rocksdb_options_t*, owned
    private let readOptions: OpaquePointer  // rocksdb_readoptions_t*, owned
    private let writeOptions: OpaquePointer  // rocksdb_writeoptions_t*, owned
    private let syncWriteOptions: OpaquePointer  // rocksdb_writeoptions_t* with sync, owned
    /// The directory it lives in.
    public let path: String

    /// Opens (creating if missing) the database in `path` (wraps `rocksdb_open`).
    public init(path: String) throws(StoreError) {
        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
        // State is written in batches every few seconds and read back only at start: small memtables, LZ4.
        rocksdb_options_set_compression(options, Int32(rocksdb_lz4_compression))
        // A checkpoint is one large batch, and the store is read mostly at start (the log is flushed on open): a
        // vector memtable takes each entry in constant time and sorts once, when it is flushed, where the default
        // skip list compares every key on insert (a 1M-key checkpoint: 5.2 s → 3.8 s to write). The price is a
        // read that finds the memtable in use, which sorts a copy of it (tens of ms for a full one): a task
        // restored from the local store after a rebalance pays it a few times. Writes from several threads are
        // still taken, one at a time.
        rocksdb_options_set_allow_concurrent_memtable_write(options, 0)
        rocksdb_options_set_memtable_vector_rep(options)
        let opened: OpaquePointer?
        do {
            opened = try withRocksError("open \(path)") { rocksdb_open(options, path, $0) }
        } catch {
            // rocksdb_open does not take ownership of the options: free them on failure.
            rocksdb_options_destroy(options)
            throw error
        }
        guard let handle = opened else {
            rocksdb_options_destroy(options)
            throw StoreError(operation: "open \(path)", message: "rocksdb_open returned no handle")
        }
        self.handle = handle
        self.options = options
        self.path = path
        readOptions = rocksdb_readoptions_create()!
        writeOptions = rocksdb_writeoptions_create()!
        syncWriteOptions = rocksdb_writeoptions_create()!
        rocksdb_writeoptions_set_sync(syncWriteOptions, 1)
    }

    /// Stores `value` under `key` (wraps `rocksdb_put`).
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StoreError) {
        try withRocksError("put") { error in
            withChars(key) { k, kn in
                withChars(value) { v, vn in rocksdb_put(handle, writeOptions, k, kn, v, vn, error) }
            }
        }
    }

    /// Removes `key` (wraps `rocksdb_delete`); nothing happens if it is absent.
    public func delete(_ key: [UInt8]) throws(StoreError) {
        try withRocksError("delete") { error in
            withChars(key) { k, kn in rocksdb_delete(handle, writeOptions, k, kn, error) }
        }
    }

    /// The value under `key`, or `nil` when there is none (wraps `rocksdb_get`).
    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        try Self.get(handle, readOptions, key)
    }

    /// Applies every put and delete of `batch` atomically (wraps `rocksdb_write`). With `sync`, the write-ahead
    /// log is on disk before this returns, so the batch survives a power loss, not only a crash of the process.
    public func write(_ batch: borrowing WriteBatch, sync: Bool = true) throws(StoreError) {
        let options = sync ? syncWriteOptions : writeOptions
        try withRocksError("write batch of \(batch.puts) puts and \(batch.deletes) deletes") { error in
            rocksdb_write(handle, options, batch.handle, error)
        }
    }

    /// Calls `body` with each key starting with `prefix` and its value, in key order, until it returns false.
    public func scan(prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        try Self.scan(handle, readOptions, prefix: prefix, body)
    }

    /// Runs `body` with a consistent read-only view of the database as it is now (wraps `rocksdb_create_snapshot`);
    /// writes made meanwhile are not seen through it. The view is released when `body` returns.
    public func withSnapshot<T>(_ body: (borrowing SnapshotView) throws -> T) rethrows -> T {
        let snapshot = rocksdb_create_snapshot(handle)!
        let options = rocksdb_readoptions_create()!
        rocksdb_readoptions_set_snapshot(options, snapshot)
        defer {
            rocksdb_readoptions_destroy(options)
            rocksdb_release_snapshot(handle, snapshot)
        }
        return try body(SnapshotView(database: handle, options: options))
    }

    /// A read-only, consistent view of the database, valid inside `withSnapshot`.
    public struct SnapshotView: ~Copyable {
        fileprivate let database: OpaquePointer
        fileprivate let options: OpaquePointer

        /// The value under `key` in this view, or `nil`.
        public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? { try RocksDatabase.get(database, options, key) }

        /// Like `RocksDatabase.scan`, in this view.
        public func scan(prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
            try RocksDatabase.scan(database, options, prefix: prefix, body)
        }
    }

    /// RocksDB's estimate of the live data size in bytes (`rocksdb.estimate-live-data-size`), plus the memtables.
    public var approximateSize: Int {
        func property(_ name: String) -> Int {
            guard let value = rocksdb_property_value(handle, name) else { return 0 }
            defer { rocksdb_free(value) }
            return Int(String(cString: value)) ?? 0
        }
        return property("rocksdb.estimate-live-data-size") + property("rocksdb.cur-size-all-mem-tables")
    }

    deinit {
        rocksdb_close(handle)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_writeoptions_destroy(syncWriteOptions)
        rocksdb_options_destroy(options)
    }

    // MARK: - Shared by the database and its snapshot views

    private static func get(_ db: OpaquePointer, _ options: OpaquePointer, _ key: [UInt8]) throws(StoreError)
        -> [UInt8]?
    {
        var length = 0
        let value = try withRocksError("get") { error in
            withChars(key) { k, kn in rocksdb_get(db, options, k, kn, &length, error) }
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return bytes(value, length)
    }

    private static func scan(
        _ db: OpaquePointer, _ options: OpaquePointer, prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool
    ) throws {
        let iterator = rocksdb_create_iterator(db, options)!
        defer { rocksdb_iter_destroy(iterator) }
        withChars(prefix) { p, n in rocksdb_iter_seek(iterator, p, n) }
        while rocksdb_iter_valid(iterator) != 0 {
            var keyLength = 0
            var valueLength = 0
            let key = bytes(rocksdb_iter_key(iterator, &keyLength), keyLength)
            guard key.starts(with: prefix) else { break }
            let value = rocksdb_iter_value(iterator, &valueLength).map { bytes($0, valueLength) } ?? []
            guard try body(key, value) else { return }
            rocksdb_iter_next(iterator)
        }
        try withRocksError("iterate") { rocksdb_iter_get_error(iterator, $0) }
    }

    /// The smallest key greater than every key starting with `prefix`; nil when there is none (all 0xFF).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return nil
    }
}
