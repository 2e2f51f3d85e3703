import CEPCore
import Dispatch
import TestSupport
import Testing

@testable import CEPRuntime

/// Stopping a run anywhere, snapshotting, and restoring into a fresh engine gives exactly the alerts of an
/// uninterrupted run — including partial matches, held matches, buffered out-of-order events, timers and
/// watermarks in flight at the cut.
@Suite struct SnapshotTests {
    static let source = """
        stream a from "a" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
        stream b from "b" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
        pattern relaxed { match s: a -> t: b where t.x > s.x within 10s
          emit to "o" { k: s.k, sx: s.x } on timeout emit to "t" { k: s.k } }
        pattern loop { match s: a{2,} -> t: b within 8s emit to "o" { n: count(s), total: sum(s.x) } }
        pattern absent { match s: a where s.x > 2 -> not n: b where n.x == s.x within 5s emit to "o" { k: s.k } }
        pattern anyof { match s: a ->> t: b , u: a skip none within 6s emit to "o" { k: s.k } }
        """

    /// Random events for three keys, out of order within the lateness.
    func events(seed: UInt64, count: Int) -> [(String, [String: Value])] {
        var rng = SplitMix(seed: seed)
        var list: [(ts: Int64, delay: Int64, stream: String, fields: [String: Value])] = []
        var ts: Int64 = 0
        for _ in 0..<count {
            ts += Int64.random(in: 0...1_500, using: &rng)
            let fields: [String: Value] = [
                "k": .string(["k1", "k2", "k3"].randomElement(using: &rng)!),
                "x": .int(Int64.random(in: 0...5, using: &rng)), "ts": .time(ts),
            ]
            list.append((ts, Int64.random(in: 0...2_500, using: &rng), Bool.random(using: &rng) ? "a" : "b", fields))
        }
        // Arrival order: per stream by time plus delay (a partition's disorder stays within the lateness).
        return list.sorted { ($0.ts + $0.delay) < ($1.ts + $1.delay) }.map { ($0.stream, $0.fields) }
    }

    /// Runs `events`, restarting before each event in `cuts` with a fresh engine: restored from a full snapshot,
    /// or — with `checkpointEvery` — from one store that incremental checkpoints (every that many events, and at
    /// each cut) keep up to date, writing only what changed.
    func run(
        _ events: [(String, [String: Value])], restartAt cuts: Set<Int>, checkpointEvery every: Int? = nil,
        source: String = Self.source
    ) throws -> [String] {
        var harness = try EngineHarness(source)
        var store = MemoryEngineState()
        if every != nil { harness.engine.trackChanges() }
        for (i, (stream, fields)) in events.enumerated() {
            if cuts.contains(i) {
                if every != nil { try harness.restart(from: &store) } else { try harness.restart() }
            } else if let every, i % every == 0 {
                harness.engine.writeCheckpoint(into: &store)
            }
            harness.send(stream, fields)
        }
        let result = harness.finish()
        return result.alerts + result.late
    }

    @Test func restoredRunsEmitExactlyTheUninterruptedAlerts() throws {
        for seed in UInt64(1)...8 {
            let input = events(seed: seed, count: 200)
            let expected = try run(input, restartAt: [])
            #expect(expected.count > 20, "the stream should produce alerts")
            let cuts: Set<Int> = [Int(seed) * 7, 50, 99, 150 + Int(seed)]
            #expect(try run(input, restartAt: cuts) == expected, "seed \(seed)")
        }
    }

    @Test func everyCutPointRoundTrips() throws {
        let input = events(seed: 42, count: 60)
        let expected = try run(input, restartAt: [])
        for cut in 0..<input.count {
            #expect(try run(input, restartAt: [cut]) == expected, "cut \(cut)")
        }
    }

    @Test func runsRestoredFromIncrementalCheckpointsEmitExactlyTheUninterruptedAlerts() throws {
        for seed in UInt64(1)...8 {
            let input = events(seed: seed, count: 200)
            let expected = try run(input, restartAt: [])
            let cuts: Set<Int> = [Int(seed) * 11, 60, 101, 170 + Int(seed)]
            #expect(try run(input, restartAt: cuts, checkpointEvery: Int(seed) + 2) == expected, "seed \(seed)")
        }
    }

