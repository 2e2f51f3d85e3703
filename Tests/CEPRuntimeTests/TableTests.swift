import CEPCompiler
import CEPCore
import Foundation
import TestSupport
import Testing

@testable import CEPRuntime

/// Tables (`table NAME from ...`, `lookup(T, key).field`) against a reference: the same patterns over streams that
/// carry, in each event, the value a brute-force rule finds for it — among every update of the key at or before
/// the time asked about, the one with the largest time (equal times: the later message), none after a deletion.
/// A condition asks as of its step's event, an alert as of the match's last event. Equal alerts mean the engine's
/// versions, their order, deletions, what it forgets and the watermark's wait for the table are right.
@Suite struct TableTests {
    static let source = """
        stream a from "a" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
        stream b from "b" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
        table t from "t" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
        pattern p1 { match s: a -> u: b where u.x > (lookup(t, u.k).x ?? 2) within 10s
          emit to "o" { k: s.k, ux: u.x, row: lookup(t, s.k).x ?? -1, last: u.ts } }
        pattern p2 { match s: a where s.x >= (lookup(t, s.k).x ?? 0) -> u: b within 5s
          emit to "o" { k: s.k, sx: s.x, row: lookup(t, s.k).x ?? -1, last: u.ts } }
        pattern p3 { match s: a -> not n: b where n.x == s.x within 5s
          emit to "o" { k: s.k, absent: s.x, row: lookup(t, s.k).x ?? -1, last: s.ts } }
        """

    /// The same patterns, each lookup replaced by a field its event carries (`lim` as of the event, `row` as of
    /// a `b` event, the last of p1's and p2's matches). p3's alerts go out a window after their last event, so they
    /// read versions the watermark has long passed.
    static let reference = """
        stream a from "a" { key k time ts lateness 3s fields { k: string, x: int, lim: int?, ts: time } }
        stream b from "b" { key k time ts lateness 3s fields { k: string, x: int, lim: int?, row: int?, ts: time } }
        pattern p1 { match s: a -> u: b where u.x > (u.lim ?? 2) within 10s
          emit to "o" { k: s.k, ux: u.x, row: u.row ?? -1, last: u.ts } }
        pattern p2 { match s: a where s.x >= (s.lim ?? 0) -> u: b within 5s
          emit to "o" { k: s.k, sx: s.x, row: u.row ?? -1, last: u.ts } }
        pattern p3 { match s: a -> not n: b where n.x == s.x within 5s
          emit to "o" { k: s.k, absent: s.x, row: s.lim ?? -1, last: s.ts } }
        """

    /// Events of `a`, `b` and table updates (`t`; x nil: a deletion) for three keys, out of order within the
    /// lateness, so that none is late.
    static func inputs(seed: UInt64, count: Int) -> [(stream: String, k: String, x: Int64?, ts: Int64)] {
        var rng = SplitMix(seed: seed)
        var list: [(stream: String, k: String, x: Int64?, ts: Int64, arrives: Int64)] = []
        var ts: Int64 = 0
        for _ in 0..<count {
            // Equal times now and then, so that ties between updates and events are tested.
            ts += Int64.random(in: 0...4, using: &rng) == 0 ? 0 : Int64.random(in: 1...1_200, using: &rng)
            let stream = ["a", "b", "t"].randomElement(using: &rng)!
            var x: Int64? = Int64.random(in: 0...5, using: &rng)
            if stream == "t" && Int.random(in: 0..<6, using: &rng) == 0 { x = nil }
            let k = ["k1", "k2", "k3"].randomElement(using: &rng)!
            list.append((stream, k, x, ts, ts + Int64.random(in: 0...2_500, using: &rng)))
        }
        return list.enumerated().sorted { ($0.element.arrives, $0.offset) < ($1.element.arrives, $1.offset) }.map {
            ($0.element.stream, $0.element.k, $0.element.x, $0.element.ts)
        }
    }

    /// The brute-force row: key `k`'s update with the largest time ≤ `time`, the later one of equal times.
    static func row(_ updates: [(k: String, x: Int64?, ts: Int64)], _ k: String, at time: Int64) -> Int64? {
        var best: (ts: Int64, x: Int64?)?
        for update in updates where update.k == k && update.ts <= time {
            if best == nil || update.ts >= best!.ts { best = (update.ts, update.x) }
        }
        return best?.x ?? nil
    }

    static func value(_ x: Int64?) -> Value { x.map { .int($0) } ?? .null }

