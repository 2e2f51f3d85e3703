import CEPCore

/// A recursive-descent parser for `.cep` files that recovers from errors and reports every one it finds.
///
/// Recovery works at two levels: a broken clause skips to the next clause keyword that starts a line (or the
/// block's closing brace), and a broken declaration skips to the next `stream` or `pattern`. Skipping is
/// iterative, and expressions are limited to `maxExpressionDepth` levels, so no input can exhaust the stack.
public struct Parser {
    /// Deepest expression the parser builds; deeper input gets `nesting-too-deep`.
    public static let maxExpressionDepth = 128

    private let tokens: [Token]
    private let file: Int
    private var index = 0
    private var diagnostics: DiagnosticBag

    /// Thrown to unwind to the nearest recovery point; the diagnostic has already been reported.
    private struct Failure: Error {}

    /// An expression with the height of its tree, so that the parser can refuse trees too deep to walk.
    private struct Parsed {
        var expr: Expr
        var height: Int
    }

    private init(tokens: [Token], file: Int, diagnostics: DiagnosticBag) {
        self.tokens = tokens
        self.file = file
        self.diagnostics = diagnostics
    }

    /// Parses one file of a source manager.
    public static func parse(_ source: SourceFile, file: Int) -> (syntax: FileSyntax, diagnostics: DiagnosticBag) {
        let (tokens, lexDiagnostics) = Lexer.tokenize(source, file: file)
        var parser = Parser(tokens: tokens, file: file, diagnostics: lexDiagnostics)
        let declarations = parser.parseFile()
        return (FileSyntax(file: file, declarations: declarations), parser.diagnostics)
    }

    // MARK: - Token access

    private var current: Token { tokens[index] }
    private func peek(_ ahead: Int) -> Token { tokens[min(index + ahead, tokens.count - 1)] }
    private var atEnd: Bool { current.kind == .endOfFile }

    @discardableResult
    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private mutating func accept(_ kind: Token.Kind) -> Token? {
        current.kind == kind ? advance() : nil
    }

    private mutating func acceptWord(_ word: String) -> Token? {
        current.isWord(word) ? advance() : nil
    }

    private func describe(_ token: Token) -> String {
        switch token.kind {
        case .endOfFile: return "end of file"
        case .identifier, .keywordAnd, .keywordOr, .keywordNot, .keywordIn, .keywordTrue, .keywordFalse:
            return "'\(token.text)'"
        case .string: return "string \"\(token.text)\""
        case .int, .float, .duration: return "\(token.kind.spelling) '\(token.text)'"
        case .invalid: return "'\(token.text)'"
        default: return token.kind.spelling
        }
    }

    /// Reports "expected X, found Y" at the current token and unwinds.
    private mutating func fail(expected: String, help: String? = nil) -> Failure {
        // Invalid tokens were already reported by the lexer; don't pile a second error on them.
        if current.kind != .invalid {
            diagnostics.report(
                .unexpectedToken(expected: expected, found: describe(current)), at: current.range, help: help)
        }
        return Failure()
    }

    private mutating func expect(_ kind: Token.Kind, _ what: String? = nil, help: String? = nil) throws(Failure)
        -> Token
    {
        if let token = accept(kind) { return token }
        throw fail(expected: what ?? kind.spelling, help: help)
    }

    private mutating func expectWord(_ word: String, help: String? = nil) throws(Failure) -> Token {
        if let token = acceptWord(word) { return token }
        throw fail(expected: "'\(word)'", help: help)
    }

    /// The name after a '.': an identifier, or after `@header` also a header name in double quotes
    /// (`@header."x-tenant-id"`), since header names are not identifiers.
    private mutating func expectMemberName(after previous: Identifier?) throws(Failure) -> Identifier {
        if previous?.name == "@header", current.kind == .string {
            let token = advance()
            return Identifier(token.text, range: token.range)
        }
        return try expectIdentifier("a field name after '.'")
    }

