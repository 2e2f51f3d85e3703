import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Synchronization

/// The consuming side of the daemon, on its own thread: polls the consumer, decodes each message, merges the
/// partitions by event time and sends batches to the engine's thread. Like `ReplayReader` it builds no `Event`
/// (see `DecodedEvents`).
///
/// Merging: librdkafka fetches partitions in chunks, so left alone one partition's backlog could arrive well
/// before another's, and the watermark (the minimum over partitions) would make whole stretches of the slower
/// one late or not depending on fetch timing. Instead, like `cepd run` over files, the reader releases the message
/// with the earliest event time among the partitions' first waiting messages (ties: topic declaration order,
/// then partition), and waits while a partition that is not caught up has nothing waiting — at most `maxWait`
/// after the consumer has gone quiet, so that a partition whose broker is gone does not stall the others for ever
/// (its events would then be out of order, and possibly late, when it comes back). A caught-up partition
/// (read to its end) does not hold the others back. The same per-partition sequences therefore reach the engine
/// in the same order as in a replay of them, and give the same alerts and the same late events.
///
/// Reading: each partition's messages wait in a librdkafka queue of their own (`KafkaConsumer`'s partition queues),
/// and the merge takes them from the partition it needs — up to `pullSize` at a time into that partition's
/// `PartitionQueue`, when the latter is empty. The backlog of partitions that are ahead in event time stays in
/// librdkafka, which stops fetching a partition at its per-partition limits (queued.min.messages,
/// queued.max.messages.kbytes). Through one shared queue instead, the reader had to take every message in the order
/// librdkafka fetched them — whole chunks of one partition after another — and keep what it could not merge yet,
/// pausing partitions over a limit; a pause drops what librdkafka had prefetched, and a resumed partition's next
/// message then waited behind the other partitions' in the shared queue (100–600 ms a time, measured): 114k
/// events/s on preloaded topics where the bare consumer reads 800k (docs/performance.md).
///
/// Backpressure: when every batch is in flight (the engine is behind) the reader stops taking messages until a
/// batch comes back, and librdkafka stops fetching at its per-partition limits. A batch is handed over when full,
/// when the merge has to wait for a partition, or at the latest `maxDelay` after its first item.
// @unchecked: its state is confined to the reading thread once `run` starts; the engine thread only calls
// `reload`, whose hand-off is a Mutex.
final class KafkaReader: @unchecked Sendable {
    private struct Input {
        var partition: TopicPartition
        var rank: Int32
        /// The decoder of its topic (looked up once, not per message).
        var decoder: EventDecoder?
        var queue = PartitionQueue()
        /// Read to its end since its last message (partition EOF).
        var caughtUp = false
        /// Whether the engine has been told it is caught up since it last drained.
        var caughtUpSent = false
        /// Assigned to this consumer (false once revoked).
        var open = true
        /// Uptime (ns) when it was revoked, while it is.
        var closedAt: UInt64?
        /// Uptime (ns) since which its queue is empty.
        var emptySince: UInt64
    }

    private let consumer: KafkaConsumer
    private var decoders: [String: EventDecoder]
    /// A reload's decoders, handed over by the engine's thread.
    private let pendingDecoders = Mutex<[String: EventDecoder]?>(nil)
    private let rank: (TopicPartition) -> Int32
    private let channel: BatchChannel<InputBatch>
    private let stop: StopFlag
    private let maxWaitNanos: UInt64
    private let maxDelayNanos: UInt64 = 50_000_000
    /// How many messages the merge takes from a partition's librdkafka queue at a time.
    private let pullSize = 512
    private var inputs: [Input] = []
    private var inputNumbers: [TopicPartition: Int] = [:]
    private var batch: InputBatch?
    /// Uptime (ns) of the last pull that brought anything (a message or a partition end) from any partition.
    private var lastMessage: UInt64 = 0
    private var batchStarted: UInt64 = 0
    /// Uptime, for the merge's waits and the batches' ages (a manual clock in tests).
    private let clock: any DaemonClock

