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
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw UsageError(message: "cannot read '\(path)': no such file")
            }
            guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
                throw UsageError(message: "cannot read '\(path)': " + (isDirectory.boolValue ? "it is a directory" : "permission denied"))
            }
            files.append(SourceFile(path: path, bytes: [UInt8](data)))
        }
        return files
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
