import CEPCore
import Foundation
import TestSupport
import Testing

@testable import CEPRuntime

/// `suppress DURATION [by EXPR]` against a reference: the same patterns without `suppress`, their alerts filtered
/// in the order they were emitted by a brute-force rule that never forgets (an alert of key K and value V whose last
/// event has time t is dropped when an alert of K and V let through before it had a last event time T with
/// t < T + DURATION). Equal lists mean the engine suppresses exactly those alerts, forgets nothing it still needs,
/// and leaves matching alone.
@Suite struct SuppressionTests {
    /// Each pattern's alert carries its key, the value suppression is by and its last event's time.
    static func source(suppressed: Bool) -> String {
        func suppress(_ clause: String) -> String { suppressed ? clause : "" }
        return """
            stream a from "a" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
            stream b from "b" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
            pattern relaxed { match s: a -> t: b where t.x > s.x within 10s \(suppress("suppress 4s"))
              emit to "o" { k: s.k, by: "none", last: t.ts } }
            pattern anyof { match s: a ->> t: b skip none within 6s \(suppress("suppress 3s by t.x"))
              emit to "o" { k: s.k, by: t.x, last: t.ts } }
            pattern absent { match s: a where s.x > 2 -> not n: b where n.x == s.x within 5s
              \(suppress("suppress 7s by s.x % 2")) emit to "o" { k: s.k, by: s.x % 2, last: s.ts } }
            pattern held { match s: a -> t: b{2} within 8s skip to next \(suppress("suppress 2s"))
              emit to "o" { k: s.k, by: "none", last: last(t.ts) } }
            """
    }

    static let durations = ["relaxed": Int64(4_000), "anyof": 3_000, "absent": 7_000, "held": 2_000]

