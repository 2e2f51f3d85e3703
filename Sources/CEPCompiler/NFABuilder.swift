import CEPRuntime
import CEPSyntax

/// Lowers a checked pattern to an NFA with the same graph as Flink CEP's `NFACompiler` builds for the equivalent
/// `Pattern`, so that the runtime can follow Flink's matching rules edge for edge.
///
/// Like Flink's compiler it walks the steps from the last to the first: the first state created is the final
/// state, and each step's states point at the states of the step after it (the "sink").
/// - Relaxed steps get an IGNORE edge guarded by "not my condition" (skip till next match); `->>` steps an
///   unconditional IGNORE (skip till any match); strict steps none.
/// - Quantifiers expand to a chain of states (`{n,m}`: n mandatory, m-n optional) and, without an upper bound,
///   a looping state with a TAKE edge to itself. `until` is folded into the loop's TAKE and IGNORE guards.
/// - `greedy` (Flink 2.3's rule) guards every edge of the state the loop proceeds to with "not the loop's
///   condition", even when the loop is full: an event the loop could take is never taken or skipped past by the
///   next step. With `until`, an event that ends the loop proceeds to an unguarded copy of that state instead.
/// - `-> not x` between steps becomes PROCEED edges to a STOP state on the following states; `, not x` a state
///   of its own; `-> not x` at the end a PENDING state that completes when the window closes.
struct NFABuilder {
    private let pattern: CheckedPattern
    private var states: [NFAState] = []
    private var stopStates: [Int: Int] = [:]
    private var names: [String: Int] = [:]
    /// For a state a greedy step guarded, the copy taken before the guard (Flink's originalStateMap): where an
    /// event that satisfies the loop's `until` proceeds.
    private var unguarded: [Int: Int] = [:]
    /// The step being lowered: states created now belong to it.
    private var current = 0 {
        didSet { if current != oldValue { takingStatesOfCurrentStep = 0 } }
    }
    /// How many states that take the current step's events exist so far (for where its window goes).
    private var takingStatesOfCurrentStep = 0

    init(_ pattern: CheckedPattern) {
        self.pattern = pattern
    }

    /// Builds the NFA; returns the states and the index of the start state.
    static func build(_ pattern: CheckedPattern) -> (states: [NFAState], start: Int) {
        var builder = NFABuilder(pattern)
        let start = builder.buildAll()
        return (builder.states, start)
    }

    private var steps: [CheckedStep] { pattern.steps }

    private mutating func buildAll() -> Int {
        let final = addState("$final", kind: .final, binding: nil)
        var sink = final
        var index = steps.count - 1
        while index > 0 {
            current = index
            let step = steps[index]
            if step.isNotFollowedBy {
                if states[sink].kind == .final {
                    // Absence at the end: wait in a pending state; the window's end completes the match.
                    let pending = addState(step.name, kind: .pending, binding: nil, takes: true)
                    let notTake = take(index)
                    add(.proceed, from: pending, to: stopState(for: index), when: notTake)
                    add(.ignore, from: pending, to: pending, when: .not(notTake))
                    sink = pending
                }
                // Between steps: lowered into STOP edges of the following states (addStopEdges).
            } else if step.isNegated {
                let notNext = addState(step.name, kind: .normal, binding: nil, takes: true)
                let notTake = take(index)
                // Next to the final state an IGNORE edge, so that the PROCEED into the final state is not fired
                // before the next event has been seen.
                add(states[sink].kind == .final ? .ignore : .proceed, from: notNext, to: sink, when: .not(notTake))
                add(.proceed, from: notNext, to: stopState(for: index), when: notTake)
                sink = notNext
            } else {
                sink = convert(index, sink: sink)
            }
            index -= 1
        }
        current = 0
        return convert(0, sink: sink)
    }

    // MARK: - States and edges

    /// Adds a state. Only a state that takes the step's events (`takes`; Flink's `createState(type, true)`) gets
    /// the step's window, the way Flink records windows by state name: a step without a repeating quantifier
    /// (`within` is Flink's WithinType.PREVIOUS_AND_CURRENT) puts it on each such state; a repeating one (`within`
    /// is the window of Flink's `times(n, m, window)`) on each but the first created, whose name Flink leaves
    /// without the ":" its window lookup needs. IGNORE twins, STOP, final states and copies get none.
    private mutating func addState(_ name: String, kind: NFAState.Kind, binding: Int?, takes: Bool = false) -> Int {
        let count = names[name, default: 0]
        names[name] = count + 1
        let unique = count == 0 ? name : "\(name):\(count)"
        let step = steps.indices.contains(current) ? steps[current] : nil
        var window: Int64?
        if takes, let step, let within = step.within {
            if !step.isTimes || takingStatesOfCurrentStep > 0 { window = within }
            takingStatesOfCurrentStep += 1
        }
        states.append(
            NFAState(
                name: unique, kind: kind, binding: binding, transitions: [], window: window,
                isGreedy: step?.isGreedy ?? false))
        return states.count - 1
    }

    private mutating func add(_ action: Transition.Action, from: Int, to: Int, when condition: Condition) {
        states[from].transitions.append(Transition(action, to: to, when: condition))
    }

