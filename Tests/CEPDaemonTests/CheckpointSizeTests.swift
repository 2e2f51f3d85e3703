import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation
import Testing

@testable import CEPDaemon

/// A large state through the real checkpoint store: one million keys, each with an open partial match, written
/// by one checkpoint into RocksDB and restored into a fresh engine. Reports the checkpoint's size and the time
/// taken (debug build: the figures are for orientation; Benchmarks/ holds the measured ones).
@Suite struct CheckpointSizeTests {
    static let source = """
        stream a from "a" { key k time ts lateness 0s fields { k: string, ts: time } }
        stream b from "b" { key k time ts lateness 0s fields { k: string, ts: time } }
        pattern pair { match x: a -> y: b within 1h emit to "o" { k: x.k } }
        """

    @Test func aMillionOpenKeysCheckpointAndRestore() throws {
        let keys = 1_000_000
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        var engine = TaskEngines(automaton: automaton)
        engine.trackChanges()
        let a = engine.source(topic: "a", partition: 0)
        let b = engine.source(topic: "b", partition: 0)
        var outputs: [MatchOutput] = []
        engine.setIdle(b, true, into: &outputs)
        let base: Int64 = 1_767_225_600_000
        for i in 0..<keys {
            let event = Event(
                stream: 0, timestamp: base + Int64(i), fields: [.string("k\(i)"), .time(base + Int64(i))],
                origin: EventOrigin(topic: "a", partition: 0, offset: Int64(i)), sourceRank: engine[a].rank)
            engine.process(event, source: a, into: &outputs)
        }
        // All but the last event (at the watermark's edge) have started a partial match of their key.
        let open = engine.engine(0)!.matchers[0].activeKeys
        #expect(open == keys - 1)
        #expect(outputs.isEmpty)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-size-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let record = DaemonCheckpoint(task: 0, number: 1, writtenAt: 0, clusterID: nil, inputs: [], outputs: [])
        let cost: CheckpointStore.Cost
        let size: Int
        do {
            let store = try CheckpointStore(path: dir.path)
            cost = try store.write(&engine, records: [record], changelog: nil)
            size = store.approximateSize
        }
        #expect(cost.counts.keysWritten == open)

        let restoreStart = DispatchTime.now().uptimeNanoseconds
        let store = try CheckpointStore(path: dir.path)
        var tasks = TaskEngines(automaton: automaton)
        let report = try #require(try tasks.restore(task: 0, from: store))
        var restored = try #require(tasks.engine(0))
        let restoreSeconds = Double(DispatchTime.now().uptimeNanoseconds - restoreStart) / 1e9
        #expect(report.keys == open)
        #expect(restored.matchers[0].activeKeys == open)
        #expect(restored.matchers[0].openPartialMatches == engine.engine(0)!.matchers[0].openPartialMatches)
        #expect(restored.matchers[0].bufferedEvents == engine.engine(0)!.matchers[0].bufferedEvents)

        // The restored partial matches are live: a `b` completes one.
        let last = base + Int64(keys)
        let complete = Event(
            stream: 1, timestamp: last, fields: [.string("k123456"), .time(last)],
            origin: EventOrigin(topic: "b", partition: 0, offset: 0), sourceRank: restored.sources[b.source].rank)
        restored.process(complete, source: b.source, into: &outputs)
        restored.finishAll(into: &outputs)
        #expect(outputs.filter { $0.kind == .match && $0.key == .string("k123456") }.count == 1)

        print(
            """
            checkpoint of \(open) keys with an open partial match: \(cost.batchBytes / 1_048_576) MiB in the batch \
            (\(cost.batchBytes / open) bytes per key), \(size / 1_048_576) MiB in RocksDB, written in \
            \(String(format: "%.2f", cost.milliseconds / 1000)) s; restored in \(String(format: "%.2f", restoreSeconds)) s
            """)
    }
}
