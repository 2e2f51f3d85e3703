import CEPCore

/// The engines of the tasks a process runs: task *i* owns partition *i* of every input topic, with its own
/// watermark, timers and state — the unit that moves between processes when several share the work.
///
/// Why tasks: a pattern's keyed join needs partition *i* of each topic it reads to hold the same keys
/// (co-partitioned topics), so partition *i* of every topic is all a key's events. A task's watermark is the
/// minimum over *its* partitions only, so a process that owns some partitions never waits for partitions another
/// process owns, and a task's state can be checkpointed, released and restored elsewhere on its own.
/// With one partition per topic there is one task and this is exactly one `Engine`.
public struct TaskEngines {
    /// The compiled patterns and streams.
    public private(set) var automaton: Automaton
    /// The engine of each task, indexed by task number (= partition number); nil for tasks not run here.
    private var engines: [Engine?] = []
    /// An engine without sources, for what every task shares (topic ranks and order).
    private var template: Engine
    private var limits = PartialMatchLimits()
    private var tracksChanges = false
    /// The topics of the tables patterns look up: every task reads every partition of them (a global table).
    private let tableTopics: Set<String>
    /// The partitions of those topics registered so far; a `SourceID` of one has source `-1 - index`.
    private var tablePartitions: [(topic: String, partition: Int32)] = []

    /// One input partition: its task and its source in that task's engine.
    public struct SourceID: Hashable, Sendable {
        /// The task that owns the partition.
        public var task: TaskID
        /// The source in the task's engine.
        public var source: Int
    }

    /// Runs no task yet.
    public init(automaton: Automaton) {
        self.automaton = automaton
        self.template = Engine(automaton: automaton)
        tableTopics = Set(automaton.tables.map { automaton.streams[$0].topic })
    }

    /// The tasks run here, ascending.
    public var tasks: [TaskID] { engines.indices.filter { engines[$0] != nil }.map(TaskID.init) }

    /// Task `task`'s engine, if it runs here.
    public func engine(_ task: TaskID) -> Engine? { runs(task) ? engines[task.number] : nil }

    /// The topics some pattern reads, in declaration order.
    public var inputTopics: [String] { template.inputTopics }

    /// The rank equal event times are ordered by (see `Engine.rank`).
    public func rank(topic: String, partition: Int32) -> Int32 { template.rank(topic: topic, partition: partition) }

    /// Whether task `task` runs here.
    public func runs(_ task: TaskID) -> Bool { task.number < engines.count && engines[task.number] != nil }

    /// Starts task `task` empty if it does not run yet.
    public mutating func start(_ task: TaskID) {
        let t = task.number
        if t >= engines.count { engines.append(contentsOf: repeatElement(nil, count: t + 1 - engines.count)) }
        guard engines[t] == nil else { return }
        var engine = Engine(automaton: automaton)
        engine.setLimits(limits)
        if tracksChanges { engine.trackChanges() }
        // Every task reads every partition of a table. (A task started after rows have come has none of them: the
        // callers start every task before any input flows.)
        for table in tablePartitions { _ = engine.source(topic: table.topic, partition: table.partition) }
        engines[t] = engine
    }

    /// Stops running task `task` and forgets its state (it has been checkpointed, or moves elsewhere).
    public mutating func release(_ task: TaskID) {
        guard runs(task) else { return }
        engines[task.number] = nil
    }

    /// Stops running task `task` and hands over its engine (to keep aside, or to drop).
    public mutating func take(_ task: TaskID) -> Engine? {
        guard runs(task) else { return nil }
        defer { engines[task.number] = nil }
        return engines[task.number]
    }

    /// Runs task `task` with `engine` again (one `take` returned).
    public mutating func adopt(_ task: TaskID, _ engine: Engine) {
        start(task)
        engines[task.number] = engine
    }