    private mutating func expectIdentifier(_ what: String, help: String? = nil) throws(Failure) -> Identifier {
        if current.kind == .identifier {
            let token = advance()
            return Identifier(token.text, range: token.range)
        }
        if Token.reservedWords[current.text] != nil && current.kind != .identifier {
            diagnostics.report(
                .unexpectedToken(expected: what, found: describe(current)), at: current.range,
                help: "'\(current.text)' is a reserved word; choose another name")
            throw Failure()
        }
        throw fail(expected: what, help: help)
    }

    private mutating func expectDuration(_ what: String) throws(Failure) -> Located<Int64> {
        guard current.kind == .duration, let ms = DurationFormat.parse(current.text[...]) else {
            let help = current.kind == .int ? "add a unit: '\(current.text)s', '\(current.text)m', ..." : nil
            throw fail(expected: what, help: help)
        }
        let token = advance()
        return Located(ms, range: token.range)
    }

    private mutating func expectString(_ what: String) throws(Failure) -> Located<String> {
        let token = try expect(.string, what)
        return Located(token.text, range: token.range)
    }

    private func range(from start: SourceRange) -> SourceRange {
        let end = index > 0 ? tokens[index - 1].range.end : start.end
        return SourceRange(file: file, start: start.start, end: max(end, start.end))
    }

    // MARK: - Recovery

    /// Skips to the next token that begins a declaration (`stream` or `pattern` at the start of a line).
    private mutating func recoverToDeclaration() {
        var depth = 0
        while !atEnd {
            if depth <= 0, current.startsLine, current.isDeclarationWord { return }
            switch current.kind {
            case .leftBrace: depth += 1
            case .rightBrace: depth -= 1
            default: break
            }
            advance()
        }
    }

    /// Skips to the next clause word in `words` that starts a line, or to the `}` that closes the block.
    private mutating func recoverToClause(_ words: Set<String>) {
        var depth = 0
        while !atEnd {
            if depth == 0 {
                if current.kind == .rightBrace { return }
                if current.startsLine, current.kind == .identifier, words.contains(current.text) { return }
                if current.startsLine, current.isDeclarationWord { return }
            }
            switch current.kind {
            case .leftBrace: depth += 1
            case .rightBrace: depth -= 1
            default: break
            }
            advance()
        }
    }

    // MARK: - Declarations

    private mutating func parseFile() -> [Declaration] {
        var declarations: [Declaration] = []
        while !atEnd {
            do throws(Failure) {
                if current.isWord("stream") || current.isWord("table") {
                    declarations.append(.stream(try parseStream()))
                } else if current.isWord("pattern") {
                    declarations.append(.pattern(try parsePattern()))
                } else {
                    if current.kind != .invalid {
                        diagnostics.report(.unknownDeclaration(describe(current)), at: current.range)
                    }
                    advance()
                    recoverToDeclaration()
                }
            } catch {
                recoverToDeclaration()
            }
        }
        return declarations
    }

    private static let streamClauses: Set<String> = ["key", "time", "lateness", "fields", "format"]

