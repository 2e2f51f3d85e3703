import CEPCore
import CEPRuntime
import TestSupport
import Testing

/// One test per construct and time rule, on small hand-written streams whose matches follow from Flink CEP's
/// documented semantics (see ../shared/flink-semantics.md and docs/language.md).
@Suite struct ConstructTests {
    static let streams = """
        stream a from "a" { key k time ts lateness 5s fields { k: string, x: int, ts: time } }
        stream b from "b" { key k time ts lateness 5s fields { k: string, x: int, ts: time } }
        stream c from "c" { key k time ts lateness 5s fields { k: string, x: int, ts: time } }

        """

    func run(_ pattern: String, _ events: [(String, [String: Value])]) throws -> EngineHarness.Result {
        var harness = try EngineHarness(Self.streams + pattern)
        for (stream, fields) in events { harness.send(stream, fields) }
        return harness.finish()
    }

    @Test func relaxedTakesTheFirstQualifyingEventAndSkipsOthers() throws {
        let r = try run(
            "pattern p { match x: a -> y: b where y.x > x.x emit to \"o\" { k: x.k } }",
            [("a", ev(x: 5, ts: 1)), ("b", ev(x: 1, ts: 2)), ("b", ev(x: 9, ts: 3)), ("b", ev(x: 8, ts: 4))])
        #expect(r.matches == ["p: x=a:0 y=b:1"])
    }

    @Test func strictNeedsTheKeysVeryNextEventAmongThePatternsStreams() throws {
        let pattern = "pattern p { match x: a , y: b emit to \"o\" { k: x.k } }"
        let broken = try run(pattern, [("a", ev(ts: 1)), ("a", ev(ts: 2)), ("b", ev(ts: 3))])
        #expect(broken.matches == ["p: x=a:1 y=b:0"])
        // Another key's event in between does not break contiguity (it is per key), nor does an event of a
        // stream the pattern does not read.
        let other = try run(pattern, [("a", ev(ts: 1)), ("a", ev(k: "u2", ts: 2)), ("c", ev(ts: 2)), ("b", ev(ts: 3))])
        #expect(other.matches == ["p: x=a:0 y=b:0"])
    }

    @Test func anyContiguityBranchesOnEveryQualifyingEvent() throws {
        let r = try run(
            "pattern p { match x: a ->> y: b skip none emit to \"o\" { k: x.k } }",
            [("a", ev(ts: 1)), ("b", ev(ts: 2)), ("b", ev(ts: 3))])
        #expect(Set(r.matches) == ["p: x=a:0 y=b:0", "p: x=a:0 y=b:1"])
    }

    @Test func windowIsExclusive() throws {
        let pattern = "pattern p { match x: a -> y: b within 10s emit to \"o\" { k: x.k } }"
        #expect(try run(pattern, [("a", ev(ts: 0)), ("b", ev(ts: 10_000))]).matches.isEmpty)
        #expect(try run(pattern, [("a", ev(ts: 0)), ("b", ev(ts: 9_999))]).matches == ["p: x=a:0 y=b:0"])
    }

    /// Issue 18: an event at the largest timestamp matches (a window end that overflows never comes, as in Flink's
    /// `timestamp - start >= window`); before, the saturated end closed the window just before it.
    @Test func eventsAtTheLargestTimestampStillMatchWithinTheWindow() throws {
        let pattern = "pattern p { match x: a -> y: b within 10s emit to \"o\" { k: x.k } }"
        let end = Int64.max
        #expect(try run(pattern, [("a", ev(ts: end - 1)), ("b", ev(ts: end))]).matches == ["p: x=a:0 y=b:0"])
        #expect(try run(pattern, [("a", ev(ts: end - 10_000)), ("b", ev(ts: end))]).matches.isEmpty)
        #expect(try run(pattern, [("a", ev(ts: end - 9_999)), ("b", ev(ts: end))]).matches == ["p: x=a:0 y=b:0"])
    }

