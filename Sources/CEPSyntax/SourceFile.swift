/// One `.cep` file's text, with the line table that turns byte offsets into lines and columns.
public struct SourceFile: Sendable {
    /// The path as the user gave it; diagnostics print it unchanged.
    public let path: String
    /// The file's bytes. Invalid UTF-8 is kept as it is: the lexer reports it.
    public let bytes: [UInt8]
    /// Byte offset of the first byte of each line.
    public let lineStarts: [Int]

    /// Creates a source file from its bytes.
    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        self.lineStarts = starts
    }

    /// Creates a source file from a string (tests, and files already read as text).
    public init(path: String, text: String) {
        self.init(path: path, bytes: Array(text.utf8))
    }

    /// The 1-based line and column of a byte offset. Columns count UTF-8 bytes, as clang and swiftc do.
    public func location(of offset: Int) -> SourceLocation {
        // Binary search for the last line start <= offset.
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return SourceLocation(line: low + 1, column: offset - lineStarts[low] + 1, offset: offset)
    }

    /// The text of a 1-based line, without its line break; invalid UTF-8 is repaired for display.
    public func lineText(_ line: Int) -> String {
        guard line >= 1, line <= lineStarts.count else { return "" }
        let start = lineStarts[line - 1]
        var end = line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
    }

    /// The source text of a range.
    public func text(_ range: SourceRange) -> String {
        let start = min(range.start, bytes.count)
        let end = min(max(range.end, start), bytes.count)
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

/// A 1-based line and column (in UTF-8 bytes), with the byte offset it came from.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line number.
    public let line: Int
    /// 1-based column, counted in UTF-8 bytes.
    public let column: Int
    /// 0-based byte offset into the file.
    public let offset: Int

    /// Creates a location.
    public init(line: Int, column: Int, offset: Int) {
        self.line = line
        self.column = column
        self.offset = offset
    }

    /// `line:column`.
    public var description: String { "\(line):\(column)" }
}

/// A half-open byte range `[start, end)` in one file of a `SourceManager`.
public struct SourceRange: Sendable, Hashable {
    /// Which file of the `SourceManager` the range is in.
    public var file: Int
    /// First byte.
    public var start: Int
    /// One past the last byte.
    public var end: Int

    /// Creates a range.
    public init(file: Int, start: Int, end: Int) {
        self.file = file
        self.start = start
        self.end = end
    }

    /// The smallest range that covers both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(file: file, start: min(start, other.start), end: max(end, other.end))
    }
}

/// The files of one compilation; ranges refer to them by index.
public struct SourceManager: Sendable {
    /// The files, in the order they were added.
    public private(set) var files: [SourceFile] = []

    /// Creates an empty manager.
    public init() {}

    /// Adds a file and returns its index for `SourceRange.file`.
    @discardableResult
    public mutating func add(_ file: SourceFile) -> Int {
        files.append(file)
        return files.count - 1
    }

    /// The file a range belongs to.
    public subscript(_ index: Int) -> SourceFile { files[index] }

    /// `path:line:col` of a range's start.
    public func describe(_ range: SourceRange) -> String {
        let file = files[range.file]
        return "\(file.path):\(file.location(of: range.start))"
    }
}
