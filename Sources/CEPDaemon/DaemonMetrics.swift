import CEPRuntime
import CoreMetrics
import Foundation
import KafkaClient
import Prometheus

/// The daemon's metrics, in Prometheus text format on the admin port (`/metrics`).
///
/// The metrics are swift-metrics objects made by a `PrometheusMetricsFactory` over this instance's own registry
/// (not the process-wide `MetricsSystem`, so that tests can run several daemons in one process). The engine
/// thread never touches them per event: it keeps plain counters, and `publish` copies them into the metrics
/// every `DaemonMetrics.interval` (a scrape sees values at most that old). Names follow Prometheus conventions:
/// `_total` counters, base units (seconds, bytes).
final class DaemonMetrics: @unchecked Sendable {
    // @unchecked: the registry and the metric objects are thread-safe; the dictionaries and `published*` below are
    // touched only by the engine thread (in `publish` and `recordAlert`).

    /// How often the engine thread publishes. Each publish also takes the partial-match census, a walk over every
    /// key's partial matches.
    static let interval: UInt64 = 1_000_000_000

    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    private var counters: [String: CoreMetrics.Counter] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var published: [String: Int] = [:]
    /// The series with a `pattern` label, and the ones set by the publish under way: after a reload, the series
    /// of a removed pattern (or of a changed pattern's former steps) are dropped rather than left at their last
    /// values.
    private var patternSeries: Set<String> = []
    private var touched: Set<String> = []
    private let alertLatency: CoreMetrics.Timer
    /// cepd's own part of an alert's latency in two stages: the reader's (a batch's first message taken from
    /// librdkafka → the batch handed over: decoding, and the event-time merge waiting for the other partitions)
    /// and the engine's (→ the alert handed to the producer: the hand-off queue and matching).
    private let alertReading: CoreMetrics.Timer
    private let alertMatching: CoreMetrics.Timer

    /// The wall clock the alert latency and the watermark lag are measured with.
    private let clock: any DaemonClock

