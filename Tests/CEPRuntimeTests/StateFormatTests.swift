import CEPCore
import Foundation
import Testing

@testable import CEPRuntime

/// The checkpoint format is a contract with every user's state directory: a checkpoint an earlier cepd wrote must
/// restore and go on to the output of an uninterrupted run, and the same state must encode to the same bytes (so
/// that moving the encoding between types cannot change it unnoticed). Each fixture is a snapshot of
/// `SnapshotTests.source` after the first 130 of seed 2's events; it holds partial matches, held matches (`skip
/// none`), buffered out-of-order events, timers and timeouts in flight. Format 2 was written by commit b8a47d0 (a
/// pattern's waiting events inside its record), format 3 by the commit that gave each waiting event a record, format 4
/// by the one that added `suppress` (a pattern's record counts suppressed alerts), format 5 by the one that added
/// tables (the engine record lists them; this source has none, so their rows are tested in `TableTests`).
@Suite struct StateFormatTests {
    static func fixture(format: UInt64) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/snapshot-format\(format)-seed2.bin")
    }
    static let cut = 130

    static func input() -> [(String, [String: Value])] { SnapshotTests().events(seed: 2, count: 200) }

    /// With `CEPD_RECORD_STATE_FIXTURE=1` it records the fixture instead (and fails, saying so): only for a
    /// deliberate format change — bump `Engine.stateVersion` and keep a test of the old fixture as the upgrade path.
    @Test func theSameStateEncodesToTheStoredBytes() throws {
        var harness = try EngineHarness(SnapshotTests.source)
        for (stream, fields) in Self.input().prefix(Self.cut) { harness.send(stream, fields) }
        let written = harness.engine.snapshot()
        let fixture = Self.fixture(format: Engine.stateVersion)
        if ProcessInfo.processInfo.environment["CEPD_RECORD_STATE_FIXTURE"] == "1" {
            try Data(written).write(to: fixture)
            Issue.record("recorded \(fixture.path); run again without CEPD_RECORD_STATE_FIXTURE to check it")
            return
        }
        let stored = try [UInt8](Data(contentsOf: fixture))
        #expect(written.count == stored.count)
        #expect(
            written == stored,
            "first difference at byte \(written.indices.first { $0 >= stored.count || written[$0] != stored[$0] } ?? -1)"
        )
    }

    /// Every older format restores to the same state as the current one: its snapshot is the current fixture.
    @Test(arguments: [UInt64(2), 3, 4])
    func anOlderCheckpointRestoresToTheCurrentState(format: UInt64) throws {
        let automaton = try EngineHarness(SnapshotTests.source).automaton
        var restored = Engine(automaton: automaton)
        _ = try restored.restore([UInt8](Data(contentsOf: Self.fixture(format: format))))
        #expect(restored.snapshot() == (try [UInt8](Data(contentsOf: Self.fixture(format: Engine.stateVersion)))))
    }

    /// The next checkpoint into a store that held a format 2 checkpoint leaves exactly what the current format
    /// writes: the waiting events as records of their own (none forgotten, though format 2 kept them in the
    /// pattern's record).
    @Test func aFormat2CheckpointIsRewrittenInTheCurrentFormat() throws {
        let automaton = try EngineHarness(SnapshotTests.source).automaton
        let format2 = try [UInt8](Data(contentsOf: Self.fixture(format: 2)))
        var restored = Engine(automaton: automaton)
        _ = try restored.restore(format2)
        // The store as format 2 left it.
        var store = try MemoryEngineState(snapshot: format2)
        #expect(!store.records.keys.contains { $0.first == UInt8(ascii: "w") }, "format 2 has no waiting records")
        var upgraded = Engine(automaton: automaton)
        upgraded.trackChanges()
        _ = try upgraded.restore(from: store)
        let counts = upgraded.writeCheckpoint(into: &store)
        #expect(counts.waitingWritten > 0)
        #expect(counts.waitingWritten == restored.matchers.reduce(0) { $0 + $1.bufferedEvents })
        #expect(store.records == (try MemoryEngineState(snapshot: restored.snapshot())).records)
    }

    @Test(arguments: [UInt64(2), 3, 4, 5])
    func aStoredCheckpointRestoresToTheUninterruptedOutput(format: UInt64) throws {
        let input = Self.input()
        var uninterrupted = try EngineHarness(SnapshotTests.source)
        for (i, (stream, fields)) in input.enumerated() {
            if i == Self.cut { uninterrupted.result = EngineHarness.Result() }  // only what follows the cut
            uninterrupted.send(stream, fields)
        }
        let expected = uninterrupted.finish()
        #expect(expected.alerts.count > 10, "the rest should produce alerts")

        var restored = try EngineHarness(SnapshotTests.source)
        var engine = Engine(automaton: restored.automaton)
        let report = try engine.restore([UInt8](Data(contentsOf: Self.fixture(format: format))))
        restored.engine = engine
        #expect(report.restored.sorted() == ["absent", "anyof", "loop", "relaxed"])
        #expect(report.keys > 0)
        // What the fixture is meant to carry across the cut.
        #expect(engine.matchers.contains { $0.openPartialMatches > 0 }, "no partial match at the cut")
        #expect(engine.matchers.contains { $0.bufferedEvents > 0 }, "no event waiting for the watermark at the cut")
        #expect(
            engine.matchers.contains { $0.slots.contains { !$0.state.completed.elements.isEmpty } },
            "no held match at the cut")
        #expect(engine.matchers.contains { !$0.timers.heap.entries.isEmpty }, "no timer at the cut")
        // The offsets the harness numbers events with go on from the cut, as the input's positions would.
        for (stream, _) in input.prefix(Self.cut) { restored.offsets[stream, default: 0] += 1 }  // topic = stream
        for (stream, fields) in input.dropFirst(Self.cut) { restored.send(stream, fields) }
        let got = restored.finish()
        #expect(got.alerts == expected.alerts)
        #expect(got.matches == expected.matches)
        #expect(got.timeouts == expected.timeouts)
        #expect(got.late == expected.late)
    }
}
