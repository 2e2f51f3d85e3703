import CEPCore

/// The event-time matching engine: every pattern of an automaton over every key, fed by any number of input
/// partitions. Pure and synchronous — it knows no files, no Kafka and no clock; file replay and the Kafka daemon
/// are two drivers of the same engine.
///
/// Event time follows Flink's `forBoundedOutOfOrderness`: each input partition's watermark is the largest event
/// time it has delivered minus the topic's lateness minus 1 ms; a pattern's watermark is the minimum over the
/// partitions of the topics it reads (idle ones excepted, finished ones at +∞). An event at or below its pattern's
/// watermark is late.
public struct Engine {
    /// The compiled patterns and streams.
    public let automaton: Automaton
    /// One matcher per pattern, in declaration order.
    public internal(set) var matchers: [PatternMatcher]
    /// The input partitions registered so far.
    public internal(set) var sources: [Source] = []
    /// Counters for the summary and metrics.
    public internal(set) var stats: EngineStats

    private var sourceIndex: [String: [Int32: Int]] = [:]
    /// Patterns whose stored checkpoint state is obsolete (changed or removed): deleted at the next checkpoint.
    var obsoletePatternState: [String] = []
    /// Tables whose stored rows are obsolete (changed or no longer looked up): deleted at the next checkpoint.
    var obsoleteTableState: [String] = []
    /// For each stream, the patterns that read it and the stream's key field in each.
    private let readers: [[(pattern: Int, keyField: Int)]]
    private let topicRank: [String: Int32]
    private let topicLateness: [String: Int64]
    /// For each pattern, the topics it reads.
    private let patternTopics: [Set<String>]
    /// For each pattern, the sources of those topics.
    private var patternSources: [[Int]]
    /// For each source, the patterns that read its topic (so that an event does not hash its topic name).
    private var sourcePatterns: [[Int]] = []
    /// For each pattern, whether every topic it reads has at least one partition.
    private var patternCovered: [Bool]
    /// The rows of the tables patterns look up; nil when no pattern looks one up.
    public let tables: TableStore?
    /// For each stream that is a table, the patterns that look it up (empty for other streams).
    private let tableReaders: [[Int]]
    /// For each pattern, whether it looks a table up.
    private let patternLooksUp: [Bool]

    /// One input partition.
    public struct Source: Sendable, Hashable {
        /// Its topic.
        public var topic: String
        /// Its partition.
        public var partition: Int32
        /// The largest event time it has delivered.
        public var maxTimestamp: Int64 = .min
        /// Bounded out-of-orderness of its topic (the largest lateness of the streams that read it).
        public var lateness: Int64
        /// Whether it has been marked idle: it does not hold back the watermark until its next event.
        public var isIdle = false
        /// Whether it has ended (the end of a replay file): its watermark is +∞.
        public var isFinished = false
        /// Orders equal timestamps across partitions: topic declaration order, then partition.
        public var rank: Int32

        /// `maxTimestamp - lateness - 1`, `Int64.min` before the first event, `Int64.max` once finished.
        public var watermark: Int64 {
            if isFinished { return .max }
            if maxTimestamp == .min { return .min }
            return maxTimestamp.addingSaturated(-lateness).addingSaturated(-1)
        }
    }

    /// Creates an engine for `automaton` with no input partitions yet.
    public init(automaton: Automaton) {
        self.automaton = automaton
        self.matchers = automaton.patterns.indices.map { PatternMatcher(automaton, index: $0) }
        var readers = [[(pattern: Int, keyField: Int)]](repeating: [], count: automaton.streams.count)
        var patternTopics: [Set<String>] = []
        var tableReaders = [[Int]](repeating: [], count: automaton.streams.count)
        for (p, pattern) in automaton.patterns.enumerated() {
            var topics = Set<String>()
            for key in pattern.keys {
                readers[key.stream].append((p, key.field))
                topics.insert(automaton.streams[key.stream].topic)
            }
            // A table's updates hold the watermark back like events: a lookup as of t must have every row up to t.
            for table in pattern.tables {
                tableReaders[table].append(p)
                topics.insert(automaton.streams[table].topic)
            }
            patternTopics.append(topics)
        }
        self.tableReaders = tableReaders
        self.patternLooksUp = automaton.patterns.map { !$0.tables.isEmpty }
        let tables = automaton.tables.isEmpty ? nil : TableStore(streams: automaton.streams.count)
        self.tables = tables
        var rank: [String: Int32] = [:]
        var lateness: [String: Int64] = [:]
        for stream in automaton.streams {
            if rank[stream.topic] == nil { rank[stream.topic] = Int32(rank.count) }
            lateness[stream.topic] = max(lateness[stream.topic] ?? 0, stream.lateness)
        }
        self.readers = readers
        self.topicRank = rank
        self.topicLateness = lateness
        self.patternTopics = patternTopics
        self.patternSources = Array(repeating: [], count: automaton.patterns.count)
        self.patternCovered = Array(repeating: false, count: automaton.patterns.count)
        self.stats = EngineStats(patterns: automaton.patterns.count)
        if let tables {
            for p in matchers.indices where patternLooksUp[p] { matchers[p].lookUp(in: tables) }
        }
    }