    /// `catchUp`, with --state-dir: brings the state of the tasks of partitions being assigned up to date (inside
    /// the rebalance, on this thread) and returns where those partitions start. With it, a revoked partition is
    /// released at once (`release`: its task checkpointed by the engine before the group goes on) instead of held
    /// for a grace period.
    init(
        consumer: KafkaConsumer, decoders: [String: EventDecoder], rank: @escaping (TopicPartition) -> Int32,
        maxWaitMs: Int64, channel: BatchChannel<InputBatch>, stop: StopFlag,
        catchUp: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])? = nil,
        clock: any DaemonClock = SystemClock()
    ) {
        self.clock = clock
        self.consumer = consumer
        self.decoders = decoders
        self.rank = rank
        self.maxWaitNanos = UInt64(max(0, maxWaitMs)) * 1_000_000
        self.channel = channel
        self.stop = stop
        if let catchUp {
            consumer.setRebalanceHooks(assign: catchUp) { [unowned self] partitions, lost in
                release(partitions, lost: lost)
            }
        }
    }

    /// Inside a rebalance, before the partitions go: drops what is waiting of them, closes them, and hands the
    /// engine the batch so far with a `.released` item; returns when the engine has checkpointed and released their
    /// tasks (or cepd is stopping), so that the next owner restores what this one processed.
    private func release(_ partitions: [TopicPartition], lost: Bool) {
        // Stopping (or leaving the group at close, after the reader's last batch): the engine takes its final
        // checkpoint itself, and nothing reads the channel any more.
        guard !stop.isSet else { return }
        let batch = currentBatch()
        for p in partitions {
            guard let input = inputNumbers[p], inputs[input].open else { continue }
            inputs[input].open = false
            inputs[input].closedAt = nil  // not waited for: its task leaves with it
            inputs[input].queue = PartitionQueue()
            inputs[input].caughtUp = false
            inputs[input].caughtUpSent = false
            batch.items.append(.closed(input: input))
        }
        let done = DispatchSemaphore(value: 0)
        batch.items.append(.released(lost: lost, done: done))
        handOver(batch)
        while done.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if stop.isSet { return }
        }
    }

    /// Polls until asked to stop, then hands over what it has and closes the channel (the consumer stays open:
    /// the engine's thread commits and closes it). Messages still waiting to be merged are dropped uncommitted:
    /// they are read again after a restart.
    func run() {
        while !stop.isSet {
            if let decoders = pendingDecoders.withLock({ pending -> [String: EventDecoder]? in
                defer { pending = nil }
                return pending
            }) {
                switchDecoders(decoders, in: currentBatch())
            }
            // Group events and errors first: a partition is known before its messages are taken. (The batch is
            // looked up after each poll: a rebalance inside it may have handed the batch over.)
            while let event = consumer.poll(timeoutMs: 0) { handle(event, into: currentBatch()) }
            let batch = currentBatch()
            let waiting = merge(into: batch)
            // Waiting for a partition: hand over what the batch has now rather than wait for more (at low rates
            // waiting only adds latency; under load batches fill).
            let age = clock.uptimeNanos - batchStarted
            if batch.isFull || (!batch.items.isEmpty && (waiting || age >= maxDelayNanos)) { handOver(batch) }
            if waiting { consumer.waitForMessages(timeoutMs: 20) }
        }
        if let batch { handOver(batch) }
        channel.close()
    }

    /// Sends the current batch to the engine, stamped with when (`cepd_alert_processing_seconds`).
    private func handOver(_ batch: sending InputBatch) {
        batch.handedOver = clock.uptimeNanos
        channel.send(batch)
        self.batch = nil
    }

    /// Decodes with `decoders` from now on (a reload): the engine's thread calls this, and switches its engine when
    /// it reaches the `.reloaded` item.
    func reload(decoders: [String: EventDecoder]) {
        pendingDecoders.withLock { $0 = decoders }
    }

    /// Swaps the decoders between two items of `batch`: the messages waiting to be merged are decoded again, and
    /// `.reloaded` marks the point.
    private func switchDecoders(_ new: [String: EventDecoder], in batch: InputBatch) {
        decoders = new
        for i in inputs.indices {
            inputs[i].decoder = new[inputs[i].partition.topic]
            inputs[i].queue.redecode(with: inputs[i].decoder)
        }
        batch.items.append(.reloaded)
    }

    /// The batch to add to. While the engine holds them all, waits for one to come back without polling: the
    /// consumer then stops fetching at librdkafka's own queue limits. (Pausing the partitions instead made
    /// librdkafka drop what it had already fetched for them and fetch it again on resume, which under load cost more
    /// than it saved.) A wait this long never nears max.poll.interval.ms: the engine returns a batch in
    /// milliseconds, a large checkpoint in seconds.
    private func currentBatch() -> InputBatch {
        if let batch { return batch }
        var next = channel.tryEmptyBatch(waitingMs: 0)
        while next == nil && !stop.isSet { next = channel.tryEmptyBatch(waitingMs: 20) }
        if next == nil { next = channel.emptyBatch() }
        batchStarted = clock.uptimeNanos
        batch = next
        return next!
    }

    private func handle(_ event: KafkaConsumer.Event, into batch: InputBatch) {
        switch event {
        case .message(let message):
            lastMessage = clock.uptimeNanos
            take(message, input: inputNumber(message.partition, batch))
        case .endOfPartition(let partition, _):
            let input = inputNumber(partition, batch)
            inputs[input].caughtUp = true
            announceCaughtUp(input, in: batch)
        case .assigned(let partitions):
            batch.items.append(
                .notice(
                    "assigned \(partitions.count) partitions: \(partitions.map(\.description).sorted().joined(separator: ", "))"
                ))
            for p in partitions {
                let known = inputNumbers[p] != nil
                let input = inputNumber(p, batch)
                // A partition that comes back (after a lost membership, say) is announced again.
                if known && !inputs[input].open {
                    batch.items.append(.opened(input: input, topic: p.topic, partition: p.partition))
                }
                inputs[input].open = true
                inputs[input].closedAt = nil
                inputs[input].emptySince = clock.uptimeNanos
            }
        case .revoked(let partitions):
            batch.items.append(
                .notice(
                    "revoked \(partitions.count) partitions: \(partitions.map(\.description).sorted().joined(separator: ", "))"
                ))
            for p in partitions {
                guard let input = inputNumbers[p], inputs[input].open else { continue }  // (or released already)
                inputs[input].open = false
                inputs[input].closedAt = clock.uptimeNanos
                batch.items.append(.closed(input: input))
            }
        case .error(let error, let fatal):
            batch.items.append(.notice((fatal ? "fatal Kafka error: " : "Kafka: ") + error.message))
            if fatal { stop.set(.kafkaFailed) }
        }
    }

    /// Takes up to `pullSize` messages from the librdkafka queue of a partition that has none waiting here.
    private func pull(_ input: Int, into batch: InputBatch) {
        guard inputs[input].open, inputs[input].queue.isEmpty else { return }
        // (Its input is known: no lookup by partition per message; one clock read per pull, not per message; and
        // the bytes go from librdkafka's buffers straight into the partition's queue.)
        let taken = consumer.poll(
            inputs[input].partition, max: pullSize,
            message: { message in
                take(
                    value: message.value, key: message.key, isNull: message.isNull, offset: message.offset,
                    timestamp: message.timestamp, headers: message.headers, input: input)
            },
            other: { handle($0, into: batch) })
        guard taken > 0 else { return }
        lastMessage = clock.uptimeNanos
        if batch.firstTaken == 0 { batch.firstTaken = lastMessage }
    }

    /// Decodes a message (a copy from the consumer's own queue) into its partition's queue.
    private func take(_ message: KafkaMessage, input: Int) {
        message.value.withUnsafeBytes { value in
            (message.key ?? []).withUnsafeBytes { key in
                take(
                    value: value, key: message.key == nil ? nil : key, isNull: message.isNull, offset: message.offset,
                    timestamp: message.timestamp, headers: message.headers, input: input)
            }
        }
    }

    /// Decodes a message into its partition's queue.
    private func take(
        value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, isNull: Bool, offset: Int64, timestamp: Int64?,
        headers: [(name: String, value: [UInt8]?)], input: Int
    ) {
        // Stopping (asked to, or a message below could not be read): nothing after this point is kept, so that
        // what the engine gets of each partition stays a prefix (a pull may hand over messages after a stop).
        guard !stop.isSet else { return }
        // A message whose schema is new is held here while the registry is asked (the reader waits; nothing later
        // of any partition overtakes it), and left unread if cepd stops meanwhile.
        if let decoder = inputs[input].decoder, !isNull {
            switch decoder.prepare(
                value.assumingMemoryBound(to: UInt8.self), key: decoder.readsKey ? key.map { Array($0) } : nil)
            {
            case .ready: break
            case .stopping: return
            case .firstSchemaMismatch(let problem):
                // A stop with status 2, not a clean one: nothing after this point is committed.
                Log.error(
                    "topic \(inputs[input].partition.topic): the first schema it carries does not fit the declared "
                        + "fields: \(problem); stopping (fix the stream's 'fields', or the producers' schema)")
                stop.set(.configuration)
                return
            }
        }
        inputs[input].queue.push(
            value: value, key: key, isNull: isNull, offset: offset, timestamp: timestamp,
            partition: inputs[input].partition.partition, headers: headers, input: input,
            decoder: inputs[input].decoder)
        inputs[input].caughtUp = false
        inputs[input].caughtUpSent = false
    }

    /// Releases waiting messages into `batch` in event-time order, as far as every partition allows; true when it
    /// stopped for want of a partition's next message (not because the batch is full).
    private func merge(into batch: InputBatch) -> Bool {
        for i in inputs.indices { pull(i, into: batch) }
        let now = clock.uptimeNanos
        let lastMessage = lastMessage
        let maxWaitNanos = maxWaitNanos
        while !batch.isFull {
            // Read through a pointer: `inputs[i].field` in a loop copied each input (its queue's arrays retained)
            // per partition per released message (~900 instructions a message with nine partitions, callgrind).
            let (best, bestKey, blocked) = inputs.withUnsafeBufferPointer { inputs in
                var best: Int?
                var bestKey = (time: Int64.max, rank: Int32.max)
                var blocked = false
                for i in inputs.indices {
                    let input = UnsafePointer(inputs.baseAddress! + i)
                    if input.pointee.queue.isEmpty {
                        // Nothing waiting, not known to be at its end: its next message may be the earliest. While
                        // messages keep coming, its own may be behind them in librdkafka's queue; the wait counts
                        // from when the consumer went quiet.
                        // A revoked one too, for as long as the engine waits for it to come back (a rejoin after
                        // an outage revokes and returns every partition).
                        let since = max(input.pointee.emptySince, lastMessage)
                        if input.pointee.caughtUp {
                        } else if input.pointee.open {
                            if now - since < maxWaitNanos { blocked = true }
                        } else if let closedAt = input.pointee.closedAt,
                            now - closedAt < KafkaDaemon.revokedGraceNanos
                        {
                            blocked = true
                        }
                        continue
                    }
                    guard let time = input.pointee.queue.headTime else {
                        best = i  // no event (a dead letter, or no stream takes it): nothing to order, it goes now
                        bestKey = (.min, .min)
                        break
                    }
                    if (time, input.pointee.rank) < bestKey {
                        best = i
                        bestKey = (time, input.pointee.rank)
                    }
                }
                return (best, bestKey, blocked)
            }
            guard let chosen = best, !blocked || bestKey.time == .min else { return true }
            inputs[chosen].queue.release(into: batch)
            if inputs[chosen].queue.isEmpty {
                pull(chosen, into: batch)
                if inputs[chosen].queue.isEmpty {
                    inputs[chosen].emptySince = now
                    announceCaughtUp(chosen, in: batch)
                }
            }
        }
        return false
    }

    /// Tells the engine that a partition is caught up, once it has also released its last waiting message — at the
    /// same point of the merged sequence where a replay's file would end (while it has nothing waiting and is not
    /// known to be at its end, the merge waits for it).
    private func announceCaughtUp(_ input: Int, in batch: InputBatch) {
        guard inputs[input].caughtUp, !inputs[input].caughtUpSent, inputs[input].queue.isEmpty else { return }
        batch.items.append(.caughtUp(input: input))
        inputs[input].caughtUpSent = true
    }

    /// The reader's number for a partition; a new one is announced to the engine with `.opened`.
    private func inputNumber(_ partition: TopicPartition, _ batch: InputBatch) -> Int {
        if let known = inputNumbers[partition] { return known }
        let input = inputs.count
        inputNumbers[partition] = input
        inputs.append(
            Input(
                partition: partition, rank: rank(partition), decoder: decoders[partition.topic],
                emptySince: clock.uptimeNanos))
        batch.items.append(.opened(input: input, topic: partition.topic, partition: partition.partition))
        return input
    }
}