    /// What incremental checkpoints leave in a store is exactly what a full checkpoint of the same state writes
    /// into an empty one: no key forgotten, none left behind after its state emptied.
    @Test func incrementalCheckpointsLeaveTheSameRecordsAsAFullOne() throws {
        for seed in UInt64(1)...4 {
            var harness = try EngineHarness(Self.source)
            harness.engine.trackChanges()
            var store = MemoryEngineState()
            var sawDeletion = false
            var sawWaitingDeleted = false
            for (i, (stream, fields)) in events(seed: seed, count: 300).enumerated() {
                harness.send(stream, fields)
                guard i % 9 == 0 else { continue }
                let counts = harness.engine.writeCheckpoint(into: &store)
                sawDeletion = sawDeletion || counts.keysDeleted > 0
                sawWaitingDeleted = sawWaitingDeleted || counts.waitingChunksDeleted > 0
                // Nothing changed since: the next checkpoint writes nothing but the records of the engine and its
                // patterns (an event waiting for the watermark is written once, not at every checkpoint).
                var again = harness.engine
                let repeated = again.writeCheckpoint(into: &store)
                #expect(repeated == Engine.CheckpointCounts(), "seed \(seed), after event \(i): \(repeated)")
                let difference = Self.difference(store, fullCheckpointOf: harness.engine)
                #expect(difference == nil, "seed \(seed), after event \(i): \(difference ?? "")")
            }
            #expect(sawDeletion, "seed \(seed): no key emptied, so deletions went untested")
            #expect(
                sawWaitingDeleted, "seed \(seed): no stored waiting event was matched, so its deletion went untested")
        }
    }

    /// A checkpoint captured, then encoded on another thread while the engine goes on changing the same keys,
    /// writes exactly what a checkpoint written at the capture's instant would: the capture shares the keys'
    /// states with the engine and must not see its later changes.
    @Test func aCaptureWrittenLaterHoldsTheStateOfItsInstant() throws {
        for seed in UInt64(1)...4 {
            var harness = try EngineHarness(Self.source)
            harness.engine.trackChanges()
            let input = events(seed: seed, count: 300)
            var captures: [(CheckpointCapture, expected: MemoryEngineState)] = []
            for (i, (stream, fields)) in input.enumerated() {
                harness.send(stream, fields)
                guard i % 25 == 24 else { continue }
                var expected = MemoryEngineState()
                var copy = harness.engine
                copy.writeCheckpoint(into: &expected, full: true)
                captures.append((harness.engine.captureCheckpoint(full: true), expected))
            }
            // Written on another thread after the engine has processed every event.
            let written = DispatchQueue(label: "capture").sync {
                captures.map { capture, _ in
                    var store = MemoryEngineState()
                    var capture = capture
                    capture.write(into: &store)
                    return store
                }
            }
            #expect(captures.count == 12)
            for (n, (store, (_, expected))) in zip(written, captures).enumerated() {
                #expect(
                    store.records == expected.records,
                    "seed \(seed), capture \(n): \(store.records.count) records, \(expected.records.count) expected")
            }
        }
    }

    @Test func damagedSnapshotsAreRefusedWithAMessage() throws {
        var harness = try EngineHarness(Self.source)
        for (stream, fields) in events(seed: 3, count: 50) { harness.send(stream, fields) }
        let bytes = harness.engine.snapshot()
        var fresh = Engine(automaton: harness.automaton)
        #expect(throws: SnapshotError.self) { _ = try fresh.restore(Array(bytes.prefix(bytes.count / 2))) }
        var wrongVersion = bytes
        wrongVersion[4] = 99
        var other = Engine(automaton: harness.automaton)
        do {
            _ = try other.restore(wrongVersion)
            Issue.record("a snapshot of another format was accepted")
        } catch {
            #expect(error.message == "snapshot format 99 is not one this cepd reads (2 to \(Engine.stateVersion))")
        }
        var flipped = bytes
        for i in stride(from: 5, to: flipped.count, by: 7) { flipped[i] ^= 0x5A }
        var third = Engine(automaton: harness.automaton)
        _ = try? third.restore(flipped)  // must not crash, whatever it decides
    }

    /// Each byte of a snapshot damaged in turn: the restore refuses it, or what it accepts runs on (matching,
    /// windows ending, alerts written) without a crash. Issue 18: the checkpoint fuzzer (Fuzz/) found records
    /// that decoded into a node of an unknown step, which crashed the alert formatter later.
    @Test func everyDamagedByteIsRefusedOrRunsSafely() throws {
        var harness = try EngineHarness(Self.source)
        let all = events(seed: 5, count: 40)
        for (stream, fields) in all.prefix(20) { harness.send(stream, fields) }
        let bytes = harness.engine.snapshot()
        var accepted = 0
        var refused = 0
        for i in 5..<bytes.count {
            for flip: UInt8 in [0x01, 0xFF] {
                var damaged = bytes
                damaged[i] ^= flip
                var fresh = Engine(automaton: harness.automaton)
                guard (try? fresh.restore(damaged)) != nil else {
                    refused += 1
                    continue
                }
                accepted += 1
                var resumed = harness
                resumed.engine = fresh
                for (stream, fields) in all.suffix(20) { resumed.send(stream, fields) }
                _ = resumed.finish()
            }
        }
        #expect(refused > 0 && accepted > 0, "refused \(refused), accepted \(accepted)")
    }

    /// A damaged store can spell one key twice (two invalid UTF-8 spellings both read as U+FFFD): refused, not
    /// restored into a slot the key index cannot reach.
    @Test func aKeyStoredTwiceIsRefused() throws {
        var harness = try EngineHarness(Self.source)
        harness.send("a", ["k": .string("u1"), "x": .int(3), "ts": .time(15_000)])
        // Both inputs past the lateness: u1's event leaves the buffer for its key's state.
        harness.send("a", ["k": .string("u2"), "x": .int(0), "ts": .time(20_000)])
        harness.send("b", ["k": .string("u2"), "x": .int(0), "ts": .time(20_000)])
        var store = MemoryEngineState()
        harness.engine.writeCheckpoint(into: &store, full: true)
        let records = store.records.filter {
            $0.key.first == UInt8(ascii: "k") && $0.key.suffix(2) == Array("u1".utf8)[...]
        }
        #expect(!records.isEmpty, "\(store.records.keys.map { String(decoding: $0, as: UTF8.self) })")
        for (key, value) in records {
            store.delete(key)
            for spelling: UInt8 in [0xFF, 0xFE] { store.put(Array(key.dropLast()) + [spelling], value) }
        }
        var fresh = Engine(automaton: harness.automaton)
        do {
            _ = try fresh.restore(from: store)
            Issue.record("a key stored twice was restored")
        } catch let error as SnapshotError {
            #expect(error.message.contains("stored twice"), "\(error.message)")
        }
    }

    @Test func changedPatternsStartEmptyAndTheOthersKeepTheirState() throws {
        var harness = try EngineHarness(Self.source)
        for (stream, fields) in events(seed: 5, count: 80) { harness.send(stream, fields) }
        let bytes = harness.engine.snapshot()
        let changed = try EngineHarness(Self.source.replacingOccurrences("within 8s", with: "within 9s"))
        var engine = Engine(automaton: changed.automaton)
        let report = try engine.restore(bytes)
        #expect(report.started == ["loop"])
        #expect(report.restored == ["relaxed", "absent", "anyof"])
    }

    /// A changed pattern's stored state goes at the next checkpoint: the store then holds what a full checkpoint of
    /// the new engine writes, and nothing of the old pattern's keys.
    @Test func theStateOfAChangedPatternIsDeletedAtTheNextCheckpoint() throws {
        var harness = try EngineHarness(Self.source)
        harness.engine.trackChanges()
        for (stream, fields) in events(seed: 5, count: 80) { harness.send(stream, fields) }
        var store = MemoryEngineState()
        harness.engine.writeCheckpoint(into: &store)
        let loopKeys = Array("kloop".utf8) + [0]
        #expect(
            store.records.keys.contains { $0.starts(with: loopKeys) }, "the old pattern had no keys: nothing to delete")
        let changed = try EngineHarness(Self.source.replacingOccurrences("within 8s", with: "within 9s"))
        var engine = Engine(automaton: changed.automaton)
        engine.trackChanges()
        #expect(try engine.restore(from: store)?.started == ["loop"])
        engine.writeCheckpoint(into: &store)
        #expect(!store.records.keys.contains { $0.starts(with: loopKeys) })
        #expect(!store.records.keys.contains { $0.starts(with: Array("wloop".utf8) + [0]) })
        let difference = Self.difference(store, fullCheckpointOf: engine)
        #expect(difference == nil, "\(difference ?? "")")
    }

    /// Thousands of events waiting across checkpoints (stream `a` far ahead of `b`, which holds the watermark
    /// back): they go to the store in several chunks each time, chunks are deleted as the watermark passes them,
    /// and restarts from the store anywhere give the uninterrupted output.
    @Test func manyWaitingEventsGoToTheStoreInChunks() throws {
        // One pattern, with few partial matches per key: the waiting events are what this is about.
        let source = """
            stream a from "a" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
            stream b from "b" { key k time ts lateness 3s fields { k: string, x: int, ts: time } }
            pattern high { match s: a where s.x == 5 -> t: b where t.x > 3 within 2s emit to "o" { k: s.k, sx: s.x } }
            """
        var input: [(String, [String: Value])] = []
        var rng = SplitMix(seed: 9)
        func event(_ ts: Int64) -> [String: Value] {
            [
                "k": .string(["k1", "k2", "k3"].randomElement(using: &rng)!),
                "x": .int(Int64.random(in: 0...5, using: &rng)), "ts": .time(ts),
            ]
        }
        input.append(("b", event(0)))
        for i in 0..<12_000 {
            input.append(("a", event(4_000 + Int64(i) * 10)))
            // `b` moves slowly, so the watermark passes a few hundred of `a`'s events at a time.
            if i % 500 == 499 { input.append(("b", event(Int64(i) * 6))) }
        }
        for i in 0..<30 { input.append(("b", event(75_000 + Int64(i) * 1_500))) }

        var harness = try EngineHarness(source)
        harness.engine.trackChanges()
        var store = MemoryEngineState()
        var largest = 0
        var chunksDeleted = 0
        for (i, (stream, fields)) in input.enumerated() {
            harness.send(stream, fields)
            guard i % 5_000 == 4_999 || i == input.count - 1 else { continue }
            let counts = harness.engine.writeCheckpoint(into: &store)
            largest = max(largest, counts.waitingWritten)
            chunksDeleted += counts.waitingChunksDeleted
            let difference = Self.difference(store, fullCheckpointOf: harness.engine)
            #expect(difference == nil, "after event \(i): \(difference ?? "")")
        }
        #expect(largest > 2 * Int(PendingEvents.Changes.chunkSize), "no checkpoint wrote three chunks or more")
        #expect(chunksDeleted > 2, "chunks the watermark passed were not deleted")
        let expected = try run(input, restartAt: [], source: source)
        #expect(expected.count > 10, "the stream should produce alerts")
        #expect(try run(input, restartAt: [3_000, 7_777, 12_010], checkpointEvery: 4_100, source: source) == expected)
    }

    /// A reload (`Engine.reloading`) loses the notes of what the store holds; the next checkpoint into the same
    /// store still leaves exactly what a full one writes: no waiting event matched before the reload is left behind.
    @Test func aCheckpointAfterAReloadLeavesWhatAFullOneWrites() throws {
        for seed in UInt64(1)...4 {
            var harness = try EngineHarness(Self.source)
            harness.engine.trackChanges()
            let input = events(seed: seed, count: 120)
            var store = MemoryEngineState()
            for (stream, fields) in input.prefix(60) { harness.send(stream, fields) }
            harness.engine.writeCheckpoint(into: &store)
            let stored = store.records.keys.filter { $0.first == UInt8(ascii: "w") }.count
            #expect(stored > 0, "seed \(seed): no waiting event stored")
            for (stream, fields) in input.dropFirst(60).prefix(20) { harness.send(stream, fields) }
            var engine = try harness.engine.reloading(harness.automaton).engine
            let counts = engine.writeCheckpoint(into: &store)
            #expect(counts.waitingWritten == engine.matchers.reduce(0) { $0 + $1.bufferedEvents })
            let difference = Self.difference(store, fullCheckpointOf: engine)
            #expect(difference == nil, "seed \(seed): \(difference ?? "")")
        }
    }

    /// How `store` differs from what a full checkpoint of `engine` writes into an empty store, or nil when it holds
    /// the same: the same records of the engine, its patterns and keys, and chunks of waiting events that restore
    /// to the engine's queues — none of them all matched already (those the checkpoint deletes). Chunks are not
    /// compared byte for byte: incremental checkpoints cut them where the checkpoints fell.
    static func difference(_ store: MemoryEngineState, fullCheckpointOf engine: Engine) -> String? {
        var full = MemoryEngineState()
        var copy = engine
        copy.writeCheckpoint(into: &full, full: true)
        func names(_ keys: [[UInt8]]) -> String { keys.map { String(decoding: $0, as: UTF8.self) }.description }
        let waiting = UInt8(ascii: "w")
        let missing = full.records.keys.filter { $0.first != waiting && store.records[$0] == nil }
        let extra = store.records.keys.filter { $0.first != waiting && full.records[$0] == nil }
        let stale = full.records.keys.filter { key in
            key.first != waiting && store.records[key].map { $0 != full.records[key] } ?? false
        }
        guard missing.isEmpty && extra.isEmpty && stale.isEmpty else {
            return "records missing: \(names(missing)), left behind: \(names(extra)), stale: \(names(stale))"
        }
        var restored = Engine(automaton: engine.automaton)
        do {
            _ = try restored.restore(from: store)
        } catch {
            return "the store does not restore: \(error)"
        }
        guard restored.snapshot() == engine.snapshot() else { return "the store restores to another state" }
        for matcher in restored.matchers {
            let done = matcher.pending.chunks.filter { $0.latest <= matcher.watermark }.count
            if done > 0 { return "\(done) chunks of waiting events left behind, all their events matched" }
        }
        return nil
    }
}
