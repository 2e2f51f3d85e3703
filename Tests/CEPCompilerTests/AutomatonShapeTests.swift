import CEPCompiler
import CEPRuntime
import CEPSyntax
import Foundation
import Testing

/// The compiled NFA's shape for each construct, compared with the graph Flink CEP's NFACompiler builds.
@Suite struct AutomatonShapeTests {
    static let streams = """
        stream a from "a" { key k time ts fields { k: string, x: int, ts: time } }
        stream b from "b" { key k time ts fields { k: string, x: int, ts: time } }

        """

    func compile(_ pattern: String) throws -> PatternAutomaton {
        let compilation = Compiler.compile(text: Self.streams + pattern)
        #expect(!compilation.hasErrors, "\(compilation.diagnostics.map(\.message.text))")
        return try #require(compilation.automaton?.patterns.first)
    }

    /// `state name: [action target, ...]` for every state, in index order.
    func shape(_ p: PatternAutomaton) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for state in p.states {
            result[state.name] = state.transitions.map { "\($0.action.rawValue) \(p.states[$0.target].name)" }
        }
        return result
    }

    @Test func relaxedSequence() throws {
        let p = try compile("pattern p { match x: a -> y: b within 1m emit to \"o\" { k: x.k } }")
        #expect(shape(p) == ["$final": [], "y": ["take $final", "ignore y"], "x": ["take y", "ignore x"]])
        #expect(p.states[p.start].name == "x")
        #expect(p.window == 60_000)
        #expect(p.skip == .pastLast)
        if case .perWindow(let stream, 60_000, 1) = p.bound { #expect(stream == 0) } else { Issue.record("\(p.bound)") }
    }

    @Test func strictSequenceHasNoIgnoreEdgesAndAConstantBound() throws {
        let p = try compile("pattern p { match x: a , y: b emit to \"o\" { k: x.k } }")
        #expect(shape(p)["y"] == ["take $final"])
        #expect(p.bound == .constant(2))
    }

    @Test func anyContiguityIgnoresUnconditionally() throws {
        let p = try compile("pattern p { match x: a ->> y: b within 1m emit to \"o\" { k: x.k } }")
        let y = try #require(p.states.first { $0.name == "y" })
        #expect(y.transitions.contains { $0.action == .ignore && $0.condition == .always })
        if case .unbounded = p.bound {} else { Issue.record("->> should be unbounded") }
    }

    @Test func oneOrMoreLoops() throws {
        let p = try compile("pattern p { match xs: a+ -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        // first xs (mandatory), then a loop state with TAKE to itself and PROCEED to y, plus its IGNORE twin.
        let loops = p.states.filter { s in
            s.transitions.contains { $0.action == .take && p.states[$0.target].name == s.name }
        }
        #expect(!loops.isEmpty)
        #expect(
            loops.contains { s in s.transitions.contains { $0.action == .proceed && p.states[$0.target].name == "y" } })
        #expect(p.bindings[0].kind == .multiple)
    }

    @Test func timesExpandsToAChain() throws {
        let p = try compile("pattern p { match xs: a{2,4} -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        let xsStates = p.states.filter { $0.binding == 0 }
        // 1 first + 1 mandatory + 2 optional states (+ IGNORE twins of the optional ones).
        #expect(xsStates.filter { s in s.transitions.contains { $0.action == .proceed } }.count == 2)
        #expect(
            !xsStates.contains { s in
                s.transitions.contains { $0.action == .take && p.states[$0.target].name == s.name }
            })
    }

    @Test func consecutiveDropsInnerIgnoreEdges() throws {
        let p = try compile("pattern p { match xs: a{3} consecutive -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        let inner = p.states.filter { $0.binding == 0 && $0.name != p.states[p.start].name }
        #expect(inner.count == 2)
        #expect(inner.allSatisfy { s in !s.transitions.contains { $0.action == .ignore } })
    }

    /// Flink 2.3's NFACompiler (updateWithGreedyCondition): the loop proceeds unconditionally, and every edge of
    /// the next step's state is guarded with "not the loop's condition"; no IGNORE twin proceeds.
    @Test func greedyGuardsTheNextStepsEdges() throws {
        let p = try compile(
            "pattern p { match xs: a+ greedy where xs.x > 1 -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        let loopTake = try #require(
            p.states.first { $0.binding == 0 }?.transitions.first { $0.action == .take }?.condition)
        let y = try #require(p.states.first { $0.name == "y" })
        #expect(!y.transitions.isEmpty)
        #expect(
            y.transitions.allSatisfy { t in
                if case .and(let parts) = t.condition { return parts.last == .not(loopTake) }
                return false
            })
        let proceeds = p.states.filter { $0.binding == 0 }.flatMap(\.transitions).filter { $0.action == .proceed }
        #expect(proceeds.count == 1)
        #expect(proceeds.allSatisfy { $0.condition == .always })
        #expect(p.states.contains { $0.isGreedy })
    }

    /// With `until`, the event that ends a greedy loop proceeds to an unguarded copy of the next step's state.
    @Test func greedyUntilProceedsToAnUnguardedCopy() throws {
        let p = try compile(
            "pattern p { match xs: a+ greedy until xs.x > 5 -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        let ys = p.states.indices.filter { p.states[$0].name.hasPrefix("y") }
        #expect(ys.count == 2)
        let loop = try #require(
            p.states.first { s in s.binding == 0 && s.transitions.contains { $0.action == .proceed } })
        let targets = loop.transitions.filter { $0.action == .proceed }.map(\.target)
        #expect(Set(targets) == Set(ys))
        let guarded = ys.filter { y in
            p.states[y].transitions.allSatisfy { if case .and = $0.condition { true } else { false } }
        }
        #expect(guarded.count == 1)
    }

    @Test func untilIsFoldedIntoTheLoopsTakeGuard() throws {
        let p = try compile(
            "pattern p { match xs: a+ until xs.x > 5 -> y: b within 1m emit to \"o\" { n: count(xs) } }")
        let takes = p.states.filter { $0.binding == 0 }.flatMap(\.transitions).filter { $0.action == .take }
        #expect(
            takes.allSatisfy { t in
                if case .and(let parts) = t.condition {
                    return parts.contains { if case .not = $0 { true } else { false } }
                }
                return false
            })
    }

    @Test func notFollowedByBetweenStepsAddsStopEdges() throws {
        let p = try compile("pattern p { match x: a -> not n: b -> y: a within 1m emit to \"o\" { k: x.k } }")
        let stop = try #require(p.states.firstIndex { $0.kind == .stop })
        let y = try #require(p.states.first { $0.name == "y" })
        #expect(y.transitions.contains { $0.action == .proceed && $0.target == stop })
        #expect(p.bindings[1].kind == .negated)
    }

    @Test func notNextIsAStateOfItsOwn() throws {
        let p = try compile("pattern p { match x: a , not n: b -> y: a within 1m emit to \"o\" { k: x.k } }")
        let n = try #require(p.states.first { $0.name == "n" })
        #expect(n.transitions.map(\.action) == [.proceed, .proceed])
        #expect(n.transitions.contains { p.states[$0.target].kind == .stop })
    }

    @Test func absenceAtTheEndIsPending() throws {
        let p = try compile("pattern p { match x: a -> not n: b within 15m emit to \"o\" { k: x.k } }")
        let pending = try #require(p.states.first { $0.kind == .pending })
        #expect(pending.transitions.map(\.action) == [.proceed, .ignore])
        #expect(p.window == 900_000)
    }

    @Test func perStepWithinIsOnTheStepsStates() throws {
        let p = try compile("pattern p { match x: a -> y: b within 30s -> z: a within 1m emit to \"o\" { k: x.k } }")
        #expect(p.states.first { $0.name == "y" }?.window == 30_000)
        #expect(p.states.first { $0.name == "z" }?.window == nil)
        #expect(p.window == 60_000)
    }

    @Test(arguments: [
        ("skip none", SkipStrategy.noSkip), ("skip to next", .toNext), ("skip past last", .pastLast),
        ("skip to first y", .toFirst(1)), ("skip to last x", .toLast(0)),
    ])
    func skipStrategies(_ clause: String, _ expected: SkipStrategy) throws {
        let p = try compile("pattern p { match x: a -> y: b within 1m \(clause) emit to \"o\" { k: x.k } }")
        #expect(p.skip == expected)
    }

    @Test func onlyUsedFieldsAreMarkedForDecoding() throws {
        let compilation = Compiler.compile(
            text: Self.streams + "pattern p { match x: a where x.x > 1 emit to \"o\" { k: x.k } }")
        let a = try #require(compilation.automaton?.streams.first)
        #expect(a.fields.map(\.isUsed) == [true, true, true])
        let b = try #require(compilation.automaton?.streams.last)
        #expect(b.fields.map(\.isUsed) == [true, false, true])
    }

    @Test func sharedTopicFilterAndPartitionBy() throws {
        let compilation = Compiler.compile(
            text: """
                stream l from "events" where kind == "login" { key user fields { kind: string, user: string, card: string } }
                stream p from "events" where kind == "pay" { key user fields { kind: string, user: string, card_id: string } }
                pattern q { match a: l -> b: p within 1m partition by { l: card, p: card_id } emit to "o" { c: a.card } }
                """)
        #expect(!compilation.hasErrors, "\(compilation.diagnostics.map(\.message.text))")
        let automaton = try #require(compilation.automaton)
        #expect(automaton.streams.allSatisfy { $0.filter != nil })
        #expect(automaton.patterns[0].keys == [PatternKey(stream: 0, field: 2), PatternKey(stream: 1, field: 2)])
    }

    @Test func shippedPatternsCompileCleanly() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["fraud.cep", "operations.cep"] {
            let text = try String(contentsOf: root.appendingPathComponent("patterns/\(name)"), encoding: .utf8)
            let compilation = Compiler.compile(path: name, text: text)
            #expect(compilation.diagnostics.isEmpty, "\(name): \(compilation.diagnostics.map(\.message.text))")
            #expect((compilation.automaton?.patterns.count ?? 0) >= 3)
        }
    }
}
