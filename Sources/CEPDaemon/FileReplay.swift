import ArgumentParser
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Drives the engine from files: one file per partition, merged by event time, alerts and side outputs to files.
///
/// Two threads: a `ReplayReader` reads, decodes and merges the files on its own thread, and this type matches and
/// writes on the calling one; batches of lines pass between them through a bounded `BatchChannel`.
struct FileReplay {
    /// The engine and the inputs: one task per partition number (file N of each topic is partition N, read by
    /// task N, as in `cepd serve`); input i is the i-th --input.
    private var driver: EngineDriver
    private var reader: ReplayReader?
    private let channel = BatchChannel<InputBatch>(capacity: 4) { InputBatch() }
    private let formatter: AlertFormatter
    private let alerts: LineWriter
    private let lateWriter: LineWriter
    private let deadWriter: LineWriter
    /// Topics some pattern reads that no --input gives (replayed as empty).
    private var missingTopics: [String] = []
    /// The inputs as given.
    private let specs: [(topic: String, path: String)]
    /// With --state-dir: the checkpoint store, how often to checkpoint (ns), and the last checkpoint.
    private var store: CheckpointStore?
    private let checkpointInterval: UInt64
    private var checkpointNumber: UInt64 = 0
    /// What this run's checkpoints cost, for the summary: how many, the longest and the total time each held up
    /// matching (taking it, and waiting for the one before), the time their writes took in the background, and the
    /// records written.
    private var checkpointCosts = (
        count: 0, longestPauseMs: 0.0, pauseMs: 0.0, writeMs: 0.0, records: Engine.CheckpointCounts(), bytes: 0
    )
    /// What the summary says about a resumed replay.
    private var resumed: String?
    /// The input files as they are read: a checkpoint records them, a resumed replay must find them unchanged.
    private var inputFiles: [FileIdentity] = []
    /// How the input lines are read; a checkpoint records it.
    private let inputFormat: InputFormat
    /// For the checkpoint interval, the checkpoints' time and the summary's rate.
    private let clock: any DaemonClock

    init(
        automaton: Automaton, inputs specs: [(topic: String, path: String)], output: String?, late: String,
        deadLetters: String, stateDir: String? = nil, checkpointInterval: Int64 = 10_000,
        limits: PartialMatchLimits = PartialMatchLimits(), maxLineBytes: Int = LineReader.defaultMaxLineBytes,
        inputFormat: InputFormat = .json, schemas: (any RegistrySchemas)? = nil, clock: any DaemonClock = SystemClock()
    ) throws {
        self.clock = clock
        driver = EngineDriver(engine: TaskEngines(automaton: automaton), idling: .init(timeoutNanos: nil))
        self.inputFormat = inputFormat
        formatter = AlertFormatter(automaton: automaton, encoding: false)
        alerts = LineWriter(path: output)
        lateWriter = LineWriter(path: late)
        deadWriter = LineWriter(path: deadLetters)
        self.specs = specs
        self.checkpointInterval = UInt64(max(checkpointInterval, 1)) * 1_000_000
        var partitions: [String: Int32] = [:]
        var inputs: [ReplayReader.Input] = []
        do {
            inputFiles = try specs.map { spec throws(UsageError) in try FileIdentity(path: spec.path) }
            for spec in specs { partitions[spec.topic, default: 0] += 1 }
            let tasks = (0..<max(1, Int(partitions.values.max() ?? 1))).map(TaskID.init)
            partitions = [:]
            var positions = Array(repeating: Int64(0), count: specs.count)
            if let stateDir { positions = try restore(stateDir, tasks: tasks) ?? positions }
            driver.engine.setLimits(limits)
            for (i, spec) in specs.enumerated() {
                let partition = partitions[spec.topic, default: 0]
                partitions[spec.topic] = partition + 1
                // The files are fixed: none joins late (a resumed replay's restored partitions hold the watermark
                // where they were).
                driver.open(input: i, topic: spec.topic, partition: partition, now: 0, joinsOnFirstMessage: false)
                driver.setPosition(PartitionID(topic: spec.topic, partition: partition), positions[i])
                let reader = try LineReader(path: spec.path, maxLineBytes: maxLineBytes)
                guard reader.skip(positions[i]) else {
                    throw UsageError(
                        message:
                            "'\(spec.path)' has fewer than the \(positions[i]) lines the checkpoint processed: it changed"
                    )
                }
                inputs.append(
                    ReplayReader.Input(
                        reader: reader,
                        decoder: EventDecoder(automaton: automaton, topic: spec.topic, schemas: schemas),
                        offset: positions[i] - 1,
                        partition: partition, format: inputFormat))
            }
            // A partition with no file is an empty input: it ends at once, so that it does not hold back the
            // watermark of its task's patterns until the end of the replay (a topic with no file at all, or with
            // fewer files than another).
            var ignore: [MatchOutput] = []
            for topic in driver.engine.inputTopics {
                if partitions[topic] == nil { missingTopics.append(topic) }
                for task in tasks where task.number >= partitions[topic, default: 0] {
                    let source = driver.engine.source(topic: topic, partition: task.partition)
                    if !driver.engine[source].isFinished { driver.engine.finish(source, into: &ignore) }
                }
            }
            try alerts.open()
            if resumed == nil {
                try lateWriter.removeLeftover()
                try deadWriter.removeLeftover()
            }
        } catch let error as UsageError {
            PatternFiles.writeError("cepd: error: \(error.message)\n")
            throw ExitCode(2)
        } catch {
            PatternFiles.writeError("cepd: error: \(error)\n")
            throw ExitCode(2)
        }
        reader = ReplayReader(inputs: inputs, channel: channel)
    }