    private mutating func stopState(for index: Int) -> Int {
        if let stop = stopStates[index] { return stop }
        let stop = addState("$stop:" + steps[index].name, kind: .stop, binding: nil)
        stopStates[index] = stop
        return stop
    }

    // MARK: - Conditions

    private static func and(_ parts: Condition...) -> Condition {
        let flat = parts.flatMap { part -> [Condition] in
            if case .and(let inner) = part { return inner }
            if case .always = part { return [] }
            return [part]
        }
        return flat.isEmpty ? .always : flat.count == 1 ? flat[0] : .and(flat)
    }

    private static func or(_ a: Condition, _ b: Condition) -> Condition {
        var parts: [Condition] = []
        for part in [a, b] {
            if case .or(let inner) = part { parts += inner } else { parts.append(part) }
        }
        return .or(parts)
    }

    /// The event is from the step's stream and satisfies its `where`.
    private func take(_ index: Int) -> Condition {
        let step = steps[index]
        let stream = Condition.stream(step.stream)
        return step.predicate.map { Self.and(stream, .predicate($0)) } ?? stream
    }

    /// The `until` condition; like a step condition, it applies to events of the step's own stream.
    private func until(_ index: Int) -> Condition? {
        steps[index].until.map { Self.and(.stream(steps[index].stream), .predicate($0)) }
    }

    /// TAKE guard with the `until` condition folded in: a looping step stops taking once `until` holds.
    private func loopTake(_ index: Int) -> Condition {
        until(index).map { Self.and(.not($0), take(index)) } ?? take(index)
    }

    /// The IGNORE guard between this step and the previous one.
    private func ignore(_ index: Int) -> Condition? {
        switch steps[index].contiguity {
        case .strict: return nil
        case .relaxed: return .not(take(index))
        case .any: return .always
        }
    }

    /// The IGNORE guard between the repeated events of a quantified step, with `until` folded in.
    private func innerIgnore(_ index: Int) -> Condition? {
        let base: Condition?
        switch steps[index].inner {
        case .strict: base = nil
        case .relaxed: base = .not(take(index))
        case .any: base = .always
        }
        guard let base else { return nil }
        return until(index).map { Self.and(.not($0), base) } ?? base
    }

    // MARK: - Greedy steps

    /// Flink's updateWithGreedyCondition: every edge out of `state` (the first state after a greedy step) also
    /// needs "not the greedy step's condition", so the step after a greedy one never sees an event it could take.
    private mutating func guardGreedily(_ state: Int, against take: Condition) {
        for edge in states[state].transitions.indices {
            states[state].transitions[edge].condition = Self.and(states[state].transitions[edge].condition, .not(take))
        }
    }

    /// A PROCEED out of a state of a greedy step. With `until`, an event that ends the loop goes to the unguarded
    /// copy of the target (the guard would refuse it there), any other event to the guarded target.
    private mutating func addGreedyProceed(from state: Int, to target: Int, _ index: Int) {
        guard let until = until(index) else {
            add(.proceed, from: state, to: target, when: .always)
            return
        }
        // The checker refuses the one shape where the copy does not exist (see Checker.checkGreedy).
        guard let copy = unguarded[target] else { preconditionFailure("greedy until without an unguarded copy") }
        add(.proceed, from: state, to: copy, when: until)
        add(.proceed, from: state, to: target, when: .not(until))
    }

    /// Flink's `copy`: the same edges (a loop onto itself onto the copy), under a new name (so, as in Flink, without
    /// a step window).
    private mutating func shallowCopy(_ state: Int) -> Int {
        let original = states[state]
        let copy = addState(original.name, kind: original.kind, binding: original.binding)
        states[copy].isGreedy = original.isGreedy
        for edge in original.transitions {
            add(edge.action, from: copy, to: edge.target == state ? copy : edge.target, when: edge.condition)
        }
        return copy
    }

    // MARK: - Negations

    /// The `-> not x` steps that still apply at step `index`: those right before it, or before optional steps
    /// right before it.
    private func pendingNegations(before index: Int) -> [Int] {
        var result: [Int] = []
        var previous = index - 1
        while previous >= 0 && (steps[previous].isOptional || steps[previous].isNotFollowedBy) {
            if steps[previous].isNotFollowedBy { result.append(previous) }
            previous -= 1
        }
        return result
    }

    private mutating func addStopEdges(_ state: Int) {
        for negation in pendingNegations(before: current) {
            add(.proceed, from: state, to: stopState(for: negation), when: take(negation))
        }
    }

    /// A loop state keeps watching for a `-> not x` that follows its step.
    private mutating func addStopEdgeToLoop(_ state: Int) {
        let next = current + 1
        guard next < steps.count, steps[next].isNotFollowedBy else { return }
        add(.proceed, from: state, to: stopState(for: next), when: take(next))
    }

    /// Taking an event in an optional step ends the negations before it: the copy of `sink` it leads to has no
    /// STOP edges for them (Flink's copyWithoutTransitiveNots).
    private mutating func withoutPendingNegations(_ sink: Int) -> Int {
        let negations = pendingNegations(before: current)
        guard !negations.isEmpty, steps[current].isOptional else { return sink }
        let stops = Set(negations.compactMap { stopStates[$0] })
        return copy(sink, dropping: stops)
    }

