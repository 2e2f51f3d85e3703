public import CEPCore

/// Caps on a pattern's open partial matches (those that have bound an event): what keeps a burst from growing the
/// state without bound. Over a cap, the oldest partial matches are dropped (see `PatternMatcher.setLimits`).
public struct PartialMatchLimits: Sendable, Hashable {
    /// At most this many open partial matches per key.
    public var perKey: Int?
    /// At most this many open partial matches over all keys of the pattern.
    public var total: Int?
    /// Where `perKey` is not given: the per-key cap of a pattern that branches on every event (`->>` or `any`,
    /// whose partial matches can double with each event of a key: 40 events of one key took 3 GB).
    public var branchingPerKey: Int?

    /// The per-key cap applied to a branching pattern when no other is given.
    public static let defaultBranchingPerKey = 100_000

    /// Creates limits; nil means no cap.
    public init(perKey: Int? = nil, total: Int? = nil, branchingPerKey: Int? = nil) {
        self.perKey = perKey
        self.total = total
        self.branchingPerKey = branchingPerKey
    }

    /// Whether any cap is set.
    public var isEmpty: Bool { perKey == nil && total == nil && branchingPerKey == nil }

    /// The caps for one pattern: `branchingPerKey` becomes its per-key cap if it branches and has none.
    func applied(branching: Bool) -> PartialMatchLimits {
        PartialMatchLimits(perKey: perKey ?? (branching ? branchingPerKey : nil), total: total)
    }
}

/// The bookkeeping the caps need, kept only while a cap is set (so that an uncapped matcher pays nothing).
struct LimitState {
    /// A partial match's start, in the order partial matches started: the candidates for "the oldest".
    struct Start {
        var slot: Int32
        /// The slot's generation then: a freed and reused slot makes the entry stale.
        var generation: UInt32
        var startOrder: UInt64
    }

    var limits: PartialMatchLimits
    /// Open partial matches over all keys.
    var open = 0
    /// Starts, oldest first, from `head` on (entries before `head` are consumed). Some are stale: their partial
    /// matches completed, timed out or were dropped since; they are skipped when met and compacted away.
    var starts: [Start] = []
    var head = 0
    /// Partial matches dropped over a cap so far, and the key of the last one.
    var dropped = 0
    var lastDroppedKey: Value?
}

extension KeyState {
    /// Open partial matches of the key (the start state's empty one not counted).
    var startedCount: Int { partial.elements.count { $0.hasStarted } }
}

extension PatternMatcher {
    /// Sets (or clears) the caps on open partial matches. Over the per-key cap, a key's oldest partial matches
    /// (those started by its earliest event still held) are dropped; over the total cap, the pattern's oldest
    /// ones, across keys, in the order they started. Dropped partial matches are counted
    /// (`droppedPartialMatches`); matches they would have completed are lost — the price of bounded memory, as in
    /// Flink's state TTL. Recounts the current state, so it may be called after a restore.
    public mutating func setLimits(_ given: PartialMatchLimits) {
        let limits = given.applied(branching: branches)
        guard !limits.isEmpty else {
            limitState = nil
            return
        }
        var state = LimitState(limits: limits)
        state.dropped = limitState?.dropped ?? 0
        var starts: [(time: Int64, start: LimitState.Start)] = []
        for slot in keyIndex.slots {
            var seen = Set<UInt64>()
            for match in slots[Int(slot)].state.partial.elements where match.hasStarted {
                state.open += 1
                if seen.insert(match.startOrder).inserted {
                    starts.append(
                        (
                            match.startTimestamp,
                            LimitState.Start(
                                slot: slot, generation: slots[Int(slot)].generation, startOrder: match.startOrder)
                        ))
                }
            }
        }
        state.starts = starts.sorted { $0.time < $1.time }.map(\.start)
        limitState = state
    }

    /// Partial matches dropped over a cap so far.
    public var droppedPartialMatches: Int { limitState?.dropped ?? 0 }

    /// The key of the last partial match dropped over a cap.
    public var lastDroppedKey: Value? { limitState?.lastDroppedKey }

    /// Accounts for a change of `slot`'s partial matches (it had `before` open ones) and enforces the caps.
    /// `sequence` is the key's event just processed, if any (it may have started partial matches). Returns whether
    /// dropping made the key idle (the caller releases it).
    mutating func enforceLimits(_ slot: Int32, before: Int, startedBy sequence: UInt64?) -> Bool {
        guard var limit = limitState else { return false }
        limitState = nil  // exclusive access to the slots below; put back at the end
        defer { limitState = limit }
        let after = slots[Int(slot)].state.startedCount
        limit.open += after - before
        if let sequence, slots[Int(slot)].state.partial.elements.contains(where: { $0.startOrder == sequence }) {
            limit.starts.append(
                LimitState.Start(slot: slot, generation: slots[Int(slot)].generation, startOrder: sequence))
        }
        let droppedBefore = limit.dropped
        if let perKey = limit.limits.perKey {
            while slots[Int(slot)].state.startedCount > perKey, let oldest = slots[Int(slot)].state.partial.first {
                drop(slot, startOrder: oldest.startOrder, &limit)
            }
        }
        var droppedHere = limit.dropped > droppedBefore
        if let total = limit.limits.total {
            while limit.open > total, limit.head < limit.starts.count {
                let start = limit.starts[limit.head]
                limit.head += 1
                guard slots[Int(start.slot)].generation == start.generation else { continue }
                let before = limit.dropped
                drop(start.slot, startOrder: start.startOrder, &limit)
                guard limit.dropped > before else { continue }
                if start.slot == slot {
                    droppedHere = true
                } else if slots[Int(start.slot)].state.isIdle {
                    release(start.slot)
                }
            }
        }
        compact(&limit)
        return droppedHere && slots[Int(slot)].state.isIdle
    }

    /// Drops the partial matches of `slot` that started with event `startOrder`.
    private mutating func drop(_ slot: Int32, startOrder: UInt64, _ limit: inout LimitState) {
        let removed = slots[Int(slot)].state.partial.removeAll { $0.startOrder == startOrder && $0.hasStarted }
        guard !removed.isEmpty else { return }
        limit.open -= removed.count
        limit.dropped += removed.count
        limit.lastDroppedKey = slots[Int(slot)].key
        if tracksChanges { markChanged(slot) }
    }

    /// Forgets consumed entries, and stale ones when they outnumber the open partial matches.
    private func compact(_ limit: inout LimitState) {
        if limit.head > 4096 && limit.head * 2 > limit.starts.count {
            limit.starts.removeFirst(limit.head)
            limit.head = 0
        }
        guard limit.starts.count - limit.head > 2 * limit.open + 4096 else { return }
        limit.starts = limit.starts[limit.head...].filter { start in
            slots[Int(start.slot)].generation == start.generation
                && slots[Int(start.slot)].state.partial.elements.contains { $0.startOrder == start.startOrder }
        }
        limit.head = 0
    }
}
