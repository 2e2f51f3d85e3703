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
