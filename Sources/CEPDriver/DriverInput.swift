public import CEPRuntime

/// One input partition as the driver knows it: where it is in the engine, how far it has been processed, and
/// what decides whether it holds the watermark back.
public struct DriverInput: Sendable {
    /// The partition: a Kafka topic partition, or a replay file (`--input topic=file`, the N-th of its topic).
    public var topic: String
    public var partition: Int32
    /// Its engine source (task and source number) and merge rank.
    public var source: TaskEngines.SourceID
    public var rank: Int32
    /// The offset after the last processed message (what a commit or checkpoint stores); nil before any.
    public var position: Int64?
    /// When (the adapter's uptime clock, ns) its last message or end-of-partition came.
    public var lastSeen: UInt64
    /// Whether it has been read to its end since its last message: only such a partition can go idle (one that is
    /// merely behind, in a backlog, must hold the watermark back).
    public var caughtUp = false
    /// Assigned (Kafka) or being read; false once revoked.
    public var open = true
    /// When it was revoked, while it is.
    public var closedAt: UInt64?
    /// Messages read from it (good and malformed), dead letters and late events among them.
    public var messages = 0
    public var deadLetters = 0
    public var lateEvents = 0
}

/// A partition's identity outside the engine: a topic and a partition number. (KafkaClient's `TopicPartition` is
/// the same pair; the driver has its own because it knows no Kafka.)
public struct PartitionID: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    /// Partition `partition` of `topic`.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}
