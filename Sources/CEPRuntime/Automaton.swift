/// The compiled form of a set of `.cep` files: the streams they declare and one NFA per pattern.
///
/// Immutable and `Sendable`: built once, shared by every key's matcher state. Per-key state never lives here
/// (the lesson of Flink's old `NFA`, which kept partial matches inside the automaton).
public struct Automaton: Sendable, Hashable {
    /// All declared streams, in declaration order.
    public var streams: [StreamSpec]
    /// All patterns, in declaration order.
    public var patterns: [PatternAutomaton]

    /// Creates an automaton.
    public init(streams: [StreamSpec], patterns: [PatternAutomaton]) {
        self.streams = streams
        self.patterns = patterns
    }

    /// The tables some pattern looks up (indices into `streams`), ascending.
    public var tables: [Int] { Array(Set(patterns.flatMap(\.tables))).sorted() }
}

/// One pattern's NFA, in the shape of Flink CEP's compiled `State` graph: states with TAKE, IGNORE and PROCEED
/// edges guarded by conditions, plus STOP states for negations and a PENDING state for absence at the end.
public struct PatternAutomaton: Sendable, Hashable {
    /// The pattern's name.
    public var name: String
    /// `file:line` of the declaration.
    public var location: String
    /// The pattern's steps that bind events, in order (negated steps included, marked `.negated`).
    public var bindings: [BindingSpec]
    /// The key field of each stream the pattern reads.
    public var keys: [PatternKey]
    /// The states; `start` is where every partial match begins.
    public var states: [NFAState]
    /// Index of the start state.
    public var start: Int
    /// The step conditions, referenced by `Condition.predicate`.
    public var predicates: [CompiledExpr]
    /// For each predicate, the binding whose step it belongs to: its `.current` fields are that step's event.
    public var predicateSteps: [Int]
    /// Whole-pattern window in milliseconds: a match needs `last.ts - first.ts < window`.
    public var window: Int64?
    /// What happens to overlapping partial matches after a match.
    public var skip: SkipStrategy
    /// Output for complete matches.
    public var emit: OutputSpec?
    /// Output for partial matches that time out.
    public var timeoutEmit: OutputSpec?
    /// How many partial matches one key can hold, as far as the compiler can tell.
    public var bound: PartialMatchBound
    /// At most one alert per key (and value of an expression) in a span of event time (`suppress`).
    public var suppress: SuppressSpec?
    /// The tables its conditions and alerts look up (indices into `Automaton.streams`), ascending: their topics hold
    /// its watermark back like the streams it matches.
    public var tables: [Int] = []
    /// The rows its alerts read (`CompiledExpr.row`), looked up when a match is emitted.
    public var rowSites: [RowSite] = []

    /// Creates a pattern automaton.
    public init(
        name: String, location: String, bindings: [BindingSpec], keys: [PatternKey], states: [NFAState],
        start: Int, predicates: [CompiledExpr], predicateSteps: [Int], window: Int64?, skip: SkipStrategy,
        emit: OutputSpec?,
        timeoutEmit: OutputSpec?, bound: PartialMatchBound, suppress: SuppressSpec? = nil
    ) {
        self.suppress = suppress
        self.name = name
        self.location = location
        self.bindings = bindings
        self.keys = keys
        self.states = states
        self.start = start
        self.predicates = predicates
        self.predicateSteps = predicateSteps
        self.window = window
        self.skip = skip
        self.emit = emit
        self.timeoutEmit = timeoutEmit
        self.bound = bound
    }
}

/// A step's binding: its name, stream and how many events it holds.
public struct BindingSpec: Sendable, Hashable {
    /// How many events a binding holds.
    public enum Kind: String, Sendable, Hashable {
        /// Exactly one event.
        case single
        /// Zero or one event (`?`).
        case optional
        /// A list of events (a quantifier other than `?`).
        case multiple
        /// A negation: never bound in a match.
        case negated
    }

    /// The binding's name.
    public var name: String
    /// Index into `Automaton.streams`.
    public var stream: Int
    /// How many events it holds.
    public var kind: Kind

    /// Creates a binding spec.
    public init(name: String, stream: Int, kind: Kind) {
        self.name = name
        self.stream = stream
        self.kind = kind
    }
}

/// Which field of a stream keys a pattern.
public struct PatternKey: Sendable, Hashable {
    /// Index into `Automaton.streams`.
    public var stream: Int
    /// Index into that stream's fields.
    public var field: Int

    /// Creates a pattern key.
    public init(stream: Int, field: Int) {
        self.stream = stream
        self.field = field
    }
}

