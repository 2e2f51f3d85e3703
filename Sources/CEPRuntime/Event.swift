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
///
/// The field values live in a buffer the event owns rather than in an `Array`: reading a field on the hot path
/// (every condition that names one) is then a pointer load, where an array property costs a retain and release
/// of its storage on every read.
public final class Event: @unchecked Sendable {
    // @unchecked: every stored property is immutable after `init`; `storage` is written only there and freed only
    // in `deinit`, so sharing an event across threads is as safe as sharing any immutable object.

    /// Index into `Automaton.streams`.
    public let stream: Int
    /// Event time in epoch milliseconds.
    public let timestamp: Int64
    /// Where the event came from.
    public let origin: EventOrigin
    /// The source's rank in the engine (see `Engine.Source.rank`): orders equal timestamps across partitions (the
    /// pending-event queue of each pattern orders by time, rank, offset).
    public let sourceRank: Int32
    @usableFromInline let storage: UnsafeMutableBufferPointer<Value>

    /// Creates an event.
    public convenience init(stream: Int, timestamp: Int64, fields: [Value], origin: EventOrigin, sourceRank: Int32 = 0)
    {
        self.init(stream: stream, timestamp: timestamp, fields: fields[...], origin: origin, sourceRank: sourceRank)
    }

    /// Creates an event from a slice of decoded values (no intermediate array).
    public init(stream: Int, timestamp: Int64, fields: ArraySlice<Value>, origin: EventOrigin, sourceRank: Int32 = 0) {
        self.stream = stream
        self.timestamp = timestamp
        self.origin = origin
        self.sourceRank = sourceRank
        let storage = UnsafeMutableBufferPointer<Value>.allocate(capacity: fields.count)
        _ = storage.initialize(from: fields)
        self.storage = storage
    }

    deinit {
        _ = storage.deinitialize()
        storage.deallocate()
    }

    /// The value of the stream's field `index` (declaration order); fields no pattern reads are `.null`.
    @inlinable @inline(__always)
    public func field(_ index: Int) -> Value { storage[index] }

    /// The stream's declared fields, by index (a copy; the hot path reads `field(_:)`).
    public var fields: [Value] { Array(storage) }

    /// Number of declared fields.
    public var fieldCount: Int { storage.count }
}
