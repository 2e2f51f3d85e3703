import AdminHTTP
import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Logging
import Synchronization

/// The tasks' state: caught up from the changelog, started, prepared, released and checkpointed, as
/// `TaskLifecycle` says.
extension KafkaDaemon {
    /// Opens the state directory and the changelog (created if missing), and notes where the output partitions
    /// end. No task is restored here: each is, when the group assigns its partitions (`catchUp` on the reader's
    /// thread, then `startTask` here). Returns an exit status to stop with, or nil to go on.
    mutating func openState(_ dir: String, producer: KafkaProducer, outputTopics: [String]) -> StopReason? {
        let store: CheckpointStore
        do {
            store = try CheckpointStore(path: dir, clock: clock, failpoints: options.failpoints)
        } catch {
            Log.error("cannot open the state directory \(dir): \(error) (is another cepd using it?)")
            return .configuration
        }
        do {
            try store.claim(.daemon)
        } catch {
            Log.error("\(error)")
            return .configuration
        }
        if store.holdsEarlierLayout {
            Log.error(
                "the checkpoint in \(dir) was written by an earlier cepd (state not kept per task); move the directory "
                    + "away (or use another --state-dir): this cepd then starts from the group's committed offsets")
            return .configuration
        }
        clusterID = producer.clusterID(timeoutMs: 5_000)
        let log = Changelog(
            topic: Changelog.topicName(group: options.group, patternPaths: options.patternPaths),
            properties: options.properties)
        do {
            Log.info(try log.ensure(producer: producer, partitions: inputPartitions, timeoutMs: 10_000))
        } catch {
            Log.error("\(error.message); cepd keeps each task's state there so that it can move between processes")
            return .kafkaUnavailable
        }
        driver.engine.trackChanges()
        self.store = store
        self.changelog = log
        let counts = (try? producer.partitionCounts(of: outputTopics, timeoutMs: 10_000)) ?? [:]
        outputPartitions = counts.flatMap { topic, n in
            (0..<n).map { TopicPartition(topic: topic, partition: Int32($0)) }
        }
        // A lower bound of where every output partition ends: a task that starts empty records these, so that a
        // crash before its next checkpoint finds what it wrote.
        var ends: [TopicPartition: Int64] = [:]
        for p in outputPartitions { ends[p] = (try? producer.endOffset(of: p, timeoutMs: 10_000)) ?? 0 }
        ledger = OutputLedger(ends: ends)
        Log.info("state in \(dir); tasks are restored as the group assigns their partitions")
        return nil
    }

    /// On the reader's thread, inside a rebalance: brings the local copies of the assigned partitions' tasks up to
    /// the end of their changelog partitions and returns where those partitions go on. A task that cannot be
    /// caught up stops cepd (`.kafkaUnavailable`, exit 3) and is marked so that `startTask` refuses it: processing
    /// it from older state would write its alerts twice. (No exit here: this runs inside librdkafka's rebalance
    /// callback, and the stop goes through the engine's thread like any other.)
    static func catchUp(
        _ partitions: [TopicPartition], store: CheckpointStore, changelog: Changelog, tails: TaskTails,
        timeoutMs: Int64,
        clock: any DaemonClock, stop: StopFlag
    ) -> [TopicPartition: Int64] {
        let tasks = Set(partitions.map { TaskID(ofPartition: $0.partition) }).sorted()
        let started = clock.uptimeNanos
        let results: [TaskID: Changelog.CatchUp]
        do {
            results = try changelog.catchUp(tasks: tasks, store: store, timeoutMs: timeoutMs, clock: clock)
        } catch {
            Log.error(
                "cannot restore tasks \(tasks.map(\.description).joined(separator: ", ")) from \(changelog.topic): \(error); stopping"
                    + ((error as? KafkaError)?.isOffsetOutOfRange == true ? "" : " (a restart retries)"))
            tails.markBehind(tasks)
            stop.set(.kafkaUnavailable)
            return [:]
        }
        var positions: [TopicPartition: Int64] = [:]
        var records = 0
        var checkpoints = 0
        for (task, result) in results {
            tails.set(task, result.tail)
            records += result.records
            checkpoints += result.checkpoints
            for input in result.record?.inputs ?? [] {
                positions[TopicPartition(topic: input.topic, partition: input.partition)] = input.offset
            }
        }
        let ms = Double(clock.uptimeNanos - started) / 1e6
        Log.info(
            "tasks \(tasks.map(String.init).joined(separator: ", ")) caught up with \(changelog.topic) in \(String(format: "%.0f", ms)) ms: "
                + "\(records) records read, \(checkpoints) checkpoints of other processes applied")
        return positions
    }

