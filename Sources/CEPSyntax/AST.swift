/// A name as written, with its location.
public struct Identifier: Sendable, Hashable {
    /// The name.
    public let name: String
    /// Where it is written.
    public let range: SourceRange

    /// Creates an identifier.
    public init(_ name: String, range: SourceRange) {
        self.name = name
        self.range = range
    }
}

/// A dotted field path such as `device.id`.
public struct FieldPath: Sendable, Hashable {
    /// The path's components, at least one.
    public let components: [Identifier]

    /// Creates a path.
    public init(_ components: [Identifier]) { self.components = components }

    /// The path joined with dots.
    public var dotted: String { components.map(\.name).joined(separator: ".") }
    /// From the first component to the last.
    public var range: SourceRange { components[0].range.union(components[components.count - 1].range) }
}

/// A literal with its location; `T` is its decoded value.
public struct Located<T: Sendable & Hashable>: Sendable, Hashable {
    /// The literal's value.
    public let value: T
    /// Where it is written.
    public let range: SourceRange

    /// Creates a located value.
    public init(_ value: T, range: SourceRange) {
        self.value = value
        self.range = range
    }
}

/// A parsed `.cep` file: its declarations in source order.
public struct FileSyntax: Sendable, Hashable {
    /// Index of the file in its `SourceManager`.
    public let file: Int
    /// Streams and patterns, in order.
    public var declarations: [Declaration]

    /// Creates a file's syntax tree.
    public init(file: Int, declarations: [Declaration]) {
        self.file = file
        self.declarations = declarations
    }
}

/// A top-level declaration.
public enum Declaration: Sendable, Hashable {
    case stream(StreamDecl)
    case pattern(PatternDecl)
}

/// `stream NAME from "topic" [where FILTER] { key ...; time ...; lateness ...; fields {...} }`, or a table
/// (`table NAME from "topic" { ... }`, `isTable`).
public struct StreamDecl: Sendable, Hashable {
    /// The stream's name.
    public var name: Identifier
    /// The Kafka topic it reads.
    public var topic: Located<String>
    /// Selects this stream's events from a topic that several streams share.
    public var filter: Expr?
    /// The field events are correlated by.
    public var key: FieldPath?
    /// The event-time field; `nil` means the Kafka message timestamp.
    public var time: FieldPath?
    /// How far out of order events may arrive and still be on time, in milliseconds.
    public var lateness: Located<Int64>?
    /// The declared fields.
    public var fields: [FieldDecl]
    /// How its messages are encoded; `nil` means JSON.
    public var format: FormatDecl?
    /// How its message keys are encoded (`format @key ...`), for `@key.PATH` fields; `nil` means JSON.
    public var keyFormat: FormatDecl?
    /// `table NAME from ...`: the latest row per key of its topic, read with `lookup(NAME, key)`, not matched.
    public var isTable = false
    /// The whole declaration.
    public var range: SourceRange

    /// Creates a stream declaration.
    public init(
        name: Identifier, topic: Located<String>, filter: Expr?, key: FieldPath?, time: FieldPath?,
        lateness: Located<Int64>?, fields: [FieldDecl], format: FormatDecl? = nil, range: SourceRange
    ) {
        self.format = format
        self.name = name
        self.topic = topic
        self.filter = filter
        self.key = key
        self.time = time
        self.lateness = lateness
        self.fields = fields
        self.range = range
    }
}

/// `format protobuf "fraud.desc" message fraud.v1.Login`, `format avro "payment.avsc"`, `format avro registry`.
public struct FormatDecl: Sendable, Hashable {
    /// `json`, `protobuf` or `avro` as written.
    public var kind: Identifier
    /// The schema file, relative to the `.cep` file.
    public var schema: Located<String>?
    /// `registry`: schemas come from a schema registry by the id in each message.
    public var registry: SourceRange?
    /// `message NAME`: the Protocol Buffers message type of the topic.
    public var message: FieldPath?
    /// The whole clause.
    public var range: SourceRange

    /// Creates a format clause.
    public init(
        kind: Identifier, schema: Located<String>?, registry: SourceRange?, message: FieldPath?, range: SourceRange
    ) {
        self.kind = kind
        self.schema = schema
        self.registry = registry
        self.message = message
        self.range = range
    }
}

