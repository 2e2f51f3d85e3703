import CEPDriver
import CEPRuntime

/// The decoded messages of one partition that wait to be merged by event time (see `KafkaReader`), in offset
/// order, with their bytes. Flat arrays consumed from the front and compacted now and then, so that a steady
/// stream of messages allocates nothing.
struct PartitionQueue {
    struct Message {
        /// Offset, key and timestamp; `value` and `key` index `bytes`.
        var record: InputRecord
        /// How many entries of `decoded` it has (0: no stream accepts it, or it is a dead letter).
        var events: Int
        /// Why it did not decode, for a dead letter.
        var failure: String?
        /// The partition and headers, for the envelope fields (`@partition`, `@header.NAME`) of a decode again.
        var partition: Int32
        var headers: [(name: String, value: [UInt8]?)]
    }

    private var messages: [Message] = []
    private var head = 0
    private var decoded = DecodedEvents()
    private var cursor = DecodedEvents.Cursor()
    private var bytes: [UInt8] = []
    /// Bytes before this belong to released messages.
    private var releasedBytes = 0

    /// Messages waiting.
    var count: Int { messages.count - head }
    var isEmpty: Bool { head == messages.count }

    /// The event time of the first message (its first event), or nil when it has no event (it can go at once) or
    /// the queue is empty. Kept up to date by every change of the head rather than looked up: the reader's merge
    /// reads it for every partition per message it releases.
    private(set) var headTime: Int64?

    private mutating func refreshHeadTime() {
        headTime = head < messages.count && messages[head].events > 0 ? decoded.timestamp(at: cursor) : nil
    }

    /// Decodes a message's value into `decoded`; returns why it is a dead letter, if it is one. A null value (a
    /// tombstone, the delete marker of a compacted topic) is not an event; its dead letter keeps the null.
    private static func decode(
        _ record: InputRecord, _ value: UnsafeBufferPointer<UInt8>, key: UnsafeBufferPointer<UInt8>?, partition: Int32,
        headers: [(name: String, value: [UInt8]?)], decoder: EventDecoder?, into decoded: inout DecodedEvents
    ) -> String? {
        if record.isNull {
            // A table's row deleted; in any other topic a dead letter.
            guard let decoder else { return DecodeFailure.tombstone.reason }
            return decoder.decodeDeletion(key: key.map(Array.init), messageTimestamp: record.timestamp, into: &decoded)?
                .reason
        }
        guard let decoder else { return nil }
        guard decoder.readsEnvelope else {
            return decoder.decode(value, messageTimestamp: record.timestamp, into: &decoded)?.reason
        }
        // The envelope costs no copy unless a stream reads the key or headers.
        var envelope = MessageEnvelope(timestamp: record.timestamp, partition: partition, offset: record.offset)
        if decoder.readsKey, let key { envelope.key = Array(key) }
        for name in decoder.readsHeaders {
            if let header = headers.last(where: { $0.name == name }) { envelope.headers[name] = header.value }
        }
        return decoder.decode(value, messageTimestamp: record.timestamp, envelope: envelope, into: &decoded)?.reason
    }

    /// The bytes of `range` (a key), read in place: no array slice (a retain) per message.
    private static func slice(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>?) -> UnsafeBufferPointer<UInt8>?
    {
        range.map { UnsafeBufferPointer(rebasing: bytes[$0]) }
    }

    /// Decodes and keeps a message: its bytes are copied here (they may be librdkafka's, valid during the call).
    mutating func push(
        value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?, isNull: Bool, offset: Int64, timestamp: Int64?,
        partition: Int32, headers: [(name: String, value: [UInt8]?)], input: Int, decoder: EventDecoder?
    ) {
        let start = bytes.count
        bytes.append(contentsOf: value)
        var record = InputRecord(input: input, offset: offset, value: start..<bytes.count, timestamp: timestamp)
        if let key {
            let keyStart = bytes.count
            bytes.append(contentsOf: key)
            record.key = keyStart..<bytes.count
        }
        record.isNull = isNull
        let before = decoded.count
        let failure = bytes.withUnsafeBufferPointer {
            Self.decode(
                record, UnsafeBufferPointer(rebasing: $0[record.value]), key: Self.slice($0, record.key),
                partition: partition, headers: headers, decoder: decoder, into: &decoded)
        }
        messages.append(
            Message(
                record: record, events: decoded.count - before, failure: failure, partition: partition,
                headers: headers))
        if head == messages.count - 1 { refreshHeadTime() }
    }

    /// Decodes the waiting messages again with another decoder (a reload changed the streams).
    mutating func redecode(with decoder: EventDecoder?) {
        var fresh = DecodedEvents()
        for i in head..<messages.count {
            let before = fresh.count
            let record = messages[i].record
            messages[i].failure = bytes.withUnsafeBufferPointer {
                Self.decode(
                    record, UnsafeBufferPointer(rebasing: $0[record.value]), key: Self.slice($0, record.key),
                    partition: messages[i].partition,
                    headers: messages[i].headers, decoder: decoder, into: &fresh)
            }
            messages[i].events = fresh.count - before
        }
        decoded = fresh
        cursor = DecodedEvents.Cursor()
        refreshHeadTime()
    }

    /// Moves the first message into `batch`, as an events or dead-letter item.
    mutating func release(into batch: InputBatch) {
        let message = messages[head]
        head += 1
        var record = message.record
        record.value = bytes.withUnsafeBufferPointer {
            batch.keep(UnsafeBufferPointer(rebasing: $0[message.record.value]))
        }
        if let key = message.record.key {
            record.key = bytes.withUnsafeBufferPointer { batch.keep(UnsafeBufferPointer(rebasing: $0[key])) }
        }
        releasedBytes = message.record.key?.upperBound ?? message.record.value.upperBound
        if let failure = message.failure {
            batch.items.append(.deadLetter(record, reason: failure))
        } else {
            batch.decoded.append(message.events, from: decoded, at: &cursor)
            batch.items.append(.events(record, count: message.events))
        }
        compactIfWorthIt()
        refreshHeadTime()
    }

    private mutating func compactIfWorthIt() {
        if head == messages.count {
            messages.removeAll(keepingCapacity: true)
            decoded.removeAll()
            cursor = DecodedEvents.Cursor()
            bytes.removeAll(keepingCapacity: true)
        } else if head >= 4096 && head * 2 >= messages.count {
            // Keep the waiting messages; their byte ranges move down with the bytes.
            messages.removeFirst(head)
            decoded.removeFirst(upTo: &cursor)
            bytes.removeFirst(releasedBytes)
            for i in messages.indices {
                messages[i].record.value =
                    messages[i].record.value.lowerBound - releasedBytes..<messages[i].record.value.upperBound
                    - releasedBytes
                if let key = messages[i].record.key {
                    messages[i].record.key = key.lowerBound - releasedBytes..<key.upperBound - releasedBytes
                }
            }
        } else {
            return
        }
        head = 0
        releasedBytes = 0
    }
}
