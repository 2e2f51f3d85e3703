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

    /// Skips `count` lines (a resumed replay starts after what its checkpoint processed); false if the file has
    /// fewer.
    func skip(_ count: Int64) -> Bool {
        var skipped: Int64 = 0
        while skipped < count {
            guard getline(&buffer, &capacity, file) >= 0 else { return false }
            skipped += 1
        }
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
    /// Bytes written so far (with the line breaks).
    private(set) var bytes: Int64 = 0
    /// The mode the file is created in: "w", or "a" once a resumed replay has cut it back to its checkpoint.
    private var mode = "w"

    /// `nil` writes to standard output.
    init(path: String?) {
        self.path = path
        if path == nil { file = fdopen(STDOUT_FILENO, "w") }
    }

    /// Creates the file now (so that a bad path fails before the replay starts).
    func open() throws(UsageError) {
        guard file == nil, let path else { return }
        guard let handle = fopen(path, mode) else {
            throw UsageError(message: "cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        file = handle
    }

    func write(_ line: String) {
        if file == nil, let path { file = fopen(path, mode) }
        guard let file else { return }
        var text = line  // shares the storage; `withUTF8` needs a variable
        text.withUTF8 {
            _ = fwrite($0.baseAddress, 1, $0.count, file)
            bytes += Int64($0.count) + 1
        }
        fputc(0x0A, file)
        lines += 1
    }

    /// Continues a file a checkpoint recorded at `bytes` and `lines`: what was written after it (by a run that
    /// was then interrupted) is cut off, and writes append. Throws if the file is shorter than that (it changed).
    func resume(bytes: Int64, lines: Int) throws(UsageError) {
        guard let path else { return }
        self.bytes = bytes
        self.lines = lines
        mode = "a"
        if file != nil {
            fclose(file)
            file = nil
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            guard bytes == 0 else { throw UsageError(message: "'\(path)' is gone since the checkpoint (it held \(bytes) bytes)") }
            return
        }
        guard Int64(info.st_size) >= bytes else {
            throw UsageError(message: "'\(path)' is shorter (\(info.st_size) bytes) than at the checkpoint (\(bytes)): it changed")
        }
        guard truncate(path, off_t(bytes)) == 0 else {
            throw UsageError(message: "cannot cut '\(path)' back to its checkpoint: \(String(cString: strerror(errno)))")
        }
    }

    /// Pushes buffered lines to the file and the file to the disk, so that a checkpoint can count on them.
    func sync() {
        guard let file, path != nil else { return }
        fflush(file)
        fsync(fileno(file))
    }

    func close() {
        guard let file else { return }
        fclose(file)
        self.file = nil
    }
}