/// `path: type` in a `fields { ... }` block.
public struct FieldDecl: Sendable, Hashable {
    /// The field's path in the event's JSON.
    public var path: FieldPath
    /// The type's name as written (`string`, `int`, `float`, `bool`, `time`).
    public var typeName: Identifier
    /// Whether `?` follows the type: the field may be absent or null.
    public var isOptional: Bool
    /// The type, `?` included.
    public var typeRange: SourceRange

    /// Creates a field declaration.
    public init(path: FieldPath, typeName: Identifier, isOptional: Bool, typeRange: SourceRange) {
        self.path = path
        self.typeName = typeName
        self.isOptional = isOptional
        self.typeRange = typeRange
    }
}

/// `pattern NAME { match ...; within ...; skip ...; partition by ...; suppress ...; emit ...; on timeout emit ... }`
public struct PatternDecl: Sendable, Hashable {
    /// The pattern's name.
    public var name: Identifier
    /// The steps of `match`, in order.
    public var steps: [Step]
    /// The `match` keyword, for diagnostics about the sequence as a whole.
    public var matchRange: SourceRange?
    /// Whole-pattern window: first event to last, exclusive.
    public var within: Located<Int64>?
    /// The after-match skip strategy; `nil` means the default, skip past last.
    public var skip: SkipClause?
    /// Key override: which field of each stream correlates events.
    public var partition: PartitionClause?
    /// Output for complete matches.
    public var emit: EmitClause?
    /// Output for partial matches that time out.
    public var timeoutEmit: EmitClause?
    /// At most one alert per key (or value of an expression) in a span of event time.
    public var suppress: SuppressClause?
    /// The whole declaration.
    public var range: SourceRange

    /// Creates a pattern declaration.
    public init(
        name: Identifier, steps: [Step], matchRange: SourceRange?, within: Located<Int64>?, skip: SkipClause?,
        partition: PartitionClause?, emit: EmitClause?, timeoutEmit: EmitClause?, suppress: SuppressClause? = nil,
        range: SourceRange
    ) {
        self.suppress = suppress
        self.name = name
        self.steps = steps
        self.matchRange = matchRange
        self.within = within
        self.skip = skip
        self.partition = partition
        self.emit = emit
        self.timeoutEmit = timeoutEmit
        self.range = range
    }
}

/// `suppress DURATION [by EXPR]`: after an alert whose last event has time T, matches of the same key (and value
/// of EXPR) whose last event is before T + DURATION are counted, not emitted.
public struct SuppressClause: Sendable, Hashable {
    /// How long after an alert's last event later matches are suppressed, in milliseconds.
    public var duration: Located<Int64>
    /// What suppression is per, beside the key; nil: the key alone.
    public var by: Expr?
    /// The clause.
    public var range: SourceRange

    /// Creates a suppress clause.
    public init(duration: Located<Int64>, by: Expr?, range: SourceRange) {
        self.duration = duration
        self.by = by
        self.range = range
    }
}

/// How a step relates to the event before it (Flink's consuming strategies).
public enum Contiguity: String, Sendable, Hashable {
    /// `->`: skip till next match (followedBy).
    case relaxed
    /// `,`: the key's very next event (next).
    case strict
    /// `->>`: skip till any match (followedByAny).
    case any
}

/// One element of `match`: `[not] binding: stream [quantifier] [modifiers] [where C] [until C] [within D]`.
public struct Step: Sendable, Hashable {
    /// Contiguity with the previous step; `nil` for the first step.
    public var contiguity: Located<Contiguity>?
    /// The `not` of a negation step, if any.
    public var not: SourceRange?
    /// The name the matched event is bound to.
    public var binding: Identifier
    /// The stream the event comes from.
    public var stream: Identifier
    /// `+ * ? {n} {n,} {n,m}`.
    public var quantifier: Quantifier?
    /// `greedy`, `consecutive`, `any`, `optional` after the quantifier.
    public var modifiers: [Located<QuantifierModifier>]
    /// The step's condition.
    public var condition: Expr?
    /// The stop condition of a looping step.
    public var until: Expr?
    /// Per-step window: from the previous step's event to this one (Flink's WithinType.PREVIOUS_AND_CURRENT).
    public var within: Located<Int64>?
    /// Whether the step was written in parentheses (so a trailing `within` belongs to the step).
    public var parenthesized: Bool
    /// The whole step.
    public var range: SourceRange

