import CEPCore
import CEPRuntime
import Testing

/// Flink CEP 2.3's own test methods for quantifier constructs, transcribed: the same events (Flink's
/// `Event(id, name, price)` at the same timestamps, one key), the pattern written in `.cep`, and the matches Flink's
/// developers expect. Flink's NFA tests run without an after-match skip strategy unless they name one, which is
/// Flink's `noSkip()`: here `skip none`. Each case names its Flink test method. Not transcribed: group patterns
/// (no `.cep` spelling), tests that expect `throwExceptionOnMiss()` to throw (no spelling) and tests that assert only
/// Flink's internal state (its shared buffer).
@Suite struct FlinkITCaseTests {
    /// One of Flink's test events: a label for the expectations, its name and price, its timestamp.
    struct Ev: Sendable {
        var label: String
        var name: String
        var price: Double
        var ts: Int64
    }

    /// One of Flink's test methods: `expected` as lists of labels.
    struct Case: CustomTestStringConvertible, Sendable {
        var method: String
        var match: String
        var events: [Ev]
        var expected: [[String]]
        var skip = "skip none"
        var testDescription: String { method }
    }

    static let stream = """
        stream ev from "ev" { key k time ts lateness 0s fields { k: string, name: string, price: float, ts: time } }

        """

    /// Events at timestamps 1, 2, 3, ... (as most of Flink's StreamRecords are).
    static func seq(_ events: [(label: String, name: String, price: Double)]) -> [Ev] {
        events.enumerated().map { Ev(label: $1.label, name: $1.name, price: $1.price, ts: Int64($0 + 1)) }
    }

