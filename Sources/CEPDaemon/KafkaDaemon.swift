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
    /// librdkafka consumer settings cepd starts from (-X and --config override them). Each partition's messages
    /// wait in a queue of their own (`KafkaReader`), and librdkafka stops fetching a partition while its queue holds
    /// queued.min.messages, then looks again after fetch.queue.backoff.ms. librdkafka's defaults (100,000 messages,
    /// 1 s) are sized for one queue shared by all partitions: per partition they let a backlog take ~300 bytes a
    /// message times 100,000 times the partitions (a GB for nine partitions of a preloaded topic, measured), and a
    /// partition that the merge drained waited out a second. 20,000 and 20 ms: a bound of ~7 MB a partition, and
    /// 334k events/s where the defaults gave 241k (docs/performance.md). (fetch.queue.backoff.ms only where the
    /// library has it: 2.0.2 does not.)
    ///
    /// And the cooperative-sticky assignor: when a member joins or leaves the group, only the partitions that move
    /// are revoked and assigned (the others keep being read, their state untouched), where the eager default
    /// revokes every partition of every member first.
    static let consumerDefaults: [(key: String, value: String)] =
        [("queued.min.messages", "20000")]
        + (KafkaLibrary.hasProperty("fetch.queue.backoff.ms", sampleValue: "20")
            ? [("fetch.queue.backoff.ms", "20")] : [])
        + [("partition.assignment.strategy", "cooperative-sticky")]

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
        /// How long a stop may take (deliver, checkpoint, commit) before `onShutdownTimeout` runs.
        var shutdownTimeout: Int64 = 30_000
        /// Failpoints (tests only).
        var failpoints = Failpoints.environment
        /// What runs when a stop takes longer than `shutdownTimeout` (`ShutdownWatchdog`): the command layer exits.
        /// Nil: no watchdog.
        var onShutdownTimeout: (@Sendable (StopReason) -> Void)?
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
    func logConfiguration() {
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

    var automaton: Automaton
    let options: Options
    /// The tasks this process runs (task i: partition i of every input topic) and their input partitions.
    var driver: EngineDriver
    /// Uptime and wall clock (a manual clock in tests).
    let clock: any DaemonClock
    var formatter: AlertFormatter
    /// A reload that waits for the reader to reach its switch point (`.reloaded`), and whom to answer.
    var pendingReload: (automaton: Automaton, formatter: AlertFormatter, respond: EngineRequests.Reload)?
    /// Writer schemas by id, for streams declared `format ... registry` (shared by every decoder, reloads too).
    var schemaRegistry: SchemaRegistryClient?
    var committedPositions: [TopicPartition: Int64] = [:]
    var alertCount = 0
    /// The checkpoint store, with --state-dir.
    var store: CheckpointStore?
    var checkpointNumber: UInt64 = 0
    var clusterID: String?
    /// What the output partitions already hold, so that a recovered run does not write it twice.
    var ledger = OutputLedger()
    /// With --state-dir: the changelog the tasks' checkpoints also go to.
    var changelog: Changelog?
    /// Each task's state: started, recovering, running, parked (`TaskLifecycle`).
    var lifecycle = TaskLifecycle()
    /// Handed over from the reader's thread: the unfinished checkpoints found while catching up.
    let tails = TaskTails()
    /// Why the last checkpoint failed: Kafka refused what it wrote (outputs or changelog), or the state directory
    /// did.
    var checkpointFailure = StopReason.stateFailed
    /// The partitions of the output topics.
    var outputPartitions: [TopicPartition] = []
    /// The partition count of the input topics (the number of tasks).
    var inputPartitions = 1
    /// The metrics the admin port serves (with --metrics-port).
    var metrics: DaemonMetrics?
    /// While a batch is applied: when its first message was taken from the consumer and when it was handed over
    /// (uptime ns; 0 otherwise).
    var batchTimes: (taken: UInt64, handedOver: UInt64) = (0, 0)
    /// Readiness, for the admin port, and progress, for tests.
    let status = DaemonStatus()
    /// Admin requests and reloads (SIGHUP) for the engine thread.
    let requests = EngineRequests()
    /// Asks the daemon to stop, and says why (signals: the command layer, `ServeCommand`).
    let stop = StopFlag()
    /// Bounds how long a stop takes, while `run` runs (with `Options.onShutdownTimeout`).
    let watchdog: ShutdownWatchdog?
    /// Kafka's failures, from librdkafka's log and the consumer's error events, written once per 30 s each.
    let kafkaLogRepeats: LogRepeats
    /// Set by a failure after which nothing more may be processed or produced (an output Kafka would not take, a
    /// reload that could not carry the state over while the reader already decodes for the new patterns): the
    /// batches still in flight are dropped, nothing is delivered, checkpointed or committed.
    var halted = false
    /// Checkpoints that recorded tasks, for `CEPD_FAILPOINT_CHECKPOINT_HANG`.
    var checkpointsOfTasks = 0
    /// The last checkpoint written or restored.
    var lastCheckpoint: DaemonMetrics.CheckpointFigures?
    /// The checkpoint being written on the store's thread, if any (`beginCheckpoint`, `endCheckpoint`).
    var writing: CheckpointInFlight?
    /// Per pattern, the partial matches dropped over a cap when last logged.
    var droppedLogged: [Int] = []

    init(automaton: Automaton, options: Options, clock: any DaemonClock = SystemClock()) {
        self.automaton = automaton
        self.options = options
        self.clock = clock
        kafkaLogRepeats = LogRepeats(clock: clock)
        watchdog = options.onShutdownTimeout.map { [stop] in
            ShutdownWatchdog(stop: stop, timeoutMs: options.shutdownTimeout, clock: clock, onTimeout: $0)
        }
        self.driver = EngineDriver(
            engine: TaskEngines(automaton: automaton),
            idling: .init(
                timeoutNanos: UInt64(max(0, options.idleTimeout)) * 1_000_000, revokedGraceNanos: Self.revokedGraceNanos
            ))
        driver.pausesForOutputs = true
        self.formatter = AlertFormatter(automaton: automaton)
    }

    /// Runs until `stop` is set (SIGINT/SIGTERM) or a failure; returns why it stopped.
    mutating func run() -> StopReason {
        watchdog?.start()
        defer { watchdog?.finish() }
        let connections: Connections
        do {
            connections = try start()
        } catch {
            return error
        }
        defer { connections.admin?.stop() }
        status.setRestored()
        status.setConsuming(true)
        loop(connections)
        return finish(connections)
    }

    /// What a started daemon works with.
    struct Connections {
        var producer: KafkaProducer
        var consumer: KafkaConsumer
        var reader: KafkaReader
        var channel: BatchChannel<InputBatch>
        var admin: AdminServer?
    }

    /// The engine thread's loop: a batch (or 100 ms without one), then what the clock says is due, until the
    /// reader closes the channel (it does once `stop` is set).
    mutating func loop(_ connections: Connections) {
        var due = Due(checkpoint: clock.uptimeNanos, publish: 0)
        var turns = 0
        while true {
            switch connections.channel.receive(waitingMs: 100) {
            case .batch(let batch):
                consume(batch, producer: connections.producer, stop: stop)
                batch.removeAll()
                // unsafe: the driver and the outputs keep nothing of a batch (they copy the bytes they produce); the
                // compiler cannot tell that from the methods of self it went through.
                nonisolated(unsafe) let emptied = batch
                connections.channel.recycle(emptied)
            case .timeout:
                break
            case .closed:
                return
            }
            turns += 1
            turn(connections, due: &due, turns: turns)
        }
    }

    /// When the periodic work was last done (uptime, ns).
    struct Due {
        var checkpoint: UInt64
        var publish: UInt64
    }

    /// After each batch: idle partitions, outputs, admin requests, metrics, checkpoints as the clock says.
    mutating func turn(_ connections: Connections, due: inout Due, turns: Int) {
        let producer = connections.producer
        let now = clock.uptimeNanos
        driver.markIdle(now: now)
        // Not while this member owns no partition at all (a rejoin in progress): that is not quiet traffic.
        if options.idleWallClock && driver.inputs.contains(where: \.open) {
            driver.engine.advanceIdlePatterns(toWallClock: clock.wallMillis, into: &driver.outputs)
        }
        deliver(producer)
        producer.poll()
        status.setAssigned(driver.inputs.count { $0.open })
        status.setProgress(
            .init(
                turns: turns, events: driver.processedEvents, alerts: alertCount,
                // Those on disk: not the one being written.
                checkpoints: Int(checkpointNumber) - (writing == nil ? 0 : 1)))
        if stop.isSet { status.setStopping() }
        for request in requests.take() {
            request.respond(.json(KeyReport.json(key: request.key, engine: driver.engine)))
        }
        for respond in requests.takeReloads() { beginReload(respond, reader: connections.reader) }
        if now - due.publish >= DaemonMetrics.interval {
            if let metrics { publish(metrics, consumer: connections.consumer, producer: producer) }
            if !options.limits.isEmpty { warnAboutDrops() }
            due.publish = now
        }
        if let failure = producer.failure {
            Log.error("\(failure.message); stopping without committing (the events are read again on restart)")
            stop.set(.kafkaFailed)
            return
        }
        // A checkpoint is written on the store's thread while matching goes on; its offsets are committed once it
        // is on disk. One due while the last is still being written waits for it (their changes merge).
        switch endCheckpoint(wait: false) {
        case .written(let positions) where !halted:
            commit(positions, producer: producer, consumer: connections.consumer)
        case .written: break
        case .failed: stop.set(checkpointFailure)
        case .none, .inFlight: break
        }
        let interval = store == nil ? options.commitInterval : options.checkpointInterval
        if !halted && writing == nil && now - due.checkpoint >= UInt64(interval) * 1_000_000 {
            if store == nil {
                commit(nil, producer: producer, consumer: connections.consumer)
            } else if !beginCheckpoint(producer) {
                stop.set(checkpointFailure)
            }
            due.checkpoint = now
        }
    }

    /// Stopped: answers what is queued, delivers what was produced, checkpoints, commits what it covers, leaves the
    /// group; returns why it stopped.
    mutating func finish(_ connections: Connections) -> StopReason {
        status.setStopping()
        for request in requests.take() { request.respond(.json("{\"error\":\"cepd is stopping\"}", status: 503)) }
        for respond in requests.takeReloads() { respond?(.json("{\"error\":\"cepd is stopping\"}", status: 503)) }
        pendingReload?.respond?(.json("{\"error\":\"cepd stopped before the reload took effect\"}", status: 503))
        deliver(connections.producer)
        // The final checkpoint failing is a failure (status 4 or 5), not a clean stop: the first stop reason set
        // (the signal's) would otherwise win.
        var failure: StopReason?
        if stop.isClean {
            if let positions = checkpoint(connections.producer) {
                commit(positions, producer: connections.producer, consumer: connections.consumer)
            } else {
                failure = checkpointFailure
            }
        } else if case .failed = endCheckpoint(wait: true) {
            failure = checkpointFailure
        }
        connections.consumer.close()
        // The state directory's lock goes with the store: a daemon that returned holds nothing (another can start).
        store = nil
        let skipped =
            ledger.skipped > 0 ? "; \(ledger.skipped) outputs already written before the restart not written again" : ""
        Log.info(
            "stopped: \(driver.processedEvents) events, \(alertCount) alerts, \(driver.lateEvents) late, "
                + "\(driver.deadLetters) dead letters\(skipped)")
        return failure ?? stop.stopReason ?? .requested
    }

    // MARK: - The engine loop

    /// Applies a batch (`EngineDriver.step`), carrying out what only the daemon can: starting the tasks of assigned
    /// partitions, preparing them before they produce, a reload's switch, a rebalance's release.
    mutating func consume(_ batch: InputBatch, producer: KafkaProducer, stop: StopFlag) {
        batchTimes = (batch.firstTaken, batch.handedOver)
        defer { batchTimes = (0, 0) }  // (outputs made outside a batch — a timer, an idle partition — are not timed)
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
                let task = TaskID(ofPartition: partition)
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
            case .control, .outputs:
                break  // the driver applies every other item itself; the outputs went out above
            }
        }
        writeSideOutputs(producer, batch)
        deliver(producer)
        if driver.holdsOutput && !prepareTasks(producer, stop: stop) { return }
    }

    /// How long a revoked partition keeps holding the watermark back, at least, in case it comes back.
    static let revokedGraceNanos: UInt64 = 30_000_000_000
}
