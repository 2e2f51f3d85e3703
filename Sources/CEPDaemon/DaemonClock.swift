import Foundation
import Synchronization

/// The time the daemon reads, given to it rather than read from the system where it is needed, so that tests run
/// the daemon on a manual clock (idle timeouts, merge waits, checkpoint intervals advanced at will).
protocol DaemonClock: Sendable {
    /// Monotonic time in nanoseconds (intervals, timeouts).
    var uptimeNanos: UInt64 { get }
    /// Wall-clock time in milliseconds since the epoch (what checkpoints record, `--idle-wall-clock`).
    var wallMillis: Int64 { get }
    /// Lets `milliseconds` pass (a retry's backoff): the system clock sleeps, a manual one moves on at once.
    func sleep(milliseconds: Int)
}

/// The system's clocks.
struct SystemClock: DaemonClock {
    var uptimeNanos: UInt64 { DispatchTime.now().uptimeNanoseconds }
    var wallMillis: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    func sleep(milliseconds: Int) { usleep(useconds_t(max(0, milliseconds)) * 1000) }
}

/// A clock that moves only when told to (tests).
final class ManualClock: DaemonClock {
    private let now: Mutex<(uptime: UInt64, wall: Int64)>

    /// A clock at `uptimeNanos` and `wallMillis`.
    init(uptimeNanos: UInt64 = 1_000_000_000, wallMillis: Int64 = 1_700_000_000_000) {
        now = Mutex((uptimeNanos, wallMillis))
    }

    var uptimeNanos: UInt64 { now.withLock { $0.uptime } }
    var wallMillis: Int64 { now.withLock { $0.wall } }

    /// Virtual time: the wait is over at once, the clock moved on by it.
    func sleep(milliseconds: Int) { advance(milliseconds: Int64(milliseconds)) }

    /// Moves both clocks `milliseconds` on.
    func advance(milliseconds: Int64) {
        now.withLock {
            $0.uptime += UInt64(milliseconds) * 1_000_000
            $0.wall += milliseconds
        }
    }
}
