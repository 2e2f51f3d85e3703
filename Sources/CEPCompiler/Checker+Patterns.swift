import CEPCore
import CEPRuntime
import CEPSyntax

extension Checker {
    /// Checks every pattern of every file; returns those without errors, ready to lower.
    mutating func checkPatterns(_ files: [FileSyntax]) -> [CheckedPattern] {
        var seen: [String: SourceRange] = [:]
        var checked: [CheckedPattern] = []
        for file in files {
            for case .pattern(let decl) in file.declarations {
                if let first = seen[decl.name.name] {
                    diagnostics.report(
                        .duplicatePattern(decl.name.name), at: decl.name.range,
                        notes: [DiagnosticNote("first declared here", at: first)])
                    continue
                }
                seen[decl.name.name] = decl.name.range
                let errorsBefore = diagnostics.diagnostics.filter { $0.severity == .error }.count
                let pattern = checkPattern(decl)
                let errorsAfter = diagnostics.diagnostics.filter { $0.severity == .error }.count
                if let pattern, errorsAfter == errorsBefore { checked.append(pattern) }
            }
        }
        return checked
    }

    private mutating func checkPattern(_ decl: PatternDecl) -> CheckedPattern? {
        guard let matchRange = decl.matchRange, !decl.steps.isEmpty else {
            // A 'match' whose steps did not parse has its error already.
            if decl.matchRange != nil { return nil }
            diagnostics.report(
                .missingMatch(decl.name.name), at: decl.name.range,
                help: "describe the sequence, e.g. 'match l: logins -> p: payments'")
            return nil
        }
        patternTables = []
        patternRowSites = []
        // Bindings first, so that conditions can say "bound by a later step" rather than "unknown".
        var bindings: [BindingInfo] = []
        for step in decl.steps {
            if let previous = bindings.first(where: { $0.name.name == step.binding.name }) {
                diagnostics.report(
                    .duplicateBinding(step.binding.name), at: step.binding.range,
                    notes: [DiagnosticNote("first used here", at: previous.name.range)])
            }
            var stream = streamByName[step.stream.name]
            if stream == nil {
                diagnostics.report(
                    .unknownStream(step.stream.name), at: step.stream.range,
                    help: Suggestions.help(for: step.stream.name, in: streamByName.keys))
            } else if streams[stream!].decl.isTable {
                diagnostics.report(
                    .tableAsStep(step.stream.name), at: step.stream.range,
                    help: "read a row in a condition, e.g. 'where lookup(\(step.stream.name), x.user).field == ...'")
                stream = nil
            }
            let kind: BindingSpec.Kind
            if step.isNegated {
                kind = .negated
            } else if let q = step.quantifier {
                kind = q.max == 1 ? (step.isOptional ? .optional : .single) : .multiple
            } else {
                kind = .single
            }
            bindings.append(BindingInfo(name: step.binding, stream: stream, kind: kind))
        }

        let keys = checkKeys(decl, bindings)
        var predicates: [CompiledExpr] = []
        var predicateSteps: [Int] = []
        var steps: [CheckedStep] = []
        for (index, step) in decl.steps.enumerated() {
            checkStepShape(step, index: index, of: decl)
            var scope = ExpressionScope(kind: .condition(step: index), bindings: bindings)
            // An optional earlier step may be unbound when this condition runs.
            scope.mayBeUnbound = Set(
                bindings.indices.filter { bindings[$0].kind == .optional || bindings[$0].kind == .multiple })
            var predicate: Int?
            if let condition = step.condition {
                let (compiled, type) = check(condition, in: &scope)
                requireBool(type, clause: "where", at: condition.range)
                predicate = predicates.count
                predicates.append(compiled)
                predicateSteps.append(index)
            }
            var until: Int?
            if let condition = step.until {
                let (compiled, type) = check(condition, in: &scope)
                requireBool(type, clause: "until", at: condition.range)
                until = predicates.count
                predicates.append(compiled)
                predicateSteps.append(index)
            }
            if let within = step.within, within.value <= 0 { diagnostics.report(.invalidWithin(), at: within.range) }
            let modifiers = Set(step.modifiers.map(\.value))
            // `{0,m}` and `*` are Flink's times(1, m).optional() and oneOrMore().optional().
            let minCount = step.quantifier.map { Swift.max($0.min, 1) } ?? 1
            steps.append(
                CheckedStep(
                    name: step.binding.name, binding: index, stream: bindings[index].stream ?? 0,
                    contiguity: step.contiguity?.value ?? .relaxed, isNegated: step.isNegated,
                    hasQuantifier: step.quantifier != nil, minCount: minCount,
                    maxCount: step.quantifier.map(\.max) ?? 1,
                    isOptional: step.isOptional,
                    isTimes: step.quantifier.map { !($0.min == 0 && $0.max == 1) } ?? false,
                    isGreedy: modifiers.contains(.greedy),
                    inner: modifiers.contains(.consecutive) ? .strict : modifiers.contains(.any) ? .any : .relaxed,
                    predicate: predicate, until: until, within: step.within?.value))
        }
        if let within = decl.within, within.value <= 0 { diagnostics.report(.invalidWithin(), at: within.range) }
        if steps.allSatisfy({ $0.isNegated || $0.isOptional }) {
            diagnostics.report(
                .allStepsOptional(decl.name.name), at: matchRange,
                help: "make the first step required ('+' instead of '*') if that is what you mean")
        }
        checkUnboundedState(decl, steps)

        let skip = checkSkip(decl, bindings)
        var emit: OutputSpec?
        var timeoutEmit: OutputSpec?
        if let clause = decl.emit {
            let unbound = Set(bindings.indices.filter { bindings[$0].kind == .optional })
            emit = checkOutput(clause, bindings, mayBeUnbound: unbound)
        }
        if let clause = decl.timeoutEmit {
            // A timed-out partial match has bound only a prefix of its steps: only the first is certain.
            let firstRequired = steps.firstIndex { !$0.isNegated && !$0.isOptional } ?? 0
            let unbound = Set(bindings.indices.filter { $0 != firstRequired })
            timeoutEmit = checkOutput(clause, bindings, mayBeUnbound: unbound)
        }
        if decl.emit == nil && decl.timeoutEmit == nil {
            diagnostics.report(
                .missingEmit(decl.name.name), at: decl.name.range,
                help: "add 'emit to \"alerts\" { ... }'")
        }
        let suppress = decl.suppress.flatMap { checkSuppress($0, of: decl, bindings) }
        if !patternTables.isEmpty && decl.within == nil {
            diagnostics.report(
                .lookupWithoutWithin(decl.name.name), at: decl.name.range,
                help: "add 'within' with the longest time a match may take, e.g. 'within 10m'")
        }
        let specs = bindings.map { BindingSpec(name: $0.name.name, stream: $0.stream ?? 0, kind: $0.kind) }
        var checked = CheckedPattern(
            decl: decl, steps: steps, predicates: predicates, predicateSteps: predicateSteps, bindings: specs,
            keys: keys, window: decl.within?.value,
            skip: skip, emit: emit, timeoutEmit: timeoutEmit, suppress: suppress)
        checked.tables = patternTables.sorted()
        checked.rowSites = patternRowSites
        return checked
    }

