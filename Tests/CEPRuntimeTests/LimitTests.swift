import CEPCore
import CEPRuntime
import TestSupport
import Testing

/// The caps on open partial matches (`--max-partial-matches`, `--max-partial-matches-per-key`): which partial
/// matches are dropped, that they are counted, and that the caps hold after every event.
@Suite struct LimitTests {
    static let source =
        ConstructTests.streams + """
            pattern p { match x: a -> y: b within 1h skip none emit to "o" { k: x.k } }
            """

    @Test func perKeyCapDropsTheKeysOldestPartialMatches() throws {
        var harness = try EngineHarness(Self.source)
        harness.engine.setLimits(PartialMatchLimits(perKey: 2))
        for ts in 1...4 { harness.send("a", ev(ts: Int64(ts))) }
        harness.send("b", ev(ts: 10))
        let result = harness.finish()
        // Each login-like `a` starts a partial match; only the two newest are left when `b` comes.
        #expect(result.matches == ["p: x=a:2 y=b:0", "p: x=a:3 y=b:0"])
        #expect(harness.engine.matchers[0].droppedPartialMatches == 2)
        #expect(harness.engine.matchers[0].lastDroppedKey == .string("u1"))
    }

    @Test func totalCapDropsThePatternsOldestPartialMatchesAcrossKeys() throws {
        var harness = try EngineHarness(Self.source)
        harness.engine.setLimits(PartialMatchLimits(total: 3))
        for i in 1...5 { harness.send("a", ev(k: "u\(i)", ts: Int64(i))) }
        for i in 1...5 { harness.send("b", ev(k: "u\(i)", ts: Int64(100 + i))) }
        let result = harness.finish()
        #expect(result.matches == ["p: x=a:2 y=b:2", "p: x=a:3 y=b:3", "p: x=a:4 y=b:4"])
        #expect(harness.engine.matchers[0].droppedPartialMatches == 2)
        #expect(harness.engine.matchers[0].lastDroppedKey == .string("u2"))
    }

    @Test func capsHoldAfterEveryEventAndChangeNothingBelowThem() throws {
        var rng = SplitMix(seed: 7)
        var events: [(String, [String: Value])] = []
        var ts: Int64 = 0
        for _ in 0..<3_000 {
            ts += Int64.random(in: 0...40_000, using: &rng)
            let key = "k\(Int.random(in: 0..<20, using: &rng))"
            events.append((Int.random(in: 0..<8, using: &rng) < 7 ? "a" : "b", ev(k: key, ts: ts)))  // mostly starts
        }
        // Caps that are never reached change nothing.
        var free = try EngineHarness(Self.source)
        var roomy = try EngineHarness(Self.source)
        roomy.engine.setLimits(PartialMatchLimits(perKey: 1_000_000, total: 1_000_000))
        for (stream, fields) in events {
            free.send(stream, fields)
            roomy.send(stream, fields)
        }
        #expect(free.finish().matches == roomy.finish().matches)
        #expect(roomy.engine.matchers[0].droppedPartialMatches == 0)
        // Tight caps hold after every event (the watermark trails by the lateness, so partial matches pile up).
        var tight = try EngineHarness(Self.source)
        tight.engine.setLimits(PartialMatchLimits(perKey: 3, total: 25))
        var peak = 0
        for (stream, fields) in events {
            tight.send(stream, fields)
            let matcher = tight.engine.matchers[0]
            peak = max(peak, matcher.openPartialMatches)
            #expect(matcher.openPartialMatches <= 25)
            #expect(matcher.partialMatchesByState().reduce(0, +) == matcher.openPartialMatches)
        }
        #expect(peak == 25, "the input should reach the cap")
        #expect(tight.engine.matchers[0].droppedPartialMatches > 0)
    }
}