    private mutating func copy(_ state: Int, dropping stops: Set<Int>) -> Int {
        let original = states[state]
        // Like Flink's copyWithoutTransitiveNots, the copy has a new name and so no step window.
        let copy = addState(original.name, kind: original.kind, binding: original.binding)
        states[copy].isGreedy = original.isGreedy
        for transition in original.transitions {
            if transition.action == .proceed {
                if stops.contains(transition.target) { continue }
                let target =
                    states[transition.target].kind == .stop
                    ? transition.target : self.copy(transition.target, dropping: stops)
                add(.proceed, from: copy, to: target, when: transition.condition)
            } else {
                let target = transition.target == state ? copy : transition.target
                add(transition.action, from: copy, to: target, when: transition.condition)
            }
        }
        return copy
    }

    // MARK: - Steps

    private mutating func convert(_ index: Int, sink: Int) -> Int {
        current = index
        let step = steps[index]
        let first: Int
        if step.isLooping {
            let loopSink = withoutPendingNegations(sink)
            let loop = createLoop(index, sink: loopSink)
            first = createTimes(
                index, sink: loop, proceedTo: sink, from: max(step.minCount, 1), to: max(step.minCount, 1))
        } else if step.hasQuantifier {
            first = createTimes(
                index, sink: sink, proceedTo: sink, from: max(step.minCount, 1), to: step.maxCount ?? step.minCount)
        } else {
            first = createSingle(
                index, sink: sink, proceedTo: sink, take: take(index), ignore: ignore(index),
                optional: step.isOptional)
        }
        addStopEdges(first)
        return first
    }

    /// `{from,to}`: `to - from` optional states, `from - 1` mandatory ones, then the first state.
    private mutating func createTimes(_ index: Int, sink: Int, proceedTo: Int, from: Int, to: Int) -> Int {
        var last = sink
        let take = loopTake(index)
        let inner = innerIgnore(index)
        if steps[index].isGreedy && from != to {
            // (Flink also keeps an unguarded copy here for `until`, which only a loop has; a loop's chain has
            // from == to.)
            guardGreedily(sink, against: take)
        }
        if to > from {
            for _ in from..<to {
                last = createSingle(index, sink: last, proceedTo: proceedTo, take: take, ignore: inner, optional: true)
                addStopEdgeToLoop(last)
            }
        }
        if from > 1 {
            for _ in 0..<(from - 1) {
                last = createSingle(index, sink: last, proceedTo: nil, take: take, ignore: inner, optional: false)
                addStopEdgeToLoop(last)
            }
        }
        return createSingle(
            index, sink: last, proceedTo: proceedTo, take: take, ignore: ignore(index),
            optional: steps[index].isOptional)
    }

    private mutating func createSingle(
        _ index: Int, sink: Int, proceedTo: Int?, take: Condition, ignore: Condition?, optional: Bool
    ) -> Int {
        let step = steps[index]
        let state = addState(step.name, kind: .normal, binding: step.binding, takes: true)
        let target = withoutPendingNegations(sink)
        add(.take, from: state, to: target, when: take)
        if optional, let proceedTo {
            if step.isGreedy {
                addGreedyProceed(from: state, to: proceedTo, index)
            } else {
                add(.proceed, from: state, to: proceedTo, when: .always)
            }
        }
        if let ignore {
            let ignoreState: Int
            if optional {
                // A twin without the PROCEED edge, so that each PROCEED branches only once.
                ignoreState = addState(step.name, kind: .normal, binding: step.binding)
                add(.take, from: ignoreState, to: target, when: take)
                add(.ignore, from: ignoreState, to: ignoreState, when: ignore)
                addStopEdges(ignoreState)
            } else {
                ignoreState = state
            }
            add(.ignore, from: state, to: ignoreState, when: ignore)
        }
        return state
    }

    private mutating func createLoop(_ index: Int, sink: Int) -> Int {
        let step = steps[index]
        let take = loopTake(index)
        let ignore = innerIgnore(index)
        let loop = addState(step.name, kind: .normal, binding: step.binding, takes: true)
        if step.isGreedy {
            if until(index) != nil { unguarded[sink] = shallowCopy(sink) }
            addGreedyProceed(from: loop, to: sink, index)
            // The plain condition, without `until` folded in (as Flink's createLooping).
            guardGreedily(sink, against: self.take(index))
        } else {
            add(.proceed, from: loop, to: sink, when: .always)
        }
        add(.take, from: loop, to: loop, when: take)
        addStopEdgeToLoop(loop)
        if let ignore {
            let ignoreState = addState(step.name, kind: .normal, binding: step.binding)
            add(.take, from: ignoreState, to: loop, when: take)
            add(.ignore, from: ignoreState, to: ignoreState, when: ignore)
            add(.ignore, from: loop, to: ignoreState, when: ignore)
            addStopEdgeToLoop(ignoreState)
        }
        return loop
    }
}
