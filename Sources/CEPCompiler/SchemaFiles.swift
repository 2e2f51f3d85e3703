#if canImport(Glibc)
import Glibc
private let readFile = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let readFile = Darwin.read
#endif

/// Where the compiler reads the schema files that `format` clauses name: from disk, relative to the `.cep` file
/// that names them (as `#include` is relative to its file), or from memory in tests.
public struct SchemaFiles: Sendable {
    /// Why a schema file cannot be read.
    public struct ReadError: Error, CustomStringConvertible {
        /// One line for humans, e.g. `No such file or directory (looked for /srv/cep/fraud.desc)`.
        public var description: String
    }

    private let load: @Sendable (String) throws(ReadError) -> [UInt8]

    /// Schema files from `load`, which is given the resolved path.
    public init(load: @escaping @Sendable (String) throws(ReadError) -> [UInt8]) {
        self.load = load
    }

    /// The file `path` names, resolved against the directory of the `.cep` file `source`.
    public func read(_ path: String, besides source: String) throws(ReadError) -> [UInt8] {
        try load(Self.resolve(path, besides: source))
    }

    /// `path` if absolute, else the same name in the directory of `source`.
    public static func resolve(_ path: String, besides source: String) -> String {
        guard !path.hasPrefix("/"), let slash = source.lastIndex(of: "/") else { return path }
        return String(source[...slash]) + path
    }

    /// Files on disk (at most 64 MiB each: a schema, not data).
    public static let disk = SchemaFiles { (path: String) throws(ReadError) -> [UInt8] in
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "\(String(cString: strerror(errno))) (looked for \(path))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { readFile(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(description: "\(String(cString: strerror(errno))) (reading \(path))")
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<n])
            guard bytes.count <= 64 << 20 else { throw ReadError(description: "larger than 64 MiB (\(path))") }
        }
    }

    /// Files held in memory by resolved path (tests).
    public static func memory(_ files: [String: [UInt8]]) -> SchemaFiles {
        SchemaFiles { (path: String) throws(ReadError) -> [UInt8] in
            guard let bytes = files[path] else { throw ReadError(description: "no such file (looked for \(path))") }
            return bytes
        }
    }
}
