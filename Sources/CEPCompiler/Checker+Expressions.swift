import CEPCore
import CEPRuntime
import CEPSyntax

/// Where an expression appears, which decides what its names mean.
struct ExpressionScope {
    enum Kind {
        /// A stream's `where` filter: bare names are the stream's fields.
        case filter(stream: Int)
        /// The condition (or `until`) of step `step`: earlier steps and the step itself are visible.
        case condition(step: Int)
        /// An `emit` field: every non-negated step is visible.
        case output
    }

    var kind: Kind
    var bindings: [Checker.BindingInfo]
    /// Bindings that may be unbound when the expression is evaluated (optional steps, later steps of a timeout).
    var mayBeUnbound: Set<Int> = []
    /// Inside the left of `??` or the argument of `exists`, an unbound read is handled by the user.
    var guardDepth = 0
    /// Possibly-unbound bindings read outside a guard.
    var unguardedReads: [Int] = []

    func binding(named name: String) -> Int? { bindings.firstIndex { $0.name.name == name } }
}

extension Checker {
    /// Type-checks an expression and lowers it; errors are reported and give the `error` type.
    mutating func check(_ expr: Expr, in scope: inout ExpressionScope) -> (CompiledExpr, ExprType) {
        switch expr.kind {
        case .int(let v): return (.literal(.int(v)), ExprType(.int))
        case .float(let v): return (.literal(.float(v)), ExprType(.float))
        case .string(let v): return (.literal(.string(v)), ExprType(.string))
        case .bool(let v): return (.literal(.bool(v)), ExprType(.bool))
        case .duration(let v): return (.literal(.duration(v)), ExprType(.duration))
        case .error: return (.literal(.null), .error)
        case .name: return checkPath(expr, in: &scope)
        case .member:
            if let (name, arguments, members) = lookupCall(expr) {
                return checkLookup(name, arguments, members, at: expr.range, in: &scope)
            }
            return checkPath(expr, in: &scope)
        case .call(let name, let arguments):
            if name.name == "lookup" { return checkLookup(name, arguments, [], at: expr.range, in: &scope) }
            return checkCall(name, arguments, at: expr.range, in: &scope)
        case .unary(let op, let operand):
            let (inner, type) = check(operand, in: &scope)
            if type.isError { return (.literal(.null), .error) }
            switch op {
            case .not:
                guard type.base == .bool else {
                    diagnostics.report(.invalidOperand("not", "'\(type)'"), at: expr.range)
                    return (.literal(.null), .error)
                }
                return (.unary(.not, inner), type)
            case .negate:
                guard type.isNumeric || type.base == .duration else {
                    diagnostics.report(.invalidOperand("-", "'\(type)'"), at: expr.range)
                    return (.literal(.null), .error)
                }
                return (.unary(.negate, inner), type)
            }
        case .binary(let op, let lhs, let rhs): return checkBinary(op, lhs, rhs, at: expr.range, in: &scope)
        case .inList(let value, let elements, let negated):
            let (inner, type) = check(value, in: &scope)
            var compiled: [CompiledExpr] = []
            for element in elements {
                let (c, t) = check(element, in: &scope)
                compiled.append(c)
                if !type.isError && !t.isError && !comparable(type, t, equality: true) {
                    diagnostics.report(.listTypeMismatch(t.description, type.description), at: element.range)
                }
            }
            return (.inList(inner, compiled, negated: negated), ExprType(.bool, optional: type.isOptional))
        }
    }

    // MARK: - Names and fields

    /// Splits `x.b.c` into its base `x` and the member names after it.
    private func memberChain(_ expr: Expr) -> (base: Expr, members: [Identifier]) {
        var members: [Identifier] = []
        var node = expr
        while case .member(let base, let member) = node.kind {
            members.append(member)
            node = base
        }
        return (node, members.reversed())
    }

    /// Splits `a.b.c` into its root name and member names; nil when the root is not a plain name.
    private func flatten(_ expr: Expr) -> (root: Identifier, members: [Identifier])? {
        let (base, members) = memberChain(expr)
        guard case .name(let root) = base.kind else { return nil }
        return (root, members)
    }