    /// A generated rule of 300 conditions compiles and evaluates each of them, in a chain of `and` and one of `or`
    /// (parsed as balanced trees; issue 18: 128 terms were refused).
    @Test func longConditionChainsEvaluateEveryTerm() throws {
        let all = (0..<300).map { "y.x != \($0 * 2 + 1)" }.joined(separator: " and ")
        let any = (0..<300).map { "y.x == \($0 * 2 + 1)" }.joined(separator: " or ")
        for (condition, matchesOdd) in [(all, false), (any, true)] {
            let pattern = "pattern p { match x: a -> y: b where \(condition) emit to \"o\" { k: x.k } }"
            // 599 is the last odd number the chain names, 601 is past it; 4 is even.
            let r = try run(
                pattern, [("a", ev(ts: 1)), ("b", ev(x: 599, ts: 2)), ("b", ev(x: 601, ts: 3)), ("b", ev(x: 4, ts: 4))])
            // `->` takes the first qualifying b: 599 for the `or` chain, 601 for the `and` chain (599 fails its last
            // term).
            #expect(r.matches == (matchesOdd ? ["p: x=a:0 y=b:0"] : ["p: x=a:0 y=b:1"]))
        }
    }

    @Test func timeoutFiresFromTheWatermarkWithoutAnotherEventOfTheKey() throws {
        var harness = try EngineHarness(
            Self.streams
                + "pattern p { match x: a -> y: b within 10s emit to \"o\" { k: x.k } on timeout emit to \"t\" { k: x.k } }"
        )
        harness.send("a", ev(k: "u1", ts: 0))
        // Other keys' events move every partition's watermark past 10 s (+ 5 s lateness).
        harness.send("a", ev(k: "u2", ts: 20_000))
        harness.send("b", ev(k: "u2", ts: 20_000))
        harness.send("c", ev(k: "u2", ts: 20_000))
        #expect(harness.result.timeouts == ["p: x=a:0"])
        #expect(harness.result.alerts.first?.contains("\"timed_out_at\":10000") == true)
    }

    @Test func absenceAtTheEndCompletesWhenTheWindowPasses() throws {
        let pattern = """
            pattern p { match x: a -> not n: b where n.x == x.x within 10s emit to "o" { k: x.k } }
            """
        let fired = try run(pattern, [("a", ev(x: 1, ts: 0)), ("b", ev(x: 2, ts: 5_000))])
        #expect(fired.matches == ["p: x=a:0"])
        let confirmed = try run(pattern, [("a", ev(x: 1, ts: 0)), ("b", ev(x: 1, ts: 5_000))])
        #expect(confirmed.matches.isEmpty)
    }

    @Test func notFollowedByBetweenStepsKillsThePartialMatch() throws {
        let pattern = "pattern p { match x: a -> not n: c -> y: b emit to \"o\" { k: x.k } }"
        #expect(try run(pattern, [("a", ev(ts: 1)), ("c", ev(ts: 2)), ("b", ev(ts: 3))]).matches.isEmpty)
        #expect(try run(pattern, [("a", ev(ts: 1)), ("b", ev(ts: 3)), ("c", ev(ts: 4))]).matches == ["p: x=a:0 y=b:0"])
    }

    @Test func notNextNeedsTheNextEventToDiffer() throws {
        let pattern = "pattern p { match x: a , not n: c -> y: b emit to \"o\" { k: x.k } }"
        #expect(try run(pattern, [("a", ev(ts: 1)), ("c", ev(ts: 2)), ("b", ev(ts: 3))]).matches.isEmpty)
        #expect(try run(pattern, [("a", ev(ts: 1)), ("b", ev(ts: 2))]).matches == ["p: x=a:0 y=b:0"])
    }

    @Test func timesOrMoreUnderSkipPastLastEmitsTheLongestFromTheEarliestStart() throws {
        let pattern = "pattern p { match s: a{3,} -> y: b within 1m emit to \"o\" { n: count(s) } }"
        let events = (0..<5).map { ("a", ev(ts: Int64($0))) } + [("b", ev(ts: 10))]
        let r = try run(pattern, events)
        #expect(r.matches == ["p: s=a:0 s=a:1 s=a:2 s=a:3 s=a:4 y=b:0"])
        #expect(r.alerts.first?.hasPrefix("{\"n\":5,") == true)
    }

