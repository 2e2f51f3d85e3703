import AdminHTTP
import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Logging
import Synchronization

/// Starting the daemon: Kafka reached, topics there, state opened, the consumer and its reader thread started.
extension KafkaDaemon {
    /// Reaches Kafka, opens the admin port and the state, and starts the consumer and its reader thread; throws
    /// why the daemon cannot run.
    mutating func start() throws(StopReason) -> Connections {
        let topics = driver.engine.inputTopics
        // librdkafka's own lines in cepd's one-line format, a flood of one failure collapsed (LogRepeats).
        let repeats = kafkaLogRepeats
        KafkaLog.sink = { line in if let line = repeats.admit(line) { Log.info(line) } }
        if KafkaLibrary.versionNumber < 0x020a_0000 {
            Log.info(
                "librdkafka \(KafkaLibrary.version) is older than 2.10: it cannot talk to some brokers (Tansu), and a "
                    + "produce refused at once (e.g. not authorized) crashes it instead of failing; 2.10 or newer is "
                    + "recommended")
        }
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(properties: options.properties)
        } catch {
            Log.error("\(error.message) (check -X and --config)")
            throw .configuration
        }
        logConfiguration()
        let assignor = try assignorDefaults(topics)
        let admin = try startAdmin()
        // The admin server runs on only if the daemon starts.
        var started = false
        defer { if !started { admin?.stop() } }
        if let reason = waitForTopics(topics, producer: producer, stop: stop) { throw reason }
        let emits = Set(automaton.patterns.flatMap { [$0.emit?.topic, $0.timeoutEmit?.topic].compactMap { $0 } })
            .sorted()
        if let dir = options.stateDir,
            let reason = openState(
                dir, producer: producer, outputTopics: emits + [options.lateTopic, options.deadLetterTopic])
        {
            throw reason
        }
        driver.engine.setLimits(options.limits)
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(
                properties: assignor + options.properties, group: options.group, topics: topics, start: options.start,
                partitionQueues: true)
        } catch {
            Log.error("\(error.message) (check -X and --config)")
            throw .configuration
        }
        let stop = stop
        do {
            schemaRegistry = try options.registry.client(for: automaton, clock: clock) { stop.isSet }
        } catch {
            Log.error(error.message)
            throw .configuration
        }
        if let problem = registerAlertSchemas(&formatter) {
            Log.error("\(problem); stopping")
            throw .configuration
        }
        Log.info(
            "consuming \(topics.joined(separator: ", ")) from \(options.brokers) as group '\(options.group)'; "
                + "alerts to \(emits.joined(separator: ", ")); late events to \(options.lateTopic), dead letters "
                + "to \(options.deadLetterTopic)", ["state": "consuming"])
        let (reader, channel) = startReader(consumer, topics: topics)
        started = true
        return Connections(producer: producer, consumer: consumer, reader: reader, channel: channel, admin: admin)
    }

    /// The consumer settings cepd starts from. Tasks move whole: partition i of every input topic to the same
    /// process. The range assignor gives each member the same range of every topic of equal partition count;
    /// cooperative-sticky balances partitions one by one and would split a task between processes (librdkafka
    /// takes no assignor of ours). With one input topic a partition is a task, and cooperative-sticky stays.
    func assignorDefaults(_ topics: [String]) throws(StopReason) -> [(key: String, value: String)] {
        guard options.stateDir != nil && topics.count > 1 else { return Self.consumerDefaults }
        if let chosen = options.properties.last(where: { $0.key == "partition.assignment.strategy" })?.value,
            chosen != "range"
        {
            Log.error(
                "-X partition.assignment.strategy=\(chosen) can split a task (partition i of every input topic) "
                    + "between processes; with --state-dir cepd needs 'range' (leave the setting out)")
            throw .configuration
        }
        return Self.consumerDefaults.map { $0.key == "partition.assignment.strategy" ? ($0.key, "range") : $0 }
    }

    /// The admin server, with --metrics-port.
    mutating func startAdmin() throws(StopReason) -> AdminServer? {
        guard let address = options.metricsAddress else { return nil }
        let metrics = DaemonMetrics(clock: clock)
        let routes = AdminRoutes(metrics: metrics, status: status, requests: requests)
        let admin: AdminServer
        do {
            admin = try AdminServer(host: address.host, port: address.port) { routes.handle($0, respond: $1) }
        } catch {
            Log.error(
                "cannot listen on \(address.host):\(address.port) for --metrics-port (\(error)); choose another "
                    + "--metrics-port or --metrics-host, or stop what uses it")
            throw .configuration
        }
        self.metrics = metrics
        Log.info(
            "admin port: http://\(address.host):\(admin.port)/metrics, /healthz, /readyz",
            ["admin_port": "\(admin.port)"])
        return admin
    }

    /// The reader on its own thread, and the channel its batches come through. With a state directory, the
    /// reader catches the tasks of assigned partitions up with their changelog inside the rebalance (`catchUp`).
    func startReader(_ consumer: KafkaConsumer, topics: [String]) -> (KafkaReader, BatchChannel<InputBatch>) {
        var decoders: [String: EventDecoder] = [:]
        for topic in topics {
            decoders[topic] = EventDecoder(automaton: automaton, topic: topic, schemas: schemaRegistry)
        }
        let channel = BatchChannel<InputBatch>(capacity: 4) { InputBatch() }
        let ranks = driver.engine
        var catchUp: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])?
        if let store, let changelog {
            let (tails, stop, clock, beforeCatchUp) = (tails, stop, clock, options.failpoints.beforeCatchUp)
            let timeoutMs = max(options.connectTimeout, 60_000)
            catchUp = {
                beforeCatchUp(Set($0.map { TaskID(ofPartition: $0.partition) }).sorted())
                return Self.catchUp(
                    $0, store: store, changelog: changelog, tails: tails, timeoutMs: timeoutMs, clock: clock, stop: stop
                )
            }
        }
        let reader = KafkaReader(
            consumer: consumer, decoders: decoders, rank: { ranks.rank(topic: $0.topic, partition: $0.partition) },
            maxWaitMs: max(options.idleTimeout, 60_000), channel: channel, stop: stop, catchUp: catchUp, clock: clock)
        let thread = Thread { reader.run() }
        thread.start()
        return (reader, channel)
    }
    /// Waits for the cluster within --connect-timeout, and for the input topics if asked to. Returns an exit
    /// status to stop with, or nil to go on.
    mutating func waitForTopics(_ topics: [String], producer: KafkaProducer, stop: StopFlag) -> StopReason? {
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
                    "waiting for input topic\(missing.count == 1 ? "" : "s") \(names) to exist (--wait-for-topics)",
                    ["state": "waiting-for-topics"])
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
}