    /// Runs task `task` here (its first partition was assigned): the engine it left when it was last released here
    /// if nothing happened to it since, else its state restored from the store (caught up with the changelog). A
    /// task without a checkpoint starts empty. Either way it is then prepared (`prepareTasks`) before it can produce
    /// anything. Returns an exit status to stop with.
    mutating func startTask(_ task: TaskID) -> StopReason? {
        guard let store else { return nil }
        if tails.isBehind(task) { return .kafkaUnavailable }  // its catch-up failed (logged): cepd is stopping
        let started = clock.uptimeNanos
        let repair = tails.take(task)
        let record: DaemonCheckpoint?
        do {
            record = try store.taskRecord(task)
        } catch {
            Log.error(
                "cannot read task \(task)'s checkpoint in \(store.path): \(error); move the directory away to start over"
            )
            return .configuration
        }
        if let record, let theirs = record.clusterID, let ours = clusterID, theirs != ours {
            Log.error(
                "task \(task)'s checkpoint in \(store.path) belongs to Kafka cluster \(theirs), not to cluster \(ours) at "
                    + "\(options.brokers); use another --state-dir for this cluster")
            return .configuration
        }
        // What the task wrote after its checkpoint (here, or by an owner that died without a checkpoint since) is
        // looked up in the outputs before it runs, whether restored or resumed (`prepareTasks`).
        let (start, parked) = lifecycle.start(task, record: record, outputPartitions: outputPartitions, tail: repair)
        driver.holdsOutput = lifecycle.needsPreparation  // (true: the task just started is recovering or unrecorded)
        for input in record?.inputs ?? [] {
            driver.setPosition(PartitionID(topic: input.topic, partition: input.partition), input.offset)
        }
        guard let record else {
            driver.engine.start(task)
            Log.info("task \(task) starts empty (no checkpoint)", ["task": "\(task)"])
            return nil
        }
        if start == .resume, let parked {
            driver.engine.adopt(task, parked)
            Log.info("task \(task) resumed: its state stayed here (checkpoint \(record.number))", ["task": "\(task)"])
            return nil
        }
        let report: Engine.RestoreReport
        do {
            guard let restored = try driver.engine.restore(task: task, from: store) else {
                throw CheckpointError(message: "task \(task) has a checkpoint record (\(record.number)) but no state")
            }
            report = restored
        } catch {
            Log.error(
                "cannot restore task \(task) from \(store.path): \(error); move the directory away (or use another --state-dir) to start over"
            )
            return .configuration
        }
        let ms = String(format: "%.0f", Double(clock.uptimeNanos - started) / 1e6)
        let age = Double(clock.wallMillis - record.writtenAt) / 1000
        func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
        Log.info(
            "task \(task) restored from checkpoint \(record.number) (taken \(String(format: "%.1f", age)) s ago) in \(ms) ms: "
                + "\(report.keys) keys; patterns kept: \(list(report.restored)); started empty (new or changed): "
                + "\(list(report.started)); dropped: \(list(report.dropped))",
            ["task": "\(task)", "restore_ms": "\(ms)"])
        if !repair.isEmpty {
            Log.info("task \(task): \(repair.count) changelog records of an unfinished checkpoint are written again")
        }
        return nil
    }

