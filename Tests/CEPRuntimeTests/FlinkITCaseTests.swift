import CEPCore
import CEPRuntime
import Testing

/// Flink CEP 2.3's own test methods for quantifier constructs, transcribed: the same events (Flink's
/// `Event(id, name, price)` at the same timestamps, one key), the pattern written in `.cep`, and the matches Flink's
/// developers expect. Flink's NFA tests run without an after-match skip strategy, which is Flink's `noSkip()`:
/// here `skip none`. Each case names its Flink test method. Group patterns are not transcribed (no `.cep` spelling).
@Suite struct FlinkITCaseTests {
    /// One of Flink's test methods: `events` as (label, name, price); `expected` as lists of labels.
    struct Case: CustomTestStringConvertible, Sendable {
        var method: String
        var match: String
        var events: [(label: String, name: String, price: Double)]
        var expected: [[String]]
        var testDescription: String { method }
    }

    static let stream = """
        stream ev from "ev" { key k time ts lateness 0s fields { k: string, name: string, price: float, ts: time } }

        """

    /// Runs a case: event i at timestamp i + 1 (Flink's StreamRecords use 1, 2, 3, ...).
    static func matches(_ c: Case) throws -> [[String]] {
        var harness = try EngineHarness(stream + "pattern p { match \(c.match) skip none emit to \"o\" { k: \"k\" } }\n")
        for (i, event) in c.events.enumerated() {
            harness.send(
                "ev", ["k": .string("k"), "name": .string(event.name), "price": .float(event.price), "ts": .time(Int64(i + 1))])
        }
        // "p: start=ev:0 middle=ev:2 ..." → the labels of the offsets, in the match's order.
        return harness.finish().matches.map { line in
            line.split(separator: " ").dropFirst().map { ref in c.events[Int(ref.split(separator: ":").last!)!].label }
        }
    }

    static func check(_ c: Case) throws {
        let got = try matches(c).map { $0.joined(separator: " ") }.sorted()
        let expected = c.expected.map { $0.joined(separator: " ") }.sorted()
        #expect(got == expected, "\(c.method): \(c.match)")
    }

    // MARK: - GreedyITCase

