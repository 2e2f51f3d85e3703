import CEPCompiler
import CEPRuntime
import KafkaClient
import Testing

@testable import CEPDaemon

/// The task state machine without I/O: each transition and the actions it returns.
@Suite struct TaskLifecycleTests {
    static let outputs = [TopicPartition(topic: "o", partition: 0), TopicPartition(topic: "o", partition: 1)]

    static func engine() throws -> Engine {
        let source = """
            stream a from "a" { key k time ts lateness 0s fields { k: string, ts: time } }
            pattern p { match x: a -> y: a within 1m emit to "o" { k: x.k } }
            """
        return Engine(automaton: try #require(Compiler.compile(text: source).automaton))
    }

    static func record(_ task: TaskID, number: UInt64, outputs: [(Int32, Int64)] = [], changelogEnd: Int64? = nil)
        -> DaemonCheckpoint
    {
        DaemonCheckpoint(
            task: task, number: number, writtenAt: 0, clusterID: nil, inputs: [],
            outputs: outputs.map { .init(topic: "o", partition: $0.0, offset: $0.1) }, changelogEnd: changelogEnd)
    }

    static func isRunning(_ state: TaskLifecycle.State?, _ number: UInt64) -> Bool {
        if case .running(let checkpoint) = state { checkpoint == number } else { false }
    }

    /// No checkpoint: started empty, held until its first checkpoint (number 1) is written.
    @Test func aTaskWithoutCheckpointIsRecordedBeforeItRuns() {
        var lifecycle = TaskLifecycle()
        #expect(lifecycle.start(3, record: nil, outputPartitions: Self.outputs).start == .empty)
        #expect(lifecycle.needsPreparation)
        let (recover, record) = lifecycle.prepare(runs: { _ in true })
        #expect(recover.isEmpty && record == [3])
        #expect(lifecycle.needsPreparation)  // until the checkpoint is written
        #expect(lifecycle.nextCheckpoint(of: 3) == 1)
        lifecycle.checkpointed([(3, 1)])
        #expect(!lifecycle.needsPreparation)
        #expect(Self.isRunning(lifecycle[3], 1))
    }

    /// A checkpoint found: restored, then its outputs looked up from the recorded ends (0 where none is recorded)
    /// before it runs; its checkpoints count on from the record's number.
    @Test func aRestoredTaskRecoversItsOutputsBeforeItRuns() {
        var lifecycle = TaskLifecycle()
        let record = Self.record(1, number: 12, outputs: [(1, 40)])
        #expect(lifecycle.start(1, record: record, outputPartitions: Self.outputs).start == .restore)
        let (recover, fresh) = lifecycle.prepare(runs: { _ in true })
        #expect(fresh.isEmpty)
        #expect(recover == [1: [Self.outputs[0]: 0, Self.outputs[1]: 40]])
        #expect(!lifecycle.needsPreparation)
        #expect(lifecycle.nextCheckpoint(of: 1) == 13)
    }

    /// Released after a checkpoint: parked; given straight back with the changelog where it was, resumed with the
    /// same engine; after someone else ran it (the changelog moved on), restored instead.
    @Test func aParkedTaskResumesOnlyIfNobodyRanItSince() throws {
        var lifecycle = TaskLifecycle()
        _ = lifecycle.start(0, record: Self.record(0, number: 4, changelogEnd: 100), outputPartitions: Self.outputs)
        _ = lifecycle.prepare(runs: { _ in true })
        lifecycle.checkpointed([(0, 5)])
        lifecycle.release([(0, try Self.engine(), 120)], checkpointed: true, lost: false)
        guard case .parked(_, let checkpoint, let end) = lifecycle[0] else {
            Issue.record("not parked: \(String(describing: lifecycle[0]))")
            return
        }
        #expect(checkpoint == 5 && end == 120)
        var again = lifecycle
        let resumed = again.start(
            0, record: Self.record(0, number: 5, changelogEnd: 120), outputPartitions: Self.outputs)
        #expect(resumed.start == .resume && resumed.parked != nil)
        let moved = lifecycle.start(
            0, record: Self.record(0, number: 9, changelogEnd: 300), outputPartitions: Self.outputs)
        #expect(moved.start == .restore && moved.parked == nil)
        #expect(lifecycle.nextCheckpoint(of: 0) == 10)
    }

    /// Lost partitions (another process may own them) or a failed checkpoint: the task is forgotten, not parked.
    @Test func aLostOrUncheckpointedTaskIsForgotten() throws {
        for (checkpointed, lost) in [(true, true), (false, false)] {
            var lifecycle = TaskLifecycle()
            _ = lifecycle.start(2, record: nil, outputPartitions: Self.outputs)
            _ = lifecycle.prepare(runs: { _ in true })
            lifecycle.checkpointed([(2, 1)])
            lifecycle.release([(2, try Self.engine(), 10)], checkpointed: checkpointed, lost: lost)
            #expect(lifecycle[2] == nil)
            #expect(
                lifecycle.start(2, record: Self.record(2, number: 1, changelogEnd: 10), outputPartitions: Self.outputs)
                    .start == .restore)
        }
    }

    /// A reload drops the parked engines (they run the old patterns).
    @Test func aReloadDropsParkedEngines() throws {
        var lifecycle = TaskLifecycle()
        _ = lifecycle.start(0, record: nil, outputPartitions: Self.outputs)
        _ = lifecycle.start(1, record: nil, outputPartitions: Self.outputs)
        _ = lifecycle.prepare(runs: { _ in true })
        lifecycle.checkpointed([(0, 1), (1, 1)])
        lifecycle.release([(0, try Self.engine(), 7)], checkpointed: true, lost: false)
        lifecycle.dropParked()
        #expect(lifecycle[0] == nil)
        #expect(Self.isRunning(lifecycle[1], 1))
    }

    /// The unfinished checkpoint found in a restored task's changelog is written again at that task's next
    /// checkpoint — not dropped by a checkpoint of other tasks (the tasks started empty beside it write theirs first).
    @Test func aRepairWaitsForItsOwnTasksCheckpoint() {
        var lifecycle = TaskLifecycle()
        let tail: [Changelog.Change] = [.put([1], [2]), .delete([3])]
        _ = lifecycle.start(0, record: Self.record(0, number: 3), outputPartitions: Self.outputs, tail: tail)
        _ = lifecycle.start(1, record: nil, outputPartitions: Self.outputs)
        let (_, fresh) = lifecycle.prepare(runs: { _ in true })
        #expect(fresh == [1])
        lifecycle.checkpointed([(1, 1)])
        #expect(lifecycle.repair[0]?.count == 2)
        lifecycle.checkpointed([(0, 4)])
        #expect(lifecycle.repair.isEmpty)
    }

    /// A task released before it was prepared (its partitions revoked at once) is not prepared.
    @Test func aTaskThatNoLongerRunsIsNotPrepared() {
        var lifecycle = TaskLifecycle()
        _ = lifecycle.start(0, record: Self.record(0, number: 2), outputPartitions: Self.outputs)
        _ = lifecycle.start(1, record: nil, outputPartitions: Self.outputs)
        let (recover, fresh) = lifecycle.prepare(runs: { _ in false })
        #expect(recover.isEmpty && fresh.isEmpty)
        #expect(lifecycle[0] == nil && lifecycle[1] == nil && !lifecycle.needsPreparation)
    }
}
