import CEPSyntax
import Testing

/// Parser tests: one per construct, checking the tree's shape.
@Suite struct ParserTests {
    func parse(_ text: String) -> (FileSyntax, DiagnosticBag) {
        Parser.parse(SourceFile(path: "t.cep", text: text), file: 0)
    }

    func pattern(_ body: String) throws -> PatternDecl {
        let (file, bag) = parse("pattern p {\n\(body)\n}")
        #expect(bag.diagnostics.isEmpty, "\(bag.diagnostics.map(\.message.text))")
        guard case .pattern(let p)? = file.declarations.first else { throw ParseTestError.notAPattern }
        return p
    }

    enum ParseTestError: Error { case notAPattern, notAStream }

    @Test func streamWithAllClauses() throws {
        let (file, bag) = parse(
            """
            stream logins from "events" where type == "login" {
              key device.id
              time ts
              lateness 1h30m
              fields { type: string, device.id: string, score: float?, ts: time }
            }
            """)
        #expect(bag.diagnostics.isEmpty)
        guard case .stream(let s)? = file.declarations.first else { throw ParseTestError.notAStream }
        #expect(s.name.name == "logins")
        #expect(s.topic.value == "events")
        #expect(s.key?.dotted == "device.id")
        #expect(s.time?.dotted == "ts")
        #expect(s.lateness?.value == 5_400_000)
        #expect(s.fields.map(\.path.dotted) == ["type", "device.id", "score", "ts"])
        #expect(s.fields.map(\.isOptional) == [false, false, true, false])
        guard case .binary(.equal, _, _)? = s.filter?.kind else {
            Issue.record("filter is not a comparison")
            return
        }
    }

    @Test func contiguityOperators() throws {
        let p = try pattern("match a: s -> b: s , c: s ->> d: s\nemit to \"o\" { x: 1 }")
        #expect(p.steps.map { $0.contiguity?.value } == [nil, .relaxed, .strict, .any])
    }

    @Test(arguments: [
        ("+", 1, Int?.none), ("*", 0, nil), ("?", 0, 1), ("{3}", 3, 3), ("{3,}", 3, nil), ("{2,5}", 2, 5),
    ])
    func quantifiers(_ spelling: String, _ low: Int, _ high: Int?) throws {
        let p = try pattern("match a: s\(spelling) greedy consecutive -> b: s\nemit to \"o\" { x: 1 }")
        #expect(p.steps[0].quantifier?.min == low)
        #expect(p.steps[0].quantifier?.max == high)
        #expect(p.steps[0].quantifier?.spelling == spelling)
        #expect(p.steps[0].modifiers.map(\.value) == [.greedy, .consecutive])
    }

    @Test func untilAndConditions() throws {
        let p = try pattern("match a: s{2,} where a.x < 2 until a.y == \"stop\" -> b: s\nemit to \"o\" { x: 1 }")
        #expect(p.steps[0].condition != nil)
        #expect(p.steps[0].until != nil)
    }

    @Test func trailingWithinIsThePatternsWindow() throws {
        let p = try pattern("match a: s -> b: s where b.x > 1\n within 10m\nemit to \"o\" { x: 1 }")
        #expect(p.within?.value == 600_000)
        #expect(p.steps[1].within == nil)
    }

    @Test func withinOnAMiddleOrParenthesizedStepBelongsToTheStep() throws {
        let p = try pattern("match a: s -> b: s within 30s -> (c: s within 1m)\nwithin 1h\nemit to \"o\" { x: 1 }")
        #expect(p.steps[1].within?.value == 30_000)
        #expect(p.steps[2].within?.value == 60_000)
        #expect(p.within?.value == 3_600_000)
    }

    @Test func negations() throws {
        let p = try pattern("match a: s -> not b: t , not c: t -> d: s -> not e: t within 15m\nemit to \"o\" { x: 1 }")
        #expect(p.steps.map(\.isNegated) == [false, true, true, false, true])
        #expect(p.within?.value == 900_000)
    }

    @Test(arguments: [
        ("skip none", "none"), ("skip to next", "toNext"), ("skip past last", "pastLast"),
        ("skip to first a", "toFirst"), ("skip to last b", "toLast"),
    ])
    func skipStrategies(_ clause: String, _ kind: String) throws {
        let p = try pattern("match a: s -> b: s\n\(clause)\nemit to \"o\" { x: 1 }")
        let parsed: String
        switch p.skip?.kind {
        case .none?: parsed = "none"
        case .toNext?: parsed = "toNext"
        case .pastLast?: parsed = "pastLast"
        case .toFirst(let n)?: parsed = n.name == "a" ? "toFirst" : "?"
        case .toLast(let n)?: parsed = n.name == "b" ? "toLast" : "?"
        case nil: parsed = "nil"
        }
        #expect(parsed == kind)
    }