    /// `stream NAME from "topic" [where FILTER] { ... }`, or `table NAME from "topic" { ... }` (the same clauses, no
    /// filter: a table owns its topic).
    private mutating func parseStream() throws(Failure) -> StreamDecl {
        let isTable = current.isWord("table")
        let kind = isTable ? "table" : "stream"
        let start = advance().range
        let name = try expectIdentifier("a \(kind) name")
        _ = try expectWord("from", help: "a \(kind) names its topic: \(kind) \(name.name) from \"topic\" { ... }")
        let topic = try expectString("a topic name in double quotes")
        var filter: Expr?
        if !isTable, acceptWord("where") != nil { filter = try parseExpression() }
        _ = try expect(
            .leftBrace,
            help: isTable && current.isWord("where")
                ? "a table reads every message of its topic: give it a topic of its own" : nil)
        var key: FieldPath?
        var time: FieldPath?
        var lateness: Located<Int64>?
        var fields: [FieldDecl] = []
        var fieldsSeen: SourceRange?
        var format: FormatDecl?
        var keyFormat: FormatDecl?
        while current.kind != .rightBrace && !atEnd {
            let clause = current
            do throws(Failure) {
                if acceptWord("key") != nil {
                    let path = try parseFieldPath("a key field")
                    if key != nil { reportDuplicate(clause, in: "a \(kind)") } else { key = path }
                } else if acceptWord("time") != nil {
                    let path = try parseFieldPath("a time field")
                    if time != nil { reportDuplicate(clause, in: "a \(kind)") } else { time = path }
                } else if acceptWord("lateness") != nil {
                    let value = try expectDuration("a duration such as '5s'")
                    if lateness != nil { reportDuplicate(clause, in: "a \(kind)") } else { lateness = value }
                } else if acceptWord("fields") != nil {
                    let parsed = try parseFieldsBlock()
                    if fieldsSeen != nil { reportDuplicate(clause, in: "a \(kind)") } else { fields = parsed }
                    fieldsSeen = clause.range
                } else if acceptWord("format") != nil {
                    // `format @key ...`: the message key's encoding (for `@key.PATH` fields).
                    let ofKey = acceptWord("@key") != nil
                    let parsed = try parseFormat(clause.range)
                    if ofKey {
                        if keyFormat != nil { reportDuplicate(clause, in: "a \(kind)") } else { keyFormat = parsed }
                    } else if format != nil {
                        reportDuplicate(clause, in: "a \(kind)")
                    } else {
                        format = parsed
                    }
                } else {
                    if current.kind != .invalid {
                        diagnostics.report(
                            .unknownClause(
                                describe(current), in: "a \(kind)",
                                allowed: "'format', 'key', 'time', 'lateness' or 'fields'"),
                            at: current.range)
                    }
                    advance()
                    throw Failure()
                }
            } catch {
                recoverToClause(Self.streamClauses)
                if current.isDeclarationWord { break }
            }
        }
        _ = try expect(.rightBrace, "'}' to close \(kind) '\(name.name)'")
        var decl = StreamDecl(
            name: name, topic: topic, filter: filter, key: key, time: time, lateness: lateness, fields: fields,
            format: format, range: range(from: start))
        decl.keyFormat = keyFormat
        decl.isTable = isTable
        return decl
    }

    /// `format KIND ["schema file" | registry] [message NAME]` (after the word `format`, or `as` in an emit).
    private mutating func parseFormat(_ start: SourceRange) throws(Failure) -> FormatDecl {
        let kind = try expectIdentifier("a format: json, protobuf or avro")
        var schema: Located<String>?
        var registry: SourceRange?
        var message: FieldPath?
        if current.kind == .string {
            schema = try expectString("a schema file in double quotes")
        }
        // `registry` alone: schemas by id from a registry; after a schema file (alerts): register that schema.
        if let word = acceptWord("registry") { registry = word.range }
        if acceptWord("message") != nil {
            message = try parseFieldPath("a message type, e.g. fraud.v1.Login")
        }
        return FormatDecl(kind: kind, schema: schema, registry: registry, message: message, range: range(from: start))
    }

    private mutating func reportDuplicate(_ clause: Token, in block: String) {
        diagnostics.report(.duplicateClause(clause.text, in: block), at: clause.range)
    }

    private mutating func parseFieldPath(_ what: String) throws(Failure) -> FieldPath {
        var components = [try expectIdentifier(what)]
        while current.kind == .dot {
            advance()
            components.append(try expectMemberName(after: components[components.count - 1]))
        }
        return FieldPath(components)
    }