    /// The topics some pattern reads, in declaration order.
    public var inputTopics: [String] {
        topicRank.sorted { $0.value < $1.value }.map(\.key).filter { topic in
            patternTopics.contains { $0.contains(topic) }
        }
    }

    /// Registers (or finds) an input partition and returns its index.
    public mutating func source(topic: String, partition: Int32) -> Int {
        if let existing = sourceIndex[topic]?[partition] { return existing }
        let index = sources.count
        sources.append(
            Source(
                topic: topic, partition: partition, lateness: topicLateness[topic] ?? 0,
                rank: rank(topic: topic, partition: partition)))
        sourceIndex[topic, default: [:]][partition] = index
        sourcePatterns.append(patternTopics.indices.filter { patternTopics[$0].contains(topic) })
        for p in sourcePatterns[index] {
            patternSources[p].append(index)
            patternCovered[p] = Set(patternSources[p].map { sources[$0].topic }).count == patternTopics[p].count
        }
        return index
    }

    /// The rank a partition's source has (or will have): topic declaration order, then partition. Equal event
    /// times are matched in this order, and readers that merge partitions by time break ties with it.
    public func rank(topic: String, partition: Int32) -> Int32 {
        (topicRank[topic] ?? Int32(topicRank.count)) << 20 | (partition & 0xFFFFF)
    }

    /// Caps every pattern's open partial matches (see `PatternMatcher.setLimits`); call after a restore too.
    public mutating func setLimits(_ limits: PartialMatchLimits) {
        for p in matchers.indices { matchers[p].setLimits(limits) }
    }

    /// The watermark of a pattern: the minimum over its active partitions.
    public func watermark(ofPattern pattern: PatternID) -> Int64 { matchers[pattern.index].watermark }

    /// Feeds one decoded event that arrived on `source`. Returns the patterns for which it was late (at or below
    /// their watermark): the caller sends it to the late output. Matches the event allows are appended to `outputs`.
    @discardableResult
    public mutating func process(_ event: Event, source: Int, into outputs: inout [MatchOutput]) -> [PatternID] {
        stats.events += 1
        var late: [PatternID] = []
        for reader in readers[event.stream] {
            let key = event.field(reader.keyField)
            if !matchers[reader.pattern].buffer(event, key: key) { late.append(PatternID(reader.pattern)) }
        }
        if let tables, !tableReaders[event.stream].isEmpty {
            // A table's row (or deletion) takes effect at its time. One at or below the watermark of a pattern that
            // looks the table up is late: applied all the same (later lookups see it; the topic is the truth), and
            // counted and sent to the late output like a late event, since lookups before it saw the older row.
            let spec = automaton.streams[event.stream]
            let isDeletion = event.fieldCount > spec.fields.count
            tables.apply(
                event.stream, key: event.field(spec.keyField), time: event.timestamp, row: isDeletion ? nil : event)
            for p in tableReaders[event.stream] where event.timestamp <= matchers[p].watermark {
                late.append(PatternID(p))
            }
            stats.tableUpdates += 1
        }
        if !late.isEmpty { stats.lateEvents += 1 }
        var changed = false
        if event.timestamp > sources[source].maxTimestamp {
            sources[source].maxTimestamp = event.timestamp
            changed = true
        }
        if sources[source].isIdle {
            sources[source].isIdle = false
            changed = true
        }
        if changed { advanceWatermarks(touching: source, into: &outputs) }
        return late
    }

