import Foundation

/// A stop request shared by the threads and the signal handler, with the exit status to stop with.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var code: Int32?

    var isSet: Bool { lock.withLock { code != nil } }
    var exitCode: Int32 { lock.withLock { code ?? 0 } }

    /// Asks to stop; the first request's status wins.
    func set(exitCode: Int32 = 0) {
        lock.withLock { if code == nil { code = exitCode } }
    }
}