    private mutating func parseFieldsBlock() throws(Failure) -> [FieldDecl] {
        _ = try expect(.leftBrace, "'{' to open the field list")
        var fields: [FieldDecl] = []
        while current.kind != .rightBrace && !atEnd {
            do throws(Failure) {
                let path = try parseFieldPath("a field name")
                _ = try expect(.colon, "':' and a type", help: "fields are written 'name: type', e.g. 'amount: float'")
                let typeName = try expectIdentifier("a type: string, int, float, bool or time")
                var typeRange = typeName.range
                var optional = false
                if let q = accept(.question) {
                    optional = true
                    typeRange = typeRange.union(q.range)
                }
                fields.append(FieldDecl(path: path, typeName: typeName, isOptional: optional, typeRange: typeRange))
                if accept(.comma) == nil && current.kind != .rightBrace {
                    // A missing comma between fields on separate lines is forgiven; on one line it is an error.
                    if !current.startsLine { throw fail(expected: "',' or '}'") }
                }
            } catch {
                // Skip to the next field: past a comma, or to the closing brace.
                while !atEnd && current.kind != .rightBrace && current.kind != .comma {
                    if current.startsLine && current.isDeclarationWord { throw error }
                    advance()
                }
                _ = accept(.comma)
            }
        }
        _ = try expect(.rightBrace, "'}' to close the field list")
        return fields
    }

    private static let patternClauses: Set<String> = ["match", "within", "skip", "partition", "suppress", "emit", "on"]

    private mutating func parsePattern() throws(Failure) -> PatternDecl {
        let start = advance().range
        let name = try expectIdentifier("a pattern name")
        _ = try expect(.leftBrace, "'{' to open pattern '\(name.name)'")
        var steps: [Step] = []
        var matchRange: SourceRange?
        var within: Located<Int64>?
        var skip: SkipClause?
        var partition: PartitionClause?
        var emit: EmitClause?
        var timeoutEmit: EmitClause?
        var suppress: SuppressClause?
        while current.kind != .rightBrace && !atEnd {
            let clause = current
            do throws(Failure) {
                if acceptWord("match") != nil {
                    // Record the clause before parsing it, so that a broken sequence is not also "missing".
                    if matchRange == nil { matchRange = clause.range }
                    let (parsed, trailingWithin) = try parseSequence()
                    if matchRange != clause.range {
                        reportDuplicate(clause, in: "a pattern")
                    } else {
                        steps = parsed
                    }
                    if let trailingWithin {
                        if within != nil {
                            diagnostics.report(.duplicateClause("within", in: "a pattern"), at: trailingWithin.range)
                        } else {
                            within = trailingWithin
                        }
                    }
                } else if acceptWord("within") != nil {
                    let value = try expectDuration("a duration such as '10m'")
                    if within != nil { reportDuplicate(clause, in: "a pattern") } else { within = value }
                } else if current.isWord("skip") {
                    let parsed = try parseSkip()
                    if skip != nil { reportDuplicate(clause, in: "a pattern") } else { skip = parsed }
                } else if current.isWord("partition") {
                    let parsed = try parsePartition()
                    if partition != nil { reportDuplicate(clause, in: "a pattern") } else { partition = parsed }
                } else if let word = acceptWord("suppress") {
                    let duration = try expectDuration("a duration such as '1h'")
                    var by: Expr?
                    if acceptWord("by") != nil {
                        // `suppress 1h by` then the next clause: say what is missing, not what the clause is not.
                        if current.kind == .identifier && Self.patternClauses.contains(current.text) {
                            throw fail(expected: "an expression such as 'p.card'")
                        }
                        by = try parseExpression()
                    }
                    let parsed = SuppressClause(duration: duration, by: by, range: range(from: word.range))
                    if suppress != nil { reportDuplicate(clause, in: "a pattern") } else { suppress = parsed }
                } else if current.isWord("emit") {
                    let parsed = try parseEmit()
                    if emit != nil { reportDuplicate(clause, in: "a pattern") } else { emit = parsed }
                } else if current.isWord("on") {
                    advance()
                    _ = try expectWord("timeout", help: "write 'on timeout emit to \"topic\" { ... }'")
                    guard current.isWord("emit") else { throw fail(expected: "'emit'") }
                    let parsed = try parseEmit()
                    if timeoutEmit != nil {
                        diagnostics.report(.duplicateClause("on timeout", in: "a pattern"), at: clause.range)
                    } else {
                        timeoutEmit = parsed
                    }
                } else {
                    if current.kind != .invalid {
                        diagnostics.report(
                            .unknownClause(
                                describe(current), in: "a pattern",
                                allowed: "'match', 'within', 'skip', 'partition by', 'suppress', 'emit' or 'on timeout'"
                            ),
                            at: current.range)
                    }
                    advance()
                    throw Failure()
                }
            } catch {
                recoverToClause(Self.patternClauses)
                if current.isDeclarationWord { break }
            }
        }
        _ = try expect(.rightBrace, "'}' to close pattern '\(name.name)'")
        return PatternDecl(
            name: name, steps: steps, matchRange: matchRange, within: within, skip: skip, partition: partition,
            emit: emit, timeoutEmit: timeoutEmit, suppress: suppress, range: range(from: start))
    }

