import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Dispatch
import TestSupport
import Testing

/// The driver in process, on a manual clock: the items a reader sends, the alerts, side outputs and positions that
/// come out, and the items it hands back to its adapter.
@Suite struct EngineDriverTests {
    static let source = """
        stream a from "a" { key k time ts lateness 0s fields { k: string, ts: time } }
        stream b from "b" { key k time ts lateness 0s fields { k: string, ts: time } }
        pattern pair { match x: a -> y: b within 10s emit to "o" { k: x.k } }
        """

    /// Builds batches as a reader does: messages decoded with the topics' decoders, bytes kept in the batch.
    struct Reader {
        let automaton: Automaton
        let batch = InputBatch()
        var topics: [Int: String] = [:]

        mutating func open(_ input: Int, _ topic: String, _ partition: Int32) {
            topics[input] = topic
            batch.items.append(.opened(input: input, topic: topic, partition: partition))
        }

        func message(_ input: Int, _ offset: Int64, _ json: String) {
            let bytes = Array(json.utf8)
            let range = bytes.withUnsafeBufferPointer { batch.keep($0) }
            let record = InputRecord(input: input, offset: offset, value: range)
            let decoder = EventDecoder(automaton: automaton, topic: topics[input]!)
            let before = batch.decoded.count
            let failure = bytes.withUnsafeBufferPointer { decoder.decode($0, into: &batch.decoded) }
            if let failure {
                batch.items.append(.deadLetter(record, reason: failure.reason))
            } else {
                batch.items.append(.events(record, count: batch.decoded.count - before))
            }
        }

        func event(_ input: Int, _ offset: Int64, key: String, at ts: Int64) {
            message(input, offset, #"{"k":"\#(key)","ts":\#(ts)}"#)
        }
    }

    /// Runs a batch to its end, opening what the reader opened at `now` and collecting what the adapter would see.
    struct Adapter {
        var driver: EngineDriver
        var alerts: [String] = []
        var late: [String] = []
        var deadLetters: [String] = []
        var controls: [String] = []
        var preparations = 0

        init(_ automaton: Automaton, idleTimeoutMs: UInt64? = 1_000) {
            driver = EngineDriver(
                engine: TaskEngines(automaton: automaton),
                idling: .init(timeoutNanos: idleTimeoutMs.map { $0 * 1_000_000 }, revokedGraceNanos: 5_000_000_000))
        }

        mutating func run(_ batch: InputBatch, now: UInt64, prepare: Bool = true) {
            var position = EngineDriver.BatchPosition()
            while let pause = driver.step(batch, &position, now: now) {
                switch pause {
                case .preparation:
                    preparations += 1
                    if prepare { driver.holdsOutput = false } else { return }
                case .control(.opened(let input, let topic, let partition)):
                    controls.append("opened \(topic)/\(partition)")
                    driver.open(input: input, topic: topic, partition: partition, now: now)
                case .control(.notice(let text)): controls.append("notice \(text)")
                case .control(.reloaded): controls.append("reloaded after \(driver.processedEvents) events")
                case .control(.released(let lost, _)):
                    controls.append("released lost=\(lost) after \(driver.processedEvents) events")
                case .control: Issue.record("the driver handed back an item it applies itself")
                case .outputs:
                    controls.append("outputs after \(driver.processedEvents) events")
                    collect()
                }
            }
            collect()
        }

        mutating func markIdle(now: UInt64) {
            driver.markIdle(now: now)
            collect()
        }

        private mutating func collect() {
            for output in driver.outputs {
                let key = if case .string(let s) = output.key { s } else { "\(output.key)" }
                alerts.append("\(key)@\(output.last?.event.timestamp ?? -1)")
            }
            driver.outputs.removeAll()
            for side in driver.sideOutputs {
                switch side {
                case .late(let record, let time, let patterns, let watermarks):
                    late.append(
                        "\(record.input)@\(record.offset) ts=\(time) patterns=\(patterns) watermarks=\(watermarks)")
                case .deadLetter(let record, let reason):
                    deadLetters.append("\(record.input)@\(record.offset): \(reason)")
                }
            }
            driver.sideOutputs.removeAll()
        }

        func position(_ input: Int) -> Int64? { driver.inputs[input].position }
    }

