/// Where the decoders of `format avro registry` and `format protobuf registry` streams get writer schemas: by the
/// id each message carries in the Confluent wire format. The daemon's registry client implements it (fetching
/// and caching by id); tests give schemas from memory.
public protocol RegistrySchemas: AnyObject, Sendable {
    /// The schema registered under `id`. Blocks while the registry is unreachable (retrying), until it answers or
    /// the process is stopping.
    func schema(id: Int32) throws(RegistryLookupError) -> RegistrySchema
}

/// A writer schema from a registry.
public enum RegistrySchema: Sendable {
    /// An Avro schema.
    case avro(AvroSchema)
    /// A Protocol Buffers file (and what it imports), with its messages in declaration order: the message indexes
    /// of the wire format count in these lists.
    case protobuf(ProtoSchema, messages: [ProtoMessageTree])
}

/// A message type of a `.proto` file and the types declared inside it, in declaration order.
public struct ProtoMessageTree: Sendable, Hashable {
    /// The full name.
    public var name: String
    /// Nested message types.
    public var nested: [ProtoMessageTree]

    /// A message and its nested types.
    public init(name: String, nested: [ProtoMessageTree]) {
        self.name = name
        self.nested = nested
    }
}

/// Why a registry gave no schema.
public enum RegistryLookupError: Error, Sendable {
    /// The registry answered that it has no such schema, or gave one cepd cannot read: the message is a dead letter.
    case unusable(String)
    /// The registry did not answer and cepd is stopping: the message is left unread (not committed).
    case stopping(String)
}

/// How a stream reads a topic whose messages carry schema ids (`format ... registry`).
public enum RegistryFormat: Sendable, Hashable {
    /// Avro, each message's writer schema by id.
    case avro
    /// Protocol Buffers; `message` is the type the stream expects (nil: whatever each message says).
    case protobuf(message: String?)
}