    /// Parses the steps of `match`. A `within` after the last step, outside parentheses, is the pattern's window
    /// (so BRIEF's `-> p: payments where ... \n within 10m` reads as intended); it is returned separately.
    private mutating func parseSequence() throws(Failure) -> ([Step], Located<Int64>?) {
        var steps: [Step] = []
        var contiguity: Located<Contiguity>?
        while true {
            steps.append(try parseStep(contiguity))
            let token = current
            switch token.kind {
            case .arrow: contiguity = Located(.relaxed, range: advance().range)
            case .doubleArrow: contiguity = Located(.any, range: advance().range)
            case .comma: contiguity = Located(.strict, range: advance().range)
            default:
                var last = steps.removeLast()
                let trailing = last.parenthesized ? nil : last.within
                if !last.parenthesized { last.within = nil }
                steps.append(last)
                return (steps, trailing)
            }
        }
    }

    private mutating func parseStep(_ contiguity: Located<Contiguity>?) throws(Failure) -> Step {
        let open = accept(.leftParen)
        let start = contiguity?.range ?? open?.range ?? current.range
        let notToken = accept(.keywordNot)
        let stepHelp = "a step is written 'name: stream', e.g. 'l: logins'"
        let binding = try expectIdentifier("a step name", help: stepHelp)
        _ = try expect(.colon, "':' after the step name", help: stepHelp)
        let stream = try expectIdentifier("a stream name")
        let quantifier = try parseQuantifier()
        var modifiers: [Located<QuantifierModifier>] = []
        while current.kind == .identifier, let modifier = QuantifierModifier(rawValue: current.text) {
            modifiers.append(Located(modifier, range: advance().range))
        }
        var condition: Expr?
        var until: Expr?
        var within: Located<Int64>?
        if acceptWord("where") != nil { condition = try parseExpression() }
        if acceptWord("until") != nil { until = try parseExpression() }
        if acceptWord("within") != nil { within = try expectDuration("a duration such as '30s'") }
        if open != nil { _ = try expect(.rightParen, "')' to close the step") }
        return Step(
            contiguity: contiguity, not: notToken?.range, binding: binding, stream: stream, quantifier: quantifier,
            modifiers: modifiers, condition: condition, until: until, within: within, parenthesized: open != nil,
            range: range(from: start))
    }

    private mutating func parseQuantifier() throws(Failure) -> Quantifier? {
        switch current.kind {
        case .plus: return Quantifier(min: 1, max: nil, range: advance().range)
        case .star: return Quantifier(min: 0, max: nil, range: advance().range)
        case .question: return Quantifier(min: 0, max: 1, range: advance().range)
        case .leftBrace: break
        default: return nil
        }
        let open = advance()
        let minToken = try expect(.int, "a count")
        let low = Int(minToken.text.filter { $0 != "_" }) ?? Int.max
        var high: Int? = low
        if accept(.comma) != nil {
            if let maxToken = accept(.int) {
                high = Int(maxToken.text.filter { $0 != "_" }) ?? Int.max
            } else {
                high = nil
            }
        }
        _ = try expect(.rightBrace, "'}' to close the quantifier")
        let quantifier = Quantifier(min: low, max: high, range: range(from: open.range))
        if let high, high < low {
            diagnostics.report(
                .invalidQuantifier("quantifier's upper bound \(high) is below its lower bound \(low)"),
                at: quantifier.range)
        } else if high == 0 {
            diagnostics.report(
                .invalidQuantifier("a quantifier must allow at least one event"), at: quantifier.range,
                help: "to require that no such event occurs, write 'not name: stream'")
        } else if low > 10_000 || (high ?? 0) > 10_000 {
            diagnostics.report(
                .invalidQuantifier("quantifier bounds above 10000 are not supported"), at: quantifier.range)
        }
        return quantifier
    }