    private mutating func checkPath(_ expr: Expr, in scope: inout ExpressionScope) -> (CompiledExpr, ExprType) {
        guard let (root, members) = flatten(expr) else {
            diagnostics.report(.unexpectedToken(expected: "a field", found: "an expression"), at: expr.range)
            return (.literal(.null), .error)
        }
        if case .filter(let stream) = scope.kind {
            return resolveField(FieldPath([root] + members), stream: stream, source: .current, optional: false)
        }
        guard let binding = resolveBinding(root, in: &scope) else { return (.literal(.null), .error) }
        guard !members.isEmpty else {
            diagnostics.report(
                .bindingNotAValue(root.name), at: expr.range,
                help: "read one of its fields, e.g. '\(root.name).\(firstFieldName(of: scope.bindings[binding]))'")
            return (.literal(.null), .error)
        }
        let info = scope.bindings[binding]
        guard let stream = info.stream else { return (.literal(.null), .error) }
        var source = FieldRef.Source.binding(binding)
        if case .condition(let step) = scope.kind, step == binding { source = .current }
        if info.kind == .multiple && source != .current {
            diagnostics.report(
                .quantifiedBindingNeedsAggregate(root.name), at: expr.range,
                help: "use last(\(expr.rangeText(sources))), first(...), count(\(root.name)), sum(...), avg, min or max"
            )
            return (.literal(.null), .error)
        }
        let unbound = scope.mayBeUnbound.contains(binding) && source != .current
        if unbound && scope.guardDepth == 0 { scope.unguardedReads.append(binding) }
        return resolveField(FieldPath(members), stream: stream, source: source, optional: unbound)
    }

    private func firstFieldName(of binding: BindingInfo) -> String {
        binding.stream.flatMap { streams[$0].fields.first?.path.joined(separator: ".") } ?? "field"
    }

    private mutating func resolveField(_ path: FieldPath, stream: Int, source: FieldRef.Source, optional: Bool)
        -> (CompiledExpr, ExprType)
    {
        let info = streams[stream]
        guard let f = info.fieldIndex[path.dotted] else {
            diagnostics.report(
                .unknownField(path.dotted, info.decl.name.name), at: path.range,
                help: Suggestions.help(for: path.dotted, in: info.fieldIndex.keys)
                    ?? "declare it in the 'fields' block of stream '\(info.decl.name.name)'")
            return (.literal(.null), .error)
        }
        markUsed(stream: stream, field: f)
        let spec = info.fields[f]
        return (
            .field(FieldRef(source: source, field: f)),
            ExprType(field: spec.type, optional: spec.isOptional || optional)
        )
    }

    /// Resolves a step name used in a condition or output, enforcing visibility.
    mutating func resolveBinding(_ name: Identifier, in scope: inout ExpressionScope) -> Int? {
        guard let index = scope.binding(named: name.name) else {
            var help = Suggestions.help(for: name.name, in: scope.bindings.map(\.name.name))
            if help == nil, streamByName[name.name] != nil {
                let example = scope.bindings.first { $0.stream == streamByName[name.name] }?.name.name
                help =
                    "'\(name.name)' is a stream; refer to the step that binds it"
                    + (example.map { ", here '\($0)'" } ?? "")
            }
            diagnostics.report(.unknownBinding(name.name), at: name.range, help: help)
            return nil
        }
        let info = scope.bindings[index]
        if case .condition(let step) = scope.kind {
            if index > step {
                diagnostics.report(
                    .bindingUsedBeforeBound(name.name), at: name.range,
                    notes: [DiagnosticNote("'\(name.name)' is bound by a later step", at: info.name.range)],
                    help: "a condition can read its own event and the events of earlier steps")
                return nil
            }
            if info.kind == .negated && index != step {
                diagnostics.report(
                    .negatedBindingOutOfScope(name.name), at: name.range,
                    notes: [DiagnosticNote("'\(name.name)' declared here", at: info.name.range)])
                return nil
            }
        } else if info.kind == .negated {
            diagnostics.report(
                .negatedBindingOutOfScope(name.name), at: name.range,
                notes: [DiagnosticNote("'\(name.name)' declared here", at: info.name.range)])
            return nil
        }
        return info.stream == nil ? nil : index
    }

    // MARK: - Operators

    /// Whether two types may be compared; ints and floats compare with each other.
    func comparable(_ a: ExprType, _ b: ExprType, equality: Bool) -> Bool {
        if a.isNumeric && b.isNumeric { return true }
        guard a.base == b.base else { return false }
        return equality || a.base != .bool
    }