    static let cDummyD: [(label: String, name: String, price: Double)] = [("c", "c", 1), ("dummy", "dummy", 2), ("d", "d", 3)]
    static let cA3D: [(label: String, name: String, price: Double)] = [
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("d", "d", 3),
    ]
    static let cA3DInBetween: [(label: String, name: String, price: Double)] = [
        ("c", "c", 1), ("dummy", "dummy", 1111), ("a1", "a", 2), ("dummy", "dummy", 1111), ("a2", "a", 2),
        ("dummy", "dummy", 1111), ("a3", "a", 2), ("d", "d", 3),
    ]
    static let cA2DummyD: [(label: String, name: String, price: Double)] = [
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("d", "d", 3),
    ]
    static let untilAfter: [(label: String, name: String, price: Double)] = [
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 3), ("a3", "a", 3), ("a4", "a", 4), ("d", "d", 3),
    ]
    static let untilBefore: [(label: String, name: String, price: Double)] = [
        ("c", "c", 1), ("a0", "a", 4), ("a1", "a", 2), ("a2", "a", 3), ("a3", "a", 3), ("d", "d", 3),
    ]
    static let star = "start: ev where start.name == \"c\" -> middle: ev* greedy where middle.name == \"a\""
    static let plus = "start: ev where start.name == \"c\" -> middle: ev+ greedy where middle.name == \"a\""
    static let thenD = " -> end: ev where end.name == \"d\""
    static let untilPrice = " until middle.price > 3.0"

    static let greedy: [Case] = [
        Case(method: "testGreedyZeroOrMore", match: star + thenD, events: cA3D, expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyZeroOrMoreInBetween", match: star + thenD, events: cA3DInBetween,
            expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyZeroOrMoreWithDummyEventsAfterQuantifier", match: star + thenD, events: cA2DummyD,
            expected: [["c", "a1", "a2", "d"]]),
        Case(
            method: "testGreedyZeroOrMoreWithDummyEventsBeforeQuantifier", match: star + thenD, events: cDummyD,
            expected: [["c", "d"]]),
        Case(
            method: "testGreedyUntilZeroOrMoreWithDummyEventsAfterQuantifier", match: star + untilPrice + thenD,
            events: untilAfter, expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyUntilWithDummyEventsBeforeQuantifier", match: star + untilPrice + thenD,
            events: untilBefore, expected: [["c", "d"]]),
        Case(method: "testGreedyOneOrMore", match: plus + thenD, events: cA3D, expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyOneOrMoreInBetween", match: plus + thenD, events: cA3DInBetween,
            expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyOneOrMoreWithDummyEventsAfterQuantifier", match: plus + thenD, events: cA2DummyD,
            expected: [["c", "a1", "a2", "d"]]),
        Case(
            method: "testGreedyOneOrMoreWithDummyEventsBeforeQuantifier", match: plus + thenD, events: cDummyD,
            expected: []),
        Case(
            method: "testGreedyUntilOneOrMoreWithDummyEventsAfterQuantifier", match: plus + untilPrice + thenD,
            events: untilAfter, expected: [["c", "a1", "a2", "a3", "d"]]),
        Case(
            method: "testGreedyUntilOneOrMoreWithDummyEventsBeforeQuantifier", match: plus + untilPrice + thenD,
            events: untilBefore, expected: []),
        Case(
            method: "testEndWithZeroOrMoreGreedy", match: star,
            events: [("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("a3", "a", 2)],
            expected: [["c"], ["c", "a1"], ["c", "a1", "a2"], ["c", "a1", "a2", "a3"]]),
        Case(
            method: "testEndWithZeroOrMoreConsecutiveGreedy",
            match: "start: ev where start.name == \"c\" -> middle: ev* consecutive greedy where middle.name == \"a\"",
            events: [("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("a3", "a", 2)],
            expected: [["c"], ["c", "a1"], ["c", "a1", "a2"]]),
        Case(
            method: "testEndWithGreedyTimesRange",
            match: "start: ev where start.name == \"c\" -> end: ev{2,5} greedy where end.name == \"a\"",
            events: [("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("a4", "a", 2), ("dummy", "dummy", 2)],
            expected: [["c", "a1", "a2"], ["c", "a1", "a2", "a3"], ["c", "a1", "a2", "a3", "a4"]]),
        Case(
            method: "testGreedyTimesRange",
            match: "start: ev where start.name == \"c\" -> middle: ev{2,5} greedy where middle.name == \"a\"" + thenD,
            events: [("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("a4", "a", 2), ("d", "d", 2)],
            expected: [["c", "a1", "a2", "a3", "a4", "d"]]),
    ]

    @Test(arguments: greedy) func greedyITCase(_ c: Case) throws { try Self.check(c) }

    /// Issue 17's reproductions, with what Flink CEP 2.3 gave for them (`oneOrMore().greedy()` and
    /// `times(2, 4).greedy()`, `noSkip()`): the step after a greedy loop never takes an event the loop could take,
    /// even when the loop is full.
    static let overlapping: [Case] = [
        Case(
            method: "issue 17: next step's event also satisfies the loop",
            match: "a: ev where a.name == \"a\" -> bs: ev+ greedy where bs.name == \"b\" or bs.price >= 7.0"
                + " -> c: ev where c.name == \"c\"",
            events: [("a", "a", 0), ("b", "b", 0), ("c1", "c", 0), ("c2", "c", 0)],
            expected: [["a", "b", "c1"]]),
        Case(
            method: "issue 17: a full greedy {2,4} does not let the next step take a loop event",
            match: "a: ev where a.name == \"a\" -> bs: ev{2,4} greedy where bs.name == \"b\" or bs.price >= 7.0"
                + " -> c: ev where c.name == \"c\"",
            events: [("a", "a", 0), ("b1", "b", 0), ("b2", "b", 0), ("b3", "b", 0), ("b4", "b", 0), ("c", "c", 8)],
            expected: []),
    ]

    @Test(arguments: overlapping) func greedyWithAnOverlappingNextStep(_ c: Case) throws { try Self.check(c) }
}