    private mutating func parseSkip() throws(Failure) -> SkipClause {
        let start = advance().range
        let help = "use 'skip none', 'skip to next', 'skip past last', 'skip to first NAME' or 'skip to last NAME'"
        if acceptWord("none") != nil { return SkipClause(kind: .none, range: range(from: start)) }
        if acceptWord("past") != nil {
            _ = try expectWord("last", help: help)
            return SkipClause(kind: .pastLast, range: range(from: start))
        }
        _ = try expectWord("to", help: help)
        if acceptWord("next") != nil { return SkipClause(kind: .toNext, range: range(from: start)) }
        if acceptWord("first") != nil {
            let name = try expectIdentifier("a step name")
            return SkipClause(kind: .toFirst(name), range: range(from: start))
        }
        if acceptWord("last") != nil {
            let name = try expectIdentifier("a step name")
            return SkipClause(kind: .toLast(name), range: range(from: start))
        }
        throw fail(expected: "'next', 'first' or 'last'", help: help)
    }

    private mutating func parsePartition() throws(Failure) -> PartitionClause {
        let start = advance().range
        _ = try expectWord("by")
        if accept(.leftBrace) != nil {
            var entries: [PartitionEntry] = []
            while current.kind != .rightBrace {
                let stream = try expectIdentifier("a stream name")
                _ = try expect(.colon)
                entries.append(PartitionEntry(stream: stream, path: try parseFieldPath("a key field")))
                if accept(.comma) == nil { break }
            }
            _ = try expect(.rightBrace, "'}' to close 'partition by'")
            return PartitionClause(kind: .perStream(entries), range: range(from: start))
        }
        let path = try parseFieldPath("a key field")
        return PartitionClause(kind: .allStreams(path), range: range(from: start))
    }

    private mutating func parseEmit() throws(Failure) -> EmitClause {
        let start = advance().range
        _ = try expectWord("to", help: "write 'emit to \"topic\" { name: value, ... }'")
        let topic = try expectString("an output topic in double quotes")
        var format: FormatDecl?
        if let word = acceptWord("as") { format = try parseFormat(word.range) }
        _ = try expect(.leftBrace, "'{' to open the output fields")
        var fields: [EmitField] = []
        while current.kind != .rightBrace && !atEnd {
            var name = try expectIdentifier("an output field name")
            // `@header.NAME: value` sets a header of the alert's Kafka record (`@key: value`, its key).
            if name.name == "@header", current.kind == .dot {
                advance()
                let header = try expectMemberName(after: name)
                name = Identifier("@header." + header.name, range: name.range.union(header.range))
            }
            _ = try expect(.colon, "':' after the output field name")
            fields.append(EmitField(name: name, value: try parseExpression()))
            if accept(.comma) == nil { break }
        }
        _ = try expect(.rightBrace, "',' or '}' after an output field")
        return EmitClause(topic: topic, fields: fields, format: format, range: range(from: start))
    }

    // MARK: - Expressions

    /// Parses an expression; public entry for the whole grammar level.
    private mutating func parseExpression() throws(Failure) -> Expr {
        let expr = try parseOr().expr
        // An invalid token right after an expression (`a.f = "x"`) was reported by the lexer; failing here keeps
        // the half-parsed expression from producing a second, confusing error.
        if current.kind == .invalid { throw Failure() }
        return expr
    }

    private mutating func checkHeight(_ height: Int, at range: SourceRange) throws(Failure) {
        if height > Self.maxExpressionDepth {
            diagnostics.report(.nestingTooDeep(Self.maxExpressionDepth), at: range)
            throw Failure()
        }
    }

