import Foundation

/// A bounded hand-off of batches from one producer thread to one consumer thread, with the emptied batches going
/// back to the producer for reuse.
///
/// Reading and decoding run on one thread and matching on another; handing over whole batches (not single events)
/// keeps the synchronisation to one lock round trip per few thousand events, and recycling them keeps their
/// buffers' capacity, so that the steady state allocates nothing for the hand-off. `capacity` batches in flight
/// bound the memory between the two threads: a producer ahead of the consumer waits.
///
/// A batch is not `Sendable` (it is a reused buffer): every hand-off is `sending`, so the compiler holds each side
/// to giving a batch up when it passes it on — a producer that touched a batch after `send`, or a consumer after
/// `recycle`, does not compile.
// @unchecked: every stored property is behind `condition` (a Mutex cannot wait on a condition).
final class BatchChannel<Batch>: @unchecked Sendable {
    private let condition = NSCondition()
    private var full: [Batch] = []
    private var empty: [Batch] = []
    private var closed = false

    /// A channel with `capacity` batches made by `make`.
    init(capacity: Int, make: () -> Batch) {
        empty = (0..<capacity).map { _ in make() }
    }

    /// Producer: an empty batch to fill (waits while all are in flight).
    func emptyBatch() -> sending Batch {
        condition.lock()
        defer { condition.unlock() }
        while empty.isEmpty { condition.wait() }
        return empty.removeLast()
    }

    /// Producer: an empty batch if one comes back within `waitingMs`, else nil.
    func tryEmptyBatch(waitingMs: Int) -> sending Batch? {
        condition.lock()
        defer { condition.unlock() }
        if empty.isEmpty && waitingMs > 0 {
            _ = condition.wait(until: Date().addingTimeInterval(Double(waitingMs) / 1000))
        }
        return empty.popLast()
    }

    /// Producer: hands a filled batch to the consumer.
    func send(_ batch: sending Batch) {
        condition.lock()
        full.append(batch)
        condition.broadcast()
        condition.unlock()
    }

    /// Producer: no more batches will come.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Consumer: the next batch in the order sent, or nil once the channel is closed and drained.
    func receive() -> sending Batch? {
        condition.lock()
        defer { condition.unlock() }
        while full.isEmpty && !closed { condition.wait() }
        return full.isEmpty ? nil : full.removeFirst()
    }

    /// What `receive(waitingMs:)` found.
    enum Received {
        case batch(Batch)
        case timeout
        case closed
    }

    /// Consumer: the next batch, or `.timeout` when none came within `waitingMs`, or `.closed`.
    func receive(waitingMs: Int) -> sending Received {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(waitingMs) / 1000)
        while full.isEmpty && !closed {
            if !condition.wait(until: deadline) { break }
        }
        if !full.isEmpty { return .batch(full.removeFirst()) }
        return closed ? .closed : .timeout
    }

    /// Consumer: gives an emptied batch back to the producer. (The consumers' batches pass through methods of the
    /// engine's adapters, which the compiler counts as possibly kept: their call sites say, as
    /// `nonisolated(unsafe)`, that nothing keeps one.)
    func recycle(_ batch: sending Batch) {
        condition.lock()
        empty.append(batch)
        condition.broadcast()
        condition.unlock()
    }
}