    /// Registers (or finds) an input partition, starting its task if needed. A partition of a table's topic is
    /// registered in every task (and in those started later): its `SourceID` names the task of its number and a
    /// negative source, and what is done to it is done in every task.
    public mutating func source(topic: String, partition: Int32) -> SourceID {
        let task = TaskID(ofPartition: partition)
        start(task)
        guard tableTopics.contains(topic) else {
            return SourceID(task: task, source: engines[task.number]!.source(topic: topic, partition: partition))
        }
        let index =
            tablePartitions.firstIndex { $0.topic == topic && $0.partition == partition } ?? tablePartitions.count
        if index == tablePartitions.count {
            tablePartitions.append((topic, partition))
            for t in tasks { _ = engines[t.number]!.source(topic: topic, partition: partition) }
        }
        return SourceID(task: task, source: -1 - index)
    }

    /// The source in task `task`'s engine that `source` stands for there.
    private mutating func local(_ source: SourceID, in task: TaskID) -> Int {
        guard source.source < 0 else { return source.source }
        let table = tablePartitions[-1 - source.source]
        return engines[task.number]!.source(topic: table.topic, partition: table.partition)
    }

    /// The tasks a source's events go to: its own, or every task for a table's partition.
    private func targets(_ source: SourceID) -> [TaskID] { source.source < 0 ? tasks : [source.task] }

    /// An input partition's event-time state (a table's partition: in the task of its number).
    public subscript(source: SourceID) -> Engine.Source {
        let engine = engines[source.task.number]!
        guard source.source < 0 else { return engine.sources[source.source] }
        let table = tablePartitions[-1 - source.source]
        return engine.sources.first { $0.topic == table.topic && $0.partition == table.partition }!
    }

    /// Feeds one event to its partition's task (a table's row to every task); returns the patterns for which it
    /// was late (see `Engine.process`).
    @discardableResult
    public mutating func process(_ event: Event, source: SourceID, into outputs: inout [MatchOutput]) -> [PatternID] {
        guard source.source < 0 else {
            return engines[source.task.number]!.process(event, source: source.source, into: &outputs)
        }
        var late: [PatternID] = []
        for task in tasks {
            let local = local(source, in: task)
            for pattern in engines[task.number]!.process(event, source: local, into: &outputs)
            where !late.contains(pattern) {
                late.append(pattern)
            }
        }
        return late
    }

    /// Marks a partition idle or active again (see `Engine.setIdle`).
    public mutating func setIdle(_ source: SourceID, _ idle: Bool, into outputs: inout [MatchOutput]) {
        for task in targets(source) {
            engines[task.number]!.setIdle(local(source, in: task), idle, into: &outputs)
        }
    }

    /// Ends a partition (see `Engine.finish`).
    public mutating func finish(_ source: SourceID, into outputs: inout [MatchOutput]) {
        for task in targets(source) {
            engines[task.number]!.finish(local(source, in: task), into: &outputs)
        }
    }

    /// Ends the input of every task, in task order (see `Engine.finishAll`).
    public mutating func finishAll(into outputs: inout [MatchOutput]) {
        for task in tasks { engines[task.number]!.finishAll(into: &outputs) }
    }

    /// Lets event time follow the wall clock where every partition is idle (see `Engine.advanceIdlePatterns`).
    public mutating func advanceIdlePatterns(toWallClock now: Int64, into outputs: inout [MatchOutput]) {
        for task in tasks { engines[task.number]!.advanceIdlePatterns(toWallClock: now, into: &outputs) }
    }

    /// Moves a pattern's watermark to `time` in every task (test cases with explicit watermarks).
    public mutating func advance(pattern: PatternID, to time: Int64, into outputs: inout [MatchOutput]) {
        for task in tasks { engines[task.number]!.advance(pattern: pattern, to: time, into: &outputs) }
    }

    /// A pattern's watermark in `task`.
    public func watermark(ofPattern pattern: PatternID, task: TaskID) -> Int64 {
        engines[task.number]!.watermark(ofPattern: pattern)
    }

    /// A pattern's watermark over the tasks run here: the smallest (nil when none runs).
    public func watermark(ofPattern pattern: PatternID) -> Int64? {
        tasks.map { engines[$0.number]!.watermark(ofPattern: pattern) }.min()
    }

    /// The counters of every task run here, added up.
    public var stats: EngineStats {
        var total = EngineStats(patterns: automaton.patterns.count)
        for task in tasks {
            let stats = engines[task.number]!.stats
            total.events += stats.events
            total.lateEvents += stats.lateEvents
            for p in total.matches.indices {
                total.matches[p] += stats.matches[p]
                total.timeouts[p] += stats.timeouts[p]
            }
        }
        return total
    }

