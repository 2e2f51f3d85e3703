import Foundation

/// A stop request shared by the threads and the signal handler, with the exit status to stop with.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var code: Int32?

    /// The status a stop asked for by SIGINT/SIGTERM is noted with: a clean stop, which exits 0.
    static let bySignal: Int32 = 130

    var isSet: Bool { lock.withLock { code != nil } }
    var exitCode: Int32 { lock.withLock { code ?? 0 } }
    /// Whether the stop is a clean one (asked for by a signal, or none asked for): deliver, checkpoint, commit.
    var isClean: Bool { exitCode == 0 || exitCode == Self.bySignal }
    /// The process's exit status: 0 for a clean stop, else the status the stop was asked with.
    var processExitCode: Int32 { isClean ? 0 : exitCode }

    /// Asks to stop; the first request's status wins.
    func set(exitCode: Int32 = 0) {
        lock.withLock { if code == nil { code = exitCode } }
    }
}
