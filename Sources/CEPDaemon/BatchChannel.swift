import Foundation

/// A bounded hand-off of batches from one producer thread to one consumer thread, with the emptied batches going
/// back to the producer for reuse.
///
/// Reading and decoding run on one thread and matching on another; handing over whole batches (not single events)
/// keeps the synchronisation to one lock round trip per few thousand events, and recycling them keeps their
/// buffers' capacity, so that the steady state allocates nothing for the hand-off. `capacity` batches in flight
/// bound the memory between the two threads: a producer ahead of the consumer waits.
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
    func emptyBatch() -> Batch {
        condition.lock()
        defer { condition.unlock() }
        while empty.isEmpty { condition.wait() }
        return empty.removeLast()
    }

    /// Producer: hands a filled batch to the consumer.
    func send(_ batch: Batch) {
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
    func receive() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while full.isEmpty && !closed { condition.wait() }
        return full.isEmpty ? nil : full.removeFirst()
    }

    /// Consumer: gives an emptied batch back to the producer.
    func recycle(_ batch: Batch) {
        condition.lock()
        empty.append(batch)
        condition.broadcast()
        condition.unlock()
    }
}