    // MARK: - Checkpoints

    /// Opens the state directory; if it holds a checkpoint of this replay, restores the engine, the input
    /// positions (returned) and the output files (cut back to what they held at the checkpoint).
    private mutating func restore(_ dir: String, tasks: [TaskID]) throws -> [Int64]? {
        let store = try CheckpointStore(path: dir, clock: clock)
        try store.claim(.replay)
        driver.engine.trackChanges()
        let record: ReplayCheckpoint?
        do {
            record = try store.record(ReplayCheckpoint.self)
        } catch {
            throw UsageError(
                message: "cannot resume from \(dir): \(error); remove it (or use another --state-dir) to start over")
        }
        var report: Engine.RestoreReport?
        do {
            for task in tasks {
                guard let restored = try driver.engine.restore(task: task, from: store) else { continue }
                // Every task holds every pattern: the pattern lists agree, the keys add up.
                if report == nil { report = restored } else { report!.keys += restored.keys }
            }
        } catch {
            throw UsageError(
                message:
                    "cannot restore the checkpoint in \(dir): \(error); remove it (or use another --state-dir) to start over"
            )
        }
        self.store = store
        guard let record, let report else {
            if report != nil {
                throw UsageError(
                    message: "the state in \(dir) is not a replay's (cepd serve's?); use another --state-dir")
            }
            if record != nil {
                throw UsageError(
                    message:
                        "the checkpoint in \(dir) was written by an earlier cepd (state not kept per task); remove it "
                        + "(or use another --state-dir) to start over")
            }
            return nil
        }
        let given = specs.map { "\($0.topic)=\($0.path)" }
        let recorded = record.inputs.map { "\($0.topic)=\($0.path)" }
        guard given == recorded else {
            throw UsageError(
                message:
                    "the checkpoint in \(dir) is of a replay of other inputs (\(recorded.joined(separator: " "))); "
                    + "give the same --input options, or use another --state-dir")
        }
        // The engine's checkpoint keeps each pattern's fingerprint: its restore says which patterns differ.
        if !report.started.isEmpty || !report.dropped.isEmpty {
            let added = report.started.filter { !report.changed.contains($0) }
            let what = [("changed", report.changed), ("new", added), ("gone", report.dropped)]
                .filter { !$0.1.isEmpty }.map { "\($0.0): " + $0.1.sorted().joined(separator: ", ") }
            throw UsageError(
                message:
                    "the checkpoint in \(dir) was computed with other patterns (\(what.joined(separator: "; "))); a "
                    + "resumed replay would mix both in one output: remove \(dir) (or use another --state-dir) to start over"
            )
        }
        for (i, input) in record.inputs.enumerated() {
            if (input.format ?? InputFormat.json.rawValue) != inputFormat.rawValue {
                throw UsageError(
                    message:
                        "the checkpoint in \(dir) read its inputs as --input-format \(input.format ?? "json"); give the "
                        + "same, or use another --state-dir")
            }
            if let change = inputFiles[i].change(from: input.file) {
                throw UsageError(
                    message: "input '\(input.path)' changed since checkpoint \(record.number) in \(dir) (\(change)); a "
                        + "resumed replay would mix both in one output: remove \(dir) (or use another --state-dir) to start over"
                )
            }
        }
        guard record.outputs.map(\.path) == writers.map({ $0.path ?? "" }) else {
            throw UsageError(
                message: "the checkpoint in \(dir) wrote to \(record.outputs.map(\.path).joined(separator: ", ")); "
                    + "give the same --output, --late and --dead-letters, or use another --state-dir")
        }
        for (writer, output) in zip(writers, record.outputs) {
            try writer.resume(bytes: output.bytes, lines: output.lines)
        }
        let positions = record.inputs.map(\.next)
        checkpointNumber = record.number
        resumed =
            "resumed from checkpoint \(record.number) in \(dir) (\(report.keys) keys, \(positions.reduce(0, +)) lines already processed)"
        return positions
    }