    private mutating func binary(_ op: BinaryOperator, _ lhs: Parsed, _ rhs: Parsed) throws(Failure) -> Parsed {
        let range = lhs.expr.range.union(rhs.expr.range)
        let height = max(lhs.height, rhs.height) + 1
        try checkHeight(height, at: range)
        return Parsed(expr: Expr(.binary(op, lhs.expr, rhs.expr), range: range), height: height)
    }

    private mutating func parseOr() throws(Failure) -> Parsed {
        var operands = [try parseAnd()]
        while accept(.keywordOr) != nil { operands.append(try parseAnd()) }
        return try balanced(.or, operands[...])
    }

    private mutating func parseAnd() throws(Failure) -> Parsed {
        var operands = [try parseNot()]
        while accept(.keywordAnd) != nil { operands.append(try parseNot()) }
        return try balanced(.and, operands[...])
    }

    /// A chain of `and` (or of `or`) as a balanced tree: its height grows with the logarithm of its length, so a
    /// generated rule of hundreds of conditions is no deeper than a handful of parentheses. `and` and `or` are
    /// associative (also with null), and the tree keeps the operands' order, so evaluation (left to right,
    /// short-circuit) is that of the chain as written.
    private mutating func balanced(_ op: BinaryOperator, _ operands: ArraySlice<Parsed>) throws(Failure) -> Parsed {
        if operands.count == 1 { return operands[operands.startIndex] }
        let middle = operands.startIndex + operands.count / 2
        return try binary(op, try balanced(op, operands[..<middle]), try balanced(op, operands[middle...]))
    }

    private mutating func parseNot() throws(Failure) -> Parsed {
        // `not` binds looser than comparisons: `not a == b` is `not (a == b)`. Iterative, so `not not ... x`
        // of any length costs no stack.
        var nots: [SourceRange] = []
        while current.kind == .keywordNot && peek(1).kind != .keywordIn { nots.append(advance().range) }
        var operand = try parseComparison()
        for not in nots.reversed() {
            let range = not.union(operand.expr.range)
            try checkHeight(operand.height + 1, at: range)
            operand = Parsed(expr: Expr(.unary(.not, operand.expr), range: range), height: operand.height + 1)
        }
        return operand
    }

    private static let comparisons: [Token.Kind: BinaryOperator] = [
        .equal: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual, .greater: .greater,
        .greaterEqual: .greaterEqual,
    ]

    private mutating func parseComparison() throws(Failure) -> Parsed {
        let lhs = try parseCoalesce()
        if let op = Self.comparisons[current.kind] {
            advance()
            let result = try binary(op, lhs, try parseCoalesce())
            if Self.comparisons[current.kind] != nil {
                throw fail(expected: "'and' or 'or' between comparisons", help: "comparisons do not chain")
            }
            return result
        }
        var negated = false
        if current.kind == .keywordNot && peek(1).kind == .keywordIn {
            advance()
            negated = true
        }
        if accept(.keywordIn) != nil {
            _ = try expect(.leftBracket, "'[' to open the list", help: "write 'x in [\"a\", \"b\"]'")
            var elements: [Expr] = []
            var height = lhs.height
            while current.kind != .rightBracket {
                let element = try parseCoalesce()
                height = max(height, element.height)
                elements.append(element.expr)
                if accept(.comma) == nil { break }
            }
            _ = try expect(.rightBracket, "']' to close the list")
            let range = lhs.expr.range.union(tokens[index - 1].range)
            try checkHeight(height + 1, at: range)
            return Parsed(expr: Expr(.inList(lhs.expr, elements, negated: negated), range: range), height: height + 1)
        }
        return lhs
    }

    private mutating func parseCoalesce() throws(Failure) -> Parsed {
        // Right-associative, as in Swift: a ?? b ?? c is a ?? (b ?? c). Collected in a loop and folded from the
        // right, so a long chain costs no stack.
        var operands = [try parseAdditive()]
        while accept(.coalesce) != nil { operands.append(try parseAdditive()) }
        var result = operands.removeLast()
        while let lhs = operands.popLast() { result = try binary(.coalesce, lhs, result) }
        return result
    }