    init(clock: any DaemonClock = SystemClock()) {
        self.clock = clock
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["cepd_alert_latency_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        factory.durationHistogramBuckets["cepd_alert_processing_seconds"] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        self.factory = factory
        alertLatency = CoreMetrics.Timer(label: "cepd_alert_latency_seconds", factory: factory)
        alertReading = CoreMetrics.Timer(
            label: "cepd_alert_processing_seconds", dimensions: [("stage", "reader")], factory: factory)
        alertMatching = CoreMetrics.Timer(
            label: "cepd_alert_processing_seconds", dimensions: [("stage", "engine")], factory: factory)
    }

    /// The text `/metrics` serves.
    func render() -> String { registry.emitToString() }

    /// What the engine thread hands over at each publish.
    struct Snapshot {
        /// One consumed partition.
        struct Partition {
            var topic: String
            var partition: Int32
            var messages: Int
            var deadLetters: Int
            var lateEvents: Int
            /// The offset after the last processed message.
            var position: Int64?
            /// The partition's end as the consumer last saw it.
            var highWatermark: Int64?
            /// Its event-time watermark (epoch ms); nil before its first event.
            var watermark: Int64?
            var assigned: Bool
        }

        var partitions: [Partition]
        var engine: TaskEngines
        var automaton: Automaton
        var produceErrors: Int
        var alertsProduced: Int
        var checkpoint: CheckpointFigures?
        var stateBytes: Int?
        /// The schema registry client's requests (answered, unanswered) and schemas held, when there is one.
        var registry: (answered: Int, unanswered: Int, schemas: Int)?
    }

    /// The last checkpoint's figures.
    struct CheckpointFigures {
        var milliseconds: Double
        var batchBytes: Int
        /// Epoch ms when it was written.
        var writtenAt: Int64
        var number: UInt64
    }

    /// Copies the engine thread's counters and gauges into the metrics.
    func publish(_ snapshot: Snapshot) {
        touched.removeAll(keepingCapacity: true)
        defer { dropStaleSeries() }
        let wallMs = clock.wallMillis
        for p in snapshot.partitions {
            let labels = [("topic", p.topic), ("partition", String(p.partition))]
            count("cepd_events_in_total", labels, p.messages)
            count("cepd_decode_failures_total", labels, p.deadLetters)
            count("cepd_late_events_total", labels, p.lateEvents)
            set("cepd_partition_assigned", labels, p.assigned ? 1 : 0)
            if let position = p.position, let high = p.highWatermark {
                set("cepd_consumer_lag_messages", labels, Double(max(0, high - position)))
            }
            if let watermark = p.watermark, watermark > Int64.min, watermark < Int64.max {
                set("cepd_partition_watermark_seconds", labels, Double(watermark) / 1000)
                set("cepd_partition_watermark_lag_seconds", labels, Double(wallMs - watermark) / 1000)
            }
        }
        let stats = snapshot.engine.stats
        for (index, pattern) in snapshot.automaton.patterns.enumerated() {
            let labels = [("pattern", pattern.name)]
            count("cepd_matches_total", labels, stats.matches[index])
            count("cepd_timeouts_total", labels, stats.timeouts[index])
            let matchers = snapshot.engine.matchers(ofPattern: PatternID(index))
            count("cepd_partial_matches_dropped_total", labels, matchers.reduce(0) { $0 + $1.droppedPartialMatches })
            if pattern.suppress != nil {
                count("cepd_alerts_suppressed_total", labels, matchers.reduce(0) { $0 + $1.suppressedAlerts })
            }
            set("cepd_buffered_events", labels, Double(matchers.reduce(0) { $0 + $1.bufferedEvents }))
            set("cepd_active_keys", labels, Double(matchers.reduce(0) { $0 + $1.activeKeys }))
            // Over the tasks this process runs: the one furthest behind.
            if let watermark = snapshot.engine.watermark(ofPattern: PatternID(index)), watermark > Int64.min,
                watermark < Int64.max
            {
                set("cepd_watermark_seconds", labels, Double(watermark) / 1000)
                set("cepd_watermark_lag_seconds", labels, Double(wallMs - watermark) / 1000)
            }
        }
        for (index, pattern) in snapshot.automaton.patterns.enumerated() {
            var byState = Array(repeating: 0, count: pattern.states.count)
            for matcher in snapshot.engine.matchers(ofPattern: PatternID(index)) {
                for (state, n) in matcher.partialMatchesByState().enumerated() { byState[state] += n }
            }
            var byStep: [String: Int] = [:]
            for (state, n) in byState.enumerated() { byStep[pattern.states[state].name, default: 0] += n }
            set("cepd_partial_matches", [("pattern", pattern.name)], Double(byState.reduce(0, +)))
            for (step, n) in byStep.sorted(by: { $0.key < $1.key }) {
                set("cepd_partial_matches_by_step", [("pattern", pattern.name), ("step", step)], Double(n))
            }
        }
        count("cepd_events_total", [], stats.events)
        count("cepd_alerts_produced_total", [], snapshot.alertsProduced)
        count("cepd_produce_errors_total", [], snapshot.produceErrors)
        if let checkpoint = snapshot.checkpoint {
            set("cepd_checkpoint_duration_seconds", [], checkpoint.milliseconds / 1000)
            set("cepd_checkpoint_bytes", [], Double(checkpoint.batchBytes))
            set("cepd_checkpoint_age_seconds", [], Double(wallMs - checkpoint.writtenAt) / 1000)
            set("cepd_checkpoint_number", [], Double(checkpoint.number))
        }
        if let bytes = snapshot.stateBytes { set("cepd_state_bytes", [], Double(bytes)) }
        if let registry = snapshot.registry {
            // Unanswered: no connection, a timeout, 5xx, 401/403/429 — each retried while its message waits.
            count("cepd_schema_registry_requests_total", [("result", "answered")], registry.answered)
            count("cepd_schema_registry_requests_total", [("result", "unanswered")], registry.unanswered)
            set("cepd_schema_registry_schemas", [], Double(registry.schemas))
        }
        set("cepd_tasks", [], Double(snapshot.engine.tasks.count))
    }

    /// Unregisters the pattern series this publish did not set: they belong to a pattern (or step) no longer
    /// loaded. (Every pattern series is set on every publish: pattern counters, gauges and the step census are
    /// written for each loaded pattern, and the watermark ones whenever the pattern has a watermark.)
    private func dropStaleSeries() {
        for id in patternSeries where !touched.contains(id) {
            if let counter = counters.removeValue(forKey: id) { counter.destroy() }
            if let gauge = gauges.removeValue(forKey: id) { gauge.destroy() }
            published[id] = nil
            patternSeries.remove(id)
        }
    }

    /// Records an alert's latency: from its last event's event time to now (when it is handed to the producer).
    func recordAlert(lastEventTime: Int64) {
        let ms = clock.wallMillis - lastEventTime
        alertLatency.recordMilliseconds(max(0, ms))
    }

    /// Records cepd's own part of an alert's latency, in its two stages (uptime ns): the batch that completed it
    /// taken from librdkafka (its first message), handed to the engine, and now. A batch not stamped (0) is not.
    func recordProcessing(taken: UInt64, handedOver: UInt64, now: UInt64) {
        guard taken > 0 && handedOver >= taken else { return }
        alertReading.recordNanoseconds(Int64(handedOver &- taken))
        alertMatching.recordNanoseconds(Int64(now &- handedOver))
    }

    /// Adds to counter `name{labels}` what `total` grew by since the last publish. Counters only go up: a total
    /// that went down (a pattern changed by a reload starts counting again from 0) is taken as the new base.
    private func count(_ name: String, _ labels: [(String, String)], _ total: Int) {
        let id = Self.identity(name, labels)
        note(id, labels)
        let counter: CoreMetrics.Counter
        if let existing = counters[id] {
            counter = existing
        } else {
            counter = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
            counters[id] = counter
        }
        let delta = total - (published[id] ?? 0)
        if delta > 0 { counter.increment(by: delta) }
        published[id] = total
    }

    /// Sets gauge `name{labels}`.
    private func set(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let id = Self.identity(name, labels)
        note(id, labels)
        if let existing = gauges[id] {
            existing.record(value)
        } else {
            let gauge = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
            gauges[id] = gauge
            gauge.record(value)
        }
    }

    private func note(_ id: String, _ labels: [(String, String)]) {
        guard labels.contains(where: { $0.0 == "pattern" }) else { return }
        patternSeries.insert(id)
        touched.insert(id)
    }

    private static func identity(_ name: String, _ labels: [(String, String)]) -> String {
        labels.isEmpty ? name : name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}