    /// The alerts of `alerts` the reference rule lets through, in order.
    static func reference(_ alerts: [String]) throws -> [String] {
        var last: [String: Int64] = [:]
        var kept: [String] = []
        for alert in alerts {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(alert.utf8)) as? [String: Any])
            let match = try #require(object["_match"] as? [String: Any])
            let pattern = try #require(match["pattern"] as? String)
            let time = try #require((object["last"] as? NSNumber)?.int64Value)
            let key = "\(pattern)|\(object["k"] ?? "")|\(object["by"] ?? "none")"
            if let previous = last[key], time < previous + durations[pattern]! { continue }
            last[key] = time
            kept.append(alert)
        }
        return kept
    }

    @Test func suppressionDropsExactlyWhatTheReferenceRuleDrops() throws {
        var dropped = 0
        for seed in UInt64(1)...12 {
            let input = SnapshotTests().events(seed: seed, count: 400)
            let all = try SnapshotTests().run(input, restartAt: [], source: Self.source(suppressed: false))
            let got = try SnapshotTests().run(input, restartAt: [], source: Self.source(suppressed: true))
            let expected = try Self.reference(all.filter { $0.hasPrefix("{") })
            #expect(got.filter { $0.hasPrefix("{") } == expected, "seed \(seed)")
            // Late events are the same with or without suppression: it changes no matching.
            #expect(got.filter { !$0.hasPrefix("{") } == all.filter { !$0.hasPrefix("{") }, "seed \(seed)")
            dropped += all.count - got.count
        }
        #expect(dropped > 100, "too few alerts suppressed to test much: \(dropped)")
    }

    /// The count of suppressed alerts, and that entries are forgotten: none is left once event time has passed
    /// them all (the end of the input), and an incremental checkpoint then deletes their records.
    @Test func suppressedAlertsAreCountedAndEntriesForgotten() throws {
        let input = SnapshotTests().events(seed: 5, count: 400)
        let all = try SnapshotTests().run(input, restartAt: [], source: Self.source(suppressed: false))
        var harness = try EngineHarness(Self.source(suppressed: true))
        harness.engine.trackChanges()
        var store = MemoryEngineState()
        var sawEntries = false
        for (i, (stream, fields)) in input.enumerated() {
            harness.send(stream, fields)
            if i % 50 == 49 {
                harness.engine.writeCheckpoint(into: &store)
                sawEntries = sawEntries || store.records.keys.contains { $0.first == UInt8(ascii: "s") }
                let difference = SnapshotTests.difference(store, fullCheckpointOf: harness.engine)
                #expect(difference == nil, "after event \(i): \(difference ?? "")")
            }
        }
        let result = harness.finish()
        let suppressed = harness.engine.matchers.reduce(0) { $0 + $1.suppressedAlerts }
        #expect(suppressed > 0)
        #expect(result.alerts.count + suppressed == all.filter { $0.hasPrefix("{") }.count)
        #expect(harness.engine.stats.matches.reduce(0, +) == result.alerts.count, "matches count what was emitted")
        #expect(sawEntries, "no suppression record was ever written")
        for matcher in harness.engine.matchers { #expect(matcher.suppression?.last.isEmpty ?? true) }
        harness.engine.writeCheckpoint(into: &store)
        #expect(!store.records.keys.contains { $0.first == UInt8(ascii: "s") }, "suppression records left behind")
    }

    /// Suppression is part of the state: restarts anywhere, from full snapshots or incremental checkpoints, give
    /// the alerts of an uninterrupted run, and the count of suppressed alerts goes on.
    @Test func restartsKeepSuppression() throws {
        let source = Self.source(suppressed: true)
        for seed in UInt64(1)...6 {
            let input = SnapshotTests().events(seed: seed, count: 300)
            let expected = try SnapshotTests().run(input, restartAt: [], source: source)
            let cuts: Set<Int> = [Int(seed) * 13, 77, 150, 222 + Int(seed)]
            #expect(try SnapshotTests().run(input, restartAt: cuts, source: source) == expected, "seed \(seed)")
            #expect(
                try SnapshotTests().run(input, restartAt: cuts, checkpointEvery: Int(seed) + 3, source: source)
                    == expected, "seed \(seed), incremental")
        }
    }

    /// A reload (SIGHUP, `POST /reload`) with suppression entries in the store: the checkpoint after it, which
    /// deletes each pattern's stored state and writes it whole, leaves what a full checkpoint writes — the entries
    /// included, and none that expired since.
    @Test func aCheckpointAfterAReloadKeepsTheSuppressionEntries() throws {
        let input = SnapshotTests().events(seed: 3, count: 300)
        var harness = try EngineHarness(Self.source(suppressed: true))
        harness.engine.trackChanges()
        var store = MemoryEngineState()
        for (stream, fields) in input.prefix(150) { harness.send(stream, fields) }
        harness.engine.writeCheckpoint(into: &store)
        #expect(store.records.keys.contains { $0.first == UInt8(ascii: "s") }, "no suppression entry stored")
        for (stream, fields) in input.dropFirst(150).prefix(40) { harness.send(stream, fields) }
        var engine = try harness.engine.reloading(harness.automaton).engine
        #expect(engine.matchers.map(\.suppressedAlerts) == harness.engine.matchers.map(\.suppressedAlerts))
        engine.writeCheckpoint(into: &store)
        let difference = SnapshotTests.difference(store, fullCheckpointOf: engine)
        #expect(difference == nil, "\(difference ?? "")")
    }

    /// The edges, by hand: a match whose last event is DURATION - 1 ms after the last alert's is suppressed, one at
    /// exactly DURATION is not; a suppressed match does not extend the suppression; other keys and values are not
    /// suppressed.
    @Test func suppressionEndsExactlyAfterItsDuration() throws {
        let source = """
            stream a from "a" { key k time ts fields { k: string, x: int, ts: time } }
            pattern p { match s: a where s.x > 0 within 1s suppress 10s by s.x emit to "o" { k: s.k, x: s.x, ts: s.ts } }
            """
        var harness = try EngineHarness(source)
        let sends: [(String, Int64, Int64)] = [
            ("k1", 1, 1_000),  // alert: suppresses k1/1 until 11,000
            ("k1", 1, 10_999),  // suppressed
            ("k2", 1, 10_999),  // another key: alert
            ("k1", 2, 10_999),  // another value: alert
            ("k1", 1, 11_000),  // alert: the suppression ended (and the suppressed one did not extend it)
            ("k1", 1, 20_999),  // suppressed
            ("k1", 1, 30_000),  // the end of the input: alert
        ]
        for (k, x, ts) in sends { harness.send("a", ["k": .string(k), "x": .int(x), "ts": .time(ts)]) }
        let alerts = harness.finish().alerts.map { $0.prefix { $0 != "_" } }
        #expect(
            alerts == [
                #"{"k":"k1","x":1,"ts":1000,""#, #"{"k":"k2","x":1,"ts":10999,""#, #"{"k":"k1","x":2,"ts":10999,""#,
                #"{"k":"k1","x":1,"ts":11000,""#, #"{"k":"k1","x":1,"ts":30000,""#,
            ])
        #expect(harness.engine.matchers[0].suppressedAlerts == 2)
    }

    /// A changed `suppress` is a changed pattern: its state starts empty (as for any other change to it).
    @Test func changingSuppressChangesTheFingerprint() throws {
        let plain = try EngineHarness(Self.source(suppressed: false)).engine
        let suppressing = try EngineHarness(Self.source(suppressed: true)).engine
        let longer = try EngineHarness(
            Self.source(suppressed: true).replacingOccurrences(of: "suppress 4s", with: "suppress 5s")
        ).engine
        let relaxed = PatternID(0)
        #expect(plain.fingerprint(ofPattern: relaxed) != suppressing.fingerprint(ofPattern: relaxed))
        #expect(suppressing.fingerprint(ofPattern: relaxed) != longer.fingerprint(ofPattern: relaxed))
    }
}
