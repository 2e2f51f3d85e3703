import CEPCore
public import CEPRuntime

/// Prints a compiled pattern for `cepd explain`: as text for people, or as Graphviz DOT for a picture.
public struct AutomatonRenderer: Sendable {
    /// The automaton whose streams the patterns refer to.
    public let automaton: Automaton

    /// Creates a renderer.
    public init(automaton: Automaton) {
        self.automaton = automaton
    }

    /// States reachable from the start, in breadth-first order (the order a reader follows the pattern).
    private func order(_ pattern: PatternAutomaton) -> [Int] {
        var seen: Set<Int> = [pattern.start]
        var queue = [pattern.start]
        var index = 0
        while index < queue.count {
            for t in pattern.states[queue[index]].transitions where !seen.contains(t.target) {
                seen.insert(t.target)
                queue.append(t.target)
            }
            index += 1
        }
        return queue
    }

    // MARK: - Text

    /// The pattern's summary and its states with their edges.
    public func text(_ pattern: PatternAutomaton) -> String {
        var out = "pattern \(pattern.name)  (\(pattern.location))\n"
        let streams = pattern.keys.map { key -> String in
            let stream = automaton.streams[key.stream]
            let field = stream.fields[key.field]
            return "\(stream.name) from \"\(stream.topic)\" keyed by \(field.dotted): \(field.type.rawValue)"
        }
        out += "  streams:  \(streams.joined(separator: "; "))\n"
        if !pattern.tables.isEmpty {
            let tables = pattern.tables.map { index -> String in
                let table = automaton.streams[index]
                let field = table.fields[table.keyField]
                return "\(table.name) from \"\(table.topic)\" keyed by \(field.dotted): \(field.type.rawValue)"
            }
            // Where the rows come from and as of when: what a user needs to predict a lookup.
            out +=
                "  tables:   \(tables.joined(separator: "; ")) (a condition's lookup as of its step's event, an "
                + "alert's as of the match's last event; every partition of the table in each task)\n"
        }
        let steps = pattern.bindings.map { b in
            (b.kind == .negated ? "not " : "") + "\(b.name): \(automaton.streams[b.stream].name)"
                + (b.kind == .multiple ? " (several events)" : b.kind == .optional ? " (optional)" : "")
        }
        out += "  steps:    \(steps.joined(separator: ", "))\n"
        out +=
            "  within:   "
            + (pattern.window.map { DurationFormat.format(milliseconds: $0) + " (first event to last, exclusive)" }
                ?? "none") + "\n"
        out += "  skip:     \(describe(pattern.skip, pattern))\n"
        out += "  bound:    \(describe(pattern.bound, pattern))\n"
        if let emit = pattern.emit {
            out += "  emit:     to \"\(emit.topic)\" { \(emit.fields.map(\.name).joined(separator: ", ")) }\n"
        }
        if let emit = pattern.timeoutEmit {
            out += "  timeout:  to \"\(emit.topic)\" { \(emit.fields.map(\.name).joined(separator: ", ")) }\n"
        }
        let printer = ConditionPrinter(automaton: automaton, pattern: pattern)
        if let suppress = pattern.suppress {
            // An output expression reads only bindings: any step index serves as its "current" one.
            let by = suppress.by.map { " and " + printer.text($0, step: 0) } ?? ""
            out +=
                "  suppress: \(DurationFormat.format(milliseconds: suppress.duration)) after an alert, per key\(by)"
                + " (by the last event's time)\n"
        }
        out += "  states:\n"
        for index in order(pattern) {
            let state = pattern.states[index]
            var tags: [String] = []
            if index == pattern.start { tags.append("start") }
            if state.kind != .normal { tags.append(state.kind.rawValue) }
            if state.isGreedy { tags.append("greedy") }
            if let window = state.window {
                tags.append("within \(DurationFormat.format(milliseconds: window)) of previous")
            }
            out += "    \(state.name)" + (tags.isEmpty ? "" : "  [\(tags.joined(separator: ", "))]") + "\n"
            for t in state.transitions {
                let action = t.action.rawValue.padding(7)
                let target = pattern.states[t.target].name.padding(10)
                out += "      \(action) -> \(target) when \(printer.text(t.condition))\n"
            }
        }
        return out
    }

    private func describe(_ skip: SkipStrategy, _ pattern: PatternAutomaton) -> String {
        switch skip {
        case .noSkip: return "none (every match is emitted)"
        case .toNext: return "to next"
        case .pastLast: return "past last event (default)"
        case .toFirst(let b): return "to first \(pattern.bindings[b].name)"
        case .toLast(let b): return "to last \(pattern.bindings[b].name)"
        }
    }

    private func describe(_ bound: PartialMatchBound, _ pattern: PatternAutomaton) -> String {
        switch bound {
        case .constant(let n): return "at most \(n) partial match\(n == 1 ? "" : "es") per key"
        case .perWindow(let stream, let window, let per):
            let each = per == 1 ? "1 partial match" : "\(per) partial matches"
            return "at most \(each) per '\(automaton.streams[stream].name)' event of the key in the last "
                + DurationFormat.format(milliseconds: window)
        case .unbounded(let reason): return "unbounded: \(reason)"
        }
    }