    /// `suppress DURATION [by EXPR]`: a positive duration, a pattern window (it bounds how long a suppression is
    /// remembered: see `PatternMatcher.Suppression`), an `emit` to suppress, and an expression over the match.
    private mutating func checkSuppress(_ clause: SuppressClause, of decl: PatternDecl, _ bindings: [BindingInfo])
        -> SuppressSpec?
    {
        if clause.duration.value <= 0 { diagnostics.report(.invalidSuppress(), at: clause.duration.range) }
        if decl.within == nil {
            diagnostics.report(
                .suppressWithoutWithin(decl.name.name), at: clause.range,
                help: "add 'within' with the longest time a match may take, e.g. 'within 10m'")
        }
        if decl.emit == nil {
            diagnostics.report(.suppressWithoutEmit(decl.name.name), at: clause.range)
        }
        var by: CompiledExpr?
        if let expr = clause.by {
            var scope = ExpressionScope(kind: .output, bindings: bindings)
            scope.mayBeUnbound = Set(bindings.indices.filter { bindings[$0].kind == .optional })
            // An unbound step's field is null, and null is one more value to suppress by: no warning.
            by = check(expr, in: &scope).0
        }
        return SuppressSpec(duration: clause.duration.value, by: by)
    }

    /// Modifiers, `until` and negation rules of one step.
    private mutating func checkStepShape(_ step: Step, index: Int, of decl: PatternDecl) {
        let last = index == decl.steps.count - 1
        if step.quantifier == nil {
            for modifier in step.modifiers {
                diagnostics.report(
                    .modifierWithoutQuantifier(modifier.value.rawValue), at: modifier.range,
                    help: "add a quantifier such as '+' or '{3,}' after the stream name")
            }
        }
        let modifiers = step.modifiers.map(\.value)
        if modifiers.contains(.consecutive) && modifiers.contains(.any),
            let range = step.modifiers.last(where: { $0.value == .any || $0.value == .consecutive })?.range
        {
            diagnostics.report(.conflictingModifiers("consecutive", "any"), at: range)
        }
        if let until = step.until, step.quantifier?.max != nil || step.quantifier == nil {
            diagnostics.report(.untilWithoutLoop(step.binding.name), at: until.range)
        }
        if let q = step.quantifier, let optional = step.modifiers.first(where: { $0.value == .optional }), q.min == 0 {
            diagnostics.report(
                .redundantOptional(q.spelling), at: optional.range,
                help: "drop 'optional'")
        }
        checkGreedy(step, index: index, of: decl)
        guard let not = step.not else { return }
        let notRange = not.union(step.binding.range)
        if index == 0 {
            diagnostics.report(
                .invalidNegation("a pattern cannot start with 'not'"), at: notRange,
                help: "start with the event that opens the pattern; absence is measured from it")
        }
        if let q = step.quantifier {
            diagnostics.report(.invalidNegation("a 'not' step cannot have a quantifier"), at: q.range)
        }
        if step.contiguity?.value == .any, let c = step.contiguity {
            diagnostics.report(
                .invalidNegation("'->>' cannot precede 'not'; use '->' (not followed by) or ',' (not next)"),
                at: c.range)
        }
        if index > 0 {
            let previous = decl.steps[index - 1]
            if previous.isOptional {
                // Flink CEP 2.3 refuses it too ("an optional path to NOT condition is not supported yet").
                diagnostics.report(
                    .invalidNegation("a 'not' step cannot follow an optional step ('\(previous.binding.name)')"),
                    at: notRange,
                    help: "write two patterns, one with '\(previous.binding.name)' required and one without it")
            }
        }
        if last && step.contiguity?.value != .strict && decl.within == nil && step.within == nil {
            diagnostics.report(
                .absenceWithoutWithin(step.binding.name), at: notRange,
                help: "add 'within 15m' after the step: the match fires when that much event time passes without it")
        }
    }

