import CEPCore

/// A pattern's `suppress DURATION [by EXPR]`: after an alert whose last event has time T, a match of the same key
/// and value of EXPR whose last event is before T + DURATION is counted and not emitted. Matching is unchanged (the
/// skip strategy applies to a suppressed match as to any other); only the output is filtered, in the order the
/// matcher emits, which is the same in a replay and live — so suppression is too.
///
/// Suppression is per key and value: the key is part of it even with `by`, so that which alerts go out does not
/// depend on how keys are spread over tasks and processes.
///
/// An entry is forgotten once no later match can fall within it: every later match's last event is after the
/// watermark minus the pattern's window (a match held back is held for an earlier partial match, which times out
/// within the window), so an entry whose T + DURATION is at or below that is dead. The checker requires the window.
struct AlertSuppression {
    /// Which alerts suppress each other: the pattern's key and the value of `by` (null without it).
    struct Key: Hashable, Sendable {
        var key: Value
        var by: Value
    }

    let duration: Int64
    let window: Int64
    let by: FlatExpressions?
    /// For each key and value, the last event time of the last alert let through.
    private(set) var last: [Key: Int64] = [:]
    /// Entries by the watermark from which they are dead; an entry whose time has since moved on is skipped.
    private var expiries = TimeOrderedHeap<Expiry>()
    private var nextOrder: UInt64 = 0
    /// Matches not emitted, since the pattern's state began.
    var suppressed = 0
    /// Entries put or forgotten since the last checkpoint.
    private(set) var changed: Set<Key> = []

    private struct Expiry: TimeOrdered {
        let time: Int64
        let order: UInt64
        let key: Key
        static func precedes(_ a: Expiry, _ b: Expiry) -> Bool {
            a.time < b.time || (a.time == b.time && a.order < b.order)
        }
    }

    init?(_ pattern: PatternAutomaton) {
        guard let spec = pattern.suppress else { return nil }
        duration = spec.duration
        window = pattern.window ?? 0
        by = spec.by.map { FlatExpressions([$0]) }
    }

    /// Removes the suppressed matches from `outputs[from...]`, keeping the others in order, and notes the alerts
    /// let through.
    mutating func filter(_ outputs: inout [MatchOutput], from start: Int, noting: Bool) {
        var kept = start
        for i in start..<outputs.count {
            let output = outputs[i]
            if case .match = output.kind, let lastNode = output.last {
                let time = lastNode.event.timestamp
                let key = Key(
                    key: output.key,
                    by: output.rows.withUnsafeBufferPointer {
                        by?.evaluate(0, current: nil, match: lastNode, rows: RowContext(resolved: $0))
                    } ?? .null
                )
                if let previous = last[key], time < previous.addingSaturated(duration) {
                    suppressed += 1
                    continue
                }
                remember(key, time, noting: noting)
            }
            if kept != i { outputs[kept] = output }
            kept += 1
        }
        outputs.removeSubrange(kept...)
    }

    /// Notes an alert let through for `key` whose last event has `time` (or an entry restored); `noting`: for
    /// the next incremental checkpoint.
    mutating func remember(_ key: Key, _ time: Int64, noting: Bool) {
        last[key] = time
        expiries.push(Expiry(time: deadline(time), order: nextOrder, key: key))
        nextOrder += 1
        if noting { changed.insert(key) }
    }

    /// The watermark from which an entry of `time` can no longer suppress anything.
    private func deadline(_ time: Int64) -> Int64 { time.addingSaturated(duration).addingSaturated(window) }

    /// Forgets the entries dead at `watermark` (called once the matcher has emitted everything up to it).
    mutating func expire(at watermark: Int64, noting: Bool) {
        while let entry = expiries.popIfDue(watermark) {
            guard let time = last[entry.key], deadline(time) == entry.time else { continue }
            last[entry.key] = nil
            if noting { changed.insert(entry.key) }
        }
    }

    /// The entries put or forgotten since the last call (every entry when `all`), and clears the notes.
    mutating func takeChanges(all: Bool) -> [(key: Key, time: Int64?)] {
        defer { changed.removeAll(keepingCapacity: true) }
        if all { return last.map { ($0.key, $0.value) } }
        return changed.map { ($0, last[$0]) }
    }

    /// Marks every entry changed (after a reload, whose checkpoint rewrites the pattern's state whole).
    mutating func markAllChanged() {
        for key in last.keys { changed.insert(key) }
    }
}