    /// Before the tasks just started produce anything: reads the output partitions once, from each restored or
    /// resumed task's recorded output ends, noting what those tasks wrote after their checkpoints (not to be
    /// written again); then writes the first checkpoint of the tasks that started empty, all in one — it records
    /// where the output partitions end, so that a crash before their next checkpoint finds what they wrote.
    mutating func prepareTasks(_ producer: KafkaProducer, stop: StopFlag) -> Bool {
        driver.holdsOutput = false
        let engine = driver.engine
        let (tasks, fresh) = lifecycle.prepare(runs: { engine.runs($0) })
        if !tasks.isEmpty {
            let started = clock.uptimeNanos
            do {
                let found = try OutputLedger.recover(
                    properties: options.properties, tasks: tasks, timeoutMs: max(options.connectTimeout, 60_000),
                    clock: clock)
                ledger.add(found)
                let ms = String(format: "%.0f", Double(clock.uptimeNanos - started) / 1e6)
                let each = tasks.keys.sorted().map { "task \($0): \(found.found[$0] ?? 0)" }.joined(separator: ", ")
                Log.info(
                    "outputs read from the checkpoints' ends in \(ms) ms: \(found.found.values.reduce(0, +)) outputs written "
                        + "after them will not be written again (\(each))")
            } catch {
                Log.error(
                    "\(error.message); stopping, as the alerts written since the tasks' checkpoints could be written twice"
                )
                stop.set(.kafkaUnavailable)
                return false
            }
        }
        guard fresh.isEmpty || checkpoint(producer, tasks: fresh) != nil else {
            stop.set(checkpointFailure)
            return false
        }
        return true
    }

    /// The group takes partitions away (`.released`): their tasks are checkpointed (unless the partitions are
    /// already lost: another process may own them, and writing their changelog would interleave with its writes)
    /// and released; an engine released here is kept aside in case the group gives the task straight back
    /// (an eager rebalance revokes everything first).
    mutating func releaseTasks(lost: Bool, producer: KafkaProducer) -> Bool {
        let open = Set(driver.inputs.filter(\.open).map(\.source.task))
        let leaving = driver.engine.tasks.filter { !open.contains($0) }
        guard !leaving.isEmpty else { return true }
        // The checkpoint being written may hold these tasks: it must be on disk (or have failed) before they go,
        // above all when their partitions are lost and another process may write their changelog next.
        if case .failed = endCheckpoint(wait: true) { return false }
        var ok = true
        if !lost { ok = checkpoint(producer, tasks: leaving) != nil }
        var released: [(task: TaskID, engine: Engine?, changelogEnd: Int64?)] = []
        for task in leaving {
            ledger.forget(task: task)
            released.append((task, driver.engine.take(task), (try? store?.taskRecord(task))??.changelogEnd))
        }
        lifecycle.release(released, checkpointed: ok, lost: lost)
        Log.info(
            "tasks \(leaving.map(String.init).joined(separator: ", ")) released\(lost ? " without a checkpoint (their partitions were lost)" : ok ? " after a checkpoint" : "")",
            ["tasks": "\(leaving.map(String.init).joined(separator: ","))"])
        return ok
    }

    /// Takes a checkpoint of `tasks` (all running ones by default) and waits for it to be written, after the end
    /// of the one being written, if any (`beginCheckpoint`, `endCheckpoint`). Returns the input positions it
    /// recorded, or nil if it could not (the caller stops). Without a state directory, only delivers.
    mutating func checkpoint(_ producer: KafkaProducer, tasks: [TaskID]? = nil) -> [TopicPartition: Int64]? {
        guard store != nil else { return [:] }
        if case .failed = endCheckpoint(wait: true) { return nil }
        guard beginCheckpoint(producer, tasks: tasks) else { return nil }
        switch endCheckpoint(wait: true) {
        case .written(let positions): return positions
        case .none: return [:]  // no task runs here: nothing to record
        case .failed, .inFlight: return nil
        }
    }