    @Test func timesOrMoreWithNoSkipYieldsEveryVariant() throws {
        let pattern = "pattern p { match s: a{3,} -> y: b within 1m skip none emit to \"o\" { n: count(s) } }"
        let events = (0..<5).map { ("a", ev(ts: Int64($0))) } + [("b", ev(ts: 10))]
        // Starts a:0, a:1, a:2; from each, every run of three or more consecutive-by-choice events (6 in all).
        #expect(try run(pattern, events).matches.count == 6)
    }

    @Test func consecutiveQuantifierNeedsAdjacentEvents() throws {
        let pattern = "pattern p { match s: a{3} consecutive -> y: b emit to \"o\" { k: y.k } }"
        let gap = try run(
            pattern, [("a", ev(ts: 1)), ("a", ev(ts: 2)), ("b", ev(ts: 3)), ("a", ev(ts: 4)), ("b", ev(ts: 5))])
        #expect(gap.matches.isEmpty)
        let adjacent = try run(pattern, [("a", ev(ts: 1)), ("a", ev(ts: 2)), ("a", ev(ts: 3)), ("b", ev(ts: 5))])
        #expect(adjacent.matches == ["p: s=a:0 s=a:1 s=a:2 y=b:0"])
    }

    @Test func untilEndsTheLoop() throws {
        // The until event ends the loop of the match that started at a:0 (it takes nothing from there on); the
        // loop that starts at a:2 gives a match of its own.
        let pattern = "pattern p { match s: a+ until s.x > 5 -> y: b skip none emit to \"o\" { n: count(s) } }"
        let r = try run(
            pattern, [("a", ev(x: 1, ts: 1)), ("a", ev(x: 9, ts: 2)), ("a", ev(x: 1, ts: 3)), ("b", ev(ts: 4))])
        #expect(Set(r.matches) == ["p: s=a:0 y=b:0", "p: s=a:2 y=b:0"])
    }

    @Test func optionalStepMayBeSkipped() throws {
        let pattern = "pattern p { match x: a -> o: c? -> y: b emit to \"o\" { k: x.k } }"
        #expect(try run(pattern, [("a", ev(ts: 1)), ("b", ev(ts: 2))]).matches == ["p: x=a:0 y=b:0"])
    }

    @Test func skipToNextAllowsOverlappingMatchesFromLaterStarts() throws {
        let pattern = "pattern p { match x: a -> y: b skip to next emit to \"o\" { k: x.k } }"
        let r = try run(pattern, [("a", ev(ts: 1)), ("a", ev(ts: 2)), ("b", ev(ts: 3))])
        #expect(Set(r.matches) == ["p: x=a:0 y=b:0", "p: x=a:1 y=b:0"])
        let past = try run(
            "pattern p { match x: a -> y: b emit to \"o\" { k: x.k } }",
            [("a", ev(ts: 1)), ("a", ev(ts: 2)), ("b", ev(ts: 3))])
        #expect(past.matches == ["p: x=a:0 y=b:0"])
    }

    @Test func stepWindowLimitsTheGapToThePreviousEvent() throws {
        let pattern = "pattern p { match x: a -> y: b -> (z: c within 5s) emit to \"o\" { k: x.k } }"
        #expect(try run(pattern, [("a", ev(ts: 0)), ("b", ev(ts: 20_000)), ("c", ev(ts: 24_999))]).matches.count == 1)
        #expect(try run(pattern, [("a", ev(ts: 0)), ("b", ev(ts: 20_000)), ("c", ev(ts: 25_000))]).matches.isEmpty)
    }

    @Test func equalTimestampsFollowArrivalWithinAPartition() throws {
        let pattern = "pattern p { match x: a , y: a where y.x > x.x emit to \"o\" { k: x.k } }"
        let r = try run(pattern, [("a", ev(x: 1, ts: 5)), ("a", ev(x: 2, ts: 5))])
        #expect(r.matches == ["p: x=a:0 y=a:1"])
    }

    @Test func outOfOrderEventsAreSortedByTimeBeforeMatching() throws {
        let pattern = "pattern p { match x: a , y: b emit to \"o\" { k: x.k } }"
        let r = try run(pattern, [("b", ev(ts: 2_000)), ("a", ev(ts: 1_000))])
        #expect(r.matches == ["p: x=a:0 y=b:0"])
    }

