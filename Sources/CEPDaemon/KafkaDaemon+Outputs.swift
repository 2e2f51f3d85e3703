import AdminHTTP
import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Logging
import Synchronization

/// What the daemon writes: alerts, side outputs, offset commits, metrics; and the halt on a failed write.
extension KafkaDaemon {
    /// Produces the late events and dead letters of the last `step`, with their messages from `batch`.
    mutating func writeSideOutputs(_ producer: KafkaProducer, _ batch: InputBatch) {
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

    /// Warns about partial matches dropped over a cap since the last warning (called once a second at most).
    mutating func warnAboutDrops() {
        if droppedLogged.isEmpty { droppedLogged = Array(repeating: 0, count: automaton.patterns.count) }
        for p in automaton.patterns.indices {
            let matchers = driver.engine.matchers(ofPattern: PatternID(p))
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
    func publish(_ metrics: DaemonMetrics, consumer: KafkaConsumer, producer: KafkaProducer) {
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
    mutating func halt(_ reason: StopReason) {
        halted = true
        stop.set(reason)
    }

    /// Produces the alerts the engine has output so far.
    mutating func deliver(_ producer: KafkaProducer) {
        guard !driver.outputs.isEmpty, !halted else { return }
        for output in driver.outputs {
            guard let alert = formatter.alert(output) else { continue }
            alertCount += 1
            if let metrics, case .match = output.kind, let last = output.last {
                metrics.recordAlert(lastEventTime: last.event.timestamp)
                metrics.recordProcessing(
                    taken: batchTimes.taken, handedOver: batchTimes.handedOver, now: clock.uptimeNanos)
            }
            if ledger.alreadyWritten(OutputLedger.identity(matchID: alert.id)) { continue }
            // The task that wrote it: a task restored elsewhere skips only its own outputs (`OutputLedger`).
            let task = output.last.map { TaskID(ofPartition: $0.event.origin.partition).description } ?? ""
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
    mutating func sideOutput(
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
    var maxMessageBytes: Int {
        options.properties.last { $0.key == "message.max.bytes" }.flatMap { Int($0.value) } ?? 1_000_000
    }

    mutating func send(
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

    /// Commits a checkpoint's input positions once it is on disk (its outputs were delivered before it was
    /// taken); without a state directory (`positions` nil), delivers everything produced so far, then commits
    /// where the inputs are — for the partitions this member owns now only: committing a revoked partition fails, and each failure makes librdkafka restart the group
    /// join it is in the middle of (after a broker outage that cost the membership, a commit every interval
    /// would keep cepd out of the group for good).
    mutating func commit(_ positions: [TopicPartition: Int64]?, producer: KafkaProducer, consumer: KafkaConsumer) {
        var pending: [TopicPartition: Int64] = [:]
        let open = Set(driver.inputs.filter(\.open).map { TopicPartition(topic: $0.topic, partition: $0.partition) })
        let current = driver.inputs.filter(\.open).compactMap { input in
            input.position.map { (TopicPartition(topic: input.topic, partition: input.partition), $0) }
        }
        // A checkpoint's positions once it is on disk (the inputs have moved on since it was taken); without a state
        // directory, where the inputs are.
        for (partition, position) in positions ?? Dictionary(current, uniquingKeysWith: max)
        where open.contains(partition) && committedPositions[partition] != position {
            pending[partition] = position
        }
        guard !pending.isEmpty else { return }
        do {
            if positions == nil { try producer.flush(timeoutMs: 30_000) }
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
