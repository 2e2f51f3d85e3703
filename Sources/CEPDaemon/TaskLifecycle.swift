import CEPRuntime
import KafkaClient

/// The life of the tasks this process runs (task i: partition i of every input topic, with --state-dir): one value
/// per task with an explicit state, and transitions that return what the daemon must do. It does no I/O — the
/// daemon carries out the actions (restore from the store, look up outputs, write checkpoints) and reports back —
/// so every path through it is tested in process (`TaskLifecycleTests`).
///
/// ```
///              assigned, no checkpoint              first checkpoint written
///   (none) ─────────────────────────────▶ unrecorded ───────────────────────┐
///     │  ▲   assigned, checkpoint found                                    ▼
///     │  │ ─────────────────────────────▶ recovering ──────────────────▶ running ──┐ checkpointed: number + 1
///     │  │   (restored, or resumed from      outputs since the checkpoint   │  ▲ ◀──┘
///     │  │    parked if nothing moved)       looked up                      │
///     │  └────────────── lost, or released without a checkpoint ◀──────────┤
///     │                                                                     │ released after a checkpoint
///     └──── assigned again, changelog unchanged ◀──── parked ◀──────────────┘
///                                         (a reload, or the changelog moved on: dropped, restored instead)
/// ```
///
/// Why states rather than collections: the daemon used to keep these as five collections (`parked`, `repair`,
/// `taskNumbers`, `unrecovered`, `unrecorded`) checked in scattered places; a task could be in two at once only
/// by mistake, and now cannot.
struct TaskLifecycle {
    /// Where one task is.
    enum State {
        /// Started from its checkpoint `checkpoint` (restored, or resumed from a parked engine): the outputs it wrote
        /// after that checkpoint — here, or by an owner that died — are not looked up yet, so it must not produce.
        case recovering(checkpoint: UInt64, outputsFrom: [TopicPartition: Int64])
        /// Started empty (no checkpoint anywhere): its first checkpoint, which records where the output partitions
        /// end, is not written yet, so it must not produce.
        case unrecorded
        /// Runs and produces; `checkpoint` counts its checkpoints (over every process that ran it).
        case running(checkpoint: UInt64)
        /// Released here after checkpoint `checkpoint`, its engine kept in case the group gives it straight back
        /// (an eager rebalance revokes everything first); `changelogEnd` says whether anyone ran it since.
        case parked(engine: Engine, checkpoint: UInt64, changelogEnd: Int64?)
    }

    /// What the daemon does to start an assigned task.
    enum Start: Equatable {
        /// Start it empty.
        case empty
        /// Run it with the engine it left here (`adopt`).
        case resume
        /// Restore it from the store (caught up with its changelog).
        case restore
    }

    private(set) var states: [TaskID: State] = [:]
    /// Changes of an unfinished checkpoint found in a task's changelog, written again at its next checkpoint.
    private(set) var repair: [TaskID: [Changelog.Change]] = [:]

    /// The state of `task`, if it has one here.
    subscript(task: TaskID) -> State? { states[task] }

    /// Whether some task must be prepared before anything can make it produce (`prepare`).
    var needsPreparation: Bool {
        states.values.contains {
            switch $0 {
            case .recovering, .unrecorded: true
            case .running, .parked: false
            }
        }
    }

    /// Task `task` is assigned and does not run yet: given its checkpoint record (nil: none) and the output
    /// partitions, says how to start it, and the parked engine to resume if that is the answer. `tail`: the
    /// unfinished checkpoint its catch-up found, written again at its next checkpoint when it is restored.
    mutating func start(
        _ task: TaskID, record: DaemonCheckpoint?, outputPartitions: [TopicPartition], tail: [Changelog.Change] = []
    ) -> (start: Start, parked: Engine?) {
        guard let record else {
            states[task] = .unrecorded
            return (.empty, nil)
        }
        let recorded = DaemonCheckpoint.map(record.outputs)
        let outputsFrom = Dictionary(uniqueKeysWithValues: outputPartitions.map { ($0, recorded[$0] ?? 0) })
        let previous = states[task]
        states[task] = .recovering(checkpoint: record.number, outputsFrom: outputsFrom)
        if case .parked(let engine, _, let changelogEnd) = previous, changelogEnd == record.changelogEnd {
            return (.resume, engine)
        }
        if !tail.isEmpty { repair[task] = tail }
        return (.restore, nil)
    }

    /// What preparing the tasks just started takes: the recovering ones whose outputs to look up (from where), and
    /// the unrecorded ones whose first checkpoint to write. Only tasks that still run (`runs`) count. The
    /// recovering ones run from now on; the unrecorded ones once their checkpoint is written (`checkpointed`).
    mutating func prepare(runs: (TaskID) -> Bool) -> (recover: [TaskID: [TopicPartition: Int64]], record: [TaskID]) {
        var recover: [TaskID: [TopicPartition: Int64]] = [:]
        var record: [TaskID] = []
        for (task, state) in states {
            switch state {
            case .recovering(let checkpoint, let outputsFrom):
                guard runs(task) else {
                    states[task] = nil
                    continue
                }
                states[task] = .running(checkpoint: checkpoint)
                recover[task] = outputsFrom
            case .unrecorded:
                if runs(task) { record.append(task) } else { states[task] = nil }
            case .running, .parked:
                break
            }
        }
        return (recover, record.sorted())
    }

    /// The number the next checkpoint of `task` takes.
    func nextCheckpoint(of task: TaskID) -> UInt64 {
        switch states[task] {
        case .recovering(let checkpoint, _), .running(let checkpoint), .parked(_, let checkpoint, _): checkpoint + 1
        case .unrecorded, nil: 1
        }
    }

    /// Checkpoints of these tasks were written with these numbers: they run, and their repairs are done (only
    /// theirs: a checkpoint of some tasks — the ones just started, or leaving — does not write the others' repairs).
    mutating func checkpointed(_ numbers: [(task: TaskID, number: UInt64)]) {
        for (task, number) in numbers {
            states[task] = .running(checkpoint: number)
            repair[task] = nil
        }
    }

    /// Tasks leave this process (their partitions revoked). Those released after a checkpoint (`checkpointed`, not
    /// `lost`) are parked with their engines and changelog ends; the others are forgotten (restored from the store
    /// if they come back).
    mutating func release(
        _ leaving: [(task: TaskID, engine: Engine?, changelogEnd: Int64?)], checkpointed: Bool, lost: Bool
    ) {
        for (task, engine, changelogEnd) in leaving {
            guard let engine, checkpointed && !lost else {
                states[task] = nil
                continue
            }
            states[task] = .parked(engine: engine, checkpoint: nextCheckpoint(of: task) - 1, changelogEnd: changelogEnd)
        }
    }

    /// A reload: parked engines run the old patterns, so a task given back is restored under the new ones instead.
    mutating func dropParked() {
        states = states.filter {
            if case .parked = $0.value { false } else { true }
        }
    }
}