    @Test func lateIsMoreThanLatenessBehindTheLargestTimeSeen() throws {
        let pattern = "pattern p { match x: a -> y: b emit to \"o\" { k: x.k } }"
        var h = try EngineHarness(Self.streams + pattern)
        for topic in ["a", "b", "c"] {
            h.send(topic, ev(k: "other", ts: 10_000))
        }
        h.send("a", ev(ts: 5_000))  // exactly 5 s behind: on time (watermark 4999)
        h.send("a", ev(ts: 4_999))  // 5 s + 1 ms behind: late
        let r = h.finish()
        #expect(r.late == ["p: a:2"])
    }

    @Test func severalPatternsShareOnePass() throws {
        let r = try run(
            """
            pattern p1 { match x: a -> y: b emit to "o" { k: x.k } }
            pattern p2 { match x: b -> y: c emit to "o" { k: x.k } }
            """, [("a", ev(ts: 1)), ("b", ev(ts: 2)), ("c", ev(ts: 3))])
        #expect(Set(r.matches) == ["p1: x=a:0 y=b:0", "p2: x=b:0 y=c:0"])
    }

    @Test func alertIdsAreDeterministicAndDistinct() throws {
        let pattern = "pattern p { match x: a -> y: b skip none emit to \"o\" { k: x.k } }"
        let events = [("a", ev(ts: 1)), ("b", ev(ts: 2)), ("b", ev(ts: 3))]
        let first = try run(pattern, events).alerts
        let second = try run(pattern, events).alerts
        #expect(first == second)
        let ids = first.compactMap { alert in
            alert.split(separator: "\"id\":\"", maxSplits: 1).dropFirst().first.map { String($0.prefix(32)) }
        }
        #expect(ids.count == first.count && Set(ids).count == ids.count)
    }

    @Test func idleKeysAreReleased() throws {
        var h = try EngineHarness(Self.streams + "pattern p { match x: a -> y: b within 1s emit to \"o\" { k: x.k } }")
        for i in 0..<100 { h.send("a", ev(k: "k\(i)", ts: Int64(i))) }
        for topic in ["a", "b", "c"] { h.send(topic, ev(k: "z", ts: 100_000)) }
        // Every window has ended: only the keys with events still waiting for the watermark remain.
        #expect(h.engine.matchers[0].activeKeys <= 1)
        #expect(h.engine.matchers[0].openPartialMatches == 0)
    }
}

/// State stays bounded over a long stream: windows release partial matches, keys without state are freed, and only
/// the events within the lateness of the watermark wait.
@Suite struct BoundedStateTests {
    @Test func stateIsReleasedAsTheWatermarkPasses() throws {
        var h = try EngineHarness(
            ConstructTests.streams
                + "pattern p { match x: a -> y: b where y.x > x.x within 2s emit to \"o\" { k: x.k } }")
        var rng = SplitMix(seed: 3)
        var maxPartial = 0
        var maxKeys = 0
        var maxPending = 0
        for i in 0..<30_000 {
            let ts = Int64(i) * 10  // 100 events per second of event time
            let key = "k\(Int.random(in: 0..<5_000, using: &rng))"
            h.send(Bool.random(using: &rng) ? "a" : "b", ev(k: key, x: Int64.random(in: 0...3, using: &rng), ts: ts))
            if i % 1_000 == 0 {
                maxPartial = max(maxPartial, h.engine.matchers[0].openPartialMatches)
                maxKeys = max(maxKeys, h.engine.matchers[0].activeKeys)
                maxPending = max(maxPending, h.engine.matchers[0].bufferedEvents)
            }
        }
        // A 2 s window at 100 events/s holds at most ~200 starts (half of them a-events: ~100); 5 s of lateness at
        // 100 events/s keeps ~500 events waiting. Without release these would grow to tens of thousands.
        #expect(maxPartial <= 250, "partial matches: \(maxPartial)")
        #expect(maxKeys <= 250, "keys with state: \(maxKeys)")
        #expect(maxPending <= 600, "events waiting: \(maxPending)")
        #expect(maxPending >= 400, "the lateness should keep about 500 events waiting: \(maxPending)")
        _ = h.finish()
        #expect(h.engine.matchers[0].activeKeys == 0)
        #expect(h.engine.matchers[0].openPartialMatches == 0)
        #expect(h.engine.matchers[0].bufferedEvents == 0)
    }
}
