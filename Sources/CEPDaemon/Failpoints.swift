import Foundation

/// Failpoints for the end-to-end tests (docs/operations.md, "Failpoints"): places where cepd, asked by an
/// environment variable, pauses or stops for good, so that a test can kill it at that exact point. Never set in
/// production.
enum Failpoints {
    /// `CEPD_FAILPOINT_CHECKPOINT_HANG=N`: the N-th checkpoint that records tasks hangs after the outputs' flush and
    /// before the state is written, until the process is killed.
    static let checkpointHang = number("CEPD_FAILPOINT_CHECKPOINT_HANG")
    /// `CEPD_FAILPOINT_CHANGELOG_HANG=N`: the N-th checkpoint whose first task wrote changes hangs with those
    /// changes in the changelog and its record not, until the process is killed.
    static let changelogHang = number("CEPD_FAILPOINT_CHANGELOG_HANG")

    /// The variable `name` as a number, if set.
    static func number(_ name: String) -> Int? { ProcessInfo.processInfo.environment[name].flatMap { Int($0) } }

    /// Blocks the calling thread until the process is killed (the test's signal to kill is the log line before).
    static func hang() -> Never {
        while true { sleep(3600) }
    }
}