    /// Each task's matcher of pattern `pattern`.
    public func matchers(ofPattern pattern: PatternID) -> [PatternMatcher] {
        tasks.map { engines[$0.number]!.matchers[pattern.index] }
    }

    /// Caps every pattern's open partial matches in each task (see `PatternMatcher.setLimits`).
    public mutating func setLimits(_ limits: PartialMatchLimits) {
        self.limits = limits
        for task in tasks { engines[task.number]!.setLimits(limits) }
    }

    /// Notes changed keys from now on in every task, present and future (see `Engine.trackChanges`).
    public mutating func trackChanges() {
        tracksChanges = true
        for task in tasks { engines[task.number]!.trackChanges() }
    }

    // MARK: - State

    /// The prefix of task `task`'s keys in a store that holds several tasks: `t<task>/`.
    public static func statePrefix(_ task: TaskID) -> [UInt8] { Array("t\(task)/".utf8) }

    /// Writes task `task`'s state under its prefix (see `Engine.writeCheckpoint`).
    @discardableResult
    public mutating func writeCheckpoint(task: TaskID, into writer: inout some EngineStateWriter, full: Bool = false)
        -> Engine.CheckpointCounts
    {
        var capture = captureCheckpoint(task: task, full: full)
        return capture.write(into: &writer)
    }

    /// Takes task `task`'s checkpoint, to be written under its prefix (see `Engine.captureCheckpoint`).
    public mutating func captureCheckpoint(task: TaskID, full: Bool = false) -> CheckpointCapture {
        var capture = engines[task.number]!.captureCheckpoint(full: full)
        capture.keyPrefix = Self.statePrefix(task)
        return capture
    }

    /// Starts task `task` from its state under its prefix in `reader`; returns nil (and starts it empty) when the
    /// store holds none. The task must not run yet.
    public mutating func restore(task: TaskID, from reader: some EngineStateReader) throws -> Engine.RestoreReport? {
        precondition(!runs(task), "task \(task) restored while it runs")
        start(task)
        do {
            return try engines[task.number]!.restore(
                from: PrefixedStateReader(base: reader, prefix: Self.statePrefix(task)))
        } catch {
            release(task)
            throw error
        }
    }

    /// The tasks this state continues with after a reload of the patterns (see `Engine.reloading`).
    public func reloading(_ automaton: Automaton) throws -> (tasks: TaskEngines, report: Engine.RestoreReport) {
        var next = TaskEngines(automaton: automaton)
        next.limits = limits
        next.tracksChanges = tracksChanges
        var report: Engine.RestoreReport?
        for task in tasks {
            let reloaded = try engines[task.number]!.reloading(automaton)
            next.start(task)
            next.engines[task.number] = reloaded.engine
            if report == nil {
                report = reloaded.report
            } else {
                report!.keys += reloaded.report.keys
            }
        }
        // With no task yet, what a reload would do is decided by the patterns alone: none has state to keep.
        if let report { return (next, report) }
        var none = Engine.RestoreReport()
        none.started = automaton.patterns.map(\.name)
        return (next, none)
    }
}

/// Writes an engine's state under a prefix (one task's keys in a store of several).
struct PrefixedStateWriter<Base: EngineStateWriter>: EngineStateWriter {
    var base: Base
    let prefix: [UInt8]
    mutating func put(_ key: [UInt8], _ value: [UInt8]) { base.put(prefix + key, value) }
    mutating func delete(_ key: [UInt8]) { base.delete(prefix + key) }
    mutating func deletePrefix(_ keyPrefix: [UInt8]) { base.deletePrefix(prefix + keyPrefix) }
}

/// Reads an engine's state from under a prefix, handing the engine its keys without it.
struct PrefixedStateReader<Base: EngineStateReader>: EngineStateReader {
    let base: Base
    let prefix: [UInt8]
    func get(_ key: [UInt8]) throws -> [UInt8]? { try base.get(prefix + key) }
    func scan(prefix keyPrefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let count = prefix.count
        try base.scan(prefix: prefix + keyPrefix) { key, value in try body(Array(key[count...]), value) }
    }
}
