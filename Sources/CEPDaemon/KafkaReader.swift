import CEPCore
import CEPRuntime
import Foundation
import KafkaClient

/// The consuming side of the daemon, on its own thread: polls the consumer, decodes each message and sends
/// batches to the engine's thread. Like `ReplayReader` it builds no `Event` (see `DecodedEvents`).
///
/// Backpressure: when every batch is in flight (the engine is behind), it pauses its partitions and keeps
/// polling — so that the group does not consider it dead — until a batch comes back, then resumes them.
/// A batch is handed over when full, or at the latest `maxDelay` after its first item, so that a quiet topic
/// does not hold events back.
final class KafkaReader: @unchecked Sendable {
    private let consumer: KafkaConsumer
    private let decoders: [String: EventDecoder]
    private let channel: BatchChannel<InputBatch>
    private let stop: StopFlag
    private var inputs: [TopicPartition: Int] = [:]
    private var assigned: Set<TopicPartition> = []
    private var batch: InputBatch?
    /// Events polled while paused, handled before the next poll.
    private var stash: [KafkaConsumer.Event] = []
    private var batchStarted = DispatchTime.now()
    private let maxDelayNanos: UInt64 = 50_000_000

    init(consumer: KafkaConsumer, decoders: [String: EventDecoder], channel: BatchChannel<InputBatch>, stop: StopFlag) {
        self.consumer = consumer
        self.decoders = decoders
        self.channel = channel
        self.stop = stop
    }

    /// Polls until asked to stop, then hands over what it has and closes the channel (the consumer stays open:
    /// the engine's thread commits and closes it).
    func run() {
        while !stop.isSet {
            let batch = currentBatch()
            for event in stash { handle(event, into: batch) }
            stash.removeAll()
            if let event = consumer.poll(timeoutMs: 20) { handle(event, into: batch) }
            let age = DispatchTime.now().uptimeNanoseconds - batchStarted.uptimeNanoseconds
            if batch.isFull || (!batch.items.isEmpty && age >= maxDelayNanos) {
                channel.send(batch)
                self.batch = nil
            }
        }
        if let batch { channel.send(batch) }
        channel.close()
    }

    /// The batch to add to. While the engine holds them all, pauses the partitions and keeps polling (events
    /// that were already fetched go to `stash`, nothing is dropped).
    private func currentBatch() -> InputBatch {
        if let batch { return batch }
        var next = channel.tryEmptyBatch(waitingMs: 0)
        if next == nil {
            let paused = Array(assigned)
            consumer.pause(paused)
            while next == nil && !stop.isSet {
                if let event = consumer.poll(timeoutMs: 20) { stash.append(event) }
                next = channel.tryEmptyBatch(waitingMs: 20)
            }
            consumer.resume(paused)
            if next == nil { next = channel.emptyBatch() }
        }
        batchStarted = DispatchTime.now()
        batch = next
        return next!
    }

    private func handle(_ event: KafkaConsumer.Event, into batch: InputBatch) {
        switch event {
        case .message(let message):
            let input = inputNumber(message.partition, batch)
            var record = InputRecord(input: input, offset: message.offset, value: message.value.withUnsafeBufferPointer { batch.keep($0) })
            if let key = message.key { record.key = key.withUnsafeBufferPointer { batch.keep($0) } }
            record.timestamp = message.timestamp
            guard let decoder = decoders[message.partition.topic] else { return }
            let before = batch.decoded.count
            let failure = message.value.withUnsafeBufferPointer {
                decoder.decode($0, messageTimestamp: message.timestamp, into: &batch.decoded)
            }
            if let failure {
                batch.items.append(.deadLetter(record, reason: failure.reason))
            } else {
                batch.items.append(.events(record, count: batch.decoded.count - before))
            }
        case .assigned(let partitions):
            for p in partitions {
                assigned.insert(p)
                _ = inputNumber(p, batch)
            }
        case .endOfPartition(let partition, _):
            batch.items.append(.caughtUp(input: inputNumber(partition, batch)))
        case .revoked(let partitions):
            for p in partitions {
                assigned.remove(p)
                if let input = inputs[p] { batch.items.append(.closed(input: input)) }
            }
        case .error(let error, let fatal):
            batch.items.append(.notice((fatal ? "fatal Kafka error: " : "Kafka: ") + error.message))
            if fatal { stop.set(exitCode: 4) }
        }
    }

    /// The reader's number for a partition; a new one is announced to the engine with `.opened`.
    private func inputNumber(_ partition: TopicPartition, _ batch: InputBatch) -> Int {
        if let known = inputs[partition] {
            return known
        }
        let input = inputs.count
        inputs[partition] = input
        batch.items.append(.opened(input: input, topic: partition.topic, partition: partition.partition))
        return input
    }
}

/// A stop request shared by the threads and the signal handler, with the exit status to stop with.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var code: Int32?

    var isSet: Bool { lock.withLock { code != nil } }
    var exitCode: Int32 { lock.withLock { code ?? 0 } }

    /// Asks to stop; the first request's status wins.
    func set(exitCode: Int32 = 0) {
        lock.withLock { if code == nil { code = exitCode } }
    }
}
