import CEPCompiler
import CEPCore
import CEPRuntime
import Testing

/// Tasks by partition: task i owns partition i of every topic, with its own watermark and state.
@Suite struct TaskEnginesTests {
    static let source = """
        stream a from "a" { key k time ts lateness 0s fields { k: string, ts: time } }
        stream b from "b" { key k time ts lateness 0s fields { k: string, ts: time } }
        pattern pair { match x: a -> y: b within 10s emit to "o" { k: x.k } }
        """

    struct Feed {
        var tasks: TaskEngines
        var outputs: [MatchOutput] = []
        var late: [String] = []
        var offsets: [String: Int64] = [:]

        init(_ automaton: Automaton, partitions: Int32) {
            tasks = TaskEngines(automaton: automaton)
            for p in 0..<partitions {
                for topic in tasks.inputTopics { _ = tasks.source(topic: topic, partition: p) }
            }
        }

        mutating func send(_ topic: String, _ partition: Int32, key: String, at ts: Int64) {
            let source = tasks.source(topic: topic, partition: partition)
            let offset = offsets["\(topic)/\(partition)", default: 0]
            offsets["\(topic)/\(partition)"] = offset + 1
            let event = Event(
                stream: topic == "a" ? 0 : 1, timestamp: ts, fields: [.string(key), .time(ts)],
                origin: EventOrigin(topic: topic, partition: partition, offset: offset), sourceRank: tasks[source].rank)
            if !tasks.process(event, source: source, into: &outputs).isEmpty {
                late.append("\(topic)/\(partition)@\(offset)")
            }
        }

        var matchKeys: [String] { outputs.map { Self.name($0.key) }.sorted() }

        static func name(_ key: Value) -> String { if case .string(let s) = key { s } else { "\(key)" } }
    }

    /// A partition far ahead does not make another task's events late, and a task's own partitions do: the
    /// watermark is the minimum over the task's partitions only.
    @Test func eachTaskHasItsOwnWatermark() throws {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        var feed = Feed(automaton, partitions: 2)
        for topic in ["a", "b"] { feed.send(topic, 0, key: "k0", at: 50_000) }  // task 0 far ahead
        feed.send("a", 1, key: "k1", at: 1_000)
        feed.send("b", 1, key: "k1", at: 2_000)  // task 1: a match at 2 s, whatever task 0's time
        feed.send("b", 1, key: "k1", at: 20_000)
        feed.send("a", 1, key: "k1", at: 30_000)  // task 1's watermark: 19.999 s
        #expect(feed.late.isEmpty)
        #expect(feed.tasks.watermark(ofPattern: PatternID(0), task: TaskID(0)) == 49_999)
        #expect(feed.tasks.watermark(ofPattern: PatternID(0), task: TaskID(1)) == 19_999)
        #expect(feed.matchKeys == ["k1"])
        // Late in task 0 (its partitions are both at 50 s), though a single watermark over both tasks (19.999 s)
        // would have taken it.
        feed.send("a", 0, key: "k0", at: 40_000)
        #expect(feed.late == ["a/0@1"])
        #expect(feed.tasks.tasks == [TaskID(0), TaskID(1)])
        #expect(feed.tasks.stats.events == 7)
    }

    /// Random co-partitioned input over three tasks: the tasks together emit what three separate engines, each
    /// fed one partition of each topic, emit; and checkpointing every task at a random point, restoring into
    /// fresh tasks and going on gives the same matches as never stopping.
    @Test func tasksAreIndependentAndRestoreFromOneStore() throws {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var events: [(topic: String, partition: Int32, key: String, ts: Int64)] = []
            var time: [Int32: Int64] = [0: 0, 1: 0, 2: 0]
            for _ in 0..<300 {
                let key = Int.random(in: 0..<9, using: &generator)
                let partition = Int32(key % 3)
                time[partition]! += Int64.random(in: -3_000...4_000, using: &generator)
                events.append(
                    (Bool.random(using: &generator) ? "a" : "b", partition, "k\(key)", max(0, time[partition]!)))
            }
            var whole = Feed(automaton, partitions: 3)
            for e in events { whole.send(e.topic, e.partition, key: e.key, at: e.ts) }
            whole.tasks.finishAll(into: &whole.outputs)

            var separate: [String] = []
            var separateLate: [String] = []
            for p in Int32(0)..<3 {
                var single = Engine(automaton: automaton)
                var outputs: [MatchOutput] = []
                let sources = [
                    "a": single.source(topic: "a", partition: p), "b": single.source(topic: "b", partition: p),
                ]
                var offsets: [String: Int64] = [:]
                for e in events where e.partition == p {
                    let offset = offsets[e.topic, default: 0]
                    offsets[e.topic] = offset + 1
                    let event = Event(
                        stream: e.topic == "a" ? 0 : 1, timestamp: e.ts, fields: [.string(e.key), .time(e.ts)],
                        origin: EventOrigin(topic: e.topic, partition: p, offset: offset),
                        sourceRank: single.sources[sources[e.topic]!].rank)
                    if !single.process(event, source: sources[e.topic]!, into: &outputs).isEmpty {
                        separateLate.append("\(e.topic)/\(p)@\(offset)")
                    }
                }
                single.finishAll(into: &outputs)
                separate += outputs.map { Feed.name($0.key) }
            }
            #expect(whole.matchKeys == separate.sorted())
            #expect(whole.late.sorted() == separateLate.sorted())

            let cut = Int.random(in: 0...events.count, using: &generator)
            var first = Feed(automaton, partitions: 3)
            first.tasks.trackChanges()
            for e in events[..<cut] { first.send(e.topic, e.partition, key: e.key, at: e.ts) }
            var store = MemoryEngineState()
            for task in first.tasks.tasks { first.tasks.writeCheckpoint(task: task, into: &store) }
            var second = Feed(automaton, partitions: 0)
            for task in (0..<3).map(TaskID.init) { _ = try #require(try second.tasks.restore(task: task, from: store)) }
            second.outputs = first.outputs
            second.late = first.late
            second.offsets = first.offsets
            for e in events[cut...] { second.send(e.topic, e.partition, key: e.key, at: e.ts) }
            second.tasks.finishAll(into: &second.outputs)
            #expect(second.matchKeys == whole.matchKeys)
            #expect(second.late == whole.late)
        }
    }
}
