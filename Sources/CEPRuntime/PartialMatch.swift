/// A partial match of one key: where it stands in the NFA and what it has bound (Flink's ComputationState).
struct PartialMatch: StartOrdered, Sendable {
    /// The NFA state it waits in.
    var state: Int32
    /// The newest bound event; `nil` before the first take.
    var last: MatchNode?
    /// Event time of the first bound event (the whole-pattern window starts here).
    var startTimestamp: Int64
    /// `MatchNode.sequence` of the first bound event; `UInt64.max` for the start state, which has none.
    var startOrder: UInt64
    /// Event time of the newest bound event (a step window starts here).
    var previousTimestamp: Int64

    /// The empty partial match in the start state.
    static func start(_ state: Int) -> PartialMatch {
        PartialMatch(state: Int32(state), last: nil, startTimestamp: -1, startOrder: .max, previousTimestamp: -1)
    }

    /// Whether it has bound an event (the start state has not).
    var hasStarted: Bool { startOrder != .max }
}

/// All matching state of one key for one pattern: partial matches and completed matches held back by the skip
/// strategy.
struct KeyState: Sendable {
    /// Flink's NFAState.partialMatches.
    var partial: StartOrderedQueue<PartialMatch>
    /// Flink's NFAState.completedMatches: matches held until no earlier partial match can still complete.
    var completed = StartOrderedQueue<PartialMatch>()
    /// Sequence number of the next event this key processes.
    var nextSequence: UInt64 = 0
    /// The time of the key's newest event. Like Flink's `onEventTime`, which lets time pass once per timestamp
    /// before all of its events, windows end only before the first event of a timestamp: a partial match that an
    /// event moves into a window already over may still take the other events of that timestamp. (Not in
    /// checkpoints: every on-time event of a timestamp is matched in the same watermark advance.)
    var eventTime: Int64 = .min
    /// The earliest end of one of the key's windows, if any.
    var timer: Int64?
    /// The earliest time this key has an entry for in the pattern's timer queue. A later deadline is only queued
    /// when that entry fires; entries of the key at other times are stale and ignored.
    var queuedTimer: Int64?
    /// The order of that entry in the timer queue (checkpoints keep it, so that equal times fire in the same order
    /// after a restore).
    var queuedOrder: UInt64 = 0

    init(start: Int) {
        partial = StartOrderedQueue(elements: [PartialMatch.start(start)])
    }

    /// Empties the state for reuse by another key, keeping the queues' capacity.
    mutating func reset(start: Int) {
        // Small queues are kept for the next key; a burst's large ones are given back.
        if partial.elements.capacity > 64 || completed.elements.capacity > 64 {
            partial = StartOrderedQueue()
            completed = StartOrderedQueue()
        }
        partial.removeAll()
        partial.add(PartialMatch.start(start))
        completed.removeAll()
        nextSequence = 0
        eventTime = .min
        timer = nil
        queuedTimer = nil
    }

    /// Whether the key holds nothing but the start state: such a key is dropped, so idle keys cost nothing.
    var isIdle: Bool {
        completed.isEmpty && partial.elements.allSatisfy { !$0.hasStarted }
    }
}