    static func matches(_ c: Case) throws -> [[String]] {
        var harness = try EngineHarness(
            stream + "pattern p { match \(c.match) \(c.skip) emit to \"o\" { k: \"k\" } }\n")
        for event in c.events {
            harness.send(
                "ev",
                ["k": .string("k"), "name": .string(event.name), "price": .float(event.price), "ts": .time(event.ts)])
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

    static let cDummyD = seq([("c", "c", 1), ("dummy", "dummy", 2), ("d", "d", 3)])
    static let cA3D = seq([
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("d", "d", 3),
    ])
    static let cA3DInBetween = seq([
        ("c", "c", 1), ("dummy", "dummy", 1111), ("a1", "a", 2), ("dummy", "dummy", 1111), ("a2", "a", 2),
        ("dummy", "dummy", 1111), ("a3", "a", 2), ("d", "d", 3),
    ])
    static let cA2DummyD = seq([
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("d", "d", 3),
    ])
    static let untilAfter = seq([
        ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 3), ("a3", "a", 3), ("a4", "a", 4), ("d", "d", 3),
    ])
    static let untilBefore = seq([
        ("c", "c", 1), ("a0", "a", 4), ("a1", "a", 2), ("a2", "a", 3), ("a3", "a", 3), ("d", "d", 3),
    ])
    static let star = "start: ev where start.name == \"c\" -> middle: ev* greedy where middle.name == \"a\""
    static let plus = "start: ev where start.name == \"c\" -> middle: ev+ greedy where middle.name == \"a\""
    static let thenD = " -> end: ev where end.name == \"d\""
    static let untilPrice = " until middle.price > 3.0"

    static let greedy: [Case] = [
        Case(
            method: "testGreedyZeroOrMore", match: star + thenD, events: cA3D, expected: [["c", "a1", "a2", "a3", "d"]]),
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
        Case(
            method: "testGreedyOneOrMore", match: plus + thenD, events: cA3D, expected: [["c", "a1", "a2", "a3", "d"]]),
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
            events: seq([("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("a3", "a", 2)]),
            expected: [["c"], ["c", "a1"], ["c", "a1", "a2"], ["c", "a1", "a2", "a3"]]),
        Case(
            method: "testEndWithZeroOrMoreConsecutiveGreedy",
            match: "start: ev where start.name == \"c\" -> middle: ev* consecutive greedy where middle.name == \"a\"",
            events: seq([("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("dummy", "dummy", 2), ("a3", "a", 2)]),
            expected: [["c"], ["c", "a1"], ["c", "a1", "a2"]]),
        Case(
            method: "testEndWithGreedyTimesRange",
            match: "start: ev where start.name == \"c\" -> end: ev{2,5} greedy where end.name == \"a\"",
            events: seq([
                ("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("a4", "a", 2), ("dummy", "dummy", 2),
            ]),
            expected: [["c", "a1", "a2"], ["c", "a1", "a2", "a3"], ["c", "a1", "a2", "a3", "a4"]]),
        Case(
            method: "testGreedyTimesRange",
            match: "start: ev where start.name == \"c\" -> middle: ev{2,5} greedy where middle.name == \"a\"" + thenD,
            events: seq([("c", "c", 1), ("a1", "a", 2), ("a2", "a", 2), ("a3", "a", 2), ("a4", "a", 2), ("d", "d", 2)]),
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
            events: seq([("a", "a", 0), ("b", "b", 0), ("c1", "c", 0), ("c2", "c", 0)]),
            expected: [["a", "b", "c1"]]),
        Case(
            method: "issue 17: a full greedy {2,4} does not let the next step take a loop event",
            match: "a: ev where a.name == \"a\" -> bs: ev{2,4} greedy where bs.name == \"b\" or bs.price >= 7.0"
                + " -> c: ev where c.name == \"c\"",
            events: seq([("a", "a", 0), ("b1", "b", 0), ("b2", "b", 0), ("b3", "b", 0), ("b4", "b", 0), ("c", "c", 8)]),
            expected: []),
    ]

    @Test(arguments: overlapping) func greedyWithAnOverlappingNextStep(_ c: Case) throws { try Self.check(c) }
    // MARK: - TimesRangeITCase and TimesOrMoreITCase

    /// Flink's ConsecutiveData events, by label, at a timestamp: c, a1-a3 (name "a"), b, and the filler f.
    static func at(_ label: String, _ ts: Int64) -> Ev {
        let (name, price): (String, Double) =
            switch label {
            case "c": ("c", 1)
            case "a1": ("a", 2)
            case "a2": ("a", 3)
            case "a3": ("a", 4)
            case "b": ("b", 5)
            default: ("f", 1)
            }
        return Ev(label: label, name: name, price: price, ts: ts)
    }

    static let abc = [at("c", 1), at("a1", 2), at("a2", 3), at("a3", 4), at("b", 6)]
    static let withFillers = [at("c", 1), at("f", 2), at("a1", 3), at("f", 4), at("a2", 5), at("a3", 6), at("b", 7)]
    static let spaced = [at("c", 1), at("a1", 3), at("a2", 5), at("a3", 6), at("b", 7)]
    static let noMiddle = [at("c", 1), at("f", 2), at("b", 7)]
    static let fillersAfter = [at("c", 1), at("a1", 2), at("f", 3), at("a2", 4), at("f", 5), at("a3", 6), at("b", 7)]
    static let evenGaps = [at("c", 1), at("a1", 2), at("a2", 4), at("a3", 6), at("b", 7)]

    /// A test method of TimesRangeITCase or TimesOrMoreITCase, which Flink runs twice: without a window on the
    /// quantifier and with `times(n, m, Duration.ofMillis(3))`. `middle` is the quantified step with the `.cep`
    /// contiguity before it; `onlyWithoutWindow` the matches Flink expects only without the window.
    static func windowed(
        _ method: String, _ middle: String, _ events: [Ev], _ expected: [[String]], onlyWithoutWindow: [[String]] = []
    ) -> [Case] {
        let start = "start: ev where start.name == \"c\""
        let end = " -> end1: ev where end1.name == \"b\""
        func step(_ window: String) -> String {
            // "->> middle{1,3} any" → "->> (middle: ev{1,3} any where middle.name == "a" within 3ms)"
            let parts = middle.split(separator: " ", maxSplits: 1).map(String.init)
            let quantifier = parts[1].drop(while: { $0 != "{" })
            return " \(parts[0]) (middle: ev\(quantifier) where middle.name == \"a\"\(window))"
        }
        return [
            Case(
                method: method + " (no window)", match: start + step("") + end, events: events,
                expected: expected + onlyWithoutWindow),
            Case(
                method: method + " (3 ms)", match: start + step(" within 3ms") + end, events: events, expected: expected
            ),
        ]
    }

    static let timesRange: [Case] = [
        windowed(
            "testTimesRange", ", middle{1,3} any", abc,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a1", "a3", "b"], ["c", "a1", "b"]]),
        windowed(
            "testTimesRangeFromZero", ", middle{0,2} any", abc,
            [["c", "a1", "a2", "b"], ["c", "a1", "a3", "b"], ["c", "a1", "b"], ["c", "b"]]),
        windowed(
            "testTimesRangeNonStrict", "->> middle{1,3} any", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a1", "a3", "b"], ["c", "a1", "b"]],
            onlyWithoutWindow: [["c", "a2", "a3", "b"], ["c", "a2", "b"], ["c", "a3", "b"]]),
        windowed(
            "testTimesRangeStrict", "->> middle{0,3} consecutive", withFillers,
            [["c", "a2", "a3", "b"], ["c", "a1", "b"], ["c", "a2", "b"], ["c", "a3", "b"], ["c", "b"]]),
        windowed(
            "testTimesRangeStrictOptional", "->> middle{1,3} consecutive optional", withFillers,
            [["c", "a2", "a3", "b"], ["c", "a1", "b"], ["c", "a2", "b"], ["c", "a3", "b"], ["c", "b"]]),
        windowed(
            "testTimesRangeStrictOptional1", ", middle{1,3} consecutive optional", spaced,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a1", "b"], ["c", "b"]]),
        windowed("testTimesRangeNonStrictOptional1", "-> middle{1,3} optional", noMiddle, [["c", "b"]]),
        windowed(
            "testTimesRangeNonStrictOptional2", "->> middle{2,3} any optional", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a2", "a3", "b"], ["c", "b"]],
            onlyWithoutWindow: [["c", "a1", "a3", "b"]]),
        windowed(
            "testTimesRangeNonStrictOptional3", "->> middle{2,3} optional", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a2", "a3", "b"], ["c", "b"]]),
        windowed(
            "testTimesRangeNonStrictWithNext", ", middle{2,3} any", fillersAfter,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]], onlyWithoutWindow: [["c", "a1", "a3", "b"]]),
        windowed(
            "testTimesRangeNotStrictWithFollowedBy", "-> middle{2,3}", evenGaps,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]]),
        windowed(
            "testTimesRangeNotStrictWithFollowedByAny", "->> middle{2,3} any", evenGaps,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]],
            onlyWithoutWindow: [["c", "a2", "a3", "b"], ["c", "a1", "a3", "b"]]),
    ].flatMap { $0 }

    @Test(arguments: timesRange) func timesRangeITCase(_ c: Case) throws { try Self.check(c) }

    static let timesOrMore: [Case] = [
        windowed(
            "testTimesOrMore", "-> middle{2,} any", abc,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a1", "a3", "b"]]),
        windowed(
            "testTimesOrMoreNonStrict", "->> middle{2,} any", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]],
            onlyWithoutWindow: [["c", "a1", "a3", "b"], ["c", "a2", "a3", "b"]]),
        // Flink's test writes times(2) without the window parameter: one run.
        [
            Case(
                method: "testTimesOrMoreStrict",
                match: "start: ev where start.name == \"c\" ->> middle: ev{2} consecutive where middle.name == \"a\""
                    + " -> end1: ev where end1.name == \"b\"",
                events: withFillers, expected: [["c", "a2", "a3", "b"]])
        ],
        windowed(
            "testTimesOrMoreStrictOptional", "->> middle{2,} consecutive optional", withFillers,
            [["c", "a2", "a3", "b"], ["c", "b"]]),
        windowed(
            "testTimesOrMoreStrictOptional2", ", middle{2,} consecutive optional", spaced,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "b"]]),
        windowed("testTimesOrMoreNonStrictOptional", "-> middle{2,} optional", noMiddle, [["c", "b"]]),
        windowed(
            "testTimesOrMoreNonStrictOptional2", "->> middle{2,} any optional", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a2", "a3", "b"], ["c", "b"]],
            onlyWithoutWindow: [["c", "a1", "a3", "b"]]),
        windowed(
            "testTimesOrMoreNonStrictOptional3", "->> middle{2,} optional", withFillers,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"], ["c", "a2", "a3", "b"], ["c", "b"]]),
        windowed(
            "testTimesOrMoreNonStrictWithNext", ", middle{2,} any", fillersAfter,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]], onlyWithoutWindow: [["c", "a1", "a3", "b"]]),
        windowed(
            "testTimesOrMoreNotStrictWithFollowedBy", "-> middle{2,}", evenGaps,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]]),
        windowed(
            "testTimesOrMoreNotStrictWithFollowedByAny", "->> middle{2,} any", evenGaps,
            [["c", "a1", "a2", "a3", "b"], ["c", "a1", "a2", "b"]],
            onlyWithoutWindow: [["c", "a2", "a3", "b"], ["c", "a1", "a3", "b"]]),
    ].flatMap { $0 }

    @Test(arguments: timesOrMore) func timesOrMoreITCase(_ c: Case) throws { try Self.check(c) }
    // MARK: - AfterMatchSkipITCase

    /// Events without a timestamp in Flink's test (all at one time), named as their labels.
    static func same(_ labels: String...) -> [Ev] { labels.map { Ev(label: $0, name: $0, price: 0, ts: 1) } }

    static func has(_ step: String, _ text: String) -> String { "contains(\(step).name, \"\(text)\")" }
    static let abab2 = [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")].map {
        Ev(label: $0, name: $1, price: 0, ts: 1)
    }
    static let abbb = [("a1", "a"), ("b1", "b"), ("b2", "b"), ("b3", "b")].map {
        Ev(label: $0, name: $1, price: 0, ts: 1)
    }
    static let aThenB = "start: ev where start.name == \"a\" ->> end: ev where end.name == \"b\""
    static let aNextBs = "start: ev where start.name == \"a\" , end: ev+ where end.name == \"b\""
    static let abab = "start: ev{2} where \(has("start", "a")) , end: ev{2} where \(has("end", "b"))"
    static let aNextBsConsecutive = "a: ev where \(has("a", "a")) , b: ev+ consecutive where \(has("b", "b"))"
    static let missedSkipTo =
        "a: ev where \(has("a", "a")) , b: ev* consecutive where \(has("b", "b")) , c: ev where \(has("c", "c"))"
    static let greedyAsThenB = "a: ev+ consecutive greedy where \(has("a", "a")) , b: ev where \(has("b", "b"))"

    static let afterMatchSkip: [Case] = [
        Case(
            method: "testNoSkip", match: "start: ev{3} where start.name == \"a\"",
            events: (1...6).map { Ev(label: "a\($0)", name: "a", price: 0, ts: 1) },
            expected: [["a1", "a2", "a3"], ["a2", "a3", "a4"], ["a3", "a4", "a5"], ["a4", "a5", "a6"]]),
        Case(
            method: "testNoSkipWithFollowedByAny", match: aThenB,
            events: abab2,
            expected: [["a1", "b1"], ["a1", "b2"], ["a2", "b2"]]),
        Case(
            method: "testSkipToNextWithFollowedByAny", match: aThenB,
            events: abab2,
            expected: [["a1", "b1"], ["a2", "b2"]], skip: "skip to next"),
        Case(
            method: "testNoSkipWithQuantifierAtTheEnd", match: aNextBs,
            events: abbb,
            expected: [["a1", "b1", "b2", "b3"], ["a1", "b1", "b2"], ["a1", "b1"]]),
        Case(
            method: "testSkipToNextWithQuantifierAtTheEnd", match: aNextBs,
            events: abbb,
            expected: [["a1", "b1"]], skip: "skip to next"),
        Case(
            method: "testSkipPastLast", match: "start: ev{3} where start.name == \"a\"",
            events: (1...6).map { Ev(label: "a\($0)", name: "a", price: 0, ts: 1) },
            expected: [["a1", "a2", "a3"], ["a4", "a5", "a6"]], skip: "skip past last"),
        Case(
            method: "testSkipToFirst", match: abab, events: same("ab1", "ab2", "ab3", "ab4", "ab5", "ab6"),
            expected: [["ab1", "ab2", "ab3", "ab4"], ["ab3", "ab4", "ab5", "ab6"]], skip: "skip to first end"),
        Case(
            method: "testSkipToLast", match: abab, events: same("ab1", "ab2", "ab3", "ab4", "ab5", "ab6", "ab7"),
            expected: [["ab1", "ab2", "ab3", "ab4"], ["ab4", "ab5", "ab6", "ab7"]], skip: "skip to last end"),
        Case(
            method: "testSkipPastLast2",
            match: "a: ev where \(has("a", "a")) ->> b: ev where \(has("b", "b")) ->> c: ev where \(has("c", "c"))"
                + " -> d: ev where \(has("d", "d"))",
            events: same("a1", "a2", "b1", "b2", "c1", "c2", "d1", "d2"), expected: [["a1", "b1", "c1", "d1"]],
            skip: "skip past last"),
        Case(
            method: "testSkipPastLast3", match: "a: ev where \(has("a", "a")) , b: ev where \(has("b", "b"))",
            events: same("a1", "c", "a2", "b2"), expected: [["a2", "b2"]], skip: "skip past last"),
        Case(
            method: "testSkipToFirstWithOptionalMatch",
            match: "x: ev* where \(has("x", "x")) , b: ev where \(has("b", "b")) , c: ev where \(has("c", "c"))",
            events: same("ab1", "c1", "ab2", "c2"), expected: [["ab1", "c1"], ["ab2", "c2"]], skip: "skip to first b"),
        Case(
            method: "testSkipToFirstAtStartPosition",
            match: "b: ev where \(has("b", "b")) , c: ev where \(has("c", "c"))",
            events: same("ab1", "c1", "ab2", "c2"), expected: [["ab1", "c1"], ["ab2", "c2"]], skip: "skip to first b"),
        Case(
            method: "testSkipToFirstWithOneOrMore", match: aNextBsConsecutive,
            events: same("a1", "b1", "a2", "b2", "b3", "a3", "b4"),
            expected: [["a1", "b1"], ["a2", "b2"], ["a3", "b4"]],
            skip: "skip to first b"),
        Case(
            method: "testSkipToFirstNonExistentPositionWithoutException", match: missedSkipTo, events: same("a", "c"),
            expected: [["a", "c"]], skip: "skip to first b"),
        // Flink's test method of this name runs skipToFirst("b") too.
        Case(
            method: "testSkipToLastNonExistentPositionWithoutException", match: missedSkipTo, events: same("a", "c"),
            expected: [["a", "c"]], skip: "skip to first b"),
        Case(
            method: "testSkipToLastWithOneOrMore", match: aNextBsConsecutive,
            events: same("a1", "b1", "a2", "b2", "b3", "a3", "b4"),
            expected: [["a1", "b1"], ["a2", "b2"], ["a3", "b4"]],
            skip: "skip to last b"),
        Case(
            method: "testSkipPastLastWithOneOrMoreAtBeginning", match: greedyAsThenB,
            events: same("a1", "a2", "a3", "b1"),
            expected: [["a1", "a2", "a3", "b1"]], skip: "skip past last"),
        Case(
            method: "testSkipToLastWithOneOrMoreAtBeginning", match: greedyAsThenB,
            events: same("a1", "a2", "a3", "b1"),
            expected: [["a1", "a2", "a3", "b1"], ["a3", "b1"]], skip: "skip to last a"),
        Case(
            method: "testSkipToFirstWithOneOrMoreAtBeginning", match: greedyAsThenB,
            events: same("a1", "a2", "a3", "b1"),
            expected: [["a1", "a2", "a3", "b1"], ["a2", "a3", "b1"], ["a3", "b1"]], skip: "skip to first a"),
        Case(
            method: "testNoSkipWithOneOrMoreAtBeginning", match: greedyAsThenB, events: same("a1", "a2", "a3", "b1"),
            expected: [["a1", "a2", "a3", "b1"], ["a2", "a3", "b1"], ["a3", "b1"]]),
        Case(
            method: "testSkipToFirstDiscarding",
            match:
                "ac: ev where \(has("ac", "a")) or \(has("ac", "c")) -> bc: ev where \(has("bc", "b")) or \(has("bc", "c"))"
                + " -> cs: ev+ greedy where \(has("cs", "c")) -> d: ev where \(has("d", "d"))",
            events: same("a", "b", "c1", "c2", "c3", "d"),
            expected: [["a", "b", "c1", "c2", "c3", "d"], ["c1", "c2", "c3", "d"]], skip: "skip to first cs"),
        Case(
            method: "testSkipBeforeOtherAlreadyCompleted",
            match: "a: ev where \(has("a", "a")) -> c: ev where \(has("c", "c"))"
                + " -> b: ev where \(has("b", "b")) and b.price == a.price",
            events: [("a1", 0), ("c1", 0), ("a2", 1), ("c2", 0), ("b1", 1), ("b2", 0)].map {
                Ev(label: $0, name: $0, price: $1, ts: 1)
            },
            expected: [["a1", "c1", "b2"], ["a2", "c2", "b1"]], skip: "skip to first c"),
    ]

    @Test(arguments: afterMatchSkip) func afterMatchSkipITCase(_ c: Case) throws { try Self.check(c) }
}