    static func automaton() throws -> Automaton { try #require(Compiler.compile(text: source).automaton) }

    /// A reader that opened partition 0 of topics a (input 0) and b (input 1).
    static func twoTopics() throws -> (Automaton, Reader) {
        let automaton = try Self.automaton()
        var reader = Reader(automaton: automaton)
        reader.open(0, "a", 0)
        reader.open(1, "b", 0)
        return (automaton, reader)
    }

    /// Events of two topics in one task: the match comes out once the watermark (the minimum over both partitions)
    /// passes it; positions are the offset after each partition's last message.
    @Test func eventsBecomeAlertsAndPositions() throws {
        let (automaton, reader) = try Self.twoTopics()
        reader.event(0, 10, key: "u", at: 1_000)
        reader.event(1, 20, key: "u", at: 2_000)
        reader.event(0, 11, key: "v", at: 3_000)
        reader.event(1, 21, key: "w", at: 4_000)
        var adapter = Adapter(automaton)
        adapter.run(reader.batch, now: 0)
        #expect(adapter.controls == ["opened a/0", "opened b/0"])
        #expect(adapter.alerts == ["u@2000"])
        #expect(adapter.position(0) == 12 && adapter.position(1) == 22)
        #expect(adapter.driver.processedEvents == 4)
        #expect(
            adapter.driver.positions(ofTask: TaskID(0)) == [
                PartitionID(topic: "a", partition: 0): 12, PartitionID(topic: "b", partition: 0): 22,
            ])
        #expect(adapter.driver.inputs.map(\.messages) == [2, 2])
    }

    /// A message that does not decode goes to the dead letters with its reason and still moves the position; an
    /// event behind the watermark goes to the late output with the patterns' watermarks.
    @Test func deadLettersAndLateEventsAreSideOutputs() throws {
        let (automaton, reader) = try Self.twoTopics()
        reader.event(0, 0, key: "u", at: 5_000)
        reader.event(1, 0, key: "u", at: 6_000)
        reader.message(0, 1, "not json")
        reader.event(0, 2, key: "u", at: 7_000)
        reader.event(1, 1, key: "u", at: 1_000)  // behind the watermark of 5.999 s
        var adapter = Adapter(automaton)
        adapter.run(reader.batch, now: 0)
        #expect(adapter.deadLetters.count == 1)
        #expect(adapter.deadLetters.first?.hasPrefix("0@1: ") == true)
        #expect(adapter.late == ["1@1 ts=1000 patterns=[0] watermarks=[5999]"])
        #expect(adapter.position(0) == 3 && adapter.position(1) == 2)
        #expect(adapter.driver.lateEvents == 1 && adapter.driver.deadLetters == 1)
        #expect(adapter.driver.inputs[0].deadLetters == 1 && adapter.driver.inputs[1].lateEvents == 1)
        // b's event at 6 s waits until the watermark (min(6.999, 5.999) s) passes it: no alert yet.
        #expect(adapter.alerts.isEmpty)
    }

    /// Items only the adapter can act on stop the step exactly there: what came before is applied, what comes after
    /// is not yet.
    @Test func controlItemsPauseTheStepWhereTheyAre() throws {
        let automaton = try Self.automaton()
        var reader = Reader(automaton: automaton)
        reader.open(0, "a", 0)
        reader.event(0, 0, key: "u", at: 1_000)
        reader.batch.items.append(.notice("broker down"))
        reader.event(0, 1, key: "u", at: 2_000)
        reader.batch.items.append(.reloaded)
        reader.event(0, 2, key: "u", at: 3_000)
        reader.batch.items.append(.released(lost: true, done: .init(value: 0)))
        var adapter = Adapter(automaton)
        adapter.run(reader.batch, now: 0)
        #expect(
            adapter.controls == [
                "opened a/0", "notice broker down", "reloaded after 2 events", "released lost=true after 3 events",
            ])
        #expect(adapter.position(0) == 3)
    }

