internal import CRdKafka
import Dispatch

/// A Kafka consumer in a consumer group with manually committed offsets, over librdkafka's C API.
///
/// Offsets are never committed automatically: the owner commits what it has made durable (`commit`). Assignment
/// changes come out of `poll` as events, before the messages of the partitions they concern, so that the owner
/// can set up and tear down per-partition state in order. One thread polls; `commit` may be called from another
/// (librdkafka's handle is thread-safe, which is what the `@unchecked Sendable` rests on).
///
/// With `partitionQueues`, each assigned partition's messages wait in a queue of their own (librdkafka's fetch queue
/// of the partition, no longer forwarded to the consumer's one queue): `poll(_:max:_:)` takes them from the partition
/// the owner needs next, `poll(timeoutMs:)` returns only group events and errors, and `waitForMessages` sleeps until
/// any queue receives something. librdkafka then holds each partition's backlog separately and stops fetching a
/// partition at its own limits (queued.min.messages, queued.max.messages.kbytes per partition), so an owner that
/// reads the partitions in another order than they arrive — by event time — needs neither a copy of the backlog
/// nor pauses (a pause drops what was prefetched).
public final class KafkaConsumer: @unchecked Sendable {
    /// Where a group without a committed offset for a partition starts reading it.
    public enum Start: Sendable, Equatable {
        /// The oldest message still in the partition.
        case earliest
        /// Only messages produced from now on.
        case latest
        /// The first message with a timestamp at or after this time (epoch ms): a backfill (offsets-for-times).
        case time(Int64)
    }

    /// What one call of `poll` returns.
    public enum Event: Sendable {
        /// A message.
        case message(KafkaMessage)
        /// The group gave this consumer these partitions.
        case assigned([TopicPartition])
        /// The group took these partitions away.
        case revoked([TopicPartition])
        /// The consumer has read everything the partition held (up to `offset`, the next one to come): it is
        /// caught up, and quiet from here on until a new message arrives.
        case endOfPartition(TopicPartition, offset: Int64)
        /// A client or broker error that librdkafka reports and retries by itself (broker down, connection
        /// refused); `fatal` ones end the consumer.
        case error(KafkaError, fatal: Bool)
    }

    /// State the C callbacks reach through librdkafka's opaque pointer.
    private final class CallbackState {
        let start: Start
        var events: [Event] = []
        /// The offset after the last message `poll` returned, per partition (touched only by the polling thread).
        var positions: [TopicPartition: Int64] = [:]
        /// The owner's rebalance hooks (see `setRebalanceHooks`).
        var assignHook: (([TopicPartition]) -> [TopicPartition: Int64])?
        var revokeHook: (([TopicPartition], Bool) -> Void)?
        /// The group's rebalance protocol as last seen: librdkafka answers NULL once the consumer is closing, and
        /// the revocation of the close must still use the protocol the assignment used.
        var cooperative = false
        /// With partition queues: each assigned partition's own queue (a reference this consumer destroys).
        var queues: [TopicPartition: OpaquePointer] = [:]
        /// Signalled from librdkafka's threads when a partition queue or the consumer queue receives something
        /// while empty; nil without partition queues.
        let wake: DispatchSemaphore?
        init(start: Start, partitionQueues: Bool = false) {
            self.start = start
            wake = partitionQueues ? DispatchSemaphore(value: 0) : nil
        }

        /// Takes `partitions`' queues out of the consumer queue's forwarding, before they are assigned (a queue
        /// the application has forwarded — here to nowhere — is not forwarded again when fetching starts).
        func splitQueues(_ rk: OpaquePointer, _ partitions: [TopicPartition]) {
            guard wake != nil else { return }
            for p in partitions where queues[p] == nil {
                guard let queue = rd_kafka_queue_get_partition(rk, p.topic, p.partition) else { continue }
                rd_kafka_queue_forward(queue, nil)
                rd_kafka_queue_cb_event_enable(queue, wakeCallback, Unmanaged.passUnretained(self).toOpaque())
                queues[p] = queue
            }
        }

        /// Lets go of the queues of partitions no longer assigned.
        func dropQueues(_ partitions: [TopicPartition]) {
            for p in partitions {
                guard let queue = queues.removeValue(forKey: p) else { continue }
                rd_kafka_queue_cb_event_enable(queue, nil, nil)
                rd_kafka_queue_destroy(queue)
            }
        }
    }