    private mutating func parseAdditive() throws(Failure) -> Parsed {
        var lhs = try parseMultiplicative()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .plus: op = .add
            case .minus: op = .subtract
            default: return lhs
            }
            advance()
            lhs = try binary(op, lhs, try parseMultiplicative())
        }
    }

    private mutating func parseMultiplicative() throws(Failure) -> Parsed {
        var lhs = try parseUnary()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .star: op = .multiply
            case .slash: op = .divide
            case .percent: op = .remainder
            default: return lhs
            }
            advance()
            lhs = try binary(op, lhs, try parseUnary())
        }
    }

    private mutating func parseUnary() throws(Failure) -> Parsed {
        var minuses: [SourceRange] = []
        while current.kind == .minus { minuses.append(advance().range) }
        var operand = try parsePostfix()
        for minus in minuses.reversed() {
            let range = minus.union(operand.expr.range)
            // Fold a minus into a numeric literal, so that -5 is the literal -5.
            switch operand.expr.kind {
            case .int(let i) where i != Int64.min:
                operand = Parsed(expr: Expr(.int(-i), range: range), height: operand.height)
                continue
            case .float(let d):
                operand = Parsed(expr: Expr(.float(-d), range: range), height: operand.height)
                continue
            default: break
            }
            try checkHeight(operand.height + 1, at: range)
            operand = Parsed(expr: Expr(.unary(.negate, operand.expr), range: range), height: operand.height + 1)
        }
        return operand
    }

    private mutating func parsePostfix() throws(Failure) -> Parsed {
        var base = try parsePrimary()
        while current.kind == .dot {
            advance()
            var previous: Identifier?
            switch base.expr.kind {
            case .member(_, let name), .name(let name): previous = name
            default: break
            }
            let member = try expectMemberName(after: previous)
            let range = base.expr.range.union(member.range)
            try checkHeight(base.height + 1, at: range)
            base = Parsed(expr: Expr(.member(base.expr, member), range: range), height: base.height + 1)
        }
        return base
    }

    private var parenDepth = 0

    private mutating func parsePrimary() throws(Failure) -> Parsed {
        let token = current
        switch token.kind {
        case .int:
            advance()
            return Parsed(expr: Expr(.int(Int64(token.text.filter { $0 != "_" }) ?? 0), range: token.range), height: 1)
        case .float:
            advance()
            return Parsed(
                expr: Expr(.float(Double(token.text.filter { $0 != "_" }) ?? 0), range: token.range), height: 1)
        case .string:
            advance()
            return Parsed(expr: Expr(.string(token.text), range: token.range), height: 1)
        case .duration:
            advance()
            let ms = DurationFormat.parse(token.text[...]) ?? 0
            return Parsed(expr: Expr(.duration(ms), range: token.range), height: 1)
        case .keywordTrue, .keywordFalse:
            advance()
            return Parsed(expr: Expr(.bool(token.kind == .keywordTrue), range: token.range), height: 1)
        case .identifier:
            advance()
            let name = Identifier(token.text, range: token.range)
            guard current.kind == .leftParen else {
                return Parsed(expr: Expr(.name(name), range: token.range), height: 1)
            }
            advance()
            var arguments: [Expr] = []
            var height = 1
            parenDepth += 1
            defer { parenDepth -= 1 }
            try checkHeight(parenDepth, at: token.range)
            while current.kind != .rightParen {
                let argument = try parseOr()
                height = max(height, argument.height + 1)
                arguments.append(argument.expr)
                if accept(.comma) == nil { break }
            }
            _ = try expect(.rightParen, "',' or ')' in the argument list")
            let range = token.range.union(tokens[index - 1].range)
            try checkHeight(height, at: range)
            return Parsed(expr: Expr(.call(name, arguments), range: range), height: height)
        case .leftParen:
            advance()
            parenDepth += 1
            defer { parenDepth -= 1 }
            try checkHeight(parenDepth, at: token.range)
            let inner = try parseOr()
            _ = try expect(.rightParen, "')'")
            return Parsed(
                expr: Expr(inner.expr.kind, range: token.range.union(tokens[index - 1].range)), height: inner.height)
        default:
            throw fail(expected: "an expression")
        }
    }
}