    private mutating func checkBinary(
        _ op: BinaryOperator, _ lhs: Expr, _ rhs: Expr, at range: SourceRange, in scope: inout ExpressionScope
    ) -> (CompiledExpr, ExprType) {
        if op == .coalesce { scope.guardDepth += 1 }
        let (l, lt) = check(lhs, in: &scope)
        if op == .coalesce { scope.guardDepth -= 1 }
        let (r, rt) = check(rhs, in: &scope)
        guard let runtimeOp = BinaryOp(rawValue: op.rawValue) else { return (.literal(.null), .error) }
        if lt.isError || rt.isError { return (.literal(.null), .error) }
        let optional = lt.isOptional || rt.isOptional
        let compiled = CompiledExpr.binary(runtimeOp, l, r)
        func invalid() -> (CompiledExpr, ExprType) {
            diagnostics.report(
                .invalidOperand(op.rawValue, "'\(lt)' and '\(rt)'"), at: range, help: arithmeticHelp(op, lt, rt))
            return (.literal(.null), .error)
        }
        switch op {
        case .and, .or:
            guard lt.base == .bool, rt.base == .bool else { return invalid() }
            return (compiled, ExprType(.bool, optional: optional))
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            guard comparable(lt, rt, equality: op == .equal || op == .notEqual) else {
                diagnostics.report(
                    .incompatibleComparison(lt.description, op.rawValue, rt.description), at: range,
                    help: comparisonHelp(lt, rt))
                return (.literal(.null), .error)
            }
            return (compiled, ExprType(.bool, optional: optional))
        case .coalesce:
            guard comparable(lt, rt, equality: true) else { return invalid() }
            let base = lt.base == rt.base ? lt.base : .float
            return (compiled, ExprType(base, optional: rt.isOptional))
        case .add, .subtract, .multiply, .divide, .remainder:
            guard let base = arithmeticResult(op, lt.base, rt.base) else { return invalid() }
            return (compiled, ExprType(base, optional: optional))
        }
    }

    private func arithmeticResult(_ op: BinaryOperator, _ a: ExprType.Base, _ b: ExprType.Base) -> ExprType.Base? {
        switch (op, a, b) {
        case (_, .int, .int): return .int
        case (_, .int, .float), (_, .float, .int), (_, .float, .float): return .float
        case (.add, .string, .string): return .string
        case (.add, .time, .duration), (.add, .duration, .time), (.subtract, .time, .duration): return .time
        case (.subtract, .time, .time): return .duration
        case (.add, .duration, .duration), (.subtract, .duration, .duration): return .duration
        case (.multiply, .duration, .int), (.multiply, .int, .duration), (.divide, .duration, .int): return .duration
        case (.divide, .duration, .duration): return .float
        default: return nil
        }
    }

    private func arithmeticHelp(_ op: BinaryOperator, _ a: ExprType, _ b: ExprType) -> String? {
        if a.base == .time && b.base == .time && op == .add { return "subtract two times to get a duration" }
        if (a.base == .time && b.isNumeric) || (a.isNumeric && b.base == .time) {
            return "use a duration literal such as 5m"
        }
        return nil
    }

    private func comparisonHelp(_ a: ExprType, _ b: ExprType) -> String? {
        if (a.base == .time && b.base == .duration) || (a.base == .duration && b.base == .time) {
            return "subtract two times to get a duration, e.g. 'p.ts - l.ts < 2m'"
        }
        if (a.base == .duration && b.isNumeric) || (a.isNumeric && b.base == .duration) {
            return "write the number with a unit, e.g. '30s'"
        }
        if (a.base == .string && b.isNumeric) || (a.isNumeric && b.base == .string) {
            return "a string never equals a number; check the field's declared type"
        }
        return nil
    }

    // MARK: - Tables

    /// `lookup(T, key).a.b` split into the call and its member names; nil for any other expression.
    private func lookupCall(_ expr: Expr) -> (Identifier, [Expr], [Identifier])? {
        let (base, members) = memberChain(expr)
        guard case .call(let name, let arguments) = base.kind, name.name == "lookup" else { return nil }
        return (name, arguments, members)
    }