/// One NFA state.
public struct NFAState: Sendable, Hashable {
    /// The role of a state.
    public enum Kind: String, Sendable, Hashable {
        /// An ordinary state that waits for events.
        case normal
        /// Reaching it completes a match.
        case final
        /// Reaching it discards the partial match (a negation saw its event).
        case stop
        /// Absence at the end: the partial match completes when its window ends without a stop event.
        case pending
    }

    /// Display name: the step's binding, with a suffix for the extra states a quantifier needs.
    public var name: String
    /// The role.
    public var kind: Kind
    /// The binding that TAKE edges out of this state add the event to.
    public var binding: Int?
    /// The outgoing edges, in evaluation order.
    public var transitions: [Transition]
    /// Per-step window: the partial match times out here when this long has passed since the previous step's
    /// event (Flink's WithinType.PREVIOUS_AND_CURRENT).
    public var window: Int64?
    /// Whether the step is greedy.
    public var isGreedy: Bool

    /// Creates a state.
    public init(
        name: String, kind: Kind, binding: Int?, transitions: [Transition], window: Int64?, isGreedy: Bool
    ) {
        self.name = name
        self.kind = kind
        self.binding = binding
        self.transitions = transitions
        self.window = window
        self.isGreedy = isGreedy
    }
}

/// An edge of the NFA.
public struct Transition: Sendable, Hashable {
    /// What an edge does with the event.
    public enum Action: String, Sendable, Hashable {
        /// Bind the event and move to the target.
        case take
        /// Skip the event and move to the target (often the state itself).
        case ignore
        /// Move to the target without consuming the event, and try the event there.
        case proceed
    }

    /// What the edge does.
    public var action: Action
    /// Index of the target state.
    public var target: Int
    /// When the edge may be taken.
    public var condition: Condition

    /// Creates a transition.
    public init(_ action: Action, to target: Int, when condition: Condition) {
        self.action = action
        self.target = target
        self.condition = condition
    }
}

/// An edge guard: boolean combinations of "the event is from stream S" and step predicates.
public indirect enum Condition: Sendable, Hashable {
    case always
    /// The event belongs to stream `Automaton.streams[i]`.
    case stream(Int)
    /// `PatternAutomaton.predicates[i]` holds for the event.
    case predicate(Int)
    case not(Condition)
    case and([Condition])
    case or([Condition])
}

/// Flink's AfterMatchSkipStrategy.
public enum SkipStrategy: Sendable, Hashable {
    case noSkip
    case toNext
    case pastLast
    /// Skip to the first event bound to the binding with this index.
    case toFirst(Int)
    /// Skip to the last event bound to the binding with this index.
    case toLast(Int)
}

/// `suppress DURATION [by EXPR]`: after an alert whose last event has time T, a match of the same key (and the
/// same value of `by`) whose last event is before T + `duration` is counted, not emitted.
public struct SuppressSpec: Sendable, Hashable {
    /// In milliseconds.
    public var duration: Int64
    /// Evaluated on the completed match; nil: the key alone.
    public var by: CompiledExpr?

    /// Creates a suppression spec.
    public init(duration: Int64, by: CompiledExpr?) {
        self.duration = duration
        self.by = by
    }
}

/// An `emit to` clause.
public struct OutputSpec: Sendable, Hashable {
    /// The topic alerts go to.
    public var topic: String
    /// The fields of the alert, in order.
    public var fields: [OutputField]
    /// How alerts are encoded in Kafka; nil: JSON.
    public var encoding: AlertEncoding?
    /// The Avro schema (its JSON) to register with the schema registry, under the subject `TOPIC-value`: each alert
    /// then carries its id in the registry's wire format (`as avro "alert.avsc" registry`).
    public var registration: String?

    /// Creates an output spec.
    public init(topic: String, fields: [OutputField], encoding: AlertEncoding? = nil) {
        self.topic = topic
        self.fields = fields
        self.encoding = encoding
    }
}

/// One field of an alert.
public struct OutputField: Sendable, Hashable {
    /// The JSON member name.
    public var name: String
    /// Its value; bindings are read from the completed match.
    public var value: CompiledExpr

    /// Creates an output field.
    public init(name: String, value: CompiledExpr) {
        self.name = name
        self.value = value
    }
}

/// What the compiler can promise about the number of partial matches one key holds at once.
public enum PartialMatchBound: Sendable, Hashable {
    /// At most this many, whatever the input (strict contiguity and no loops).
    case constant(Int)
    /// At most `perStartEvent` for each event of the start stream within `window` ms of each other.
    case perWindow(startStream: Int, window: Int64, perStartEvent: Int)
    /// No bound: the reason says why.
    case unbounded(reason: String)
}
