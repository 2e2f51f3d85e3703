public import CEPCore

/// Where an event came from: the topic (or replay file), its partition and offset. Match ids and the order of
/// equal timestamps are built from it, so it must be the same on every replay of the same input.
public struct EventOrigin: Sendable, Hashable {
    /// The topic the event was read from.
    public var topic: String
    /// The partition (a replay file is partition 0 of its topic).
    public var partition: Int32
    /// The offset within the partition (a replay file's line number, from 0).
    public var offset: Int64

    /// Creates an origin.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A decoded event of one stream. Stored once: every partial match that binds it holds a reference, as in the
/// shared buffer of SASE and Flink CEP, never a copy.
public final class Event: Sendable {
    /// Index into `Automaton.streams`.
    public let stream: Int
    /// Event time in epoch milliseconds.
    public let timestamp: Int64
    /// The stream's declared fields, by index; fields no pattern reads are `.null`.
    public let fields: [Value]
    /// Where the event came from.
    public let origin: EventOrigin
    /// The source's rank in the engine (see `Engine.Source.rank`): orders equal timestamps across partitions (the
    /// pending-event queue of each pattern orders by time, rank, offset).
    public let sourceRank: Int32

    /// Creates an event.
    public init(stream: Int, timestamp: Int64, fields: [Value], origin: EventOrigin, sourceRank: Int32 = 0) {
        self.stream = stream
        self.timestamp = timestamp
        self.fields = fields
        self.origin = origin
        self.sourceRank = sourceRank
    }
}