    /// An adapter that sets `pausesForOutputs` gets each alert as soon as the item that made it is applied, not
    /// after the rest of the batch; the alerts are the same. (The other tests show that without it, no such pause.)
    @Test func outputsPauseTheStepWhenTheAdapterAsks() throws {
        let (automaton, reader) = try Self.twoTopics()
        for (i, ts) in [Int64(1_000), 2_000, 3_000, 4_000, 5_000, 6_000].enumerated() {
            reader.event(i % 2, Int64(i), key: ts <= 2_000 ? "u" : "k\(ts)", at: ts)
        }
        reader.event(0, 6, key: "u", at: 7_000)
        var plain = Adapter(automaton)
        plain.run(reader.batch, now: 0)
        var eager = Adapter(automaton)
        eager.driver.pausesForOutputs = true
        eager.run(reader.batch, now: 0)
        #expect(plain.alerts == eager.alerts && !plain.alerts.isEmpty, "\(plain.alerts) \(eager.alerts)")
        // u's match (a at 1 s, b at 2 s) is out once the watermark — the minimum over both partitions of their
        // latest time − 1 ms — reaches 2 s: with b's event at 4 s, the fourth of seven.
        #expect(eager.controls == ["opened a/0", "opened b/0", "outputs after 4 events"])
        #expect(eager.driver.processedEvents == 7)
    }

    /// While the adapter holds the output (tasks just started, not yet prepared), the step stops before the first
    /// item that could produce — but not before an assignment or a notice — and goes on once released.
    @Test func heldOutputPausesBeforeTheFirstProducingItem() throws {
        let automaton = try Self.automaton()
        var reader = Reader(automaton: automaton)
        reader.open(0, "a", 0)
        reader.batch.items.append(.notice("assigned"))
        reader.event(0, 0, key: "u", at: 1_000)
        var adapter = Adapter(automaton)
        adapter.driver.holdsOutput = true
        adapter.run(reader.batch, now: 0, prepare: false)
        #expect(adapter.controls == ["opened a/0", "notice assigned"])
        #expect(adapter.preparations == 1)
        #expect(adapter.driver.processedEvents == 0)
        #expect(adapter.position(0) == nil)
        // Prepared: the same batch from the start applies the event (opened again is harmless).
        adapter.driver.holdsOutput = false
        adapter.run(reader.batch, now: 0)
        #expect(adapter.driver.processedEvents == 1)
        #expect(adapter.position(0) == 1)
    }

    /// A partition read to its end stops holding the watermark back after the idle timeout, on the adapter's
    /// clock: not a nanosecond before.
    @Test func aCaughtUpPartitionGoesIdleAfterTheTimeout() throws {
        let (automaton, reader) = try Self.twoTopics()
        reader.event(0, 0, key: "u", at: 1_000)
        reader.event(1, 0, key: "u", at: 2_000)
        reader.event(0, 1, key: "v", at: 3_000)
        reader.batch.items.append(.caughtUp(input: 1))
        reader.event(0, 2, key: "v", at: 9_000)
        var adapter = Adapter(automaton, idleTimeoutMs: 1_000)
        let start: UInt64 = 5_000_000_000
        adapter.run(reader.batch, now: start)
        // b's watermark (1.999 s) holds the pattern back: only a's event at 1 s is matched so far.
        #expect(adapter.alerts.isEmpty)
        adapter.markIdle(now: start + 999_999_999)
        #expect(!adapter.driver.engine[adapter.driver.inputs[1].source].isIdle)
        #expect(adapter.alerts.isEmpty)
        adapter.markIdle(now: start + 1_000_000_000)
        #expect(adapter.driver.engine[adapter.driver.inputs[1].source].isIdle)
        // Idle b no longer holds the watermark: a's 8.999 s applies, and b's event at 2 s completes u's match.
        #expect(adapter.alerts == ["u@2000"])
        // Its next message makes it active again.
        let next = Reader(automaton: automaton, topics: reader.topics)
        next.event(1, 1, key: "z", at: 9_500)
        adapter.run(next.batch, now: start + 2_000_000_000)
        #expect(!adapter.driver.engine[adapter.driver.inputs[1].source].isIdle)
        #expect(adapter.position(1) == 2)
    }

    /// With an idle timeout of 0 a partition is idle the moment it is caught up (a replay's ended file); a replay's
    /// driver (no timeout) never idles a partition by time.
    @Test func idleTimeoutZeroAndNone() throws {
        let (automaton, reader) = try Self.twoTopics()
        reader.batch.items.append(.caughtUp(input: 1))
        var zero = Adapter(automaton, idleTimeoutMs: 0)
        zero.run(reader.batch, now: 0)
        #expect(zero.driver.engine[zero.driver.inputs[1].source].isIdle)
        var none = Adapter(automaton, idleTimeoutMs: nil)
        none.run(reader.batch, now: 0)
        none.markIdle(now: .max / 2)
        #expect(!none.driver.engine[none.driver.inputs[1].source].isIdle)
    }