    /// An output file or a checkpoint that could not be written, or an input that could not be read to its end:
    /// the replay stops (status 5) rather than claim what did not reach the disk, or end its windows as if the
    /// input had ended.
    struct IOFailure: Error {
        var message: String
        /// The exit status: 5, or 2 when the first schema a registry topic carried does not fit the declared
        /// fields (as `cepd serve`).
        var status: Int32 = 5
    }

    private var writers: [LineWriter] { [alerts, lateWriter, deadWriter] }

    /// The first write failure of an output, as the error the replay stops with.
    private func outputFailure() -> IOFailure? {
        guard let failed = writers.first(where: { $0.failure != nil }), let reason = failed.failure else { return nil }
        var message =
            reason + "; the outputs are incomplete (up to \(alerts.lines) alerts, \(lateWriter.lines) late "
            + "events and \(deadWriter.lines) dead letters were written before it)"
        if store != nil {
            let written = lastWrittenCheckpoint()
            message +=
                written > 0
                ? "; the same command resumes from checkpoint \(written) once the file can be written"
                : "; no checkpoint was written"
        }
        return IOFailure(message: message)
    }

    /// The checkpoint a rerun resumes from, for a failure's message: the last one on disk (after waiting for the
    /// one being written, which the run stops without).
    private func lastWrittenCheckpoint() -> UInt64 {
        guard let store, checkpointNumber > 0 else { return 0 }
        do {
            _ = try store.waitForWrite()
            return checkpointNumber
        } catch {
            return checkpointNumber - 1
        }
    }

    /// Writes the outputs to disk, then the engine's changes, input positions and output sizes in one batch. A
    /// checkpoint is never written over outputs that did not reach the disk.
    private mutating func checkpoint() throws(IOFailure) {
        guard let store else { return }
        for writer in writers where !writer.sync() {
            throw outputFailure()!
        }
        checkpointNumber += 1
        let record = ReplayCheckpoint(
            number: checkpointNumber, writtenAt: clock.wallMillis,
            inputs: specs.enumerated().map {
                ReplayCheckpoint.Input(
                    topic: $1.topic, path: $1.path, next: driver.inputs[$0].position ?? 0, file: inputFiles[$0],
                    format: inputFormat.rawValue)
            },
            outputs: writers.map { ReplayCheckpoint.Output(path: $0.path ?? "", bytes: $0.bytes, lines: $0.lines) })
        let start = clock.uptimeNanos
        do {
            // Written on the store's thread while the replay goes on; its errors come with the next checkpoint, or
            // the last (`finishCheckpoints`).
            noteWritten(try store.writeInBackground(&driver.engine, tasks: driver.engine.tasks, record))
        } catch {
            throw IOFailure(message: "checkpoint to \(store.path) failed: \(error)")
        }
        let pause = Double(clock.uptimeNanos - start) / 1e6
        checkpointCosts.count += 1
        checkpointCosts.longestPauseMs = max(checkpointCosts.longestPauseMs, pause)
        checkpointCosts.pauseMs += pause
    }

    /// Waits for the checkpoint being written: the run ends only once its state is on disk.
    private mutating func finishCheckpoints() throws(IOFailure) {
        guard let store else { return }
        do {
            noteWritten(try store.waitForWrite())
        } catch {
            throw IOFailure(message: "checkpoint to \(store.path) failed: \(error)")
        }
    }

    private mutating func noteWritten(_ cost: CheckpointStore.Cost?) {
        guard let cost else { return }
        checkpointCosts.writeMs += cost.milliseconds
        checkpointCosts.records += cost.counts
        checkpointCosts.bytes += cost.batchBytes
    }

