import CEPCompiler
import Testing

@testable import CEPRuntime

/// The matcher's shortcut for events of a stream a partial match does not wait for (`CompiledNFA.leavesUnchanged`):
/// it must say "unchanged" where the full step would leave the match as it is whatever its fields — and never where
/// the event could change it (a strict step it breaks, a negation it triggers). That it keeps matches equal is
/// the oracle's and the Flink comparison's job; this pins where it applies.
@Suite struct StreamDispatchTests {
    static let streams = """
        stream logins from "logins" { key user time ts lateness 0s fields { user: string, country: string, ts: time } }
        stream geo from "geo" { key user time ts lateness 0s fields { user: string, country: string, ts: time } }
        stream payments from "payments" { key user time ts lateness 0s fields { user: string, amount: float, ts: time } }
        """

    /// The compiled NFA of the file's one pattern, a function naming its streams' indices, and the states whose TAKE
    /// edges bind `step`.
    static func compile(_ pattern: String, waitingFor step: String) throws -> (
        nfa: CompiledNFA, stream: (String) -> Int, waiting: [Int32]
    ) {
        let automaton = try #require(Compiler.compile(text: streams + "\n" + pattern).automaton)
        let spec = automaton.patterns[0]
        let nfa = CompiledNFA(spec)
        let binding = try #require(spec.bindings.firstIndex { $0.name == step })
        let waiting = (0..<Int32(nfa.states.count)).filter {
            nfa.states[Int($0)].binding == Int32(binding) && Int($0) != nfa.start
        }
        #expect(!waiting.isEmpty, "no state waits for \(step)")
        let names = automaton.streams.map(\.name)
        return (nfa, { name in names.firstIndex(of: name)! }, waiting)
    }

    @Test func aRelaxedStepIgnoresTheStreamsItDoesNotWaitFor() throws {
        let (nfa, stream, waiting) = try Self.compile(
            """
            pattern p { match l: logins -> g: geo where g.country != l.country -> q: payments within 10m
                        emit to "o" { user: l.user } }
            """, waitingFor: "g")
        for state in waiting {
            #expect(nfa.leavesUnchanged(state, stream: stream("payments")))
            #expect(nfa.leavesUnchanged(state, stream: stream("logins")))
            // Its own stream: the condition reads the event and the match, so the step must be run.
            #expect(!nfa.leavesUnchanged(state, stream: stream("geo")))
        }
        // What the matcher tests of the TAKE edge: the predicate alone for a geo event, nothing for the others.
        for state in waiting {
            let info = nfa.states[Int(state)]
            let take = try #require(
                (0..<Int(info.edgeCount)).map { nfa.edges[Int(info.firstEdge) + $0] }.first { $0.action == .take })
            let forGeo = nfa.residual(take.condition, stream: stream("geo"))
            #expect(forGeo >= 0 && nfa.conditions[Int(forGeo)].kind == .predicate)
            #expect(nfa.residual(take.condition, stream: stream("payments")) == CompiledNFA.alwaysFalse)
        }
        // The start state takes logins only.
        #expect(!nfa.leavesUnchanged(Int32(nfa.start), stream: stream("logins")))
        #expect(nfa.leavesUnchanged(Int32(nfa.start), stream: stream("geo")))
    }

    @Test func aStrictStepIsBrokenByAnyOtherStream() throws {
        let (nfa, stream, waiting) = try Self.compile(
            """
            pattern p { match l: logins, g: geo within 10m emit to "o" { user: l.user } }
            """, waitingFor: "g")
        for state in waiting {
            #expect(!nfa.leavesUnchanged(state, stream: stream("payments")))
            #expect(!nfa.leavesUnchanged(state, stream: stream("logins")))
        }
    }

    @Test func aNegationsStreamIsNeverIgnored() throws {
        let (nfa, stream, waiting) = try Self.compile(
            """
            pattern p { match l: logins -> not n: payments -> g: geo within 10m emit to "o" { user: l.user } }
            """, waitingFor: "g")
        for state in waiting {
            #expect(!nfa.leavesUnchanged(state, stream: stream("payments")))
            #expect(nfa.leavesUnchanged(state, stream: stream("logins")))
        }
    }

    /// Which predicates `CompiledNFA.holds` evaluates once per event: those that read no earlier step.
    @Test func onlyConditionsOnTheEventAloneAreSharedAcrossPartialMatches() throws {
        let automaton = try #require(
            Compiler.compile(
                text: Self.streams + """

                    pattern p { match l: logins -> g: geo where g.country != l.country
                                   -> q: payments where q.amount > 1000 and q.user != "x"
                                   -> r: payments where r.amount > q.amount within 10m
                                emit to "o" { user: l.user } }
                    """
            ).automaton)
        let predicates = FlatExpressions(automaton.patterns[0].predicates)
        let readsMatch = automaton.patterns[0].predicates.indices.map { predicates.readsMatch($0) }
        #expect(readsMatch.filter { !$0 }.count == 1 && readsMatch.count == 3, "\(automaton.patterns[0].predicates)")
    }
}