    /// A topic name Kafka would refuse is an error here, not at the first produce (where it would stop cepd on
    /// every restart).
    mutating func checkTopic(_ topic: Located<String>) {
        if topic.value.isEmpty {
            diagnostics.report(.emptyTopic(), at: topic.range)
        } else if let problem = TopicName.problem(topic.value) {
            diagnostics.report(.invalidTopic(problem), at: topic.range, help: "e.g. \"fraud-alerts\"")
        }
    }

    /// Where Flink CEP 2.3 refuses `greedy()` (or fails on it at run time), cepd refuses it at check time.
    private mutating func checkGreedy(_ step: Step, index: Int, of decl: PatternDecl) {
        if step.isOptional, index > 0,
            let previous = decl.steps[index - 1].modifiers.first(where: { $0.value == .greedy })
        {
            // Flink: "Optional pattern cannot be preceded by greedy pattern" (the greedy step would need to know
            // where the optional one ends).
            diagnostics.report(
                .invalidGreedy("an optional step cannot follow a greedy step"),
                at: step.quantifier?.range ?? step.binding.range,
                notes: [DiagnosticNote("the greedy step", at: previous.range)],
                help: "drop 'greedy' from the step before, or make '\(step.binding.name)' required")
        }
        guard let greedy = step.modifiers.first(where: { $0.value == .greedy }), let q = step.quantifier else { return }
        if q.max == 1 {
            // Flink: "Option not applicable to singleton quantifier".
            diagnostics.report(
                .invalidGreedy(
                    "'greedy' needs a quantifier that repeats; '\(step.binding.name)' takes at most one event"),
                at: greedy.range, help: "drop 'greedy', or let the step repeat, e.g. '*' or '{0,3}'")
        }
        if let any = step.modifiers.first(where: { $0.value == .any }) {
            // Flink (allowCombinations().greedy()): "Option not applicable to FollowedByAny pattern".
            diagnostics.report(
                .invalidGreedy(
                    "'greedy' and 'any' cannot both apply: 'any' takes every combination, not the most events"),
                at: any.range, help: "drop 'any' or 'greedy'")
        }
        if step.isOptional, step.until != nil, notFollowedByBefore(index, in: decl) {
            // Flink's compiler leaves the PROCEED edge for the `until` event without a target here, and its NFA
            // fails with a NullPointerException when the event comes.
            diagnostics.report(
                .invalidGreedy(
                    "an optional greedy step with 'until' cannot come after a '-> not' step (Flink CEP 2.3 fails on it at run time)"
                ),
                at: greedy.range, help: "drop 'greedy', or make the step required ('+' instead of '*')")
        }
    }