    /// Starts a checkpoint of `tasks` (all running ones by default): delivers everything produced so far, records
    /// their input positions and output ends, and hands their state changes to the store's thread, which writes
    /// them to the changelog, then to the store in one synced batch, while matching goes on (`endCheckpoint` says
    /// when it is on disk). Returns false if it could not start (the caller stops). The previous one must have
    /// ended.
    mutating func beginCheckpoint(_ producer: KafkaProducer, tasks: [TaskID]? = nil) -> Bool {
        guard let store else { return true }
        precondition(writing == nil, "a checkpoint begun while another is being written")
        do {
            try producer.flush(timeoutMs: 30_000)
        } catch {
            Log.error("\(error.message); no checkpoint")
            checkpointFailure = .kafkaFailed
            return false
        }
        let started = clock.uptimeNanos
        checkpointNumber += 1
        let writtenAt = clock.wallMillis
        let delivered = producer.deliveredEnds
        var records: [DaemonCheckpoint] = []
        for task in tasks ?? driver.engine.tasks {
            let inputs = Dictionary(
                uniqueKeysWithValues: driver.positions(ofTask: task).map {
                    (TopicPartition(topic: $0.key.topic, partition: $0.key.partition), $0.value)
                })
            let outputs = ledger.checkpointPositions(delivered: delivered, task: task)
            records.append(
                DaemonCheckpoint(
                    task: task, number: lifecycle.nextCheckpoint(of: task), writtenAt: writtenAt, clusterID: clusterID,
                    inputs: DaemonCheckpoint.positions(inputs), outputs: DaemonCheckpoint.positions(outputs)))
        }
        if let pause = options.failpoints.checkpointPauseMs {
            // A failpoint for the crash test: a window inside the checkpoint (outputs delivered, state not yet
            // written) long enough to kill cepd in.
            let numbers = records.map { "\($0.task)@\($0.number)" }.joined(separator: ",")
            Log.info(
                "checkpoint \(checkpointNumber) (tasks \(numbers)): failpoint: pausing \(pause) ms before the write")
            Thread.sleep(forTimeInterval: Double(pause) / 1000)
        }
        if !records.isEmpty { checkpointsOfTasks += 1 }
        if let hangAt = options.failpoints.checkpointHang, !records.isEmpty {
            if checkpointsOfTasks == hangAt {
                // The crash test kills cepd here, when it sees this line: no guess of how long the window lasts.
                let numbers = records.map { "\($0.task)@\($0.number)" }.joined(separator: ",")
                Log.info(
                    "checkpoint \(checkpointNumber) (tasks \(numbers)): failpoint: pausing until killed, before the write",
                    ["failpoint": "checkpoint", "tasks": "\(numbers)"])
                options.failpoints.hang()
            }
        }
        guard !records.isEmpty else {
            checkpointNumber -= 1  // no task runs here (between assignments): nothing to record
            return true
        }
        let atStep = options.failpoints.atCheckpointStep.map { [checkpointsOfTasks] hook in
            { @Sendable (step: Failpoints.CheckpointStep) throws in try hook(step, checkpointsOfTasks) }
        }
        do {
            try atStep?(.outputsFlushed)
            try store.beginWrite(
                &driver.engine, records: records, changelog: changelog.map { ($0, producer) }, repair: lifecycle.repair,
                atStep: atStep)
        } catch {
            noteFailure(error, store: store)
            return false
        }
        writing = CheckpointInFlight(
            records: records, number: checkpointNumber, writtenAt: writtenAt, started: started,
            takenNanos: clock.uptimeNanos - started, atStep: atStep)
        return true
    }

    /// How the checkpoint being written stands (`endCheckpoint`).
    enum CheckpointEnd {
        /// None was being written.
        case none
        /// Still being written (`wait: false`).
        case inFlight
        /// On disk: its input positions may be committed.
        case written([TopicPartition: Int64])
        /// It could not be written (logged; `checkpointFailure` says why): the caller stops.
        case failed
    }