    /// Runs on a librdkafka thread when a watched queue receives an element while empty: no librdkafka calls here.
    private static let wakeCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, opaque in
        guard let opaque else { return }
        Unmanaged<CallbackState>.fromOpaque(opaque).takeUnretainedValue().wake?.signal()
    }

    private let handle: OpaquePointer
    private let state: CallbackState
    private var closed = false
    /// With partition queues: the consumer queue, watched for group events (a reference destroyed with the handle).
    private var consumerQueue: OpaquePointer?
    /// Where `poll(_:max:_:)` takes a batch of messages (reused).
    private var batchBuffer: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>?
    private var batchCapacity = 0

    /// Creates a consumer of `topics` in `group`. `properties` are librdkafka settings (`-X` keys); the ones this
    /// type relies on (no automatic commits or offset stores) override them. Where a restored checkpoint says a
    /// partition starts is the owner's to say, in a rebalance (`setRebalanceHooks`).
    public init(
        properties: [(key: String, value: String)], group: String, topics: [String], start: Start = .earliest,
        partitionQueues: Bool = false
    ) throws(KafkaError) {
        var settings = properties
        settings.append(("group.id", group))
        settings.append(("enable.auto.commit", "false"))
        settings.append(("enable.auto.offset.store", "false"))
        settings.append(("auto.offset.reset", start == .latest ? "latest" : "earliest"))
        settings.append(("enable.partition.eof", "true"))
        let conf = try Configuration.make(settings)
        let state = CallbackState(start: start, partitionQueues: partitionQueues)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let partitions, let opaque else { return }
            let state = Unmanaged<CallbackState>.fromOpaque(opaque).takeUnretainedValue()
            KafkaConsumer.rebalance(rk, err, partitions, state)
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let opaque else { return }
            let state = Unmanaged<CallbackState>.fromOpaque(opaque).takeUnretainedValue()
            let code = rd_kafka_resp_err_t(rawValue: err)
            let fatal = code == RD_KAFKA_RESP_ERR__FATAL
            state.events.append(.error(KafkaError(code, reason.map { String(cString: $0) }), fatal: fatal))
        }
        self.state = state
        self.handle = try Configuration.client(RD_KAFKA_CONSUMER, conf)
        rd_kafka_poll_set_consumer(handle)
        if partitionQueues, let queue = rd_kafka_queue_get_consumer(handle) {
            rd_kafka_queue_cb_event_enable(queue, Self.wakeCallback, Unmanaged.passUnretained(state).toOpaque())
            consumerQueue = queue
        }
        let list = PartitionList(topics.map { TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) })
        let err = (try? list.withList { rd_kafka_subscribe(handle, $0) }) ?? RD_KAFKA_RESP_ERR__FAIL
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            releaseQueues()
            rd_kafka_destroy(handle)
            throw KafkaError(err)
        }
    }

    /// What a `reading:` consumer does when an offset it was given is no longer in its partition (retention
    /// deleted the records below it, or the partition is shorter than that).
    public enum WhenOffsetGone: Sendable {
        /// Reports an error that `isOffsetOutOfRange` and reads nothing more from the partition.
        case fail
        /// Reads the partition from the first offset it still holds.
        case readFromStart
    }

    /// Creates a consumer outside any group that reads exactly `partitions`, each from its offset (wraps
    /// `rd_kafka_assign`); it reports `.endOfPartition` when it reaches a partition's end. An offset no longer in
    /// its partition is `whenGone`'s — never the silent jump to the end that librdkafka's default would make.
    public init(
        properties: [(key: String, value: String)], reading partitions: [PartitionOffset],
        whenGone: WhenOffsetGone = .fail
    ) throws(KafkaError) {
        // Read to the end and stop: the end shows as an empty fetch, which the broker otherwise holds for
        // fetch.wait.max.ms (500 ms) — the whole cost of reading a short partition (-X still overrides it).
        var settings = [(key: "fetch.wait.max.ms", value: "10")] + properties
        settings.append(("group.id", "cepd-reader"))  // required by librdkafka, unused: nothing joins or commits
        settings.append(("enable.auto.commit", "false"))
        settings.append(("enable.partition.eof", "true"))
        // (After `properties`: the group consumer's -X auto.offset.reset, shared through them, is not meant here.)
        settings.append(("auto.offset.reset", whenGone == .fail ? "error" : "earliest"))
        let conf = try Configuration.make(settings)
        state = CallbackState(start: .earliest)
        handle = try Configuration.client(RD_KAFKA_CONSUMER, conf)
        rd_kafka_poll_set_consumer(handle)
        let list = PartitionList(partitions.map(\.partition), offsets: partitions.map(\.offset))
        let err = (try? list.withList { rd_kafka_assign(handle, $0) }) ?? RD_KAFKA_RESP_ERR__FAIL
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError(err)
        }
        closed = true  // not a group member: nothing to leave
    }

    deinit {
        close()
        releaseQueues()
        rd_kafka_destroy(handle)
        batchBuffer?.deallocate()
    }

    /// Drops this consumer's queue references (librdkafka's handle cannot be destroyed while they are held).
    private func releaseQueues() {
        state.dropQueues(Array(state.queues.keys))
        if let queue = consumerQueue {
            rd_kafka_queue_cb_event_enable(queue, nil, nil)
            rd_kafka_queue_destroy(queue)
            consumerQueue = nil
        }
    }

    /// Runs inside `rd_kafka_consumer_poll` on the polling thread.
    private static func rebalance(
        _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ state: CallbackState
    ) {
        if let name = rd_kafka_rebalance_protocol(rk) { state.cooperative = String(cString: name) == "COOPERATIVE" }
        let cooperative = state.cooperative
        let list = PartitionList.elements(partitions).map(\.partition)
        if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            // (In this order: the time lookup fills in committed offsets, our own positions override them, and the
            // owner's checkpointed positions override those.)
            if case .time(let ms) = state.start { positionByTime(rk, partitions, ms) }
            resumeOwnPositions(rk, partitions, state)
            if let hook = state.assignHook {
                let positions = hook(list)
                setOffsets(partitions) { positions[$0] }
            }
            state.splitQueues(rk, list)
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) { _ = KafkaError(taking: error) }
            } else {
                rd_kafka_assign(rk, partitions)
            }
            state.events.append(.assigned(list))
        } else {
            state.revokeHook?(list, rd_kafka_assignment_lost(rk) != 0)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) { _ = KafkaError(taking: error) }
                state.dropQueues(list)
            } else {
                rd_kafka_assign(rk, nil)
                state.dropQueues(Array(state.queues.keys))
            }
            state.events.append(.revoked(list))
        }
    }

    /// A partition this consumer has read before comes back (the group lost and re-admitted it after a broker
    /// outage, or a rebalance returned it): continue after the last message it returned, or from the group's
    /// committed offset if that is further — not from an older commit, which would deliver messages twice.
    private static func resumeOwnPositions(
        _ rk: OpaquePointer, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ state: CallbackState
    ) {
        let known = PartitionList.elements(partitions).map(\.partition).filter { state.positions[$0] != nil }
        guard !known.isEmpty else { return }
        let query = PartitionList(known)
        var committed: [TopicPartition: Int64] = [:]
        let err = (try? query.withList { rd_kafka_committed(rk, $0, 10_000) }) ?? RD_KAFKA_RESP_ERR__FAIL
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            for e in query.elements where e.offset >= 0 { committed[e.partition] = e.offset }
        }
        setOffsets(partitions) { partition in state.positions[partition].map { max($0, committed[partition] ?? -1) } }
    }

    /// Sets the start offset of each partition in the list that `offset` gives one for.
    private static func setOffsets(
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ offset: (TopicPartition) -> Int64?
    ) {
        for i in 0..<Int(partitions.pointee.cnt) {
            let p = partitions.pointee.elems[i]
            if let start = offset(TopicPartition(topic: String(cString: p.topic), partition: p.partition)) {
                partitions.pointee.elems[i].offset = start
            }
        }
    }

    /// For partitions the group has no committed offset for, starts at the first message at or after `ms`.
    private static func positionByTime(
        _ rk: OpaquePointer, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ ms: Int64
    ) {
        guard rd_kafka_committed(rk, partitions, 10_000) == RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        let fresh = PartitionList.elements(partitions).filter { $0.offset < 0 }.map(\.partition)
        guard !fresh.isEmpty else { return }
        let query = PartitionList(fresh, offsets: Array(repeating: ms, count: fresh.count))
        let err = (try? query.withList { rd_kafka_offsets_for_times(rk, $0, 10_000) }) ?? RD_KAFKA_RESP_ERR__FAIL
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        var found: [TopicPartition: Int64] = [:]
        for e in query.elements where e.error == RD_KAFKA_RESP_ERR_NO_ERROR {
            found[e.partition] = e.offset  // -1: no message that late yet, which librdkafka reads as the end
        }
        setOffsets(partitions) { found[$0].map { $0 < 0 ? Int64(RD_KAFKA_OFFSET_END) : $0 } }
    }

    /// Lets the owner act inside a rebalance, on the polling thread, before it takes effect. `assign` gets the
    /// partitions being assigned and returns where to start any of them (overriding the group's committed offsets
    /// and this consumer's own positions: a task restored from its checkpoint); `revoke` gets the partitions being
    /// taken away, and whether they are already lost (the membership expired: another member may own them now),
    /// and returns once the owner is done with them — for a revocation the group waits, so no other member reads
    /// them before (a task checkpointed and released before its next owner restores it). Call before the first
    /// `poll`.
    public func setRebalanceHooks(
        assign: @escaping ([TopicPartition]) -> [TopicPartition: Int64],
        revoke: @escaping (_ partitions: [TopicPartition], _ lost: Bool) -> Void
    ) {
        state.assignHook = assign
        state.revokeHook = revoke
    }

    /// Waits up to `timeoutMs` for the next message or event; nil when there is none yet. (With partition queues:
    /// the next group event or error; messages wait in their partitions' queues.)
    public func poll(timeoutMs: Int32) -> Event? {
        if !state.events.isEmpty { return state.events.removeFirst() }
        guard let message = rd_kafka_consumer_poll(handle, timeoutMs) else {
            return state.events.isEmpty ? nil : state.events.removeFirst()
        }
        defer { rd_kafka_message_destroy(message) }
        let event = self.event(message)
        // Assignment changes made during this poll come before the message.
        guard !state.events.isEmpty else { return event }
        state.events.append(event)
        return state.events.removeFirst()
    }

    /// With partition queues: hands `body` up to `max` messages (or end-of-partition and error events) waiting in
    /// `partition`'s queue, in offset order, without waiting; returns how many. 0 for a partition not assigned.
    @discardableResult
    public func poll(_ partition: TopicPartition, max: Int, _ body: (Event) -> Void) -> Int {
        poll(partition, max: max, message: { body(.message($0.copy(partition: partition))) }, other: body)
    }

    /// As `poll(_:max:_:)`, but each message goes to `message` without being copied out of librdkafka's buffers
    /// (it is valid during that call only); end-of-partition and error events go to `other`.
    @discardableResult
    public func poll(
        _ partition: TopicPartition, max: Int, message: (BorrowedMessage) -> Void, other: (Event) -> Void
    ) -> Int {
        guard let queue = state.queues[partition], max > 0 else { return 0 }
        if batchCapacity < max {
            batchBuffer?.deallocate()
            batchBuffer = .allocate(capacity: max)
            batchCapacity = max
        }
        guard let buffer = batchBuffer else { return 0 }
        let count = rd_kafka_consume_batch_queue(queue, 0, buffer, max)
        guard count > 0 else { return 0 }
        var next: Int64?
        for i in 0..<count {
            guard let m = buffer[i] else { continue }
            // The partition is known: no topic name read and no position update per message.
            if m.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                next = m.pointee.offset + 1
                message(BorrowedMessage(m))
            } else {
                other(event(m))
            }
            rd_kafka_message_destroy(m)
        }
        if let next { state.positions[partition] = next }
        return count
    }

    /// With partition queues: waits up to `timeoutMs` until a partition queue or the consumer queue receives
    /// something it did not hold (or returns at once if that happened since the last wait); false on timeout.
    @discardableResult
    public func waitForMessages(timeoutMs: Int) -> Bool {
        guard let wake = state.wake else { return false }
        return wake.wait(timeout: .now() + .milliseconds(timeoutMs)) == .success
    }

    /// What a message librdkafka returned is: a message, a partition's end, or an error.
    private func event(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Event {
        let m = message.pointee
        if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let rkt = m.rkt {
            return .endOfPartition(
                TopicPartition(topic: String(cString: rd_kafka_topic_name(rkt)), partition: m.partition),
                offset: m.offset)
        } else if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_message_errstr(message).map { String(cString: $0) }
            return .error(KafkaError(m.err, text), fatal: false)
        }
        let copy = BorrowedMessage(message).copy(
            partition: TopicPartition(topic: String(cString: rd_kafka_topic_name(m.rkt)), partition: m.partition))
        state.positions[copy.partition] = copy.offset + 1
        return .message(copy)
    }

    /// Commits positions (the offset of the next message to read) to the group, synchronously.
    public func commit(_ offsets: [PartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList(offsets.map(\.partition), offsets: offsets.map(\.offset))
        let err = try list.withList { rd_kafka_commit(handle, $0, 0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
    }

    /// The group's committed positions for `partitions` (nil for a partition with none).
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32 = 10_000) throws(KafkaError)
        -> [TopicPartition: Int64?]
    {
        try Self.committed(handle, partitions, timeoutMs)
    }

    /// The committed positions of `group` for `partitions` (nil for a partition with none), read without joining
    /// the group: a member that joins only to read them makes the group rebalance, and one closed while its join is
    /// under way can hang in librdkafka (`rd_kafka_assign` inside the close's rebalance callback; seen with the
    /// mock cluster on a busy machine).
    public static func committed(
        properties: [(key: String, value: String)], group: String, partitions: [TopicPartition],
        timeoutMs: Int32 = 10_000
    ) throws(KafkaError) -> [TopicPartition: Int64?] {
        var settings = properties
        settings.append(("group.id", group))
        settings.append(("enable.auto.commit", "false"))
        let handle = try Configuration.client(RD_KAFKA_CONSUMER, try Configuration.make(settings))
        defer { rd_kafka_destroy(handle) }  // never subscribed: no group to leave
        return try committed(handle, partitions, timeoutMs)
    }

    private static func committed(_ handle: OpaquePointer, _ partitions: [TopicPartition], _ timeoutMs: Int32)
        throws(KafkaError) -> [TopicPartition: Int64?]
    {
        let list = PartitionList(partitions)
        let err = try list.withList { rd_kafka_committed(handle, $0, timeoutMs) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        var result: [TopicPartition: Int64?] = [:]
        for e in list.elements { result[e.partition] = e.offset >= 0 ? e.offset : nil }
        return result
    }

    /// The partition's end (the offset the next produced message gets) as of the consumer's last fetch from it;
    /// nil before the first. Answered from librdkafka's cache, without a request to the broker.
    public func highWatermark(of partition: TopicPartition) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// Partition counts of `topics` as the cluster reports them; a topic the cluster does not know is absent.
    public func partitionCounts(of topics: [String], timeoutMs: Int32) throws(KafkaError) -> [String: Int] {
        try Metadata.partitionCounts(handle, topics, timeoutMs)
    }

    /// Leaves the group cleanly (its partitions are reassigned at once rather than after a session timeout).
    public func close() {
        guard !closed else { return }
        closed = true
        _ = rd_kafka_consumer_close(handle)
    }
}

/// Cluster metadata queries shared by the consumer and the producer.
enum Metadata {
    static func partitionCounts(_ handle: OpaquePointer, _ topics: [String], _ timeoutMs: Int32) throws(KafkaError)
        -> [String: Int]
    {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err) }
        defer { rd_kafka_metadata_destroy(metadata) }
        let wanted = Set(topics)
        var result: [String: Int] = [:]
        for i in 0..<Int(metadata.pointee.topic_cnt) {
            let t = metadata.pointee.topics[i]
            let name = String(cString: t.topic)
            guard wanted.contains(name), t.err == RD_KAFKA_RESP_ERR_NO_ERROR, t.partition_cnt > 0 else { continue }
            result[name] = Int(t.partition_cnt)
        }
        return result
    }
}
