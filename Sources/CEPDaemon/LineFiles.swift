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
///
/// Every write is checked: the first failure (a file that cannot be created, a full disk, a closed standard output)
/// is kept in `failure`, later writes are dropped, and the caller stops with an error instead of claiming the lines.
final class LineWriter {
    let path: String?
    private var file: UnsafeMutablePointer<FILE>?
    private(set) var lines = 0
    /// Bytes written so far (with the line breaks).
    private(set) var bytes: Int64 = 0
    /// The mode the file is created in: "w", or "a" once a resumed replay has cut it back to its checkpoint.
    private var mode = "w"
    /// The first write error, as a message naming the file; nothing is written after it.
    private(set) var failure: String?

    /// `nil` writes to standard output.
    init(path: String?) {
        self.path = path
        if path == nil {
            file = fdopen(STDOUT_FILENO, "w")
            if file == nil { fail() }
        }
    }

    /// Where the lines go, for messages.
    var name: String { path.map { "'\($0)'" } ?? "standard output" }

    private func fail() {
        guard failure == nil else { return }
        failure = "cannot write \(name): \(String(cString: strerror(errno)))"
    }

    /// Removes the file an earlier run left at `path`, if any: a file written only when there is something to
    /// write must not show an earlier run's lines as this run's.
    func removeLeftover() {
        guard let path, file == nil else { return }
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { unlink(path) }
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
        guard failure == nil else { return }
        if file == nil, let path {
            file = fopen(path, mode)
            if file == nil { return fail() }
        }
        guard let file else { return }
        var text = line  // shares the storage; `withUTF8` needs a variable
        let written = text.withUTF8 { fwrite($0.baseAddress, 1, $0.count, file) == $0.count }
        guard written, fputc(0x0A, file) != EOF else { return fail() }
        bytes += Int64(text.utf8.count) + 1
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

    /// Pushes buffered lines to the file, and a file to the disk, so that a checkpoint can count on them. Returns
    /// false (and keeps the reason in `failure`) if they did not get there.
    @discardableResult
    func sync() -> Bool {
        guard failure == nil else { return false }
        guard let file else { return true }
        guard fflush(file) == 0 else {
            fail()
            return false
        }
        // Devices and pipes cannot be synced (EINVAL, EROFS): what they took is all there is to check.
        if path != nil, fsync(fileno(file)) != 0, errno != EINVAL, errno != EROFS {
            fail()
            return false
        }
        return true
    }

    /// Flushes and closes; returns false (with `failure` set) if the last lines could not be written.
    @discardableResult
    func close() -> Bool {
        guard let file else { return failure == nil }
        self.file = nil
        if fflush(file) != 0 { fail() }
        // Standard output stays open for whatever else writes to it; files are closed (which can fail too).
        if path != nil, fclose(file) != 0 { fail() }
        return failure == nil
    }
}