    @Test func lookupsSeeTheRowAsOfTheirTime() throws {
        var alerts = 0
        for seed in UInt64(1)...12 {
            let input = Self.inputs(seed: seed, count: 500)
            let updates = input.filter { $0.stream == "t" }.map { (k: $0.k, x: $0.x, ts: $0.ts) }
            var withTables = try EngineHarness(Self.source)
            var reference = try EngineHarness(Self.reference)
            for event in input {
                let fields: [String: Value] = ["k": .string(event.k), "x": Self.value(event.x), "ts": .time(event.ts)]
                switch event.stream {
                case "t":
                    if event.x == nil {
                        withTables.sendDeletion("t", key: .string(event.k), ts: event.ts)
                    } else {
                        withTables.send("t", fields)
                    }
                case "a":
                    withTables.send("a", fields)
                    reference.send(
                        "a", fields.merging(["lim": Self.value(Self.row(updates, event.k, at: event.ts))]) { $1 })
                default:
                    withTables.send("b", fields)
                    let row = Self.value(Self.row(updates, event.k, at: event.ts))
                    reference.send("b", fields.merging(["lim": row, "row": row]) { $1 })
                }
            }
            let got = withTables.finish()
            let expected = reference.finish()
            let (gotSorted, expectedSorted) = (got.alerts.sorted(), expected.alerts.sorted())
            let missing = expectedSorted.filter { !gotSorted.contains($0) }
            let extra = gotSorted.filter { !expectedSorted.contains($0) }
            #expect(
                gotSorted == expectedSorted,
                "seed \(seed): \(missing.count) missing, e.g. \(missing.first ?? "-"); \(extra.count) extra, e.g. \(extra.first ?? "-")"
            )
            #expect(got.late.isEmpty && expected.late.isEmpty, "seed \(seed): \(got.late)")
            alerts += expected.alerts.count
            // At the end only each key's latest version can be read; deletions are gone.
            let tables = try #require(withTables.engine.tables)
            #expect(withTables.engine.stats.tableUpdates == updates.count)
            #expect(tables.versionCount <= 3, "seed \(seed): \(tables.versionCount) versions left")
            // A key whose last update deleted its row is gone.
            let live = Set(["k1", "k2", "k3"].filter { Self.row(updates, $0, at: .max) != nil })
            #expect(tables.keyCount(2) == live.count, "seed \(seed)")
        }
        #expect(alerts > 300, "too few alerts to test much: \(alerts)")
    }

    /// Runs `input` through the tables' patterns, restarting before each event in `cuts`: from a full snapshot, or
    /// (with `every`) from a store that incremental checkpoints keep up to date. Returns the alerts and late events.
    static func run(
        _ input: [(stream: String, k: String, x: Int64?, ts: Int64)], restartAt cuts: Set<Int>,
        checkpointEvery every: Int?
    ) throws -> [String] {
        var harness = try EngineHarness(Self.source)
        var store = MemoryEngineState()
        if every != nil { harness.engine.trackChanges() }
        for (i, event) in input.enumerated() {
            if cuts.contains(i) {
                if every != nil { try harness.restart(from: &store) } else { try harness.restart() }
            } else if let every, i % every == 0 {
                harness.engine.writeCheckpoint(into: &store)
            }
            let fields: [String: Value] = ["k": .string(event.k), "x": Self.value(event.x), "ts": .time(event.ts)]
            if event.stream == "t" && event.x == nil {
                harness.sendDeletion("t", key: .string(event.k), ts: event.ts)
            } else {
                harness.send(event.stream, fields)
            }
        }
        let result = harness.finish()
        return result.alerts + result.late
    }

    /// Table rows survive a restart — from a snapshot, and from incremental checkpoints that write only the keys
    /// whose versions changed (and delete those left with none): the alerts are the uninterrupted run's.
    @Test func restartsKeepTheRows() throws {
        for seed in UInt64(1)...6 {
            let input = Self.inputs(seed: seed, count: 400)
            let expected = try Self.run(input, restartAt: [], checkpointEvery: nil)
            let cuts: Set<Int> = [Int(seed) * 13, 120, 260 + Int(seed)]
            #expect(try Self.run(input, restartAt: cuts, checkpointEvery: nil) == expected, "seed \(seed), snapshots")
            #expect(
                try Self.run(input, restartAt: cuts, checkpointEvery: Int(seed) + 3) == expected,
                "seed \(seed), incremental checkpoints")
        }
    }

    /// What incremental checkpoints leave of a table in a store is what a full checkpoint writes: no key forgotten,
    /// none left behind once its versions are gone.
    @Test func incrementalCheckpointsLeaveTheSameRowsAsAFullOne() throws {
        var harness = try EngineHarness(Self.source)
        harness.engine.trackChanges()
        var store = MemoryEngineState()
        for (i, event) in Self.inputs(seed: 9, count: 300).enumerated() {
            if event.stream == "t" && event.x == nil {
                harness.sendDeletion("t", key: .string(event.k), ts: event.ts)
            } else {
                harness.send(event.stream, ["k": .string(event.k), "x": Self.value(event.x), "ts": .time(event.ts)])
            }
            guard i % 7 == 0 else { continue }
            // The full checkpoint of a copy first: the copy shares the engine's tables, and must not take the
            // notes the engine's own incremental checkpoint needs.
            var copy = harness.engine
            var full = MemoryEngineState()
            copy.writeCheckpoint(into: &full, full: true)
            harness.engine.writeCheckpoint(into: &store)
            let rows = { (s: MemoryEngineState) in s.records.filter { $0.key.first == UInt8(ascii: "r") } }
            #expect(rows(store) == rows(full), "after event \(i)")
        }
    }

    /// A changed table declaration starts the table empty: its stored rows are dropped, not misread.
    @Test func aChangedTableStartsEmpty() throws {
        var harness = try EngineHarness(Self.source)
        harness.engine.trackChanges()
        harness.send("t", ["k": .string("k1"), "x": .int(4), "ts": .time(0)])
        var store = MemoryEngineState()
        harness.engine.writeCheckpoint(into: &store)
        #expect(store.records.keys.contains { $0.first == UInt8(ascii: "r") })
        let changed = Self.source.replacingOccurrences(
            of: "lateness 3s fields { k: string, x: int", with: "lateness 2s fields { k: string, x: int")
        let automaton = try #require(Compiler.compile(text: changed).automaton)
        var fresh = Engine(automaton: automaton)
        _ = try fresh.restore(from: store)
        #expect(fresh.tables?.keyCount(2) == 0)
        fresh.writeCheckpoint(into: &store)
        #expect(!store.records.keys.contains { $0.first == UInt8(ascii: "r") }, "the old rows are deleted")
    }

    /// Versions no lookup can reach are dropped as the watermark passes: the store holds the versions of about
    /// a window's worth of updates, not all of them.
    @Test func oldVersionsAreForgotten() throws {
        var harness = try EngineHarness(Self.source)
        var most = 0
        for i in Int64(0)..<2_000 {
            harness.send("t", ["k": .string("k\(i % 3)"), "x": .int(i % 5), "ts": .time(i * 1_000)])
            harness.send("a", ["k": .string("k1"), "x": .int(0), "ts": .time(i * 1_000)])
            harness.send("b", ["k": .string("k1"), "x": .int(0), "ts": .time(i * 1_000)])
            most = max(most, harness.engine.tables!.versionCount)
        }
        // A 10 s window, 3 s of lateness, an update a second: ~15 versions can be needed, never thousands.
        #expect(most < 40, "\(most) versions held at once")
    }

    /// An update at or below the watermark of a pattern that reads the table is late: counted, and applied.
    @Test func aLateUpdateIsCountedAndApplied() throws {
        var harness = try EngineHarness(Self.source)
        for topic in ["a", "b", "t"] {
            harness.send(topic, ["k": .string("k9"), "x": .int(0), "ts": .time(20_000)])
        }
        harness.send("t", ["k": .string("k1"), "x": .int(4), "ts": .time(1_000)])
        #expect(harness.result.late == ["p1: t:1", "p2: t:1", "p3: t:1"])
        let tables = try #require(harness.engine.tables)
        let row = tables.row(2, key: .string("k1"), at: 30_000)
        #expect(row?.field(1) == .int(4))
    }

    /// A table's topic holds the watermark back: with no update yet, matching waits; a deletion ends a row.
    @Test func matchingWaitsForTheTableAndDeletionsEndRows() throws {
        var harness = try EngineHarness(Self.source)
        harness.send("t", ["k": .string("k1"), "x": .int(1), "ts": .time(0)])
        harness.send("a", ["k": .string("k1"), "x": .int(3), "ts": .time(1_000)])
        harness.send("b", ["k": .string("k1"), "x": .int(2), "ts": .time(2_000)])
        harness.sendDeletion("t", key: .string("k1"), ts: 1_500)
        // Far ahead on a and b; the table's partition is still at 1.5 s: nothing is matched yet.
        harness.send("a", ["k": .string("k2"), "x": .int(0), "ts": .time(60_000)])
        harness.send("b", ["k": .string("k2"), "x": .int(0), "ts": .time(60_000)])
        #expect(harness.result.alerts.isEmpty)
        harness.send("t", ["k": .string("k2"), "x": .int(0), "ts": .time(60_000)])
        // p1: 2 > (row deleted at 1.5 s → 2): no. p2: 3 >= 1 as of 1 s: yes, and its alert reads the row as of
        // 2 s, deleted: -1. (p3: no b with x 3 follows the a: an absence alert.)
        let p2 = harness.result.alerts.filter { $0.contains(#""pattern":"p2""#) }
        #expect(p2.count == 1)
        let alert = try #require(p2.first)
        #expect(alert.hasPrefix(#"{"k":"k1","sx":3,"row":-1,"last":2000,"#), "\(alert)")
    }

    /// A table is global: its one partition reaches every task, so events of every partition see its rows, and its
    /// end (a replay file's) frees every task's watermark. Only partition 0 of the table exists here.
    @Test func everyTaskReadsEveryPartitionOfATable() throws {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        var tasks = TaskEngines(automaton: automaton)
        for p in Int32(0)..<3 {
            for topic in ["a", "b"] { _ = tasks.source(topic: topic, partition: p) }
        }
        let table = tasks.source(topic: "t", partition: 0)
        var outputs: [MatchOutput] = []
        func send(_ stream: Int, _ partition: Int32, _ fields: [Value], _ ts: Int64, _ source: TaskEngines.SourceID) {
            let event = Event(
                stream: stream, timestamp: ts, fields: fields,
                origin: EventOrigin(topic: automaton.streams[stream].topic, partition: partition, offset: ts),
                sourceRank: tasks[source].rank)
            tasks.process(event, source: source, into: &outputs)
        }
        send(2, 0, [.string("k1"), .int(0), .time(0)], 0, table)
        send(2, 0, [.string("k2"), .int(0), .time(0)], 0, table)
        tasks.finish(table, into: &outputs)
        // k1's events on partition 1, k2's on partition 2: their tasks have no partition of the table of their own.
        for (partition, key) in [(Int32(1), "k1"), (2, "k2")] {
            send(
                0, partition, [.string(key), .int(1), .time(1_000)], 1_000,
                tasks.source(topic: "a", partition: partition))
            send(
                1, partition, [.string(key), .int(1), .time(2_000)], 2_000,
                tasks.source(topic: "b", partition: partition))
        }
        for p in Int32(0)..<3 {
            for topic in ["a", "b"] { tasks.finish(tasks.source(topic: topic, partition: p), into: &outputs) }
        }
        let formatter = AlertFormatter(automaton: automaton)
        let p2 = outputs.filter { automaton.patterns[$0.pattern].name == "p2" }.compactMap { formatter.format($0) }
        // p2: 1 >= (row 0) in both tasks, the alert reading the row (0), not its absence (-1).
        #expect(p2.count == 2, "\(p2)")
        #expect(p2.allSatisfy { $0.contains(#""row":0,"#) }, "\(p2)")
    }

    /// `cepd explain` names the tables a pattern reads and prints each lookup where it is (condition or alert).
    @Test func explainShowsTablesAndLookups() throws {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        let text = AutomatonRenderer(automaton: automaton).text(automaton.patterns[0])
        #expect(text.contains(#"tables:   t from "t" keyed by k: string"#), "\(text)")
        #expect(text.contains("u.x > (lookup(t, u.k).x ?? 2)"), "\(text)")
    }

    /// A lookup whose key is itself a lookup, in a condition and in an alert: the inner row is read first.
    @Test func aLookupKeyedByAnotherLookup() throws {
        let source = """
            stream a from "a" { key k time ts fields { k: string, ts: time } }
            table t from "t" { key k time ts fields { k: string, card: string, ts: time } }
            table c from "c" { key card time ts fields { card: string, risk: int, ts: time } }
            pattern p { match s: a where (lookup(c, lookup(t, s.k).card).risk ?? 0) > 1 within 1s
              emit to "o" { k: s.k, risk: lookup(c, lookup(t, s.k).card).risk } }
            """
        var harness = try EngineHarness(source)
        harness.send("t", ["k": .string("k1"), "card": .string("c1"), "ts": .time(0)])
        harness.send("c", ["card": .string("c1"), "risk": .int(3), "ts": .time(0)])
        harness.send("a", ["k": .string("k1"), "ts": .time(1_000)])
        let result = harness.finish()
        #expect(result.alerts.count == 1)
        #expect(result.alerts.first?.hasPrefix(#"{"k":"k1","risk":3,"#) == true, "\(result.alerts)")
    }
}
