import CEPCore
import CEPRuntime
import CEPSyntax

/// Works out how many partial matches one key can hold at once, for `cepd explain` and the checker.
enum BoundAnalysis {
    static func bound(of pattern: CheckedPattern, states: [NFAState], start: Int) -> PartialMatchBound {
        let steps = pattern.steps
        let hasLoop = steps.contains { $0.isLooping }
        if steps.dropFirst().contains(where: { $0.contiguity == .any && !$0.isNegated })
            || steps.contains(where: { $0.hasQuantifier && $0.inner == .any })
        {
            return .unbounded(reason: "'->>' and 'any' branch every partial match on each qualifying event")
        }
        // IGNORE edges out of the start state are never followed (a fresh start state is added for every event,
        // as in Flink), so only the other states decide whether a partial match can wait.
        let ignores = states.indices.contains { index in
            index != start && states[index].transitions.contains { $0.action == .ignore }
        }
        let optionalSteps = steps.filter { $0.isOptional && !$0.isLooping }.count
        let variants = 1 << min(optionalSteps, 20)
        if !hasLoop && !ignores {
            // Strict contiguity: every partial match advances or dies on each event of the key, so only one per
            // start position within the pattern's length survives.
            let length = steps.filter { !$0.isNegated }.reduce(0) { $0 + ($1.maxCount ?? 1) }
            return .constant(max(1, length) * variants)
        }
        guard let window = pattern.window else {
            return .unbounded(reason: "no 'within': partial matches that never complete are kept forever")
        }
        if hasLoop {
            return .unbounded(
                reason: "a quantifier branches on each event it takes; bounded only by the key's events within "
                    + DurationFormat.format(milliseconds: window))
        }
        return .perWindow(startStream: steps[0].stream, window: window, perStartEvent: variants)
    }
}