    /// Marks a partition idle (or active again): an idle partition does not hold back the watermark.
    public mutating func setIdle(_ source: Int, _ idle: Bool, into outputs: inout [MatchOutput]) {
        guard sources[source].isIdle != idle else { return }
        sources[source].isIdle = idle
        advanceWatermarks(touching: source, into: &outputs)
    }

    /// Ends a partition: its watermark goes to +∞ (the end of a replay file).
    public mutating func finish(_ source: Int, into outputs: inout [MatchOutput]) {
        sources[source].isFinished = true
        advanceWatermarks(touching: source, into: &outputs)
    }

    /// Ends the input: every watermark goes to +∞, which fires every window and timeout (as Flink does at the end
    /// of a bounded input).
    public mutating func finishAll(into outputs: inout [MatchOutput]) {
        for index in sources.indices { sources[index].isFinished = true }
        for p in matchers.indices { advance(pattern: PatternID(p), to: .max, into: &outputs) }
    }

    /// Lets event time follow the wall clock for the patterns whose input partitions are all idle (none has had an
    /// event for the idle timeout): their watermark moves to `now` minus the largest lateness of their topics
    /// minus 1 ms, as if an event at `now` had arrived. This is what makes an absence or a timeout fire when
    /// traffic stops; the daemon calls it only when asked to (`--idle-wall-clock`).
    public mutating func advanceIdlePatterns(toWallClock now: Int64, into outputs: inout [MatchOutput]) {
        for p in matchers.indices where patternCovered[p] {
            guard patternSources[p].allSatisfy({ sources[$0].isIdle || sources[$0].isFinished }) else { continue }
            let lateness = patternSources[p].map { sources[$0].lateness }.max() ?? 0
            let time = now.addingSaturated(-lateness).addingSaturated(-1)
            if time > matchers[p].watermark { advance(pattern: PatternID(p), to: time, into: &outputs) }
        }
    }

    /// Moves a pattern's watermark to `time` directly (test cases with explicit watermarks).
    public mutating func advance(pattern: PatternID, to time: Int64, into outputs: inout [MatchOutput]) {
        let before = outputs.count
        matchers[pattern.index].advance(to: time, into: &outputs)
        count(outputs[before...])
        if patternLooksUp[pattern.index] { forgetTableVersions() }
    }

    private mutating func advanceWatermarks(touching source: Int, into outputs: inout [MatchOutput]) {
        for p in sourcePatterns[source] {
            var minimum: Int64?
            for s in patternSources[p] where !sources[s].isIdle {
                minimum = min(minimum ?? .max, sources[s].watermark)
            }
            // A topic the pattern reads that has no partition yet holds the watermark back entirely.
            guard let minimum, patternCovered[p] else { continue }
            if minimum > matchers[p].watermark { advance(pattern: PatternID(p), to: minimum, into: &outputs) }
        }
    }

    /// Drops the table versions no lookup can reach any more: every later lookup is as of an event time above
    /// some watermark minus its pattern's window (a step's event is above the watermark when it arrives; an alert's
    /// last event is within the window of a partial match still open).
    private func forgetTableVersions() {
        guard let tables else { return }
        var horizon = Int64.max
        for p in matchers.indices where patternLooksUp[p] {
            guard let window = automaton.patterns[p].window else { return }
            horizon = min(horizon, matchers[p].watermark.addingSaturated(-window))
        }
        if horizon > .min { tables.forget(before: horizon) }
    }

    private mutating func count(_ produced: ArraySlice<MatchOutput>) {
        for output in produced {
            switch output.kind {
            case .match: stats.matches[output.pattern.index] += 1
            case .timeout: stats.timeouts[output.pattern.index] += 1
            }
        }
    }
}

/// What the engine has done so far.
public struct EngineStats: Sendable, Hashable {
    /// Events fed to the engine (table updates included).
    public var events = 0
    /// Table updates (rows and deletions) applied.
    public var tableUpdates = 0
    /// Events that were late for at least one pattern.
    public var lateEvents = 0
    /// Matches per pattern.
    public var matches: [Int]
    /// Timed-out partial matches per pattern (only for patterns with `on timeout`).
    public var timeouts: [Int]

    init(patterns: Int) {
        matches = Array(repeating: 0, count: patterns)
        timeouts = Array(repeating: 0, count: patterns)
    }
}
