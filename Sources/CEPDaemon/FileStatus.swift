import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `stat(2)` says of a path (links followed): the one place the daemon's file checks ask it.
struct FileStatus {
    private let info: stat

    /// The path's status, or nil when it does not exist or cannot be looked at (`errno` says why).
    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.info = info
    }

    var isDirectory: Bool { (info.st_mode & S_IFMT) == S_IFDIR }
    var isRegularFile: Bool { (info.st_mode & S_IFMT) == S_IFREG }
    var device: UInt64 { UInt64(info.st_dev) }
    var inode: UInt64 { UInt64(info.st_ino) }
    var size: Int64 { Int64(info.st_size) }
    /// Modification time, nanoseconds since the epoch.
    var modified: Int64 { Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec) }

    /// Whether two paths name the same existing file (links included).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        guard let x = FileStatus(a), let y = FileStatus(b) else { return false }
        return x.device == y.device && x.inode == y.inode
    }

    /// The system's message for the last failed call, for "cannot read 'x': ..." lines.
    static var lastError: String { String(cString: strerror(errno)) }
}