    /// Whether a `-> not` step still applies at step `index`: right before it, or before optional steps before it
    /// (the steps NFABuilder.pendingNegations lowers into STOP edges).
    private func notFollowedByBefore(_ index: Int, in decl: PatternDecl) -> Bool {
        let before = decl.steps[..<index].reversed().drop { $0.isOptional && !$0.isNegated }
        guard let step = before.first else { return false }
        return step.isNegated && step.contiguity?.value != .strict
    }

    /// The key field of every stream the pattern reads, with the types they join on.
    private mutating func checkKeys(_ decl: PatternDecl, _ bindings: [BindingInfo]) -> [PatternKey] {
        var keys: [PatternKey] = []
        var first: (stream: Int, type: FieldType, range: SourceRange)?
        var overrides: [Int: FieldPath] = [:]
        var allStreams: FieldPath?
        if let partition = decl.partition {
            switch partition.kind {
            case .allStreams(let path): allStreams = path
            case .perStream(let entries):
                for entry in entries {
                    guard let stream = streamByName[entry.stream.name] else {
                        diagnostics.report(
                            .unknownStream(entry.stream.name), at: entry.stream.range,
                            help: Suggestions.help(for: entry.stream.name, in: streamByName.keys))
                        continue
                    }
                    overrides[stream] = entry.path
                }
            }
        }
        for (index, binding) in bindings.enumerated() {
            guard let stream = binding.stream, !keys.contains(where: { $0.stream == stream }) else { continue }
            let field: Int?
            let keyRange: SourceRange
            if let path = overrides[stream] ?? allStreams {
                field = resolveDeclaredField(path, stream: stream)
                keyRange = path.range
                if let field {
                    markUsed(stream: stream, field: field)
                    let type = streams[stream].fields[field].type
                    if type != .string && type != .int {
                        diagnostics.report(.invalidKeyType(path.dotted, type.rawValue), at: path.range)
                    }
                }
            } else {
                field = streams[stream].keyField
                keyRange = streams[stream].decl.key?.range ?? streams[stream].decl.name.range
            }
            guard let field else { continue }
            keys.append(PatternKey(stream: stream, field: field))
            let type = streams[stream].fields[field].type
            if let first, first.type != type {
                diagnostics.report(
                    .keyTypeMismatch(
                        streams[stream].decl.name.name, type.rawValue, streams[first.stream].decl.name.name,
                        first.type.rawValue),
                    at: decl.steps[index].stream.range,
                    notes: [
                        DiagnosticNote("'\(streams[stream].decl.name.name)' key declared here", at: keyRange),
                        DiagnosticNote("'\(streams[first.stream].decl.name.name)' key declared here", at: first.range),
                    ],
                    help: "declare both keys with the same type, or choose other keys with 'partition by'")
            } else if first == nil {
                first = (stream, type, keyRange)
            }
        }
        return keys
    }

