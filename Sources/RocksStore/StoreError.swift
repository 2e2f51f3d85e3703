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

/// Runs `body` with a byte array as the `const char*` + length pair the C API takes.
@inline(__always)
func withChars<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?, Int) -> T) -> T {
    bytes.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress, $0.count) }
    }
}

/// Copies `length` bytes at a C pointer into an array.
@inline(__always)
func bytes(_ pointer: UnsafePointer<CChar>, _ length: Int) -> [UInt8] {
    pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
}