    /// Replays everything; returns the summary for stderr. Throws if an output or a checkpoint could not be written.
    mutating func run(progress: Bool) throws(IOFailure) -> String {
        let start = clock.uptimeNanos
        guard let reader else { return "" }
        self.reader = nil
        let thread = Thread { reader.run() }
        thread.stackSize = 1 << 20
        thread.start()
        var lastCheckpoint = clock.uptimeNanos
        var millions = 0
        while let batch = channel.receive() {
            var position = EngineDriver.BatchPosition()
            // A replay's inputs are fixed and its files report nothing: no item needs the adapter (`Pause`).
            while driver.step(batch, &position, now: 0) != nil {}
            writeSideOutputs(batch)
            if progress && driver.processedEvents / 1_000_000 > millions {
                millions = driver.processedEvents / 1_000_000
                PatternFiles.writeError("\r\(millions)M events…")
            }
            flushOutputs()
            batch.removeAll()
            // unsafe: the driver and the writers keep nothing of a batch (they copy the bytes they output); the
            // compiler cannot tell that from the methods of self it went through.
            nonisolated(unsafe) let emptied = batch
            channel.recycle(emptied)
            if let failure = outputFailure() { throw failure }
            // A checkpoint due while the last one is still being written waits for it to end rather than hold up
            // matching: it then takes the changes of both intervals in one (a key changed in both is written once).
            if let store, clock.uptimeNanos - lastCheckpoint >= checkpointInterval, !store.isWriting {
                try checkpoint()
                lastCheckpoint = clock.uptimeNanos
            }
        }
        if let problem = reader.schemaMismatch {
            throw IOFailure(message: problem, status: 2)
        }
        if let failure = reader.readFailure {
            var message = failure + "; the replay stopped there, its windows not ended"
            if store != nil {
                let written = lastWrittenCheckpoint()
                message +=
                    written > 0
                    ? "; the same command resumes from checkpoint \(written) once the file can be read"
                    : "; no checkpoint was written"
            }
            throw IOFailure(message: message)
        }
        driver.engine.finishAll(into: &driver.outputs)
        flushOutputs()
        // The finished state too: running the same command again then changes nothing.
        try checkpoint()
        try finishCheckpoints()
        for writer in writers { writer.close() }
        if let failure = outputFailure() { throw failure }
        if progress && millions > 0 { PatternFiles.writeError("\r") }
        let seconds = Double(clock.uptimeNanos - start) / 1e9
        return summary(seconds: seconds)
    }

    private mutating func flushOutputs() {
        for output in driver.outputs {
            if let line = formatter.format(output) { alerts.write(line) }
        }
        driver.outputs.removeAll(keepingCapacity: true)
    }

    /// Writes the late events and dead letters of the last `step`s, with their lines from `batch`.
    private mutating func writeSideOutputs(_ batch: InputBatch) {
        for side in driver.sideOutputs {
            switch side {
            case .late(let record, let eventTime, let patterns, let watermarks):
                batch.withBytes(record.value) {
                    writeLate(record, eventTime: eventTime, patterns: patterns, watermarks: watermarks, line: $0)
                }
            case .deadLetter(let record, let reason):
                batch.withBytes(record.value) { writeDeadLetter(record, line: $0, reason: reason) }
            }
        }
        driver.sideOutputs.removeAll(keepingCapacity: true)
    }

    private func lineValue(_ line: UnsafeBufferPointer<UInt8>) -> String {
        JSONWriter.quoted(String(decoding: line, as: UTF8.self))
    }

    private func writeLate(
        _ record: InputRecord, eventTime: Int64, patterns: [PatternID], watermarks: [Int64],
        line: UnsafeBufferPointer<UInt8>
    ) {
        let input = driver.inputs[record.input]
        var json = JSONWriter()
        json.beginObject()
        json.string("reason", "late")
        json.string("topic", input.topic)
        json.raw("partition", String(input.partition))
        json.raw("offset", String(record.offset))
        json.raw("ts", String(eventTime))
        json.beginArray("patterns")
        for (p, watermark) in zip(patterns, watermarks) {
            json.beginObject()
            json.string("pattern", driver.engine.automaton.patterns[p].name)
            json.raw("watermark", String(watermark))
            json.endObject()
        }
        json.endArray()
        json.raw("value", lineValue(line))
        json.endObject()
        lateWriter.write(json.text)
    }

    private func writeDeadLetter(_ record: InputRecord, line: UnsafeBufferPointer<UInt8>, reason: String) {
        let input = driver.inputs[record.input]
        var json = JSONWriter()
        json.beginObject()
        json.string("reason", reason)
        json.string("topic", input.topic)
        json.raw("partition", String(input.partition))
        json.raw("offset", String(record.offset))
        json.raw("value", lineValue(line))
        json.endObject()
        deadWriter.write(json.text)
    }

