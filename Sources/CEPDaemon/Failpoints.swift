import CEPRuntime
import Foundation

/// Failpoints for tests (docs/operations.md, "Failpoints"): places where cepd pauses or stops for good, so that
/// a test can kill it, or hold it, at that exact point. The end-to-end tests set them by environment variables;
/// in-process tests give the daemon their own (`KafkaDaemon.Options.failpoints`), with a hang they can end. Never
/// set in production.
struct Failpoints: Sendable {
    /// `CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS=N`: every checkpoint pauses N ms after the outputs' flush and before the
    /// state is written.
    var checkpointPauseMs: Int?
    /// `CEPD_FAILPOINT_CHANGELOG_PAUSE_MS=N`: every checkpoint pauses N ms with its first task's changes in the
    /// changelog and its record not.
    var changelogPauseMs: Int?
    /// `CEPD_FAILPOINT_CHECKPOINT_HANG=N`: the N-th checkpoint that records tasks hangs after the outputs' flush
    /// and before the state is written.
    var checkpointHang: Int?
    /// `CEPD_FAILPOINT_CHANGELOG_HANG=N`: the N-th checkpoint whose first task wrote changes hangs with those
    /// changes in the changelog and its record not.
    var changelogHang: Int?
    /// What a hang does: block until the process is killed (the end-to-end tests' signal to kill is the log line
    /// before), or — in process — until the test lets it go.
    var hang: @Sendable () -> Void = { Failpoints.blockForever() }
    /// Called on the reading thread inside a rebalance, before the assigned tasks catch up with their changelog
    /// (in-process tests hold a restore there, to rebalance while it runs).
    var beforeCatchUp: @Sendable ([TaskID]) -> Void = { _ in }

    /// The steps of a checkpoint that records tasks, in order (docs/architecture.md, "Checkpoints").
    enum CheckpointStep: Sendable, CaseIterable {
        /// The outputs so far are delivered; nothing of the checkpoint is written.
        case outputsFlushed
        /// The first task's changes are in the changelog (flushed), its record is not.
        case changelogChanges
        /// Every task's changes and record are in the changelog; the state directory has not been written.
        case changelogRecords
        /// The state directory holds the checkpoint; the offsets it covers are not committed.
        case stateWritten
    }

    /// Called at each step of each checkpoint that records tasks, with the checkpoint's number among those: an
    /// in-process test throws at the step it interrupts, and the daemon stops there as after any failed checkpoint
    /// — with what was written before the step, and nothing after.
    var atCheckpointStep: (@Sendable (CheckpointStep, Int) throws -> Void)?

    /// None set.
    static let none = Failpoints()

    /// The ones the environment sets.
    static let environment = Failpoints(
        checkpointPauseMs: number("CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS"),
        changelogPauseMs: number("CEPD_FAILPOINT_CHANGELOG_PAUSE_MS"),
        checkpointHang: number("CEPD_FAILPOINT_CHECKPOINT_HANG"), changelogHang: number("CEPD_FAILPOINT_CHANGELOG_HANG")
    )

    /// The variable `name` as a number, if set.
    static func number(_ name: String) -> Int? { ProcessInfo.processInfo.environment[name].flatMap { Int($0) } }

    static func blockForever() -> Never {
        while true { sleep(3600) }
    }
}
