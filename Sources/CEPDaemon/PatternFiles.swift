import ArgumentParser
import CEPCompiler
import CEPSyntax
import Foundation

/// Loading `.cep` files from disk and reporting their diagnostics.
enum PatternFiles {
    /// Reads the files; a file that cannot be read is a usage error (exit 2).
    static func load(_ paths: [String]) throws(UsageError) -> [SourceFile] {
        var files: [SourceFile] = []
        for path in paths {
            var bytes = try readAll(path)
            // A UTF-8 byte order mark (some editors write one) is not part of the text.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
            files.append(SourceFile(path: path, bytes: bytes))
        }
        return files
    }

    /// The whole file, read with plain `read(2)`: so a FIFO, `/dev/stdin` or `<(…)` works too, and an error says
    /// what the system said.
    static func readAll(_ path: String) throws(UsageError) -> [UInt8] {
        if FileStatus(path)?.isDirectory == true {
            throw UsageError(message: "cannot read '\(path)': it is a directory")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UsageError(message: "cannot read '\(path)': \(FileStatus.lastError)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw UsageError(message: "cannot read '\(path)': \(FileStatus.lastError)")
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// Reads and compiles the files; an unreadable file prints one line and exits 2 (a usage error).
    static func compile(_ paths: [String]) throws -> Compilation {
        do {
            return Compiler.compile(try load(paths))
        } catch {
            writeError("cepd: error: \(error.message)\n")
            throw ExitCode(2)
        }
    }

    /// Whether standard error is a terminal (colours only there).
    static var stderrIsTerminal: Bool { isatty(FileHandle.standardError.fileDescriptor) != 0 }

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func writeOutput(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// `N errors, M warnings` or an empty string when there are none.
    static func summary(_ diagnostics: [Diagnostic]) -> String {
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        var parts: [String] = []
        if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
        if warnings > 0 { parts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
        return parts.joined(separator: ", ")
    }
}