    private func summary(seconds: Double) -> String {
        let stats = driver.engine.stats
        var text = resumed.map { "cepd run: \($0)\n" } ?? ""
        text += "cepd run: \(stats.events) events in \(String(format: "%.2f", seconds)) s"
        if seconds > 0 { text += " (\(Int(Double(stats.events) / seconds)) events/s)" }
        text += "\n"
        for (p, pattern) in driver.engine.automaton.patterns.enumerated() {
            text += "  \(pattern.name): \(stats.matches[p]) match\(stats.matches[p] == 1 ? "" : "es")"
            if pattern.timeoutEmit != nil { text += ", \(stats.timeouts[p]) timed out" }
            let matchers = driver.engine.matchers(ofPattern: PatternID(p))
            if pattern.suppress != nil { text += ", \(matchers.reduce(0) { $0 + $1.suppressedAlerts }) suppressed" }
            let dropped = matchers.reduce(0) { $0 + $1.droppedPartialMatches }
            if dropped > 0 {
                let key =
                    matchers.last { $0.lastDroppedKey != nil }?.lastDroppedKey.map { " (the last of key \($0))" } ?? ""
                text += ", \(dropped) partial match\(dropped == 1 ? "" : "es") dropped over the cap\(key)"
            }
            text += "\n"
        }
        // Every task reads every row of a table: the first task's counts are the table's.
        if let first = driver.engine.tasks.first, let engine = driver.engine.engine(first), let tables = engine.tables {
            let automaton = driver.engine.automaton
            let keys = automaton.tables.map {
                "\(automaton.streams[$0].name): \(tables.keyCount($0)) keys"
            }
            text += "  tables: \(engine.stats.tableUpdates) updates (\(keys.joined(separator: ", ")))\n"
        }
        text += "  alerts: \(alerts.lines) → \(alerts.path ?? "stdout")\n"
        text +=
            "  late events: \(stats.lateEvents)" + (lateWriter.lines > 0 ? " → \(lateWriter.path ?? "")" : "") + "\n"
        let dead = deadWriter.lines
        text += "  dead letters: \(dead)" + (dead > 0 ? " → \(deadWriter.path ?? "")" : "") + "\n"
        if let store, checkpointCosts.count > 0 {
            let c = checkpointCosts
            text +=
                "  checkpoints: \(c.count) → \(store.path), \(c.records.keysWritten) key records and "
                + "\(c.records.waitingWritten) waiting events (\(c.bytes / 1024) KiB); matching held up "
                + "\(String(format: "%.0f", c.pauseMs)) ms (longest \(String(format: "%.0f", c.longestPauseMs)) ms), "
                + "written in the background in \(String(format: "%.0f", c.writeMs)) ms\n"
        }
        if !missingTopics.isEmpty {
            text += "  note: no input for \(missingTopics.joined(separator: ", ")) (replayed as empty)\n"
        }
        return text
    }
}

/// What `cepd run --state-dir` records beside the engine: the inputs and how far each was processed, and the
/// output files' sizes (a resumed replay cuts them back to these and appends).
struct ReplayCheckpoint: CheckpointRecord {
    static let key = "r"
    /// 2: each input file's identity (the engine's records keep the patterns' fingerprints).
    static let currentVersion = 2
    var version = Self.currentVersion
    var number: UInt64
    var writtenAt: Int64
    var inputs: [Input]
    /// Alerts, late events, dead letters, in that order.
    var outputs: [Output]

    struct Input: Codable {
        var topic: String
        var path: String
        /// The line (offset) to go on from.
        var next: Int64
        /// The file as it was read: a resumed replay must read the same bytes.
        var file: FileIdentity
        /// How its lines were read (`--input-format`); absent in records before there was a choice: `json`.
        var format: String?
    }

    struct Output: Codable {
        var path: String
        var bytes: Int64
        var lines: Int
    }
}

/// A file's identity for a resumed replay: device and inode, size and modification time. A file grown, rewritten
/// (even to the same number of lines) or replaced differs in one of them.
struct FileIdentity: Codable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    /// Modification time, nanoseconds since the epoch.
    var modified: Int64

    init(path: String) throws(UsageError) {
        guard let status = FileStatus(path) else {
            throw UsageError(message: "cannot read '\(path)': \(FileStatus.lastError)")
        }
        device = status.device
        inode = status.inode
        size = status.size
        modified = status.modified
    }

    /// How `self` (now) differs from `recorded`, for a message.
    func change(from recorded: FileIdentity) -> String? {
        if device != recorded.device || inode != recorded.inode { return "it is another file now" }
        if size != recorded.size { return "its size went from \(recorded.size) to \(size) bytes" }
        if modified != recorded.modified { return "it was modified" }
        return nil
    }
}
