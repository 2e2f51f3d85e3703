import AdminHTTP
import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Logging
import Synchronization

/// The daemon: Kafka in, the engine in event time, Kafka out.
///
/// Two threads, as in file replay: a `KafkaReader` polls and decodes on its own thread, and this type runs the
/// engine, produces its outputs and commits offsets on the calling thread. Offsets are committed only after every
/// output produced for the events before them has been delivered, so a restart re-reads rather than loses.
struct KafkaDaemon {
    /// librdkafka consumer settings cepd starts from (-X and --config override them). All partitions share one
    /// consumer queue, and librdkafka stops fetching *every* partition while that queue holds more than
    /// queued.min.messages (default 100,000) and then waits fetch.queue.backoff.ms (default 1 s). The reader
    /// merges partitions by event time, so it holds a backlog of the partitions that are ahead while it waits for
    /// the one that is behind: with the defaults, a backlog of 100,000 messages stalled all fetching for a second at
    /// a time (~25k events/s from a preloaded topic on Tansu, against ~140k with these). Memory stays bounded by
    /// queued.max.messages.kbytes per partition and the reader's own per-partition limit.
    ///
    /// And the cooperative-sticky assignor: when a member joins or leaves the group, only the partitions that move
    /// are revoked and assigned (the others keep being read, their state untouched), where the eager default
    /// revokes every partition of every member first.
    static let consumerDefaults: [(key: String, value: String)] = [
        ("queued.min.messages", "1000000"), ("partition.assignment.strategy", "cooperative-sticky"),
    ]

    /// What `cepd serve` was asked to do.
    struct Options {
        var properties: [(key: String, value: String)]
        var brokers: String
        var group: String
        var start: KafkaConsumer.Start
        var idleTimeout: Int64
        var idleWallClock: Bool
        var lateTopic: String
        var deadLetterTopic: String
        var connectTimeout: Int64
        var waitForTopics: Bool
        var commitInterval: Int64
        /// Where checkpoints go; nil: none (offsets are committed every `commitInterval` instead).
        var stateDir: String?
        var checkpointInterval: Int64
        /// Where the admin server listens (metrics, health); nil: no admin server.
        var metricsAddress: (host: String, port: Int)?
        /// How long a stop may take (deliver, checkpoint, commit) before cepd exits without finishing it.
        var shutdownTimeout: Int64 = 30_000
        /// --from as given, for the start summary.
        var fromDescription = "latest"
        /// Caps on open partial matches.
        var limits = PartialMatchLimits()
        /// The pattern files, read again on a reload.
        var patternPaths: [String] = []
        /// The schema registry, for streams that read schema ids.
        var registry = RegistryOptions()
    }

