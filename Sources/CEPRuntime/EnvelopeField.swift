public import CEPCore

/// A field of the Kafka message around an event rather than of its value: declared and read like any field, with
/// a name that starts with '@' (`key @key`, `x.@partition`, `@header.tenant: string?`).
public enum EnvelopeField: Sendable, Hashable {
    /// `@key`: the message key, as UTF-8 text.
    case key
    /// `@key.PATH`: a member of a message key that is a JSON object (`@key.user`, `@key.account.id`).
    case keyMember([String])
    /// `@timestamp`: the message timestamp (create or log-append time), epoch milliseconds.
    case timestamp
    /// `@partition`: the partition the message was read from.
    case partition
    /// `@offset`: the message's offset in its partition.
    case offset
    /// `@header.NAME` (or `@header."x-name"`): the value of the message's last header of that name, as UTF-8 text.
    case header(String)

    /// The envelope field a declared path names, or nil when the path is not one (`@keys`, `@header` alone).
    public init?(path: [String]) {
        switch (path.first, path.count) {
        case ("@key", 1): self = .key
        case ("@key", _): self = .keyMember(Array(path.dropFirst()))
        case ("@timestamp", 1): self = .timestamp
        case ("@partition", 1): self = .partition
        case ("@offset", 1): self = .offset
        case ("@header", 2): self = .header(path[1])
        default: return nil
        }
    }

    /// Whether a declared path is meant for the envelope (its first name starts with '@').
    public static func isEnvelopePath(_ path: [String]) -> Bool { path.first?.hasPrefix("@") == true }

    /// The only type the field can be declared with; nil when the declaration decides (a member of a JSON key).
    public var type: FieldType? {
        switch self {
        case .key, .header: return .string
        case .keyMember: return nil
        case .timestamp: return .time
        case .partition, .offset: return .int
        }
    }

    /// Whether the field is read from the message key.
    public var readsKey: Bool {
        switch self {
        case .key, .keyMember: return true
        default: return false
        }
    }

    /// What the checker lists when a path names no envelope field.
    public static let names = "@key (or @key.PATH of a JSON key), @timestamp, @partition, @offset and @header.NAME"
}

/// The Kafka message around a value, for streams that read envelope fields. The key and headers are given only
/// when some stream reads them (`EventDecoder.readsKey`, `readsHeaders`), so that most messages cost no copy.
public struct MessageEnvelope: Sendable {
    /// The message key; nil for a message without one.
    public var key: [UInt8]?
    /// The message timestamp, epoch milliseconds; nil when the input has none (a replay file).
    public var timestamp: Int64?
    /// The partition.
    public var partition: Int32
    /// The offset.
    public var offset: Int64
    /// The headers the streams read, by name (the last value of a repeated name); nil for a header without a value.
    public var headers: [String: [UInt8]?]

    /// An envelope.
    public init(
        key: [UInt8]? = nil, timestamp: Int64? = nil, partition: Int32, offset: Int64, headers: [String: [UInt8]?] = [:]
    ) {
        self.key = key
        self.timestamp = timestamp
        self.partition = partition
        self.offset = offset
        self.headers = headers
    }
}

/// Where an emit field named with '@' goes in the alert's Kafka record instead of its JSON: `@key` is the record's
/// key, `@header.NAME` a header. The checker refuses other '@' names; the formatter routes by this.
public enum AlertRecordPart: Sendable, Hashable {
    /// `@key`.
    case key
    /// `@header.NAME`.
    case header(String)

    /// The part an emit field's name names, or nil for a JSON member (or an '@' name that names none).
    public init?(outputName name: String) {
        let headerPrefix = "@header."
        if name == "@key" {
            self = .key
        } else if name.hasPrefix(headerPrefix) && name.count > headerPrefix.count {
            self = .header(String(name.dropFirst(headerPrefix.count)))
        } else {
            return nil
        }
    }
}