    @Test func partitionByBothForms() throws {
        let all = try pattern("match a: s\npartition by card.id\nemit to \"o\" { x: 1 }")
        guard case .allStreams(let path)? = all.partition?.kind else {
            Issue.record("not for all streams")
            return
        }
        #expect(path.dotted == "card.id")
        let per = try pattern("match a: s\npartition by { s: card, t: card_id }\nemit to \"o\" { x: 1 }")
        guard case .perStream(let entries)? = per.partition?.kind else {
            Issue.record("not per stream")
            return
        }
        #expect(entries.map(\.stream.name) == ["s", "t"])
        #expect(entries.map(\.path.dotted) == ["card", "card_id"])
    }

    @Test func emitAndTimeoutEmit() throws {
        let p = try pattern(
            "match a: s\nwithin 1m\nemit to \"alerts\" { x: a.f, n: 2, }\non timeout emit to \"late\" { y: a.g }")
        #expect(p.emit?.topic.value == "alerts")
        #expect(p.emit?.fields.map(\.name.name) == ["x", "n"])
        #expect(p.timeoutEmit?.topic.value == "late")
    }

    @Test func expressionPrecedence() throws {
        let p = try pattern(
            "match a: s where a.x + 2 * 3 > 4 and not a.y in [1, 2] or a.z ?? 1 == 1\nemit to \"o\" { x: 1 }")
        // or( and( >(+(x, *(2,3)), 4), not(in(y,[1,2])) ), ==(??(z,1), 1) )
        guard case .binary(.or, let lhs, let rhs)? = p.steps[0].condition?.kind,
            case .binary(.and, let cmp, let notIn) = lhs.kind,
            case .binary(.greater, let sum, _) = cmp.kind,
            case .binary(.add, _, let product) = sum.kind,
            case .binary(.multiply, _, _) = product.kind,
            case .unary(.not, let inner) = notIn.kind,
            case .inList(_, let list, negated: false) = inner.kind,
            case .binary(.equal, let coalesce, _) = rhs.kind,
            case .binary(.coalesce, _, _) = coalesce.kind
        else {
            Issue.record("unexpected tree: \(String(describing: p.steps[0].condition))")
            return
        }
        #expect(list.count == 2)
    }

    @Test func literalsAndCalls() throws {
        let p = try pattern(
            #"match a: s where distance_km(a.lat, -1.5, 2e3, 10_000) > 250ms and a.s == "q\"\n""#
                + "\nemit to \"o\" { x: 1 }")
        guard case .binary(.and, let left, let right)? = p.steps[0].condition?.kind,
            case .binary(.greater, let call, let duration) = left.kind,
            case .call(let name, let args) = call.kind,
            case .duration(250) = duration.kind,
            case .binary(.equal, _, let string) = right.kind,
            case .string("q\"\n") = string.kind
        else {
            Issue.record("unexpected tree")
            return
        }
        #expect(name.name == "distance_km")
        #expect(args.count == 4)
        if case .float(let f) = args[1].kind { #expect(f == -1.5) } else { Issue.record("-1.5 not folded") }
        if case .float(let f) = args[2].kind { #expect(f == 2000) } else { Issue.record("2e3 not a float") }
        if case .int(let i) = args[3].kind { #expect(i == 10_000) } else { Issue.record("10_000 not an int") }
    }

    @Test func sourceRangesAreExact() throws {
        let text = "pattern p {\n  match l: logins -> g: geo\n  emit to \"o\" { x: 1 }\n}"
        let source = SourceFile(path: "t.cep", text: text)
        let (file, _) = Parser.parse(source, file: 0)
        guard case .pattern(let p)? = file.declarations.first else { throw ParseTestError.notAPattern }
        #expect(source.text(p.steps[1].stream.range) == "geo")
        #expect(source.location(of: p.steps[1].stream.range.start) == SourceLocation(line: 2, column: 25, offset: 36))
        #expect(source.text(p.steps[1].range) == "-> g: geo")
    }

    @Test func recoversAndReportsEveryError() {
        let (_, bag) = parse(
            """
            stream a from "t" { key k  bogus 1  fields { k: string } }
            pattern p { match x: a -> : a  emit to "o" { x: 1 } }
            pattern q { wibble }
            pattern r { match y: a where y.k == = 1 }
            """)
        #expect(bag.diagnostics.count >= 4, "\(bag.diagnostics.map(\.message.text))")
        #expect(Set(bag.diagnostics.map { $0.range.start }).count == bag.diagnostics.count)
    }
}
