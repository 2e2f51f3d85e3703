import CEPRuntime
import CEPSyntax

/// A step after checking: everything `NFABuilder` needs, with names resolved to indices.
struct CheckedStep {
    var name: String
    var binding: Int
    var stream: Int
    /// Contiguity with the previous step; the first step is `.relaxed`, like Flink's `begin`.
    var contiguity: Contiguity
    var isNegated: Bool
    var hasQuantifier: Bool
    var minCount: Int
    var maxCount: Int?
    /// `?`, `*`, `{0,m}` or `optional`: the step may bind no event (Flink's optional()).
    var isOptional: Bool
    /// A quantifier other than `?` (Flink's times or looping quantifiers): its `within` is the window of Flink's
    /// `times(n, m, window)`.
    var isTimes: Bool
    var isGreedy: Bool
    /// Contiguity between the repeated events of a quantified step.
    var inner: Contiguity
    var predicate: Int?
    var until: Int?
    var within: Int64?

    /// `+`, `*` or `{n,}`.
    var isLooping: Bool { hasQuantifier && maxCount == nil }
    /// A `not` step after `->`: Flink's notFollowedBy.
    var isNotFollowedBy: Bool { isNegated && contiguity != .strict }
}

/// A pattern after checking.
struct CheckedPattern {
    var decl: PatternDecl
    var steps: [CheckedStep]
    var predicates: [CompiledExpr]
    var predicateSteps: [Int]
    var bindings: [BindingSpec]
    var keys: [PatternKey]
    var window: Int64?
    var skip: SkipStrategy
    var emit: OutputSpec?
    var timeoutEmit: OutputSpec?
    var suppress: SuppressSpec?
    /// The tables it looks up, ascending, and the rows its alerts read.
    var tables: [Int] = []
    var rowSites: [RowSite] = []
}