    /// Collects the end of the checkpoint being written, waiting for it with `wait`: once it is on disk, its tasks'
    /// records count as checkpointed, and the metrics and the log say what it cost.
    mutating func endCheckpoint(wait: Bool) -> CheckpointEnd {
        guard let store, let pending = writing else { return .none }
        if !wait && store.isWriting { return .inFlight }
        writing = nil
        do {
            guard let cost = try store.waitForWrite() else { return .none }
            lifecycle.checkpointed(pending.records.map { ($0.task, $0.number) })
            lastCheckpoint = DaemonMetrics.CheckpointFigures(
                milliseconds: cost.milliseconds, batchBytes: cost.batchBytes, writtenAt: pending.writtenAt,
                number: pending.number)
            let total = Double(clock.uptimeNanos - pending.started) / 1e6
            Log.info(
                "checkpoint \(pending.number) (tasks \(pending.records.map { $0.task.description }.joined(separator: ","))): \(cost.counts.keysWritten) keys "
                    + "written, \(cost.counts.keysDeleted) deleted, \(cost.counts.waitingWritten) waiting events written, "
                    + "\(cost.counts.waitingChunksDeleted) chunks of them deleted, \(cost.batchBytes) bytes in \(String(format: "%.1f", cost.milliseconds)) ms "
                    + "(taken in \(String(format: "%.1f", Double(pending.takenNanos) / 1e6)) ms, on disk "
                    + "\(String(format: "%.1f", total)) ms after); state ≈ \(store.approximateSize / 1024) KiB"
            )
            try pending.atStep?(.stateWritten)
            return .written(pending.positions)
        } catch {
            noteFailure(error, store: store)
            return .failed
        }
    }

    /// Logs a checkpoint that could not be written and notes why (`checkpointFailure`).
    private mutating func noteFailure(_ error: any Error, store: CheckpointStore) {
        Log.error(
            "checkpoint to \(store.path) failed: \(error); stopping (the next start resumes from the last checkpoint)")
        checkpointFailure = error is KafkaError ? .kafkaFailed : .stateFailed
    }
}

/// A checkpoint on its way to the store (`KafkaDaemon.beginCheckpoint`): what the daemon does once it is there.
struct CheckpointInFlight {
    /// The tasks' records.
    var records: [DaemonCheckpoint]
    /// The input positions they record, committed once it is on disk.
    var positions: [TopicPartition: Int64] { DaemonCheckpoint.map(records.flatMap(\.inputs)) }
    var number: UInt64
    var writtenAt: Int64
    /// When it was taken (uptime ns).
    var started: UInt64
    /// How long taking it held up matching (delivering the outputs, the capture).
    var takenNanos: UInt64
    /// The crash test's hook, called once it is on disk.
    var atStep: (@Sendable (Failpoints.CheckpointStep) throws -> Void)?
}

/// What the reader's thread learnt while catching tasks up, for the engine's thread: the unfinished checkpoints
/// found in the changelog (repaired at the tasks' next checkpoints), and the tasks it could not catch up.
final class TaskTails: Sendable {
    private let state = Mutex<(tails: [TaskID: [Changelog.Change]], behind: Set<TaskID>)>(([:], []))

    func set(_ task: TaskID, _ tail: [Changelog.Change]) {
        state.withLock { $0.tails[task] = tail.isEmpty ? nil : tail }
    }

    func take(_ task: TaskID) -> [Changelog.Change] { state.withLock { $0.tails.removeValue(forKey: task) ?? [] } }

    /// Notes tasks whose catch-up failed: their local state is older than their changelog.
    func markBehind(_ tasks: [TaskID]) { state.withLock { $0.behind.formUnion(tasks) } }

    func isBehind(_ task: TaskID) -> Bool { state.withLock { $0.behind.contains(task) } }
}
