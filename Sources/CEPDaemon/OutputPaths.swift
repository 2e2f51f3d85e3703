#if canImport(Glibc)
import Glibc
#endif

/// Checks a replay's output files before it starts: each can be written (its directory exists and takes files), and
/// none is one of the files it reads (an input or a pattern file) or another of its outputs — so that a typo never
/// empties an input and a missing directory never loses late events or dead letters without a word.
enum OutputPaths {
    /// A file named on the command line, with the option that named it (for messages).
    struct Named {
        var option: String
        var path: String
    }

    static func check(outputs: [Named], reads: [Named]) throws(UsageError) {
        var seen: [(named: Named, canonical: String)] = []
        for output in outputs {
            try checkWritable(output)
            let canonical = canonicalPath(output.path)
            let status = FileStatus(output.path)
            if status == nil || status!.isRegularFile {
                if let read = reads.first(where: { FileStatus.sameFile($0.path, output.path) }) {
                    throw UsageError(
                        message: "\(output.option) '\(output.path)' is also \(read.option) '\(read.path)': cepd never "
                            + "writes over a file it reads; choose another file")
                }
                if let other = seen.first(where: {
                    $0.canonical == canonical || FileStatus.sameFile($0.named.path, output.path)
                }) {
                    throw UsageError(
                        message:
                            "\(other.named.option) and \(output.option) both name '\(output.path)'; give each its own file"
                    )
                }
            }
            seen.append((output, canonical))
        }
    }

    private static func checkWritable(_ output: Named) throws(UsageError) {
        if let status = FileStatus(output.path) {
            if status.isDirectory {
                throw UsageError(message: "\(output.option) '\(output.path)' is a directory; name a file in it")
            }
            guard access(output.path, W_OK) == 0 else {
                throw UsageError(message: "cannot write \(output.option) '\(output.path)': \(FileStatus.lastError)")
            }
            return
        }
        let directory = parent(of: output.path)
        guard let parentStatus = FileStatus(directory) else {
            throw UsageError(
                message:
                    "cannot write \(output.option) '\(output.path)': directory '\(directory)' does not exist; create it "
                    + "or choose another file")
        }
        guard parentStatus.isDirectory else {
            throw UsageError(
                message: "cannot write \(output.option) '\(output.path)': '\(directory)' is not a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw UsageError(
                message: "cannot write \(output.option) '\(output.path)': cannot create files in '\(directory)' "
                    + "(\(FileStatus.lastError))")
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The absolute path through the real parent directory, for files that do not exist yet.
    private static func canonicalPath(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let real = realpath(parent(of: path), nil) else { return path }
        defer { free(real) }
        return String(cString: real) + "/" + name
    }
}