    private mutating func checkUnboundedState(_ decl: PatternDecl, _ steps: [CheckedStep]) {
        for (index, step) in steps.enumerated() where step.hasQuantifier && step.inner == .any {
            let any = decl.steps[index].modifiers.first { $0.value == .any }
            diagnostics.report(
                .combinations(step.name), at: any?.range ?? decl.steps[index].range,
                help: "40 events of one key make 2^40; cepd caps such a pattern at "
                    + "\(PartialMatchLimits.defaultBranchingPerKey) per key (--max-partial-matches-per-key), dropping the "
                    + "oldest; drop 'any' to take the events in order")
        }
        guard decl.within == nil else { return }
        var warned = false
        for (index, step) in steps.enumerated() where step.isLooping && step.until == nil && step.within == nil {
            diagnostics.report(
                .unboundedQuantifier(step.name), at: decl.steps[index].quantifier?.range ?? decl.steps[index].range,
                help: "add 'within' to the pattern, an upper bound such as '{3,10}', or an 'until' condition")
            warned = true
        }
        let needsWindow = steps.dropFirst().contains { !$0.isNegated && ($0.contiguity != .strict || $0.isLooping) }
        let stepWindows = steps.dropFirst().allSatisfy { $0.within != nil || $0.isNegated }
        if !warned && needsWindow && !stepWindows {
            diagnostics.report(
                .unboundedState(decl.name.name), at: decl.name.range,
                help: "add 'within' with the longest time a match may take, e.g. 'within 10m'")
        }
    }

    private mutating func checkSkip(_ decl: PatternDecl, _ bindings: [BindingInfo]) -> SkipStrategy {
        guard let skip = decl.skip else { return .pastLast }
        switch skip.kind {
        case .none: return .noSkip
        case .toNext: return .toNext
        case .pastLast: return .pastLast
        case .toFirst(let name), .toLast(let name):
            guard let index = bindings.firstIndex(where: { $0.name.name == name.name }) else {
                diagnostics.report(
                    .unknownBinding(name.name), at: name.range,
                    help: Suggestions.help(for: name.name, in: bindings.map(\.name.name)))
                return .pastLast
            }
            if bindings[index].kind == .negated {
                diagnostics.report(
                    .invalidSkip("cannot skip to '\(name.name)': a 'not' step binds no event"), at: name.range)
            }
            // `skip to first` the start step is allowed, as in Flink 2.3: it prunes only partial matches that
            // started before the match's first event.
            if case .toFirst = skip.kind { return .toFirst(index) }
            return .toLast(index)
        }
    }

    private mutating func checkOutput(_ clause: EmitClause, _ bindings: [BindingInfo], mayBeUnbound: Set<Int>)
        -> OutputSpec
    {
        checkTopic(clause.topic)
        var names: [String: SourceRange] = [:]
        var fields: [OutputField] = []
        var types: [(name: Identifier, type: ExprType)] = []
        for field in clause.fields {
            if let first = names[field.name.name] {
                diagnostics.report(
                    .duplicateOutputField(field.name.name), at: field.name.range,
                    notes: [DiagnosticNote("first given here", at: first)])
            }
            names[field.name.name] = field.name.range
            if field.name.name.hasPrefix("_") {
                diagnostics.report(.reservedOutputField(field.name.name), at: field.name.range)
            }
            let name = field.name.name
            if name.hasPrefix("@") && AlertRecordPart(outputName: name) == nil {
                diagnostics.report(
                    .unknownEnvelopeField(name), at: field.name.range,
                    help: "an alert's Kafka record takes '@key: value' and '@header.NAME: value'")
            }
            var scope = ExpressionScope(kind: .output, bindings: bindings)
            scope.mayBeUnbound = mayBeUnbound
            let (compiled, type) = check(field.value, in: &scope)
            types.append((field.name, type))
            if let binding = scope.unguardedReads.first {
                diagnostics.report(
                    .possiblyUnbound(field.name.name, bindings[binding].name.name), at: field.value.range,
                    help: "give a default with '??', e.g. '\(field.value.rangeText(sources)) ?? \"none\"'")
            }
            fields.append(OutputField(name: field.name.name, value: compiled))
        }
        let encoding = clause.format.flatMap { checkAlertFormat($0, fields: types, clause: clause.range) }
        var spec = OutputSpec(topic: clause.topic.value, fields: fields, encoding: encoding?.encoding)
        spec.registration = encoding?.registration
        return spec
    }
}
