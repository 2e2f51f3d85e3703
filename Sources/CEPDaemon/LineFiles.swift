import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file line by line through one buffer: replay inputs can be gigabytes, and a line can be endless (a file
/// without line breaks, `/dev/zero`). A line longer than `maxLineBytes` is not kept whole: it is skipped to its end
/// and reported (`overlongLength`, with its first bytes in `current`), so memory stays bounded.
final class LineReader {
    /// The default limit on a line's length: 1 MiB, Kafka's default message size.
    static let defaultMaxLineBytes = 1 << 20
    /// How much of a line that is too long `current` keeps (for the dead letter).
    static let overlongPrefix = 1024

    private let file: UnsafeMutablePointer<FILE>
    /// The file read, as given.
    let path: String
    /// The longest line kept whole, in bytes.
    let maxLineBytes: Int
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// The bytes read but not yet consumed: `storage[start..<end]`.
    private var start = 0
    private var end = 0
    private var lineStart = 0
    private var length = 0
    private var atEnd = false
    /// Before the first line: a UTF-8 byte order mark there is skipped (it is not part of the first event).
    private var atStart = true
    /// Why reading stopped early (`EIO`, ...): `next` then returns false as at the end.
    private(set) var readError: String?
    /// When the last line was longer than the limit: its length in bytes (without the line break).
    private(set) var overlongLength: Int?
    /// The first bytes of a line that was too long.
    private let prefix = UnsafeMutablePointer<UInt8>.allocate(capacity: LineReader.overlongPrefix)
    private var prefixCount = 0

    /// Opens `path`; a missing, unreadable or directory path is a usage error.
    init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws(UsageError) {
        if FileStatus(path)?.isDirectory == true {
            throw UsageError(message: "cannot read '\(path)': it is a directory; give a file of JSON lines")
        }
        guard let file = fopen(path, "r") else {
            throw UsageError(message: "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        self.file = file
        self.path = path
        self.maxLineBytes = max(1, maxLineBytes)
        capacity = min(1 << 16, self.maxLineBytes + 1)
        storage = .allocate(capacity: capacity)
    }

    deinit {
        storage.deallocate()
        prefix.deallocate()
        fclose(file)
    }

    /// Calls `body` with the next line (without its line break); returns false at the end of the file. A line
    /// over the limit is skipped without calling `body`: `overlongLength` says so.
    func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        guard advance() else { return false }
        if overlongLength == nil { body(current) }
        return true
    }

    /// Skips `count` lines (a resumed replay starts after what its checkpoint processed); false if the file has
    /// fewer.
    func skip(_ count: Int64) -> Bool {
        var skipped: Int64 = 0
        while skipped < count {
            guard advance() else { return false }
            skipped += 1
        }
        return true
    }

    /// The line the last `next` read (the first bytes of one that was too long); valid until the next call.
    var current: UnsafeBufferPointer<UInt8> {
        if overlongLength != nil { return UnsafeBufferPointer(start: prefix, count: prefixCount) }
        return UnsafeBufferPointer(start: storage + lineStart, count: length)
    }

    /// Moves to the next line; false at the end of the file.
    private func advance() -> Bool {
        overlongLength = nil
        if atStart {
            atStart = false
            while end - start < 3 && !atEnd { fill() }
            if end - start >= 3 && storage[start] == 0xEF && storage[start + 1] == 0xBB && storage[start + 2] == 0xBF {
                start += 3
            }
        }
        while true {
            if let newline = memchr(storage + start, 0x0A, end - start) {
                let at = storage.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                take(from: start, to: at)
                start = at + 1
                return true
            }
            if end - start > maxLineBytes {
                skipOverlongLine()
                return true
            }
            if atEnd {
                guard start < end else { return false }
                take(from: start, to: end)  // a last line without a line break
                start = end
                return true
            }
            fill()
        }
    }

    private func take(from first: Int, to last: Int) {
        var count = last - first
        while count > 0 && storage[first + count - 1] == 0x0D { count -= 1 }
        lineStart = first
        length = count
    }

    /// Reads more into the buffer, first moving what is left to its front (and growing it up to the limit).
    private func fill() {
        if start > 0 {
            memmove(storage, storage + start, end - start)
            end -= start
            start = 0
        }
        if end == capacity {
            let larger = min(capacity * 2, maxLineBytes + 1)
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
            grown.update(from: storage, count: end)
            storage.deallocate()
            storage = grown
            capacity = larger
        }
        let read = fread(storage + end, 1, capacity - end, file)
        if read == 0 {
            atEnd = true
            // An error is not the end of the file: the replay must not end its windows on it.
            if ferror(file) != 0 { readError = String(cString: strerror(errno)) }
        }
        end += read
    }

    /// The buffer holds more than the limit without a line break: keep the first bytes, drop the rest of the
    /// line as it is read, and note its length.
    private func skipOverlongLine() {
        prefixCount = min(Self.overlongPrefix, end - start)
        prefix.update(from: storage + start, count: prefixCount)
        var total = end - start
        start = 0
        end = 0
        while !atEnd {
            fill()
            if let newline = memchr(storage, 0x0A, end) {
                let at = storage.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                total += at
                start = at + 1
                break
            }
            total += end
            end = 0
        }
        overlongLength = total
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
    /// write must not show an earlier run's lines as this run's (so a failure to remove it is an error).
    func removeLeftover() throws(UsageError) {
        guard let path, file == nil, FileStatus(path)?.isRegularFile == true else { return }
        guard unlink(path) == 0 else {
            throw UsageError(message: "cannot remove '\(path)', which an earlier run left: \(FileStatus.lastError)")
        }
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
            guard bytes == 0 else {
                throw UsageError(message: "'\(path)' is gone since the checkpoint (it held \(bytes) bytes)")
            }
            return
        }
        guard Int64(info.st_size) >= bytes else {
            throw UsageError(
                message: "'\(path)' is shorter (\(info.st_size) bytes) than at the checkpoint (\(bytes)): it changed")
        }
        guard truncate(path, off_t(bytes)) == 0 else {
            throw UsageError(
                message: "cannot cut '\(path)' back to its checkpoint: \(String(cString: strerror(errno)))")
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
