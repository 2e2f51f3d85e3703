import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file line by line with `getline`, reusing one buffer: replay inputs can be gigabytes.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private var length = 0

    /// Opens `path`; a missing or unreadable file is a usage error.
    init(path: String) throws(UsageError) {
        guard let file = fopen(path, "r") else {
            throw UsageError(message: "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        self.file = file
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// Calls `body` with the next line (without its line break); returns false at the end of the file.
    func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        let read = getline(&buffer, &capacity, file)
        guard read >= 0, let buffer else {
            length = 0
            return false
        }
        var count = read
        while count > 0 && (buffer[count - 1] == 0x0A || buffer[count - 1] == 0x0D) { count -= 1 }
        length = count
        body(current)
        return true
    }

    /// The line the last `next` read; valid until the next call.
    var current: UnsafeBufferPointer<UInt8> {
        guard let buffer else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeRawPointer(buffer).withMemoryRebound(to: UInt8.self, capacity: length) {
            UnsafeBufferPointer(start: $0, count: length)
        }
    }
}

/// A buffered output file (or standard output), created on the first write so that empty outputs leave no file.
final class LineWriter {
    let path: String?
    private var file: UnsafeMutablePointer<FILE>?
    private(set) var lines = 0

    /// `nil` writes to standard output.
    init(path: String?) {
        self.path = path
        if path == nil { file = fdopen(STDOUT_FILENO, "w") }
    }

    /// Creates the file now (so that a bad path fails before the replay starts).
    func open() throws(UsageError) {
        guard file == nil, let path else { return }
        guard let handle = fopen(path, "w") else {
            throw UsageError(message: "cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        file = handle
    }

    func write(_ line: String) {
        if file == nil, let path { file = fopen(path, "w") }
        guard let file else { return }
        var text = line  // shares the storage; `withUTF8` needs a variable
        text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        fputc(0x0A, file)
        lines += 1
    }

    func close() {
        guard let file else { return }
        fclose(file)
        self.file = nil
    }
}
