import Synchronization

/// Why cepd stops. Failures travel up as these, and `exitStatus` is the one place that maps them to the exit
/// statuses of docs/operations.md ("Exit status").
enum StopReason: Error, Sendable, Equatable {
    /// SIGINT/SIGTERM (or the end of the work): a clean stop — deliver, checkpoint, commit — that exits 0.
    case requested
    /// Bad options or configuration, state that cannot be used, or a first schema that does not fit the declared
    /// fields (2).
    case configuration
    /// Kafka cannot be reached or read when it must be (at start; a task's changelog or outputs when it is
    /// assigned) (3).
    case kafkaUnavailable
    /// Kafka failed while running: an output not delivered or not accepted, a fatal client error (4).
    case kafkaFailed
    /// A checkpoint could not be written, or a reload could not carry the state over (5).
    case stateFailed
    /// The stop took longer than --shutdown-timeout (1).
    case shutdownTimeout
    /// A second SIGINT/SIGTERM while stopping (130).
    case secondSignal

    /// The process's exit status.
    var exitStatus: Int32 {
        switch self {
        case .requested: 0
        case .shutdownTimeout: 1
        case .configuration: 2
        case .kafkaUnavailable: 3
        case .kafkaFailed: 4
        case .stateFailed: 5
        case .secondSignal: 130
        }
    }
}

/// A stop request shared by the threads and the signal handler, with why.
final class StopFlag: Sendable {
    private let reason = Mutex<StopReason?>(nil)

    /// A flag nobody has set.
    init() {}

    var isSet: Bool { reason.withLock { $0 != nil } }
    /// Why, once set.
    var stopReason: StopReason? { reason.withLock { $0 } }
    /// Whether the stop is a clean one (asked for, or none asked for): deliver, checkpoint, commit.
    var isClean: Bool { reason.withLock { $0 == nil || $0 == .requested } }
    /// The process's exit status: 0 for a clean stop, else the failure's.
    var processExitCode: Int32 { stopReason?.exitStatus ?? 0 }

    /// Asks to stop; the first request's reason wins.
    func set(_ why: StopReason = .requested) {
        reason.withLock { if $0 == nil { $0 = why } }
    }
}
