/// A task's number: task *i* owns partition *i* of every input topic (`TaskEngines`). A type of its own so that a
/// task is never taken for a partition, an input or a pattern index; it encodes as the bare number (checkpoint
/// records, changelog keys, log fields and metrics labels spell it so).
public struct TaskID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The number.
    public let number: Int

    /// Task `number`.
    public init(_ number: Int) { self.number = number }

    /// The task that owns `partition` of any input topic.
    public init(ofPartition partition: Int32) { self.number = Int(partition) }

    /// The partition number it owns (of each input topic, and of the changelog topic).
    public var partition: Int32 { Int32(number) }

    /// Whether this task owns `partition` of the input topics.
    public func owns(partition: Int32) -> Bool { Int(partition) == number }

    public static func < (a: TaskID, b: TaskID) -> Bool { a.number < b.number }
    public var description: String { String(number) }

    public init(from decoder: any Decoder) throws { number = try decoder.singleValueContainer().decode(Int.self) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(number)
    }
}