    // MARK: - DOT

    /// The patterns as one Graphviz digraph (`dot -Tpng`), one cluster per pattern.
    public func dot(_ patterns: [PatternAutomaton]) -> String {
        var out = "digraph cepd {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        for (number, pattern) in patterns.enumerated() {
            out += cluster(pattern, prefix: "p\(number)_")
        }
        out += "}\n"
        return out
    }

    private func cluster(_ pattern: PatternAutomaton, prefix: String) -> String {
        let printer = ConditionPrinter(automaton: automaton, pattern: pattern)
        var label = "pattern \(pattern.name)"
        if let window = pattern.window { label += " (within \(DurationFormat.format(milliseconds: window)))" }
        if let suppress = pattern.suppress {
            label += ", suppress \(DurationFormat.format(milliseconds: suppress.duration))"
            if let by = suppress.by { label += " by \(printer.text(by, step: 0))" }
        }
        var out = "  subgraph \(quote("cluster_" + pattern.name)) {\n    label=\(quote(label));\n"
        for index in order(pattern) {
            let state = pattern.states[index]
            let shape: String
            switch state.kind {
            case .final: shape = "doublecircle"
            case .stop: shape = "octagon"
            case .pending: shape = "box"
            case .normal: shape = "circle"
            }
            var attributes = "label=\(quote(state.name)), shape=\(shape)"
            if index == pattern.start { attributes += ", style=bold" }
            out += "    \(prefix)s\(index) [\(attributes)];\n"
        }
        for index in order(pattern) {
            for t in pattern.states[index].transitions {
                let style = t.action == .take ? "solid" : t.action == .ignore ? "dashed" : "dotted"
                let text = "\(t.action.rawValue): \(printer.text(t.condition))"
                out += "    \(prefix)s\(index) -> \(prefix)s\(t.target) [label=\(quote(text)), style=\(style)];\n"
            }
        }
        out += "  }\n"
        return out
    }

    private func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"") + "\""
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// Prints conditions and compiled expressions back in `.cep` syntax, with step and field names.
struct ConditionPrinter {
    let automaton: Automaton
    let pattern: PatternAutomaton

    func text(_ condition: Condition) -> String {
        switch condition {
        case .always: return "true"
        case .stream(let s): return "from " + automaton.streams[s].name
        case .predicate(let p): return "(" + text(pattern.predicates[p], step: pattern.predicateSteps[p]) + ")"
        case .not(let inner): return "not (\(text(inner)))"
        case .and(let parts): return parts.map(text).joined(separator: " and ")
        case .or(let parts): return "(" + parts.map(text).joined(separator: " or ") + ")"
        }
    }

    private func field(_ binding: Int, _ field: Int) -> String {
        let b = pattern.bindings[binding]
        return b.name + "." + automaton.streams[b.stream].fields[field].dotted
    }

    /// An expression of step `step`'s condition: its current event is that step's binding.
    func text(_ expr: CompiledExpr, step: Int) -> String {
        switch expr {
        case .literal(let v): return v.description
        case .field(let ref):
            switch ref.source {
            case .current: return field(step, ref.field)
            case .binding(let b): return field(b, ref.field)
            }
        case .aggregate(let a, let b, let f):
            return "\(a.rawValue)(\(f.map { field(b, $0) } ?? pattern.bindings[b].name))"
        case .unary(let op, let e):
            return op == .not ? "not \(text(e, step: step))" : "-\(text(e, step: step))"
        case .binary(let op, let l, let r):
            return "\(operand(l, step, under: op)) \(op.rawValue) \(operand(r, step, under: op))"
        case .inList(let e, let list, let negated):
            let items = list.map { text($0, step: step) }.joined(separator: ", ")
            return "\(text(e, step: step)) \(negated ? "not in" : "in") [\(items)]"
        case .call(let f, let args):
            return "\(f.rawValue)(\(args.map { text($0, step: step) }.joined(separator: ", ")))"
        case .lookup(let table, let key, let field):
            return lookupText(table, key: text(key, step: step), field: field)
        case .row(let site, let field):
            let row = pattern.rowSites[site]
            return lookupText(row.table, key: text(row.key, step: step), field: field)
        }
    }

    private func lookupText(_ table: Int, key: String, field: Int) -> String {
        let spec = automaton.streams[table]
        return "lookup(\(spec.name), \(key)).\(spec.fields[field].dotted)"
    }

    /// An operand of `parent`, in parentheses if it is itself an operation, except within a chain of `and` (or of
    /// `or`), which the parser stores as a balanced tree and reads the same without them.
    private func operand(_ e: CompiledExpr, _ step: Int, under parent: BinaryOp) -> String {
        if case .binary(let op, _, _) = e, !(op == parent && (op == .and || op == .or)) {
            return "(" + text(e, step: step) + ")"
        }
        return text(e, step: step)
    }
}