    /// Creates a step.
    public init(
        contiguity: Located<Contiguity>?, not: SourceRange?, binding: Identifier, stream: Identifier,
        quantifier: Quantifier?, modifiers: [Located<QuantifierModifier>], condition: Expr?, until: Expr?,
        within: Located<Int64>?, parenthesized: Bool, range: SourceRange
    ) {
        self.contiguity = contiguity
        self.not = not
        self.binding = binding
        self.stream = stream
        self.quantifier = quantifier
        self.modifiers = modifiers
        self.condition = condition
        self.until = until
        self.within = within
        self.parenthesized = parenthesized
        self.range = range
    }

    /// Whether this is a `not` step.
    public var isNegated: Bool { not != nil }

    /// Whether the step may bind no event: `?`, `*`, `{0,m}`, or a quantifier with `optional`.
    public var isOptional: Bool { quantifier?.min == 0 || modifiers.contains { $0.value == .optional } }
}

/// How many events a step takes.
public struct Quantifier: Sendable, Hashable {
    /// At least this many.
    public var min: Int
    /// At most this many; `nil` for no upper bound.
    public var max: Int?
    /// The quantifier as written.
    public var range: SourceRange

    /// Creates a quantifier.
    public init(min: Int, max: Int?, range: SourceRange) {
        self.min = min
        self.max = max
        self.range = range
    }

    /// The canonical spelling: `+`, `*`, `?`, `{3}`, `{3,}`, `{2,5}`.
    public var spelling: String {
        switch (min, max) {
        case (1, nil): return "+"
        case (0, nil): return "*"
        case (0, 1): return "?"
        case (let n, nil): return "{\(n),}"
        case (let n, let m?) where n == m: return "{\(n)}"
        case (let n, let m?): return "{\(n),\(m)}"
        }
    }
}

/// Modifiers of a quantified step.
public enum QuantifierModifier: String, Sendable, Hashable {
    /// Take as many events as possible before moving on (Flink's greedy()).
    case greedy
    /// The repeated events must be consecutive events of the key (Flink's consecutive()).
    case consecutive
    /// Any combination of qualifying events, not only the next ones (Flink's allowCombinations()).
    case any
    /// The whole repetition may be absent: `{2,4} optional` is no event or two to four (Flink's
    /// `times(2, 4).optional()`); `*` is `+ optional` and `{0,m}` is `{1,m} optional`.
    case optional
}

/// `skip none | skip to next | skip past last | skip to first NAME | skip to last NAME`.
public struct SkipClause: Sendable, Hashable {
    /// The strategies (Flink's AfterMatchSkipStrategy).
    public enum Kind: Sendable, Hashable {
        case none
        case toNext
        case pastLast
        case toFirst(Identifier)
        case toLast(Identifier)
    }

    /// Which strategy.
    public var kind: Kind
    /// The clause.
    public var range: SourceRange

    /// Creates a skip clause.
    public init(kind: Kind, range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}

/// `partition by PATH` (every stream) or `partition by { stream: PATH, ... }`.
public struct PartitionClause: Sendable, Hashable {
    /// What the clause names.
    public enum Kind: Sendable, Hashable {
        case allStreams(FieldPath)
        case perStream([PartitionEntry])
    }

    /// What is partitioned by what.
    public var kind: Kind
    /// The clause.
    public var range: SourceRange

    /// Creates a partition clause.
    public init(kind: Kind, range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}

/// `stream: path` inside `partition by { ... }`.
public struct PartitionEntry: Sendable, Hashable {
    /// The stream.
    public var stream: Identifier
    /// Its key field.
    public var path: FieldPath

    /// Creates an entry.
    public init(stream: Identifier, path: FieldPath) {
        self.stream = stream
        self.path = path
    }
}

/// `emit to "topic" { name: expr, ... }`.
public struct EmitClause: Sendable, Hashable {
    /// The output topic.
    public var topic: Located<String>
    /// The output fields in order.
    public var fields: [EmitField]
    /// `as avro "alert.avsc"`, `as protobuf "alert.desc" message x.Alert`: the alerts' encoding; nil means JSON.
    public var format: FormatDecl?
    /// The clause.
    public var range: SourceRange

    /// Creates an emit clause.
    public init(topic: Located<String>, fields: [EmitField], format: FormatDecl? = nil, range: SourceRange) {
        self.topic = topic
        self.fields = fields
        self.format = format
        self.range = range
    }
}

/// One `name: expr` of an emit clause.
public struct EmitField: Sendable, Hashable {
    /// The output field's name.
    public var name: Identifier
    /// Its value.
    public var value: Expr

    /// Creates an emit field.
    public init(name: Identifier, value: Expr) {
        self.name = name
        self.value = value
    }
}