    /// A revoked partition holds the watermark where it was for the grace period (a rebalance usually gives it
    /// back), then goes idle; given back, it is open again under the same number.
    @Test func aRevokedPartitionIsHeldForTheGracePeriod() throws {
        let (automaton, reader) = try Self.twoTopics()
        reader.event(0, 0, key: "u", at: 1_000)
        reader.event(1, 0, key: "w", at: 500)
        reader.batch.items.append(.closed(input: 1))
        var adapter = Adapter(automaton, idleTimeoutMs: 1_000)
        adapter.run(reader.batch, now: 0)
        #expect(!adapter.driver.inputs[1].open)
        adapter.markIdle(now: 4_999_999_999)
        #expect(!adapter.driver.engine[adapter.driver.inputs[1].source].isIdle)
        adapter.markIdle(now: 5_000_000_000)
        #expect(adapter.driver.engine[adapter.driver.inputs[1].source].isIdle)
        var back = Reader(automaton: automaton, topics: reader.topics)
        back.open(1, "b", 0)
        adapter.run(back.batch, now: 6_000_000_000)
        #expect(adapter.driver.inputs.count == 2 && adapter.driver.inputs[1].open)
        #expect(adapter.driver.inputs[1].closedAt == nil)
    }

    /// A position recorded for a partition before it is opened (a restored task's checkpoint lists every partition
    /// of the task) is where it goes on once opened, and is among the task's positions meanwhile.
    @Test func recordedPositionsWaitForTheirPartition() throws {
        let automaton = try Self.automaton()
        var adapter = Adapter(automaton)
        adapter.driver.setPosition(PartitionID(topic: "b", partition: 0), 40)
        adapter.driver.setPosition(PartitionID(topic: "a", partition: 1), 7)
        #expect(adapter.driver.positions(ofTask: TaskID(0)) == [PartitionID(topic: "b", partition: 0): 40])
        var reader = Reader(automaton: automaton)
        reader.open(0, "b", 0)
        adapter.run(reader.batch, now: 0)
        #expect(adapter.position(0) == 40)
        #expect(adapter.driver.positions(ofTask: TaskID(1)) == [PartitionID(topic: "a", partition: 1): 7])
    }

    /// The driver gives the same alerts and late events as the engine fed directly, over random interleavings of
    /// two partitions (the oracle: `TaskEngines.process` event by event).
    @Test(arguments: 0..<20) func sameOutputsAsTheEngineFedDirectly(seed: Int) throws {
        let automaton = try Self.automaton()
        var random = SplitMix(seed: UInt64(seed))
        var reader = Reader(automaton: automaton)
        reader.open(0, "a", 0)
        reader.open(1, "b", 0)
        var direct = TaskEngines(automaton: automaton)
        let sources = [direct.source(topic: "a", partition: 0), direct.source(topic: "b", partition: 0)]
        var directOutputs: [MatchOutput] = []
        var directLate: [String] = []
        var offsets: [Int64] = [0, 0]
        for _ in 0..<200 {
            let input = Int(random.next() % 2)
            let ts = Int64(random.next() % 30_000)
            let key = "k\(random.next() % 4)"
            reader.event(input, offsets[input], key: key, at: ts)
            let event = Event(
                stream: input, timestamp: ts, fields: [.string(key), .time(ts)],
                origin: EventOrigin(topic: input == 0 ? "a" : "b", partition: 0, offset: offsets[input]),
                sourceRank: direct[sources[input]].rank)
            let late = direct.process(event, source: sources[input], into: &directOutputs)
            if !late.isEmpty {
                let watermarks = late.map { direct.watermark(ofPattern: $0, task: TaskID(0)) }
                directLate.append("\(input)@\(offsets[input]) ts=\(ts) patterns=\(late) watermarks=\(watermarks)")
            }
            offsets[input] += 1
        }
        var adapter = Adapter(automaton)
        adapter.run(reader.batch, now: 0)
        let expected = directOutputs.map { output in
            let key = if case .string(let s) = output.key { s } else { "\(output.key)" }
            return "\(key)@\(output.last?.event.timestamp ?? -1)"
        }
        #expect(adapter.alerts == expected)
        #expect(adapter.late == directLate)
        #expect(adapter.position(0) == offsets[0] && adapter.position(1) == offsets[1])
    }
}
