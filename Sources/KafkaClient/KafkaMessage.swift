internal import CRdKafka

/// A message read from Kafka, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable {
    /// Where it was read.
    public var partition: TopicPartition
    /// Its offset in the partition.
    public var offset: Int64
    /// The message timestamp (create or log-append time) in epoch milliseconds, if the broker gave one.
    public var timestamp: Int64?
    /// The key bytes, if any.
    public var key: [UInt8]?
    /// The value bytes (empty for a null value).
    public var value: [UInt8]
    /// Whether the value was null (a tombstone: a delete marker of a compacted topic), not merely empty.
    public var isNull = false
    /// The headers in order; a header may have a null value.
    public var headers: [(name: String, value: [UInt8]?)]

    /// Creates a message (tests and the producer side build them too).
    public init(
        partition: TopicPartition, offset: Int64, timestamp: Int64?, key: [UInt8]?, value: [UInt8],
        headers: [(name: String, value: [UInt8]?)] = []
    ) {
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The value of the first header called `name` (nil when absent or null).
    public func header(_ name: String) -> [UInt8]? {
        headers.first { $0.name == name }?.value ?? nil
    }
}

/// A message still in librdkafka's buffers, handed to a closure that must not keep it or its bytes: no copy is
/// made (`KafkaConsumer.poll(_:max:message:other:)`), which spares a reader that keeps the bytes elsewhere two
/// allocations and a copy per message.
public struct BorrowedMessage {
    /// Its offset in the partition.
    public let offset: Int64
    /// The message timestamp (create or log-append time) in epoch milliseconds, if the broker gave one.
    public let timestamp: Int64?
    /// The value bytes (empty for a null value), valid during the call only.
    public let value: UnsafeRawBufferPointer
    /// The key bytes, if any, valid during the call only.
    public let key: UnsafeRawBufferPointer?
    /// Whether the value was null (a tombstone), not merely empty.
    public let isNull: Bool
    /// The `rd_kafka_message_t`, for the headers.
    private let message: UnsafeMutableRawPointer

    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(message, &type)
        offset = m.offset
        timestamp = ts >= 0 ? ts : nil
        value = UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len)
        key = m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) }
        isNull = m.payload == nil
        self.message = UnsafeMutableRawPointer(message)
    }

    /// The headers in order (a header may have a null value), copied.
    public var headers: [(name: String, value: [UInt8]?)] {
        var headers: [(name: String, value: [UInt8]?)] = []
        var list: OpaquePointer?
        let message = message.assumingMemoryBound(to: rd_kafka_message_t.self)
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        var index = 0
        var name: UnsafePointer<CChar>?
        var bytes: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            headers.append(
                (
                    name.map { String(cString: $0) } ?? "",
                    bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                )
            )
            index += 1
        }
        return headers
    }

    /// A copy that outlives the call.
    public func copy(partition: TopicPartition) -> KafkaMessage {
        var copied = KafkaMessage(
            partition: partition, offset: offset, timestamp: timestamp, key: key.map { Array($0) },
            value: Array(value), headers: headers)
        copied.isNull = isNull
        return copied
    }
}
