public import CEPCore

/// A declared stream as the runtime needs it: where its events come from and how to read them.
public struct StreamSpec: Sendable, Hashable {
    /// The stream's name in the `.cep` file.
    public var name: String
    /// The Kafka topic (or replay file) it reads.
    public var topic: String
    /// The declared fields. Indices into this array are the field ids used by `CompiledExpr`.
    public var fields: [FieldSpec]
    /// Index of the key field in `fields`.
    public var keyField: Int
    /// Index of the event-time field; `nil` means the Kafka message timestamp.
    public var timeField: Int?
    /// Bounded out-of-orderness in milliseconds (Flink's forBoundedOutOfOrderness).
    public var lateness: Int64
    /// Selects this stream's events from a shared topic; `nil` takes every event of the topic.
    public var filter: CompiledExpr?
    /// `file:line` of the declaration, for runtime messages.
    public var location: String
    /// How its messages are encoded.
    public var format: EventFormat
    /// How its message keys are encoded, for `@key.PATH` fields (`format @key ...`).
    public var keyFormat: EventFormat = .json
    /// A table (`table NAME from ...`): its events are rows, kept per key and looked up, never matched.
    public var isTable = false

    /// Creates a stream spec.
    public init(
        name: String, topic: String, fields: [FieldSpec], keyField: Int, timeField: Int?, lateness: Int64,
        filter: CompiledExpr?, location: String, format: EventFormat = .json
    ) {
        self.format = format
        self.name = name
        self.topic = topic
        self.fields = fields
        self.keyField = keyField
        self.timeField = timeField
        self.lateness = lateness
        self.filter = filter
        self.location = location
    }
}

/// A declared field of a stream.
public struct FieldSpec: Sendable, Hashable {
    /// The path in the event's JSON object, e.g. `["device", "id"]`.
    public var path: [String]
    /// Its type.
    public var type: FieldType
    /// Whether the event may omit it (or carry null).
    public var isOptional: Bool
    /// Whether any pattern, filter, key or time reads it: the decoder skips fields no one uses.
    public var isUsed: Bool

    /// Creates a field spec.
    public init(path: [String], type: FieldType, isOptional: Bool, isUsed: Bool) {
        self.path = path
        self.type = type
        self.isOptional = isOptional
        self.isUsed = isUsed
    }

    /// The path joined with dots.
    public var dotted: String { path.joined(separator: ".") }
}
