internal import CRdKafka
import Foundation

/// An idempotent Kafka producer with checked delivery reports, over librdkafka's C API.
///
/// `send` queues a message in librdkafka (copied); `poll` and `flush` serve delivery reports. A message that
/// librdkafka gives up on (after its own retries) is recorded in `failure`: the owner must stop and not move on
/// as if it had been written. Safe to use from several threads (`@unchecked Sendable`: the handle is thread-safe
/// and the counters are behind a lock): `cepd serve` writes alerts from its engine thread while a checkpoint goes
/// to the changelog from the store's.
public final class KafkaProducer: @unchecked Sendable {
    private final class Deliveries {
        let lock = NSLock()
        /// Messages queued in librdkafka.
        var sent = 0
        var delivered = 0
        var failed = 0
        var firstFailure: KafkaError?
        /// Per partition, the offset after the last message delivered there.
        var ends: [TopicPartition: Int64] = [:]
    }

    private let handle: OpaquePointer
    private let deliveries = Deliveries()

    /// Creates a producer. `properties` are librdkafka settings (`-X` keys); idempotence is always on.
    public init(properties: [(key: String, value: String)]) throws(KafkaError) {
        var settings = properties
        settings.append(("enable.idempotence", "true"))
        let conf = try Configuration.make(settings)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(deliveries).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            let deliveries = Unmanaged<Deliveries>.fromOpaque(opaque).takeUnretainedValue()
            let err = message.pointee.err
            deliveries.lock.lock()
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                deliveries.delivered += 1
                let m = message.pointee
                if m.offset >= 0, let rkt = m.rkt {
                    let partition = TopicPartition(
                        topic: String(cString: rd_kafka_topic_name(rkt)), partition: m.partition)
                    deliveries.ends[partition] = max(deliveries.ends[partition] ?? 0, m.offset + 1)
                }
            } else {
                deliveries.failed += 1
                if deliveries.firstFailure == nil {
                    let topic = String(cString: rd_kafka_topic_name(message.pointee.rkt))
                    let error = KafkaError(err)
                    deliveries.firstFailure = KafkaError(
                        message: "delivery to '\(topic)' failed: \(error.message) (\(error.name))")
                }
            }
            deliveries.lock.unlock()
        }
        handle = try Configuration.client(RD_KAFKA_PRODUCER, conf)
    }

    deinit { rd_kafka_destroy(handle) }

    /// The first message librdkafka could not deliver, if any.
    public var failure: KafkaError? {
        deliveries.lock.lock()
        defer { deliveries.lock.unlock() }
        return deliveries.firstFailure
    }

    /// Per partition written to, the offset after the last message delivered there (as the delivery reports
    /// give it): after a `flush`, everything this producer wrote lies below it.
    public var deliveredEnds: [TopicPartition: Int64] {
        deliveries.lock.lock()
        defer { deliveries.lock.unlock() }
        return deliveries.ends
    }

    /// Messages librdkafka reported it could not deliver (after its own retries).
    public var failedCount: Int {
        deliveries.lock.lock()
        defer { deliveries.lock.unlock() }
        return deliveries.failed
    }

    /// Messages sent and not yet reported delivered or failed.
    public var inFlight: Int {
        deliveries.lock.lock()
        defer { deliveries.lock.unlock() }
        return deliveries.sent - deliveries.delivered - deliveries.failed
    }

    /// Queues a message (`value` nil: a tombstone). `partition` nil lets the key choose it (librdkafka's default partitioner). When the
    /// local queue is full this serves delivery reports and waits; it throws when the message cannot be queued
    /// at all (unknown topic when auto-creation is off, message too large).
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
        headers: [(name: String, value: [UInt8]?)] = [],
        timestamp: Int64? = nil
    ) throws(KafkaError) {
        // One buffer holds every C string and byte range the call refers to, so that one pointer scope covers all.
        var arena: [UInt8] = []
        func add(_ bytes: [UInt8], terminate: Bool = false) -> Int {
            let at = arena.count
            arena.append(contentsOf: bytes)
            if terminate { arena.append(0) }
            return at
        }
        let topicAt = add(Array(topic.utf8), terminate: true)
        let keyAt = key.map { add($0) }
        let valueAt = value.map { add($0) }
        let headerAt = headers.map {
            (name: add(Array($0.name.utf8), terminate: true), value: $0.value.map { add($0) })
        }
        while true {
            let error: OpaquePointer? = arena.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                var vus: [rd_kafka_vu_t] = []
                func vu(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                    var v = rd_kafka_vu_t()
                    v.vtype = type
                    fill(&v)
                    vus.append(v)
                }
                vu(RD_KAFKA_VTYPE_TOPIC) {
                    $0.u.cstr = UnsafePointer(base.advanced(by: topicAt).assumingMemoryBound(to: CChar.self))
                }
                if let partition { vu(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition } }
                if let key, let keyAt {
                    vu(RD_KAFKA_VTYPE_KEY) {
                        $0.u.mem.ptr = base.advanced(by: keyAt)
                        $0.u.mem.size = key.count
                    }
                }
                if let value, let valueAt {
                    vu(RD_KAFKA_VTYPE_VALUE) {
                        $0.u.mem.ptr = base.advanced(by: valueAt)
                        $0.u.mem.size = value.count
                    }
                }  // none: a null value, a tombstone in a compacted topic
                vu(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                if let timestamp { vu(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestamp } }
                for (i, header) in headers.enumerated() {
                    vu(RD_KAFKA_VTYPE_HEADER) {
                        $0.u.header.name = UnsafePointer(
                            base.advanced(by: headerAt[i].name).assumingMemoryBound(to: CChar.self))
                        if let at = headerAt[i].value, let bytes = header.value {
                            $0.u.header.val = UnsafeRawPointer(base.advanced(by: at))
                            $0.u.header.size = bytes.count
                        } else {
                            $0.u.header.val = nil
                            $0.u.header.size = -1
                        }
                    }
                }
                return rd_kafka_produceva(handle, &vus, vus.count)
            }
            guard let error else {
                deliveries.lock.lock()
                deliveries.sent += 1
                deliveries.lock.unlock()
                return
            }
            let failure = KafkaError(taking: error)
            guard failure.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue else { throw failure }
            rd_kafka_poll(handle, 100)  // wait for deliveries to make room
        }
    }

    /// Serves delivery reports that are ready (waits up to `timeoutMs` for one).
    public func poll(timeoutMs: Int32 = 0) {
        rd_kafka_poll(handle, timeoutMs)
    }

    /// Waits until every message sent so far is reported; throws the first failed delivery, or a timeout.
    public func flush(timeoutMs: Int32) throws(KafkaError) {
        let err = rd_kafka_flush(handle, timeoutMs)
        if let failure { throw failure }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(
                message: "\(inFlight) messages not delivered after \(timeoutMs) ms (\(KafkaError(err).message))")
        }
    }

    /// Partition counts of `topics` as the cluster reports them; a topic the cluster does not know is absent.
    public func partitionCounts(of topics: [String], timeoutMs: Int32) throws(KafkaError) -> [String: Int] {
        try Metadata.partitionCounts(handle, topics, timeoutMs)
    }

    /// The end (high watermark) of a partition as the broker reports it (wraps `rd_kafka_query_watermark_offsets`).
    /// Some brokers (Tansu) report less than the true end: use it as a lower bound.
    public func endOffset(of partition: TopicPartition, timeoutMs: Int32) throws(KafkaError) -> Int64 {
        try offsets(of: partition, timeoutMs: timeoutMs).end
    }

    /// Where a partition starts (its first offset still held: retention moves it) and ends, as the broker reports.
    public func offsets(of partition: TopicPartition, timeoutMs: Int32) throws(KafkaError) -> (start: Int64, end: Int64)
    {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        return (low, high)
    }

    /// Creates `topic` with `partitions` partitions (the brokers' default replication) and `config` (topic-level
    /// settings such as `cleanup.policy`), wrapping `rd_kafka_CreateTopics`. A topic that exists already is not
    /// an error: returns false then, true when it was created.
    @discardableResult
    public func createTopic(
        _ topic: String, partitions: Int, config: [(key: String, value: String)] = [], timeoutMs: Int32
    ) throws(KafkaError) -> Bool {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, Int32(partitions), -1, &errstr, errstr.count) else {
            throw KafkaError(message: "cannot create topic '\(topic)': \(Configuration.text(errstr))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (key, value) in config {
            let err = rd_kafka_NewTopic_set_config(newTopic, key, value)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "topic setting \(key)=\(value)") }
        }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1_000) else {
            throw KafkaError(message: "creating topic '\(topic)' got no answer within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, "creating topic '\(topic)': \(String(cString: rd_kafka_event_error_string(event)))")
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1, let first = results[0]
        else { throw KafkaError(message: "creating topic '\(topic)': no result") }
        let topicErr = rd_kafka_topic_result_error(first)
        if topicErr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { return false }
        guard topicErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_topic_result_error_string(first).map { String(cString: $0) } ?? ""
            throw KafkaError(topicErr, "creating topic '\(topic)': \(text)")
        }
        return true
    }

    /// The id of the cluster the producer is connected to (nil if the broker does not say).
    public func clusterID(timeoutMs: Int32) -> String? {
        guard let id = rd_kafka_clusterid(handle, timeoutMs) else { return nil }
        defer { rd_kafka_mem_free(handle, id) }
        return String(cString: id)
    }
}
