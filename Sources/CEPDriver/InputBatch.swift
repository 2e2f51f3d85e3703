public import CEPRuntime
public import Dispatch

/// Where one input message came from, and where its bytes are kept in the batch.
public struct InputRecord: Sendable {
    /// A record of input `input` at `offset` whose bytes are `value` (and `key`) in the batch.
    public init(
        input: Int, offset: Int64, value: Range<Int>, key: Range<Int>? = nil, timestamp: Int64? = nil,
        isNull: Bool = false
    ) {
        self.input = input
        self.offset = offset
        self.value = value
        self.key = key
        self.timestamp = timestamp
        self.isNull = isNull
    }

    /// The reader's number for the partition (see `InputItem.opened`; a replay file's index).
    public var input: Int
    /// Its offset in the partition (a replay file's line number).
    public var offset: Int64
    /// The message bytes (a replay line) in the batch's `bytes`.
    public var value: Range<Int>
    /// The Kafka message key in `bytes`, if it had one.
    public var key: Range<Int>? = nil
    /// The Kafka message timestamp, if it had one.
    public var timestamp: Int64? = nil
    /// The Kafka message value was null (a tombstone), not empty.
    public var isNull = false
}

/// One unit of work for the engine's thread, in the order the reading thread produced them.
public enum InputItem {
    /// A message that decoded to `count` events (the next entries of the batch's `decoded`).
    case events(InputRecord, count: Int)
    /// A message that did not decode.
    case deadLetter(InputRecord, reason: String)
    /// A partition to read from now on (Kafka: assigned to this consumer), under the reader's number `input`.
    case opened(input: Int, topic: String, partition: Int32)
    /// A partition no longer read (Kafka: revoked).
    case closed(input: Int)
    /// The partition has been read to its end (Kafka: partition EOF); quiet from here on, it may become idle.
    case caughtUp(input: Int)
    /// The input has ended (a replay file): it stops holding back the watermark.
    case finished(input: Int)
    /// Something the client reported that an operator should see (a broker down, a retry).
    case notice(String)
    /// The reader decodes with a reload's new decoders from here on: the items before were decoded for the old
    /// patterns, the items after for the new ones (the engine switches here).
    case reloaded
    /// Kafka with tasks (--state-dir): the partitions closed just before are being revoked (`lost`: already taken
    /// away). The engine checkpoints their tasks (unless lost) and releases them, then signals `done`: the group
    /// waits for that before it gives them to another process.
    case released(lost: Bool, done: DispatchSemaphore)
}

/// Items, their decoded events and the bytes of their messages (the late and dead-letter outputs carry a message
/// as it was read). Reused: emptying keeps the capacity.
public final class InputBatch {
    /// How many items a batch holds before it is handed over.
    public static let capacity = 4096
    public var items: [InputItem] = []
    public var decoded = DecodedEvents()
    public var bytes: [UInt8] = []
    /// Uptime (ns) when the reader took the first of its messages from the consumer, and when it handed the batch
    /// over; 0 when not known. The daemon times its alerts' two stages with them (`cepd_alert_processing_seconds`).
    public var firstTaken: UInt64 = 0
    public var handedOver: UInt64 = 0

    public init() {
        items.reserveCapacity(Self.capacity)
    }

    @inlinable
    public var isFull: Bool { items.count >= Self.capacity || bytes.count >= 1 << 20 }

    /// Keeps a copy of some bytes; returns where they are in `bytes`.
    @inlinable
    public func keep(_ data: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        let start = bytes.count
        bytes.append(contentsOf: data)
        return start..<bytes.count
    }

    /// Calls `body` with bytes kept by `keep`.
    @inlinable
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// A copy of bytes kept by `keep`.
    @inlinable
    public func copy(_ range: Range<Int>) -> [UInt8] { Array(bytes[range]) }

    public func removeAll() {
        items.removeAll(keepingCapacity: true)
        decoded.removeAll()
        bytes.removeAll(keepingCapacity: true)
        firstTaken = 0
        handedOver = 0
    }
}