    /// `lookup(T, key).FIELD`: the field of table T's row for `key` as of the step's event (in a condition) or of
    /// the match's last event (in an alert); null when there is no row. A row itself is not a value.
    private mutating func checkLookup(
        _ name: Identifier, _ arguments: [Expr], _ members: [Identifier], at range: SourceRange,
        in scope: inout ExpressionScope
    ) -> (CompiledExpr, ExprType) {
        let tables = streams.filter(\.decl.isTable).map(\.decl.name.name)
        guard arguments.count == 2 else {
            diagnostics.report(
                .wrongArgumentCount("lookup", "2 arguments (a table and a key)", arguments.count), at: range)
            return (.literal(.null), .error)
        }
        guard case .name(let tableName) = arguments[0].kind, let table = streamByName[tableName.name],
            streams[table].decl.isTable
        else {
            diagnostics.report(
                .lookupNotATable(arguments[0].rangeText(sources)), at: arguments[0].range,
                help: Suggestions.help(for: arguments[0].rangeText(sources), in: tables)
                    ?? (tables.isEmpty
                        ? "declare one: 'table NAME from \"topic\" { key ...; fields { ... } }'"
                        : "the tables are \(tables.map { "'\($0)'" }.joined(separator: ", "))"))
            return (.literal(.null), .error)
        }
        if case .filter = scope.kind {
            diagnostics.report(.lookupInFilter(), at: range)
            return (.literal(.null), .error)
        }
        let info = streams[table]
        let (key, keyType) = check(arguments[1], in: &scope)
        if keyType.isError { return (.literal(.null), .error) }
        if let keyField = info.keyField {
            let expected = ExprType(field: info.fields[keyField].type, optional: false)
            if keyType.base != expected.base {
                diagnostics.report(
                    .lookupKeyType(tableName.name, expected.description, keyType.description),
                    at: arguments[1].range)
                return (.literal(.null), .error)
            }
        }
        guard !members.isEmpty else {
            let example =
                info.fields.indices.first { $0 != info.keyField && !info.fields[$0].path[0].hasPrefix("@") }
                .map { info.fields[$0].dotted } ?? "field"
            diagnostics.report(
                .rowNotAValue(tableName.name), at: range,
                help: "e.g. '\(Expr(.call(name, arguments), range: range).rangeText(sources)).\(example)'")
            return (.literal(.null), .error)
        }
        let path = FieldPath(members)
        guard let field = info.fieldIndex[path.dotted] else {
            diagnostics.report(
                .unknownField(path.dotted, tableName.name, kind: "table"), at: path.range,
                help: Suggestions.help(for: path.dotted, in: info.fieldIndex.keys)
                    ?? "declare it in the 'fields' block of table '\(tableName.name)'")
            return (.literal(.null), .error)
        }
        markUsed(stream: table, field: field)
        patternTables.insert(table)
        // A missing row reads as null, whatever the field's declared type.
        let type = ExprType(field: info.fields[field].type, optional: true)
        if case .output = scope.kind {
            let site = RowSite(table: table, key: key)
            let index = patternRowSites.firstIndex(of: site) ?? patternRowSites.count
            if index == patternRowSites.count { patternRowSites.append(site) }
            return (.row(site: index, field: field), type)
        }
        return (.lookup(table: table, key: key, field: field), type)
    }

    // MARK: - Calls

    private mutating func checkCall(
        _ name: Identifier, _ arguments: [Expr], at range: SourceRange, in scope: inout ExpressionScope
    ) -> (CompiledExpr, ExprType) {
        if let aggregate = Aggregate(rawValue: name.name) {
            return checkAggregate(aggregate, name, arguments, at: range, in: &scope)
        }
        guard let function = Function(rawValue: name.name) else {
            let all = Function.allCases.map(\.rawValue) + Aggregate.allCases.map(\.rawValue)
            diagnostics.report(
                .unknownFunction(name.name), at: name.range, help: Suggestions.help(for: name.name, in: all))
            return (.literal(.null), .error)
        }
        if function == .exists { scope.guardDepth += 1 }
        let checked = arguments.map { check($0, in: &scope) }
        if function == .exists { scope.guardDepth -= 1 }
        let types = checked.map(\.1)
        let compiled = CompiledExpr.call(function, checked.map(\.0))
        if types.contains(where: \.isError) { return (.literal(.null), .error) }
        let optional = types.contains(where: \.isOptional)
        func signature(_ params: [String], _ result: ExprType.Base, _ accepts: (Int, ExprType) -> Bool)
            -> (CompiledExpr, ExprType)
        {
            guard arguments.count == params.count else {
                let expected =
                    params.isEmpty
                    ? "no arguments"
                    : "\(params.count) argument\(params.count == 1 ? "" : "s") (\(params.joined(separator: ", ")))"
                diagnostics.report(.wrongArgumentCount(name.name, expected, arguments.count), at: range)
                return (.literal(.null), .error)
            }
            for (i, type) in types.enumerated() where !accepts(i, type) {
                diagnostics.report(.typeMismatch(params[i], type.description), at: arguments[i].range)
                return (.literal(.null), .error)
            }
            return (compiled, ExprType(result, optional: optional))
        }
        switch function {
        case .lower, .upper: return signature(["string"], .string) { $1.base == .string }
        case .length: return signature(["string"], .int) { $1.base == .string }
        case .contains, .startsWith, .endsWith:
            return signature(["string", "string"], .bool) { $1.base == .string }
        case .substring:
            return signature(["string", "int", "int"], .string) { i, t in i == 0 ? t.base == .string : t.base == .int }
        case .abs:
            let result = types.first?.base == .int ? ExprType.Base.int : .float
            return signature(["number"], result) { $1.isNumeric }
        case .round, .floor, .ceil: return signature(["number"], .int) { $1.isNumeric }
        case .distanceKm:
            return signature(["lat1", "lon1", "lat2", "lon2"], .float) { $1.isNumeric }
        case .exists:
            let (result, _) = signature(["value"], .bool) { _, _ in true }
            return (result, ExprType(.bool))
        }
    }

