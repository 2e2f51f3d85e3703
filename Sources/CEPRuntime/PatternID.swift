/// A pattern of the running automaton: its index in `Automaton.patterns` (declaration order). A type of its own
/// where pattern numbers cross module boundaries — outputs, late events, watermarks, fingerprints, alert schemas —
/// so that a task, an input or a count cannot pass for one. (Inside the engine, arrays parallel to the patterns
/// are still walked by plain index.)
public struct PatternID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The index in `Automaton.patterns`.
    public let index: Int

    /// The pattern at `index`.
    public init(_ index: Int) { self.index = index }

    public static func < (a: PatternID, b: PatternID) -> Bool { a.index < b.index }
    public var description: String { String(index) }
}

extension Array where Element == PatternAutomaton {
    /// The pattern `id` names.
    public subscript(_ id: PatternID) -> PatternAutomaton { self[id.index] }
}
