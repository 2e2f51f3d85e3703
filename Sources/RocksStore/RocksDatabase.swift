internal import CRocksDB

/// An error from RocksDB, with RocksDB's own message.
public struct StoreError: Error, CustomStringConvertible {
    /// What cepd was doing.
    public let operation: String
    /// RocksDB's message, unchanged.
    public let message: String

    /// `operation: message`.
    public var description: String { "\(operation): \(message)" }
}

/// Runs a RocksDB C call with a fresh error pointer and turns a reported error into `StoreError`.
func withRocksError<T>(_ operation: String, _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> T)
    throws(StoreError) -> T
{
    var error: UnsafeMutablePointer<CChar>?
    let result = body(&error)
    if let error {
        defer { rocksdb_free(error) }
        throw StoreError(operation: operation, message: String(cString: error))
    }
    return result
}

/// An open RocksDB database with a single owner. Issue 5 grows it into the checkpoint store; for now it opens,
/// reads, writes and closes, which proves the C library is wired.
public struct RocksDatabase: ~Copyable {
    private let handle: OpaquePointer  // rocksdb_t*, owned
    private let options: OpaquePointer  // rocksdb_options_t*, owned
    private let readOptions: OpaquePointer  // rocksdb_readoptions_t*, owned
    private let writeOptions: OpaquePointer  // rocksdb_writeoptions_t*, owned

    /// Opens (creating if missing) the database in `path` (wraps `rocksdb_open`).
    public init(path: String) throws(StoreError) {
        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
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
        self.readOptions = rocksdb_readoptions_create()!
        self.writeOptions = rocksdb_writeoptions_create()!
    }

    /// Stores `value` under `key` (wraps `rocksdb_put`).
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StoreError) {
        try withRocksError("put") { error in
            key.withUnsafeBufferPointer { k in
                value.withUnsafeBufferPointer { v in
                    k.withMemoryRebound(to: CChar.self) { kc in
                        v.withMemoryRebound(to: CChar.self) { vc in
                            rocksdb_put(handle, writeOptions, kc.baseAddress, k.count, vc.baseAddress, v.count, error)
                        }
                    }
                }
            }
        }
    }

    /// The value under `key`, or `nil` when there is none (wraps `rocksdb_get`).
    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        var length = 0
        let value = try withRocksError("get") { error in
            key.withUnsafeBufferPointer { k in
                k.withMemoryRebound(to: CChar.self) { kc in
                    rocksdb_get(handle, readOptions, kc.baseAddress, k.count, &length, error)
                }
            }
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }

    deinit {
        rocksdb_close(handle)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_options_destroy(options)
    }
}