    private mutating func checkAggregate(
        _ aggregate: Aggregate, _ name: Identifier, _ arguments: [Expr], at range: SourceRange,
        in scope: inout ExpressionScope
    ) -> (CompiledExpr, ExprType) {
        guard case .filter = scope.kind else {
            guard arguments.count == 1 else {
                let what =
                    aggregate == .count ? "1 argument (a quantified step)" : "1 argument (a quantified step's field)"
                diagnostics.report(.wrongArgumentCount(name.name, what, arguments.count), at: range)
                return (.literal(.null), .error)
            }
            guard let (root, members) = flatten(arguments[0]) else {
                diagnostics.report(.typeMismatch("a quantified step", "an expression"), at: arguments[0].range)
                return (.literal(.null), .error)
            }
            guard let binding = resolveBinding(root, in: &scope), let stream = scope.bindings[binding].stream else {
                return (.literal(.null), .error)
            }
            if scope.bindings[binding].kind != .multiple {
                diagnostics.report(
                    .aggregateOnSingleBinding(name.name, root.name), at: arguments[0].range,
                    help:
                        "read the field directly, e.g. '\(root.name).\(members.map(\.name).joined(separator: ".").isEmpty ? "field" : members.map(\.name).joined(separator: "."))'"
                )
                return (.literal(.null), .error)
            }
            if aggregate == .count {
                if !members.isEmpty {
                    diagnostics.report(
                        .typeMismatch("a quantified step", "a field"), at: arguments[0].range,
                        help: "count the step's events: 'count(\(root.name))'")
                    return (.literal(.null), .error)
                }
                return (.aggregate(.count, binding: binding, field: nil), ExprType(.int))
            }
            guard !members.isEmpty else {
                diagnostics.report(
                    .typeMismatch("a field of '\(root.name)'", "the step itself"), at: arguments[0].range,
                    help:
                        "aggregate one of its fields, e.g. '\(name.name)(\(root.name).\(firstFieldName(of: scope.bindings[binding])))'"
                )
                return (.literal(.null), .error)
            }
            let (fieldExpr, fieldType) = resolveField(
                FieldPath(members), stream: stream, source: .binding(binding), optional: false)
            guard case .field(let ref) = fieldExpr, !fieldType.isError else { return (.literal(.null), .error) }
            let result: ExprType
            switch aggregate {
            case .sum:
                guard fieldType.isNumeric || fieldType.base == .duration else {
                    diagnostics.report(.typeMismatch("a number", fieldType.description), at: arguments[0].range)
                    return (.literal(.null), .error)
                }
                result = ExprType(fieldType.base)
            case .avg:
                guard fieldType.isNumeric else {
                    diagnostics.report(.typeMismatch("a number", fieldType.description), at: arguments[0].range)
                    return (.literal(.null), .error)
                }
                result = ExprType(.float)
            case .min, .max:
                guard fieldType.base != .bool else {
                    diagnostics.report(.typeMismatch("an ordered type", "bool"), at: arguments[0].range)
                    return (.literal(.null), .error)
                }
                // Empty when the step has taken nothing yet (in its own condition): null.
                result = ExprType(fieldType.base, optional: true)
            case .first, .last:
                result = ExprType(fieldType.base, optional: true)
            case .count:
                result = ExprType(.int)
            }
            // Aggregates over a step bound 0 times give null (min/max/first/last) or 0 (count/sum).
            return (.aggregate(aggregate, binding: binding, field: ref.field), result)
        }
        diagnostics.report(
            .unknownFunction(name.name), at: name.range,
            help: "aggregates apply to pattern steps, not to stream filters")
        return (.literal(.null), .error)
    }

}

extension Expr {
    /// The expression's source text.
    func rangeText(_ sources: SourceManager) -> String { sources[range.file].text(range) }
}