    /// librdkafka settings whose values the log never shows.
    static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "jaas", "token", "ssl.key.pem", "private"].contains { lowered.contains($0) }
    }

    /// The start summary: what this daemon was asked to do, secrets masked.
    private func logConfiguration() {
        let settings = options.properties.filter { $0.key != "bootstrap.servers" }
            .map { "\($0.key)=\(Self.isSecret($0.key) ? "****" : $0.value)" }.joined(separator: ",")
        Log.info(
            "starting",
            [
                "brokers": "\(options.brokers)", "group": "\(options.group)", "from": "\(options.fromDescription)",
                "state_dir": "\(options.stateDir ?? "none")",
                "checkpoint_interval_ms":
                    "\(options.stateDir == nil ? options.commitInterval : options.checkpointInterval)",
                "idle_timeout_ms": "\(options.idleTimeout)", "idle_wall_clock": "\(options.idleWallClock)",
                "shutdown_timeout_ms": "\(options.shutdownTimeout)", "settings": "\(settings)",
            ])
        let patterns = automaton.patterns.map { "\($0.name) (\($0.location))" }.joined(separator: ", ")
        Log.info("patterns loaded: \(patterns)")
    }

    private var automaton: Automaton
    private let options: Options
    /// The tasks this process runs (task i: partition i of every input topic) and their input partitions.
    private var driver: EngineDriver
    /// Uptime and wall clock (a manual clock in tests).
    private let clock: any DaemonClock
    private var formatter: AlertFormatter
    /// A reload that waits for the reader to reach its switch point (`.reloaded`), and whom to answer.
    private var pendingReload: (automaton: Automaton, formatter: AlertFormatter, respond: EngineRequests.Reload)?
    /// Writer schemas by id, for streams declared `format ... registry` (shared by every decoder, reloads too).
    private var schemaRegistry: SchemaRegistryClient?
    private var committedPositions: [TopicPartition: Int64] = [:]
    private var alertCount = 0
    /// The checkpoint store, with --state-dir.
    private var store: CheckpointStore?
    private var checkpointNumber: UInt64 = 0
    private var clusterID: String?
    /// What the output partitions already hold, so that a recovered run does not write it twice.
    private var ledger = OutputLedger()
    /// With --state-dir: the changelog the tasks' checkpoints also go to.
    private var changelog: Changelog?
    /// Each task's state: started, recovering, running, parked (`TaskLifecycle`).
    private var lifecycle = TaskLifecycle()
    /// Handed over from the reader's thread: the unfinished checkpoints found while catching up.
    private let tails = TaskTails()
    /// Why the last checkpoint failed: Kafka refused what it wrote (outputs or changelog), or the state directory
    /// did.
    private var checkpointFailure = StopReason.stateFailed
    /// The partitions of the output topics.
    private var outputPartitions: [TopicPartition] = []
    /// The partition count of the input topics (the number of tasks).
    private var inputPartitions = 1
    /// The metrics the admin port serves (with --metrics-port).
    private var metrics: DaemonMetrics?
    /// Readiness, for the admin port, and progress, for tests.
    let status = DaemonStatus()
    /// Admin requests and reloads (SIGHUP) for the engine thread.
    let requests = EngineRequests()
    /// Asks the daemon to stop, and says why (signals: the command layer, `ServeCommand`).
    let stop = StopFlag()
    /// Kafka's failures, from librdkafka's log and the consumer's error events, written once per 30 s each.
    private let kafkaLogRepeats = LogRepeats()
    /// Set by a failure after which nothing more may be processed or produced (an output Kafka would not take, a
    /// reload that could not carry the state over while the reader already decodes for the new patterns): the
    /// batches still in flight are dropped, nothing is delivered, checkpointed or committed.
    private var halted = false
    /// Checkpoints that recorded tasks, for `CEPD_FAILPOINT_CHECKPOINT_HANG`.
    private var checkpointsOfTasks = 0
    /// The last checkpoint written or restored.
    private var lastCheckpoint: DaemonMetrics.CheckpointFigures?
    /// Per pattern, the partial matches dropped over a cap when last logged.
    private var droppedLogged: [Int] = []

    init(automaton: Automaton, options: Options, clock: any DaemonClock = SystemClock()) {
        self.automaton = automaton
        self.options = options
        self.clock = clock
        self.driver = EngineDriver(
            engine: TaskEngines(automaton: automaton),
            idling: .init(
                timeoutNanos: UInt64(max(0, options.idleTimeout)) * 1_000_000, revokedGraceNanos: Self.revokedGraceNanos
            ))
        self.formatter = AlertFormatter(automaton: automaton)
    }

    /// Runs until `stop` is set (SIGINT/SIGTERM) or a failure; returns why it stopped.
    mutating func run() -> StopReason {
        let topics = driver.engine.inputTopics
        // librdkafka's own lines in cepd's one-line format, a flood of one failure collapsed (LogRepeats).
        let repeats = kafkaLogRepeats
        KafkaLog.sink = { line in if let line = repeats.admit(line) { Log.info(line) } }
        if KafkaLibrary.versionNumber < 0x020a_0000 {
            Log.info(
                "librdkafka \(KafkaLibrary.version) is older than 2.10: it cannot talk to some brokers (Tansu), and a "
                    + "produce refused at once (e.g. not authorized) crashes it instead of failing; 2.10 or newer is recommended"
            )
        }
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(properties: options.properties)
        } catch {
            Log.error("\(error.message) (check -X and --config)")
            return .configuration
        }
        logConfiguration()
        // Tasks move whole: partition i of every input topic to the same process. The range assignor gives each
        // member the same range of every topic of equal partition count; cooperative-sticky balances partitions
        // one by one and would split a task between processes (librdkafka takes no assignor of ours). With one
        // input topic a partition is a task, and cooperative-sticky stays.
        let needsRange = options.stateDir != nil && topics.count > 1
        if needsRange,
            let chosen = options.properties.last(where: { $0.key == "partition.assignment.strategy" })?.value,
            chosen != "range"
        {
            Log.error(
                "-X partition.assignment.strategy=\(chosen) can split a task (partition i of every input topic) "
                    + "between processes; with --state-dir cepd needs 'range' (leave the setting out)")
            return .configuration
        }
        let stop = stop
        var admin: AdminServer?
        if let address = options.metricsAddress {
            let metrics = DaemonMetrics()
            let routes = AdminRoutes(metrics: metrics, status: status, requests: requests)
            do {
                admin = try AdminServer(host: address.host, port: address.port) { routes.handle($0, respond: $1) }
            } catch {
                Log.error(
                    "cannot listen on \(address.host):\(address.port) for --metrics-port (\(error)); choose another "
                        + "--metrics-port or --metrics-host, or stop what uses it")
                return .configuration
            }
            self.metrics = metrics
            Log.info("admin port: http://\(address.host):\(admin?.port ?? address.port)/metrics, /healthz, /readyz")
        }
        defer { admin?.stop() }
        if let code = waitForTopics(topics, producer: producer, stop: stop) { return code }
        let emits = Set(automaton.patterns.flatMap { [$0.emit?.topic, $0.timeoutEmit?.topic].compactMap { $0 } })
            .sorted()
        if let dir = options.stateDir,
            let code = openState(
                dir, producer: producer, outputTopics: emits + [options.lateTopic, options.deadLetterTopic])
        {
            return code
        }

        driver.engine.setLimits(options.limits)
        var defaults = Self.consumerDefaults
        if needsRange {
            defaults = defaults.map { $0.key == "partition.assignment.strategy" ? ($0.key, "range") : $0 }
        }
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(
                properties: defaults + options.properties, group: options.group, topics: topics, start: options.start)
        } catch {
            Log.error("\(error.message) (check -X and --config)")
            return .configuration
        }
        do {
            schemaRegistry = try options.registry.client(for: automaton) { stop.isSet }
        } catch {
            Log.error(error.message)
            return .configuration
        }
        if let problem = registerAlertSchemas(&formatter) {
            Log.error("\(problem); stopping")
            return .configuration
        }
        var decoders: [String: EventDecoder] = [:]
        for topic in topics {
            decoders[topic] = EventDecoder(automaton: automaton, topic: topic, schemas: schemaRegistry)
        }
        Log.info(
            "consuming \(topics.joined(separator: ", ")) from \(options.brokers) as group '\(options.group)'; "
                + "alerts to \(emits.joined(separator: ", ")); late events to \(options.lateTopic), dead letters to \(options.deadLetterTopic)"
        )

        let channel = BatchChannel<InputBatch>(capacity: 4) { InputBatch() }
        let ranks = driver.engine
        var catchUp: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])?
        if let store, let changelog {
            let tails = tails
            let timeoutMs = max(options.connectTimeout, 60_000)
            let clock = clock
            catchUp = {
                Self.catchUp(
                    $0, store: store, changelog: changelog, tails: tails, timeoutMs: timeoutMs, clock: clock, stop: stop
                )
            }
        }
        let reader = KafkaReader(
            consumer: consumer, decoders: decoders, rank: { ranks.rank(topic: $0.topic, partition: $0.partition) },
            maxWaitMs: max(options.idleTimeout, 60_000), channel: channel, stop: stop, catchUp: catchUp, clock: clock)
        let thread = Thread { reader.run() }
        thread.start()

        var lastCommit = clock.uptimeNanos
        var turns = 0
        var lastPublish: UInt64 = 0
        status.setRestored()
        status.setConsuming(true)
        loop: while true {
            switch channel.receive(waitingMs: 100) {
            case .batch(let batch):
                consume(batch, producer: producer, stop: stop)
                batch.removeAll()
                channel.recycle(batch)
            case .timeout:
                break
            case .closed:
                break loop
            }
            let now = clock.uptimeNanos
            driver.markIdle(now: now)
            // Not while this member owns no partition at all (a rejoin in progress): that is not quiet traffic.
            if options.idleWallClock && driver.inputs.contains(where: \.open) {
                driver.engine.advanceIdlePatterns(toWallClock: clock.wallMillis, into: &driver.outputs)
            }
            deliver(producer)
            producer.poll()
            status.setAssigned(driver.inputs.count { $0.open })
            turns += 1
            status.setProgress(
                .init(
                    turns: turns, events: driver.processedEvents, alerts: alertCount, checkpoints: Int(checkpointNumber)
                ))
            if stop.isSet { status.setStopping() }
            for request in requests.take() {
                request.respond(.json(KeyReport.json(key: request.key, engine: driver.engine)))
            }
            for respond in requests.takeReloads() { beginReload(respond, reader: reader) }
            if now - lastPublish >= DaemonMetrics.interval {
                if let metrics { publish(metrics, consumer: consumer, producer: producer) }
                if !options.limits.isEmpty { warnAboutDrops() }
                lastPublish = now
            }
            if let failure = producer.failure {
                Log.error("\(failure.message); stopping without committing (the events are read again on restart)")
                stop.set(.kafkaFailed)
                continue
            }
            let interval = store == nil ? options.commitInterval : options.checkpointInterval
            if !halted && now - lastCommit >= UInt64(interval) * 1_000_000 {
                if checkpoint(producer) {
                    commit(producer: producer, consumer: consumer)
                } else {
                    stop.set(checkpointFailure)
                }
                lastCommit = now
            }
        }
        status.setStopping()
        for request in requests.take() { request.respond(.json("{\"error\":\"cepd is stopping\"}", status: 503)) }
        for respond in requests.takeReloads() { respond?(.json("{\"error\":\"cepd is stopping\"}", status: 503)) }
        pendingReload?.respond?(.json("{\"error\":\"cepd stopped before the reload took effect\"}", status: 503))
        // Stopped: deliver what was produced, checkpoint, commit what it covers, leave the group.
        deliver(producer)
        if stop.isClean && checkpoint(producer) { commit(producer: producer, consumer: consumer) }
        consumer.close()
        // The state directory's lock goes with the store: a daemon that returned holds nothing (another can start).
        store = nil
        let skipped =
            ledger.skipped > 0 ? "; \(ledger.skipped) outputs already written before the restart not written again" : ""
        Log.info(
            "stopped: \(driver.processedEvents) events, \(alertCount) alerts, \(driver.lateEvents) late, \(driver.deadLetters) dead letters\(skipped)"
        )
        return stop.stopReason ?? .requested
    }

    // MARK: - Start

    /// Waits for the cluster within --connect-timeout, and for the input topics if asked to. Returns an exit
    /// status to stop with, or nil to go on.
    private mutating func waitForTopics(_ topics: [String], producer: KafkaProducer, stop: StopFlag) -> StopReason? {
        let start = clock.uptimeNanos
        var warnedConnect = false
        var warnedTopics = false
        while !stop.isSet {
            let elapsedMs = Int64((clock.uptimeNanos - start) / 1_000_000)
            let counts: [String: Int]
            do {
                counts = try producer.partitionCounts(
                    of: topics, timeoutMs: Int32(max(200, min(2_000, options.connectTimeout - elapsedMs))))
            } catch {
                if elapsedMs >= options.connectTimeout {
                    Log.error(
                        "cannot reach Kafka at \(options.brokers) after \(options.connectTimeout / 1000) s (\(error.message)); "
                            + "check --brokers (or CEPD_BROKERS) and that the brokers are up")
                    return .kafkaUnavailable
                }
                if !warnedConnect {
                    Log.info(
                        "cannot reach Kafka at \(options.brokers) yet (\(error.message)); retrying for up to \(options.connectTimeout / 1000) s"
                    )
                    warnedConnect = true
                }
                Thread.sleep(forTimeInterval: 0.5)
                continue
            }
            let missing = topics.filter { counts[$0] == nil }
            if missing.isEmpty {
                if let problem = Self.coPartitioningProblem(automaton, counts) {
                    Log.error(problem)
                    return .kafkaUnavailable
                }
                inputPartitions = topics.compactMap { counts[$0] }.max() ?? 1
                let sizes = topics.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", ")
                if options.stateDir != nil && Set(topics.compactMap { counts[$0] }).count > 1 {
                    Log.error(
                        "with --state-dir every input topic needs the same partition count (\(sizes)): task i, the unit "
                            + "whose state moves between processes, is partition i of every input topic; add partitions "
                            + "to the smaller topics (existing messages do not move), or run one cepd per set of topics"
                    )
                    return .kafkaUnavailable
                }
                return nil
            }
            let names = missing.map { "'\($0)'" }.joined(separator: ", ")
            guard options.waitForTopics else {
                Log.error(
                    "input topic\(missing.count == 1 ? "" : "s") \(names) \(missing.count == 1 ? "does" : "do") not exist on \(options.brokers); create \(missing.count == 1 ? "it" : "them"), or start with --wait-for-topics"
                )
                return .kafkaUnavailable
            }
            if !warnedTopics {
                Log.info(
                    "waiting for input topic\(missing.count == 1 ? "" : "s") \(names) to exist (--wait-for-topics)")
                warnedTopics = true
            }
            Thread.sleep(forTimeInterval: 2)
        }
        return stop.stopReason ?? .requested  // stopped while waiting: by a signal, a clean stop
    }

    /// Why the patterns' topics are not co-partitioned, if they are not: a pattern's keyed join needs partition i
    /// of every topic it reads to hold the same keys (same partition count, keys partitioned by the same hash),
    /// so that the process that owns partition i of one owns it of all (several processes in one group).
    static func coPartitioningProblem(_ automaton: Automaton, _ counts: [String: Int]) -> String? {
        for pattern in automaton.patterns {
            var topics: [String] = []
            for key in pattern.keys where !topics.contains(automaton.streams[key.stream].topic) {
                topics.append(automaton.streams[key.stream].topic)
            }
            let sizes = topics.compactMap { counts[$0] }
            guard let largest = sizes.max(), sizes.contains(where: { $0 != largest }) else { continue }
            let list = topics.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", ")
            let fewer = topics.filter { (counts[$0] ?? 0) < largest }
            return "pattern \(pattern.name) joins topics with different partition counts (\(list)): its keyed join "
                + "needs them co-partitioned — the same number of partitions, keys partitioned by the same hash (the "
                + "default partitioner) — so that partition i of each holds the same keys; add partitions to "
                + "\(fewer.joined(separator: ", ")) (e.g. kafka-topics.sh --alter --topic \(fewer[0]) --partitions \(largest)), "
                + "then re-produce or repartition what they hold (existing messages do not move)"
        }
        return nil
    }

    // MARK: - Tasks and checkpoints

    /// Opens the state directory and the changelog (created if missing), and notes where the output partitions
    /// end. No task is restored here: each is, when the group assigns its partitions (`catchUp` on the reader's
    /// thread, then `startTask` here). Returns an exit status to stop with, or nil to go on.
    private mutating func openState(_ dir: String, producer: KafkaProducer, outputTopics: [String]) -> StopReason? {
        let store: CheckpointStore
        do {
            store = try CheckpointStore(path: dir)
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
    private static func catchUp(
        _ partitions: [TopicPartition], store: CheckpointStore, changelog: Changelog, tails: TaskTails,
        timeoutMs: Int64,
        clock: any DaemonClock, stop: StopFlag
    ) -> [TopicPartition: Int64] {
        let tasks = Set(partitions.map { TaskEngines.task(ofPartition: $0.partition) }).sorted()
        let started = clock.uptimeNanos
        let results: [Int: Changelog.CatchUp]
        do {
            results = try changelog.catchUp(tasks: tasks, store: store, timeoutMs: timeoutMs)
        } catch {
            Log.error(
                "cannot restore tasks \(tasks.map(String.init).joined(separator: ", ")) from \(changelog.topic): \(error); stopping (a restart retries)"
            )
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
    private mutating func startTask(_ task: Int) -> StopReason? {
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
        driver.holdsOutput = true
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
    private mutating func prepareTasks(_ producer: KafkaProducer, stop: StopFlag) -> Bool {
        driver.holdsOutput = false
        let engine = driver.engine
        let (tasks, fresh) = lifecycle.prepare(runs: { engine.runs($0) })
        if !tasks.isEmpty {
            let started = clock.uptimeNanos
            do {
                let found = try OutputLedger.recover(
                    properties: options.properties, tasks: tasks, timeoutMs: max(options.connectTimeout, 60_000))
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
        guard fresh.isEmpty || checkpoint(producer, tasks: fresh) else {
            stop.set(checkpointFailure)
            return false
        }
        return true
    }

    /// The group takes partitions away (`.released`): their tasks are checkpointed (unless the partitions are
    /// already lost: another process may own them, and writing their changelog would interleave with its writes)
    /// and released; an engine released here is kept aside in case the group gives the task straight back
    /// (an eager rebalance revokes everything first).
    private mutating func releaseTasks(lost: Bool, producer: KafkaProducer) -> Bool {
        let open = Set(driver.inputs.filter(\.open).map(\.source.task))
        let leaving = driver.engine.tasks.filter { !open.contains($0) }
        guard !leaving.isEmpty else { return true }
        var ok = true
        if !lost { ok = checkpoint(producer, tasks: leaving) }
        var released: [(task: Int, engine: Engine?, changelogEnd: Int64?)] = []
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

    /// Takes a checkpoint of `tasks` (all running ones by default): delivers everything produced so far, then
    /// writes their state changes, input positions and output ends — to the changelog, then to the store in one
    /// synced batch. Returns false if it could not (the caller stops). Without a state directory, only delivers.
    private mutating func checkpoint(_ producer: KafkaProducer, tasks: [Int]? = nil) -> Bool {
        guard let store else { return true }
        do {
            try producer.flush(timeoutMs: 30_000)
        } catch {
            Log.error("\(error.message); no checkpoint")
            checkpointFailure = .kafkaFailed
            return false
        }
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
        if let pause = Self.checkpointPauseMs {
            // A failpoint for the crash test: a window inside the checkpoint (outputs delivered, state not yet
            // written) long enough to kill cepd in.
            let numbers = records.map { "\($0.task)@\($0.number)" }.joined(separator: ",")
            Log.info(
                "checkpoint \(checkpointNumber) (tasks \(numbers)): failpoint: pausing \(pause) ms before the write")
            Thread.sleep(forTimeInterval: Double(pause) / 1000)
        }
        if let hangAt = Failpoints.checkpointHang, !records.isEmpty {
            checkpointsOfTasks += 1
            if checkpointsOfTasks == hangAt {
                // The crash test kills cepd here, when it sees this line: no guess of how long the window lasts.
                let numbers = records.map { "\($0.task)@\($0.number)" }.joined(separator: ",")
                Log.info(
                    "checkpoint \(checkpointNumber) (tasks \(numbers)): failpoint: pausing until killed, before the write",
                    ["failpoint": "checkpoint", "tasks": "\(numbers)"])
                Failpoints.hang()
            }
        }
        guard !records.isEmpty else {
            checkpointNumber -= 1  // no task runs here (between assignments): nothing to record
            return true
        }
        do {
            let cost = try store.write(
                &driver.engine, records: records, changelog: changelog.map { ($0, producer) }, repair: lifecycle.repair)
            lifecycle.checkpointed(records.map { ($0.task, $0.number) })
            lastCheckpoint = DaemonMetrics.CheckpointFigures(
                milliseconds: cost.milliseconds, batchBytes: cost.batchBytes, writtenAt: writtenAt,
                number: checkpointNumber)
            Log.info(
                "checkpoint \(checkpointNumber) (tasks \(records.map { String($0.task) }.joined(separator: ","))): \(cost.keysWritten) keys "
                    + "written, \(cost.keysDeleted) deleted, \(cost.batchBytes) bytes in \(String(format: "%.1f", cost.milliseconds)) ms; "
                    + "state ≈ \(store.approximateSize / 1024) KiB")
            return true
        } catch {
            Log.error(
                "checkpoint to \(store.path) failed: \(error); stopping (the next start resumes from the last checkpoint)"
            )
            checkpointFailure = error is KafkaError ? .kafkaFailed : .stateFailed
            return false
        }
    }

    /// `CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS`: tests only (docs/operations.md, "Failpoints").
    private static let checkpointPauseMs = Failpoints.number("CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS")

    // MARK: - The engine loop

    /// Applies a batch (`EngineDriver.step`), carrying out what only the daemon can: starting the tasks of assigned
    /// partitions, preparing them before they produce, a reload's switch, a rebalance's release.
    private mutating func consume(_ batch: InputBatch, producer: KafkaProducer, stop: StopFlag) {
        var position = EngineDriver.BatchPosition()
        let now = clock.uptimeNanos
        while !halted, let pause = driver.step(batch, &position, now: now) {
            writeSideOutputs(producer, batch)
            deliver(producer)
            switch pause {
            case .preparation:
                // Tasks just started are prepared before anything can make them produce (an event, a watermark move).
                if !prepareTasks(producer, stop: stop) { return }
            case .control(.opened(let input, let topic, let partition)):
                let task = TaskEngines.task(ofPartition: partition)
                if store != nil && !driver.engine.runs(task), let code = startTask(task) {
                    stop.set(code)
                    return
                }
                driver.open(input: input, topic: topic, partition: partition, now: now)
            case .control(.notice(let text)):
                if let text = kafkaLogRepeats.admit(text) { Log.info(text) }
            case .control(.reloaded):
                finishReload()  // the outputs of the old patterns went out above, with the old formatter
            case .control(.released(let lost, let done)):
                if !releaseTasks(lost: lost, producer: producer) { stop.set(checkpointFailure) }
                done.signal()
            case .control:
                break  // the driver applies every other item itself
            }
        }
        writeSideOutputs(producer, batch)
        deliver(producer)
        if driver.holdsOutput && !prepareTasks(producer, stop: stop) { return }
    }

    /// Produces the late events and dead letters of the last `step`, with their messages from `batch`.
    private mutating func writeSideOutputs(_ producer: KafkaProducer, _ batch: InputBatch) {
        guard !driver.sideOutputs.isEmpty, !halted else { return }
        for side in driver.sideOutputs {
            switch side {
            case .late(let record, let eventTime, let patterns, let watermarks):
                let names = patterns.map { automaton.patterns[$0].name }.joined(separator: ",")
                sideOutput(
                    producer, topic: options.lateTopic, record, batch, reason: "late",
                    extra: [
                        ("cepd-event-time", String(eventTime)), ("cepd-patterns", names),
                        ("cepd-watermarks", watermarks.map(String.init).joined(separator: ",")),
                    ])
            case .deadLetter(let record, let reason):
                sideOutput(producer, topic: options.deadLetterTopic, record, batch, reason: reason, extra: [])
            }
        }
        driver.sideOutputs.removeAll(keepingCapacity: true)
    }

    // MARK: - Reload

    /// Reads and compiles the pattern files again. With errors, or other input topics, the reload is refused (the
    /// running patterns go on, the log and the answer say why); otherwise the reader is asked to switch decoders,
    /// and the engine switches when it reaches that point (`finishReload`).
    private mutating func beginReload(_ respond: EngineRequests.Reload, reader: KafkaReader) {
        guard pendingReload == nil else {
            respond?(.json("{\"error\":\"a reload is already under way\"}", status: 409))
            return
        }
        let files = options.patternPaths.joined(separator: ", ")
        let compilation: Compilation
        do throws(UsageError) {
            compilation = Compiler.compile(try PatternFiles.load(options.patternPaths))
        } catch {
            Log.error("reload refused: \(error.message); the running patterns go on")
            respond?(.text("reload refused: \(error.message)", status: 422))
            return
        }
        guard let automaton = compilation.automaton else {
            let diagnostics = DiagnosticRendering.render(compilation, colors: false)
            Log.error("reload refused: \(files) has errors; the running patterns go on\n" + diagnostics)
            respond?(.text("reload refused: the pattern files have errors\n" + diagnostics, status: 422))
            return
        }
        let fresh = TaskEngines(automaton: automaton)
        let sameTopics =
            fresh.inputTopics == driver.engine.inputTopics
            && fresh.inputTopics.allSatisfy {
                fresh.rank(topic: $0, partition: 0) == driver.engine.rank(topic: $0, partition: 0)
            }
        guard sameTopics else {
            let message =
                "the patterns would read \(fresh.inputTopics.joined(separator: ", ")) instead of "
                + "\(driver.engine.inputTopics.joined(separator: ", ")) (in declaration order); restart cepd to change the topics it consumes"
            Log.error("reload refused: \(message); the running patterns go on")
            respond?(.text("reload refused: \(message)", status: 409))
            return
        }
        var formatter = AlertFormatter(automaton: automaton)
        if let problem = registerAlertSchemas(&formatter) {
            Log.error("reload refused: \(problem); the running patterns go on")
            respond?(.text("reload refused: \(problem)", status: 422))
            return
        }
        var decoders: [String: EventDecoder] = [:]
        for topic in fresh.inputTopics {
            decoders[topic] = EventDecoder(automaton: automaton, topic: topic, schemas: schemaRegistry)
        }
        pendingReload = (automaton, formatter, respond)
        reader.reload(decoders: decoders)
    }

    /// Registers the Avro schemas of the outputs that ask for it (`as avro "x.avsc" registry`) and gives
    /// `formatter` their ids; what went wrong, if anything. Blocks while the registry does not answer.
    private func registerAlertSchemas(_ formatter: inout AlertFormatter) -> String? {
        for registration in formatter.registrations {
            guard let schemaRegistry else { return "no --schema-registry to register the alert schemas with" }
            do throws(RegistryLookupError) {
                let id = try schemaRegistry.register(subject: registration.subject, avroSchema: registration.schema)
                formatter.setSchemaID(id, pattern: registration.pattern, timeout: registration.timeout)
                Log.info(
                    "alert schema of \(automaton.patterns[registration.pattern].name) registered as \(registration.subject): id \(id)"
                )
            } catch {
                switch error {
                case .unusable(let reason), .stopping(let reason): return reason
                }
            }
        }
        return nil
    }

    /// Switches to the reloaded patterns at the reader's switch point: state carried over by `Engine.reloading`.
    private mutating func finishReload() {
        guard let (automaton, formatter, respond) = pendingReload else { return }
        pendingReload = nil
        let report: Engine.RestoreReport
        do {
            let reloaded = try driver.engine.reloading(automaton)
            driver.replaceEngine(reloaded.tasks)
            report = reloaded.report
        } catch {
            // The reader already decodes for the new patterns: the old engine cannot go on.
            Log.error("reload failed while carrying the state over (\(error)); stopping without committing")
            respond?(.json("{\"error\":\"reload failed; cepd stops\"}", status: 500))
            halt(.stateFailed)
            return
        }
        self.automaton = automaton
        self.formatter = formatter
        driver.engine.setLimits(options.limits)
        droppedLogged = []
        // Engines kept aside for released tasks run the old patterns: such a task, given back, is restored from its
        // checkpoint under the new ones instead.
        lifecycle.dropParked()
        let changed = report.started.filter { name in !Set(report.restored).contains(name) }
        func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
        Log.info(
            "reloaded \(options.patternPaths.joined(separator: ", ")): kept (with their state): \(list(report.restored)); "
                + "started empty (new or changed): \(list(changed)); dropped: \(list(report.dropped))")
        func array(_ names: [String]) -> String { "[" + names.map(JSONWriter.quoted).joined(separator: ",") + "]" }
        respond?(
            .json(
                "{\"kept\":\(array(report.restored)),\"started\":\(array(changed)),\"dropped\":\(array(report.dropped))}"
            ))
    }

    /// Warns about partial matches dropped over a cap since the last warning (called once a second at most).
    private mutating func warnAboutDrops() {
        if droppedLogged.isEmpty { droppedLogged = Array(repeating: 0, count: automaton.patterns.count) }
        for p in automaton.patterns.indices {
            let matchers = driver.engine.matchers(ofPattern: p)
            let dropped = matchers.reduce(0) { $0 + $1.droppedPartialMatches }
            guard dropped > droppedLogged[p] else { continue }
            let new = dropped - droppedLogged[p]
            droppedLogged[p] = dropped
            let lastKey = matchers.compactMap(\.lastDroppedKey).last
            Log.warning(
                "pattern \(automaton.patterns[p].name): \(new) partial matches dropped over the cap "
                    + "(--max-partial-matches\(options.limits.perKey != nil ? "-per-key" : "")), the oldest first",
                [
                    "pattern": "\(automaton.patterns[p].name)", "dropped_total": "\(dropped)",
                    "last_key": "\(lastKey.map { "\($0)" } ?? "")",
                ])
        }
    }

    /// Hands the engine thread's counters to the metrics (see `DaemonMetrics.publish`).
    private func publish(_ metrics: DaemonMetrics, consumer: KafkaConsumer, producer: KafkaProducer) {
        let partitions = driver.inputs.filter { driver.engine.runs($0.source.task) }.map { input in
            let source = driver.engine[input.source]
            return DaemonMetrics.Snapshot.Partition(
                topic: input.topic, partition: input.partition, messages: input.messages,
                deadLetters: input.deadLetters, lateEvents: input.lateEvents, position: input.position,
                highWatermark: input.open
                    ? consumer.highWatermark(of: TopicPartition(topic: input.topic, partition: input.partition)) : nil,
                watermark: source.maxTimestamp == .min ? nil : source.watermark, assigned: input.open)
        }
        metrics.publish(
            DaemonMetrics.Snapshot(
                partitions: partitions, engine: driver.engine, automaton: automaton,
                produceErrors: producer.failedCount,
                alertsProduced: alertCount, checkpoint: lastCheckpoint, stateBytes: store?.approximateSize,
                registry: schemaRegistry.map { ($0.requests.answered, $0.requests.unanswered, $0.schemaCount) }))
    }

    /// Stops processing and producing at once, and the daemon with `reason` (see `halted`).
    private mutating func halt(_ reason: StopReason) {
        halted = true
        stop.set(reason)
    }

    /// How long a revoked partition keeps holding the watermark back, at least, in case it comes back.
    static let revokedGraceNanos: UInt64 = 30_000_000_000

    /// Produces the alerts the engine has output so far.
    private mutating func deliver(_ producer: KafkaProducer) {
        guard !driver.outputs.isEmpty, !halted else { return }
        for output in driver.outputs {
            guard let alert = formatter.alert(output) else { continue }
            alertCount += 1
            if let metrics, case .match = output.kind, let last = output.last {
                metrics.recordAlert(lastEventTime: last.event.timestamp)
            }
            if ledger.alreadyWritten(OutputLedger.identity(matchID: alert.id)) { continue }
            // The task that wrote it: a task restored elsewhere skips only its own outputs (`OutputLedger`).
            let task = output.last.map { String(TaskEngines.task(ofPartition: $0.event.origin.partition)) } ?? ""
            send(
                producer, topic: alert.topic, key: Array(alert.key.utf8),
                value: alert.encoded ?? Array(alert.json.utf8),
                headers: [
                    ("cepd-pattern", Array(alert.pattern.utf8)), ("cepd-match-id", Array(alert.id.utf8)),
                    ("cepd-task", Array(task.utf8)),
                ] + alert.headers.map { ($0.name, Array($0.value.utf8)) })
        }
        driver.outputs.removeAll(keepingCapacity: true)
    }

    /// A late event or a dead letter: the original key and value, the reason and origin in headers.
    private mutating func sideOutput(
        _ producer: KafkaProducer, topic: String, _ record: InputRecord, _ batch: InputBatch, reason: String,
        extra: [(String, String)]
    ) {
        let input = driver.inputs[record.input]
        let partition = TopicPartition(topic: input.topic, partition: input.partition)
        let identity = OutputLedger.identity(
            late: reason == "late", topic: partition.topic, partition: partition.partition, offset: record.offset)
        if ledger.alreadyWritten(identity) { return }
        var headers: [(name: String, value: [UInt8]?)] = [
            ("cepd-reason", Array(reason.utf8)), ("cepd-source-topic", Array(partition.topic.utf8)),
            ("cepd-source-partition", Array(String(partition.partition).utf8)),
            ("cepd-source-offset", Array(String(record.offset).utf8)),
        ]
        if let timestamp = record.timestamp { headers.append(("cepd-source-timestamp", Array(String(timestamp).utf8))) }
        for (name, value) in extra { headers.append((name, Array(value.utf8))) }
        let key = record.key.map { batch.copy($0) }
        var value = batch.copy(record.value)
        // A message the broker took can be too large to produce again with the headers (a 10 MB poison pill
        // stopped cepd with status 4 on every restart): its first bytes go, with their original length.
        let room = max(1024, maxMessageBytes - 16 * 1024 - (key?.count ?? 0))
        if value.count > room {
            headers.append(("cepd-value-truncated", Array(String(value.count).utf8)))
            value.removeSubrange(room...)
        }
        send(producer, topic: topic, key: key, value: record.isNull ? nil : value, headers: headers)
    }

    /// The producer's `message.max.bytes` (librdkafka's default, 1,000,000, unless -X or --config sets it).
    private var maxMessageBytes: Int {
        options.properties.last { $0.key == "message.max.bytes" }.flatMap { Int($0.value) } ?? 1_000_000
    }

    private mutating func send(
        _ producer: KafkaProducer, topic: String, key: [UInt8]?, value: [UInt8]?,
        headers: [(name: String, value: [UInt8]?)]
    ) {
        do {
            try producer.send(topic: topic, key: key, value: value, headers: headers)
        } catch {
            // Not queued at all (e.g. larger than message.max.bytes): as fatal as a failed delivery.
            Log.error("cannot produce to '\(topic)': \(error.message)")
            halt(.kafkaFailed)
        }
    }

    /// Delivers everything produced so far, then commits the positions it covers — for the partitions this member
    /// owns now only: committing a revoked partition fails, and each failure makes librdkafka restart the group
    /// join it is in the middle of (after a broker outage that cost the membership, a commit every interval
    /// would keep cepd out of the group for good).
    private mutating func commit(producer: KafkaProducer, consumer: KafkaConsumer) {
        var pending: [TopicPartition: Int64] = [:]
        for input in driver.inputs where input.open {
            let partition = TopicPartition(topic: input.topic, partition: input.partition)
            if let position = input.position, committedPositions[partition] != position {
                pending[partition] = position
            }
        }
        guard !pending.isEmpty else { return }
        do {
            try producer.flush(timeoutMs: 30_000)
        } catch {
            Log.error("\(error.message); not committing offsets")
            return
        }
        let offsets = pending.map { PartitionOffset($0.key, offset: $0.value) }
        do {
            try consumer.commit(offsets)
            for offset in offsets { committedPositions[offset.partition] = offset.offset }
        } catch {
            Log.info("offset commit failed (\(error.message)); retrying at the next interval")
        }
    }
}

/// What the reader's thread learnt while catching tasks up, for the engine's thread: the unfinished checkpoints
/// found in the changelog (repaired at the tasks' next checkpoints), and the tasks it could not catch up.
final class TaskTails: Sendable {
    private let state = Mutex<(tails: [Int: [Changelog.Change]], behind: Set<Int>)>(([:], []))

    func set(_ task: Int, _ tail: [Changelog.Change]) { state.withLock { $0.tails[task] = tail.isEmpty ? nil : tail } }

    func take(_ task: Int) -> [Changelog.Change] { state.withLock { $0.tails.removeValue(forKey: task) ?? [] } }

    /// Notes tasks whose catch-up failed: their local state is older than their changelog.
    func markBehind(_ tasks: [Int]) { state.withLock { $0.behind.formUnion(tasks) } }

    func isBehind(_ task: Int) -> Bool { state.withLock { $0.behind.contains(task) } }
}
