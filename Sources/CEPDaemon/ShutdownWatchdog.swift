import Foundation
import Logging
import Synchronization

/// Bounds how long a stop may take (`--shutdown-timeout`): once the stop flag is set, a thread of its own watches
/// the daemon's clock, and if the daemon has not finished stopping within the timeout, `onTimeout` runs with the
/// stop's reason. A stop stuck in a flush or a checkpoint cannot return, so the command layer exits there
/// (`ServeCommand`; status 1 for a requested stop, the failure's own for a failure). On the daemon's clock, so
/// that an in-process test moves time past the timeout instead of waiting for it.
final class ShutdownWatchdog: Sendable {
    private let stop: StopFlag
    private let timeoutNanos: UInt64
    private let clock: any DaemonClock
    private let onTimeout: @Sendable (StopReason) -> Void
    /// Whether the daemon finished; and how often the watchdog has read the clock since the stop (tests wait on
    /// it to know it saw a time they set).
    private let state = Mutex<(finished: Bool, looks: Int)>((false, 0))

    init(
        stop: StopFlag, timeoutMs: Int64, clock: any DaemonClock, onTimeout: @escaping @Sendable (StopReason) -> Void
    ) {
        self.stop = stop
        self.timeoutNanos = UInt64(max(0, timeoutMs)) * 1_000_000
        self.clock = clock
        self.onTimeout = onTimeout
    }

    /// Times the clock has been read since the stop was asked for.
    var looks: Int { state.withLock { $0.looks } }

    /// Starts watching (a thread that ends when the daemon finishes, or the timeout ran).
    func start() {
        let thread = Thread { [self] in watch() }
        thread.start()
    }

    /// The daemon finished stopping (or never started): the watch ends.
    func finish() { state.withLock { $0.finished = true } }

    private var finished: Bool { state.withLock { $0.finished } }

    private func watch() {
        // Polled: the flag is set by signal handlers and threads that know nothing of the watchdog, and a stop
        // noticed 50 ms late is still within any timeout an operator would set.
        while !stop.isSet {
            if finished { return }
            usleep(50_000)
        }
        let deadline = clock.uptimeNanos + timeoutNanos
        while true {
            if finished { return }
            let now = clock.uptimeNanos
            state.withLock { $0.looks += 1 }
            if now >= deadline { break }
            usleep(10_000)
        }
        let reason = stop.stopReason ?? .requested
        Log.error(
            "the stop took longer than --shutdown-timeout (\(timeoutNanos / 1_000_000) ms): exiting without finishing "
                + "it; the next start resumes from the last checkpoint", ["stop": "timeout"])
        onTimeout(reason)
    }
}
