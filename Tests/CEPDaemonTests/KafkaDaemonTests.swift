import AdminHTTP
import CEPCompiler
import CEPRuntime
import Foundation
import KafkaClient
import Synchronization
import Testing

@testable import CEPDaemon

/// The daemon in process, on librdkafka's mock cluster and a manual clock: time moves only when the test moves it,
/// and every wait is for a signal (the daemon's published progress, a message in a topic) with a deadline that
/// fails saying what it waited for.
@Suite(.serialized) struct KafkaDaemonTests {
    static let source = """
        stream a from "da" { key k time ts lateness 0s fields { k: string, ts: time } }
        stream b from "db" { key k time ts lateness 0s fields { k: string, ts: time } }
        pattern pair { match x: a -> y: b within 10s emit to "dalerts" { k: x.k, at: y.ts } }
        """

    /// A running daemon and what it runs on.
    /// The daemon handed to its thread; the test never touches it again (it reads `status` and sets `stop`, which
    /// are shared by design). `@unchecked`: the hand-off is the only access from the test's side.
    final class Running: @unchecked Sendable {
        var daemon: KafkaDaemon
        let result = Mutex<StopReason?>(nil)
        init(_ daemon: KafkaDaemon) { self.daemon = daemon }
        func run() {
            let reason = daemon.run()
            result.withLock { $0 = reason }
        }
    }

    final class Harness {
        let cluster: KafkaMockCluster
        let settings: [(key: String, value: String)]
        let clock = ManualClock()
        let status: DaemonStatus
        let stopFlag: StopFlag
        let requests: EngineRequests
        let running: Running
        let thread: Thread

        /// The reasons the shutdown watchdog gave, in order (in production the process exits at the first).
        final class Reasons: Sendable { let list = Mutex<[StopReason]>([]) }
        let shutdownTimeouts = Reasons()
        let watchdog: ShutdownWatchdog

        init(
            group: String, idleTimeoutMs: Int64, stateDir: String? = nil, cluster: KafkaMockCluster? = nil,
            patternFile: String? = nil, failpoints: Failpoints = .none, shutdownTimeoutMs: Int64 = 30_000,
            consumerSettings: [(key: String, value: String)] = []
        ) throws {
            let cluster = try cluster ?? KafkaMockCluster()
            self.cluster = cluster
            settings = [("bootstrap.servers", cluster.bootstrapServers)]
            let text =
                try patternFile.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? KafkaDaemonTests.source
            let automaton = try #require(Compiler.compile(text: text).automaton)
            // Quick group joins (the second daemon of a test joins the group the first left).
            let fast = [("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "1000")]
            let options = KafkaDaemon.Options(
                properties: settings + fast + consumerSettings, brokers: cluster.bootstrapServers, group: group,
                start: .earliest,
                idleTimeout: idleTimeoutMs, idleWallClock: false, lateTopic: "dlate", deadLetterTopic: "ddead",
                connectTimeout: 10_000, waitForTopics: false, commitInterval: 1_000, stateDir: stateDir,
                checkpointInterval: 1_000, metricsAddress: nil)
            var withFiles = options
            withFiles.patternPaths = patternFile.map { [$0] } ?? []
            withFiles.failpoints = failpoints
            withFiles.shutdownTimeout = shutdownTimeoutMs
            let timeouts = shutdownTimeouts
            withFiles.onShutdownTimeout = { reason in timeouts.list.withLock { $0.append(reason) } }
            let daemon = KafkaDaemon(automaton: automaton, options: withFiles, clock: clock)
            watchdog = try #require(daemon.watchdog)
            requests = daemon.requests
            status = daemon.status
            stopFlag = daemon.stop
            let running = Running(daemon)
            self.running = running
            thread = Thread { running.run() }
            thread.start()
        }

        /// Waits until `condition` holds for the daemon's progress; fails after 60 s (real time) saying `what`.
        func wait(for what: String, _ condition: (DaemonStatus.Progress) -> Bool) throws {
            try KafkaDaemonTests.poll(for: "\(what) (progress: \(status.progress))") { () throws -> Bool? in
                if running.result.withLock({ $0 }) != nil {
                    throw Failure("the daemon stopped while waiting for \(what)")
                }
                return condition(status.progress) ? true : nil
            }
        }

        /// Waits until `condition` holds; fails after 60 s (real time) saying `what`.
        func until(_ what: String, _ condition: () -> Bool) throws {
            try KafkaDaemonTests.poll(for: what) { condition() ? true : nil }
        }

        /// Waits until the daemon is ready (`/readyz`): consuming, with partitions assigned.
        func waitUntilReady() throws {
            try wait(for: "the daemon to be ready (partitions assigned): \(status.readiness().json)") { _ in
                status.readiness().ready
            }
        }

        /// Waits for `turns` more turns of the engine loop: everything it had is applied, the clock looked at.
        func settle(turns: Int = 3) throws {
            let now = status.progress.turns
            try wait(for: "\(turns) more turns of the engine loop") { $0.turns >= now + turns }
        }

        /// Stops the daemon (as SIGTERM does) and returns why it stopped.
        func stop() throws -> StopReason {
            stopFlag.set(.requested)
            return try exit(after: "the stop request")
        }

        /// Waits until the daemon's run returns (fails after 60 s saying after what); why it stopped.
        func exit(after what: String) throws -> StopReason {
            try KafkaDaemonTests.poll(for: "the daemon to stop after \(what)") { running.result.withLock { $0 } }
        }

        /// The answer to a reload, once it comes.
        final class ReloadAnswer: Sendable {
            let got = Mutex<(status: Int, body: String)?>(nil)
            /// Waits for it (fails after 60 s).
            func answer() throws -> (status: Int, body: String) {
                try KafkaDaemonTests.poll(for: "the answer to the reload") { got.withLock { $0 } }
            }
        }

        /// Asks for a reload of the pattern file, as POST /reload does.
        func reload() -> ReloadAnswer {
            let answer = ReloadAnswer()
            requests.addReload { response in
                let body = String(decoding: response.body, as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                answer.got.withLock { $0 = (response.status, body) }
            }
            return answer
        }

        /// The offsets `group` committed for partition `partition` of the input topics (nil: none).
        func committed(group: String, partition: Int32 = 0) throws -> [String: Int64?] {
            let partitions = ["da", "db"].map { TopicPartition(topic: $0, partition: partition) }
            let committed = try KafkaConsumer.committed(properties: settings, group: group, partitions: partitions)
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0.topic, committed[$0] ?? nil) })
        }

        func produce(_ topic: String, partition: Int32 = 0, key: String, at ts: Int64) throws {
            let producer = try KafkaProducer(properties: settings)
            try producer.send(
                topic: topic, partition: partition, key: nil, value: Array(#"{"k":"\#(key)","ts":\#(ts)}"#.utf8))
            try producer.flush(timeoutMs: 10_000)
        }

        /// The values of the messages in `topic` from `offset` on, read until `count` arrived (fails after 60 s).
        func read(_ topic: String, count: Int, waitingSeconds: Double = 60) throws -> [String] {
            let consumer = try KafkaConsumer(
                properties: settings, reading: [PartitionOffset(TopicPartition(topic: topic, partition: 0), offset: 0)])
            defer { consumer.close() }
            var values: [String] = []
            let deadline = Date().addingTimeInterval(waitingSeconds)
            while values.count < count {
                if Date() > deadline {
                    throw Failure("waited \(waitingSeconds) s for \(count) messages in \(topic); got \(values)")
                }
                if case .message(let message) = consumer.poll(timeoutMs: 100) {
                    values.append(String(decoding: message.value, as: UTF8.self))
                }
            }
            return values
        }
    }

    /// Polls `probe` every 10 ms until it gives a value; fails after 60 s (real time) saying it waited for `what`.
    @discardableResult
    static func poll<T>(for what: @autoclosure () -> String, _ probe: () throws -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(60)
        while true {
            if let value = try probe() { return value }
            if Date() > deadline { throw Failure("waited 60 s for \(what())") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func topics(_ cluster: KafkaMockCluster, partitions: Int32 = 1) throws {
        for topic in ["da", "db"] { try cluster.createTopic(topic, partitions: partitions) }
        for topic in ["dalerts", "dlate", "ddead"] { try cluster.createTopic(topic, partitions: 1) }
    }

    /// The idle timeout runs on the daemon's clock: with one topic quiet (read to its end) the watermark waits for
    /// it — no alert however long the test waits in real time — until the manual clock passes the timeout; then the
    /// match comes out, exactly once, and the stop commits the positions after the last message of each partition.
    @Test func theIdleTimeoutRunsOnTheManualClock() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        let harness = try Harness(group: "idle", idleTimeoutMs: 60_000, cluster: cluster)
        try harness.produce("da", key: "u", at: 1_000)
        try harness.produce("da", key: "v", at: 5_000)
        try harness.produce("db", key: "u", at: 2_000)
        try harness.wait(for: "3 events processed") { $0.events == 3 }
        try harness.settle()
        // db's watermark (1.999 s) holds b's event at 2 s back: no match yet.
        #expect(harness.status.progress.alerts == 0)
        harness.clock.advance(milliseconds: 59_999)
        try harness.settle()
        #expect(harness.status.progress.alerts == 0)
        harness.clock.advance(milliseconds: 1)
        try harness.wait(for: "the alert once the idle timeout passed on the manual clock") { $0.alerts == 1 }
        let alerts = try harness.read("dalerts", count: 1)
        #expect(alerts.count == 1 && alerts[0].hasPrefix(#"{"k":"u","at":2000"#))
        #expect(try harness.stop() == .requested)
        #expect(try harness.committed(group: "idle") == ["da": 2, "db": 1])
    }

    /// A backlog read out of order: db's events all come after the first 9,000 of da's, so the merge takes da's
    /// messages while db's wait — in librdkafka's queue for db's partition, which stops fetching at 1,000 messages
    /// (queued.min.messages) until the merge gets to them. Nothing is lost or reordered: every pair matches (each
    /// key's two events are 9 s apart, so a message out of event-time order would make its partner late and lose an
    /// alert), and the stop commits both topics' ends. (The alerts are counted, not read back: the mock cluster keeps
    /// only the newest messages of a topic this size.)
    @Test func aBacklogReadOutOfOrderLosesNothing() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        let count = 20_000
        let producer = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers)])
        for i in 0..<count {
            try producer.send(topic: "da", partition: 0, key: nil, value: Array(#"{"k":"k\#(i)","ts":\#(i)}"#.utf8))
            try producer.send(
                topic: "db", partition: 0, key: nil, value: Array(#"{"k":"k\#(i)","ts":\#(9_000 + i)}"#.utf8))
        }
        // An event past the others, so that the watermark passes db's last pair (it stays 1 ms behind the latest).
        try producer.send(topic: "db", partition: 0, key: nil, value: Array(#"{"k":"end","ts":30000}"#.utf8))
        try producer.flush(timeoutMs: 30_000)
        let harness = try Harness(
            group: "ahead", idleTimeoutMs: 60_000, cluster: cluster,
            consumerSettings: [("queued.min.messages", "1000")])
        try harness.wait(for: "all \(2 * count + 1) events processed") { $0.events == 2 * count + 1 }
        // da's watermark holds db's last 9,000 events back until da counts as idle (on the manual clock).
        harness.clock.advance(milliseconds: 60_000)
        try harness.wait(for: "\(count) alerts") { $0.alerts == count }
        try harness.settle()
        #expect(harness.status.progress.alerts == count)
        #expect(try harness.stop() == .requested)
        #expect(try harness.committed(group: "ahead") == ["da": Int64(count), "db": Int64(count + 1)])
    }

    /// Checkpoints run on the daemon's clock too: none before the interval has passed on it, one after; a second
    /// daemon on the same state directory goes on after the last processed message and does not write the alert
    /// again.
    @Test func checkpointsFollowTheManualClockAndRestore() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        // The mock cluster does not answer CreateTopics: the changelog topic is made here, as an operator would.
        try cluster.createTopic(Changelog.topicName(group: "ck", patternPaths: []), partitions: 1)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-daemon-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try Harness(group: "ck", idleTimeoutMs: 60_000, stateDir: state, cluster: cluster)
        try first.produce("da", key: "u", at: 1_000)
        try first.produce("db", key: "u", at: 2_000)
        try first.produce("da", key: "x", at: 20_000)
        try first.produce("db", key: "y", at: 20_000)
        try first.wait(for: "the alert (the watermark at 19.999 s)") { $0.alerts == 1 }
        try first.settle()
        // The task started empty and was recorded at once (checkpoint 1); the next waits for the interval.
        #expect(first.status.progress.checkpoints == 1)
        first.clock.advance(milliseconds: 999)
        try first.settle()
        #expect(first.status.progress.checkpoints == 1)
        first.clock.advance(milliseconds: 1)
        try first.wait(for: "a checkpoint once the interval passed on the manual clock") { $0.checkpoints == 2 }
        #expect(try first.stop() == .requested)
        let second = try Harness(group: "ck", idleTimeoutMs: 60_000, stateDir: state, cluster: cluster)
        try second.produce("db", key: "w", at: 3_000)
        // Only the new event: the restored positions are after the four before.
        try second.wait(for: "the new event processed after the restore") { $0.events == 1 }
        try second.settle()
        #expect(try second.stop() == .requested)
        #expect(try second.read("dalerts", count: 1).count == 1)
    }

    /// A pattern's record over a megabyte — 600 events waiting for the watermark while `db` is quiet — goes to the
    /// changelog in fragments (librdkafka refuses a message over 1,000,000 bytes: the checkpoint failed and the
    /// daemon stopped, at every restart again): the checkpoints succeed, and a member with an empty state
    /// directory restores the waiting events from the changelog alone and completes a match with one of them.
    @Test func aPatternRecordOverAMegabyteGoesToTheChangelogInFragments() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic(Changelog.topicName(group: "big", patternPaths: []), partitions: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-big-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Harness(
            group: "big", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("a").path, cluster: cluster)
        let pad = String(repeating: "x", count: 1_000)
        let producer = try KafkaProducer(properties: first.settings)
        for i in 0..<600 {
            try producer.send(
                topic: "da", partition: 0, key: nil, value: Array(#"{"k":"u\#(i)\#(pad)","ts":\#(1_000 + i)}"#.utf8))
        }
        try producer.flush(timeoutMs: 30_000)
        try first.wait(for: "the 600 events of da read") { $0.events == 600 }
        first.clock.advance(milliseconds: 1_000)
        // ~2 KB each in the pattern's record (the event, and its key again): 1.2 MB. (Not much more: the mock
        // cluster keeps only the last few MB of a partition, and the second member reads the changelog from 0.)
        try first.wait(for: "a checkpoint holding the 1.2 MB of waiting events") { $0.checkpoints == 2 }
        #expect(try first.stop() == .requested)

        let second = try Harness(
            group: "big", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("b").path, cluster: cluster)
        try second.waitUntilReady()
        try second.produce("db", key: "u7\(pad)", at: 3_000)
        try second.produce("da", key: "z", at: 30_000)
        try second.produce("db", key: "z", at: 30_000)
        let alerts = try second.read("dalerts", count: 1)
        #expect(alerts.count == 1 && alerts[0].contains("u7x"), "\(alerts)")
        #expect(try second.stop() == .requested)
    }

    /// Retention deleted the head of a task's changelog partition: a process that must read it from there (here,
    /// one with an empty --state-dir) stops and says what to do, instead of starting the task empty (librdkafka
    /// would otherwise move a read below the partition's start to its end without a word).
    @Test func aChangelogMissingItsHeadStopsTheTaskInsteadOfStartingItEmpty() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        let topic = Changelog.topicName(group: "trimmed", patternPaths: [])
        try cluster.createTopic(topic, partitions: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-trim-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Harness(
            group: "trimmed", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("a").path, cluster: cluster)
        try first.produce("da", key: "u1", at: 1_000)
        try first.wait(for: "the event read") { $0.events == 1 }
        first.clock.advance(milliseconds: 1_000)
        try first.wait(for: "a checkpoint holding the open match") { $0.checkpoints >= 2 }
        #expect(try first.stop() == .requested)

        try Self.deleteHead(of: TopicPartition(topic: topic, partition: 0), settings: first.settings)

        let store = try CheckpointStore(path: root.appendingPathComponent("direct").path)
        let log = Changelog(topic: topic, properties: first.settings)
        do {
            _ = try log.catchUp(tasks: [TaskID(ofPartition: 0)], store: store, timeoutMs: 30_000)
            Issue.record("the catch-up read a changelog whose head is gone and went on")
        } catch let error as KafkaError {
            #expect(error.isOffsetOutOfRange && error.message.contains("delete \(topic)"), "\(error)")
        }
        let second = try Harness(
            group: "trimmed", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("b").path, cluster: cluster)
        #expect(try second.exit(after: "the catch-up of task 0") == .kafkaUnavailable)
    }

    /// Fills `partition` on the mock cluster (which keeps the last few MB of a partition) until retention has
    /// deleted its first records.
    static func deleteHead(of partition: TopicPartition, settings: [(key: String, value: String)]) throws {
        let producer = try KafkaProducer(properties: settings)
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 900_000)
        var start: Int64 = 0
        for i in 0..<64 where start == 0 {
            try producer.send(
                topic: partition.topic, partition: partition.partition, key: Array("filler\(i)".utf8), value: filler)
            try producer.flush(timeoutMs: 30_000)
            start = try producer.offsets(of: partition, timeoutMs: 10_000).start
        }
        try #require(start > 0, "the mock cluster never deleted the head of \(partition)")
    }

    /// Retention deleted the outputs below a task's recorded end: the recovery reads what is left from the
    /// partition's start, so an alert that survived is known as written and not written again (the read jumped
    /// to the partition's end before, and missed it).
    @Test func outputsDeletedByRetentionDoNotHideTheOnesLeft() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("out", partitions: 1)
        let settings = [(key: "bootstrap.servers", value: cluster.bootstrapServers)]
        let output = TopicPartition(topic: "out", partition: 0)
        try Self.deleteHead(of: output, settings: settings)
        let producer = try KafkaProducer(properties: settings)
        try producer.send(
            topic: "out", partition: 0, key: nil, value: Array("{}".utf8),
            headers: [("cepd-match-id", Array("m1".utf8)), ("cepd-task", Array("0".utf8))])
        try producer.flush(timeoutMs: 30_000)
        var ledger = try OutputLedger.recover(
            properties: settings, tasks: [TaskID(ofPartition: 0): [output: 0]], timeoutMs: 30_000)
        #expect(ledger.found[TaskID(ofPartition: 0)] == 1)
        let known = ledger.alreadyWritten(OutputLedger.identity(matchID: "m1"))
        #expect(known)
    }

    /// A second member joins the group: one task moves to it, checkpointed by the first at the release and
    /// restored by the second from the changelog; the matches of both tasks, before and after the move, come out
    /// exactly once.
    @Test func aTaskMovesToASecondMemberWithItsState() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster, partitions: 2)
        try cluster.createTopic(Changelog.topicName(group: "move", patternPaths: []), partitions: 2)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-move-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Harness(
            group: "move", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("a").path, cluster: cluster)
        // Task p: partition p of da and db. A partial match (an `a` event) open in each task before the move…
        try Self.openMatchesInBothTasks(first)
        let second = try Harness(
            group: "move", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("b").path, cluster: cluster)
        try second.waitUntilReady()
        // …completed after it: each task's match needs the state it had before.
        try Self.completeBothMatches(first)
        try second.settle()
        try first.settle()
        #expect(first.status.progress.events + second.status.progress.events >= 10)
        #expect(second.status.progress.events > 0 && second.status.progress.alerts == 1)
        #expect(try second.stop() == .requested)
        #expect(try first.stop() == .requested)
        // No third alert: none was written twice.
        #expect(throws: Failure.self) { try first.read("dalerts", count: 3, waitingSeconds: 5) }
    }

    /// A checkpoint Kafka refuses (its changelog records or the outputs before it cannot be delivered): the daemon
    /// stops with status 4 and commits nothing; the restart on the same state directory does the work again, and
    /// the alert is in its topic exactly once.
    @Test(.enabled(if: KafkaLibrary.supportsTansu, "librdkafka 2.0.2 crashes on a produce refused at once"))
    func aCheckpointKafkaRefusesStopsWithoutCommitting() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic(Changelog.topicName(group: "refused", patternPaths: []), partitions: 1)
        try cluster.createTopic("scratch", partitions: 1)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-refused-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let first = try Harness(group: "refused", idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster)
        try first.produce("da", key: "u", at: 1_000)
        try first.produce("db", key: "u", at: 2_000)
        try first.produce("da", key: "x", at: 20_000)
        try first.produce("db", key: "y", at: 20_000)
        try first.wait(for: "the four events and the alert") { $0.events == 4 && $0.alerts == 1 }
        cluster.inject(Array(repeating: .topicAuthorizationFailed, count: 5), into: .produce)
        first.clock.advance(milliseconds: 1_000)  // the checkpoint interval: a checkpoint, refused
        #expect(try first.exit(after: "a refused checkpoint") == .kafkaFailed)
        #expect(try first.committed(group: "refused") == ["da": nil, "db": nil])
        // Whatever is left of the injected errors goes to a scratch topic, not to the restart.
        var drained = false
        for _ in 0..<20 where !drained {
            let producer = try KafkaProducer(properties: first.settings)
            try producer.send(topic: "scratch", partition: 0, key: nil, value: [1])
            try? producer.flush(timeoutMs: 5_000)
            drained = producer.failure == nil && producer.failedCount == 0
        }
        try #require(drained, "the injected errors did not run out")
        let second = try Harness(group: "refused", idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster)
        try second.wait(for: "the four events again after the restart") { $0.events == 4 }
        try second.settle()
        #expect(try second.stop() == .requested)
        #expect(try second.read("dalerts", count: 1).count == 1)
        #expect(throws: Failure.self) { try second.read("dalerts", count: 2, waitingSeconds: 5) }
    }

    /// A reload while a partial match is open: the refused one (a file with errors) changes nothing, the taken one
    /// keeps the unchanged pattern's state (its match completes after the reload) and starts the added pattern.
    @Test func aReloadKeepsTheStateOfUnchangedPatterns() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic("dbig", partitions: 1)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-reload-\(UUID().uuidString).cep")
        defer { try? FileManager.default.removeItem(at: file) }
        try Self.source.write(to: file, atomically: true, encoding: .utf8)
        let harness = try Harness(group: "reload", idleTimeoutMs: 60_000, cluster: cluster, patternFile: file.path)
        try harness.produce("da", key: "u", at: 1_000)
        try harness.wait(for: "the first event") { $0.events == 1 }

        try (Self.source + "\npattern broken { match x: nowhere }\n").write(to: file, atomically: true, encoding: .utf8)
        let refused = try harness.reload().answer()
        #expect(refused.status == 422 && refused.body.contains("error"), "\(refused)")
        let added = #"pattern big { match p: a where p.k == "u" emit to "dbig" { k: p.k } }"#
        try (Self.source + "\n" + added + "\n").write(to: file, atomically: true, encoding: .utf8)
        let taken = try harness.reload().answer()
        #expect(taken.status == 200, "\(taken)")
        #expect(taken.body == #"{"kept":["pair"],"started":["big"],"dropped":[]}"#, "\(taken)")
        try harness.produce("db", key: "u", at: 2_000)
        try harness.produce("da", key: "x", at: 20_000)
        try harness.produce("db", key: "y", at: 20_000)
        let alerts = try harness.read("dalerts", count: 1)
        #expect(alerts.count == 1 && alerts[0].hasPrefix(#"{"k":"u","at":2000"#), "\(alerts)")
        #expect(try harness.stop() == .requested)
    }

    /// A hang a test ends: the failpoint holds the daemon's thread until `release`.
    final class Hold: Sendable {
        private let held = Mutex(false)
        private let gate = DispatchSemaphore(value: 0)
        var isHeld: Bool { held.withLock { $0 } }
        func hold() {
            held.withLock { $0 = true }
            gate.wait()
        }
        func release() { gate.signal() }
    }

    /// A checkpoint is written in the background while matching goes on: the offsets committed are the ones the
    /// checkpoint covers, once it is on disk — never those of events processed after it was taken (a crash would
    /// then skip them: they are in no checkpoint), and not before it is on disk.
    @Test func aCheckpointWrittenInTheBackgroundCommitsOnlyWhatItCovers() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic(Changelog.topicName(group: "behind", patternPaths: []), partitions: 1)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-behind-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let hold = Hold()
        var failpoints = Failpoints.none
        // 1: the task's first record at its start; 2: the first one the interval makes. Held on the store's
        // thread, with its changes and records in the changelog and the state directory not yet written.
        failpoints.atCheckpointStep = { step, number in
            if step == .changelogRecords && number == 2 { hold.hold() }
        }
        let harness = try Harness(
            group: "behind", idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster, failpoints: failpoints)
        try harness.produce("da", key: "u", at: 1_000)
        try harness.produce("db", key: "v", at: 1_000)
        try harness.wait(for: "the first two events and the task's first checkpoint") {
            $0.events == 2 && $0.checkpoints == 1
        }
        harness.clock.advance(milliseconds: 1_000)
        try harness.until("checkpoint 2 to be held in its write") { hold.isHeld }
        try harness.produce("da", key: "u", at: 2_000)
        try harness.produce("db", key: "u", at: 3_000)
        try harness.wait(for: "two more events processed while the write is held") { $0.events == 4 }
        try harness.settle()
        let whileHeld = try harness.committed(group: "behind")
        #expect((whileHeld["da"] ?? nil) ?? 0 == 0 && (whileHeld["db"] ?? nil) ?? 0 == 0, "\(whileHeld)")
        hold.release()
        try harness.wait(for: "checkpoint 2 on disk") { $0.checkpoints == 2 }
        try harness.until("the offsets checkpoint 2 covers to be committed") {
            (try? harness.committed(group: "behind")) == ["da": 1, "db": 1]
        }
        try harness.settle()
        #expect(try harness.committed(group: "behind") == ["da": 1, "db": 1], "committed past checkpoint 2")
        harness.clock.advance(milliseconds: 1_000)
        try harness.until("checkpoint 3, with the later events, to be committed") {
            (try? harness.committed(group: "behind")) == ["da": 2, "db": 2]
        }
        #expect(try harness.stop() == .requested)
    }

    /// A stop that takes longer than --shutdown-timeout on the daemon's clock (held inside its final checkpoint):
    /// the watchdog gives up exactly when the clock passes the timeout — not a millisecond before — with the stop's
    /// reason (the command layer exits 1 there). Let go, the held stop finishes its checkpoint and commit.
    @Test func aStopLongerThanTheShutdownTimeoutIsCutShort() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic(Changelog.topicName(group: "slow", patternPaths: []), partitions: 1)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-slow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let hold = Hold()
        var failpoints = Failpoints.none
        failpoints.checkpointHang = 2  // 1: the task's first record at its start; 2: the stop's
        failpoints.hang = { hold.hold() }
        let harness = try Harness(
            group: "slow", idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster, failpoints: failpoints,
            shutdownTimeoutMs: 3_600_000)  // an hour: only the manual clock can pass it within the test
        try harness.produce("da", key: "u", at: 1_000)
        try harness.produce("db", key: "u", at: 2_000)
        try harness.produce("da", key: "x", at: 20_000)
        try harness.produce("db", key: "y", at: 20_000)
        try harness.wait(for: "the four events, the alert and the first checkpoint") {
            $0.events == 4 && $0.alerts == 1 && $0.checkpoints == 1
        }
        harness.stopFlag.set(.requested)
        try harness.until("the stop's checkpoint to reach the failpoint") { hold.isHeld }
        // The timeout counts from when the watchdog saw the stop: the clock moves only once it has.
        try harness.until("the watchdog to see the stop") { harness.watchdog.looks > 0 }
        let looks = harness.watchdog.looks
        harness.clock.advance(milliseconds: 3_599_999)
        try harness.until("the watchdog to read the clock after it moved") { harness.watchdog.looks >= looks + 2 }
        #expect(harness.shutdownTimeouts.list.withLock { $0 }.isEmpty, "gave up before the timeout")
        harness.clock.advance(milliseconds: 1)
        try harness.until("the watchdog to give up once the clock passed the timeout") {
            !harness.shutdownTimeouts.list.withLock { $0 }.isEmpty
        }
        #expect(harness.shutdownTimeouts.list.withLock { $0 } == [.requested])
        hold.release()
        #expect(try harness.exit(after: "the held checkpoint let go") == .requested)
        #expect(harness.status.progress.checkpoints == 1, "progress is published by turns, none after the stop")
        #expect(try harness.committed(group: "slow") == ["da": 2, "db": 2])
        #expect(try harness.read("dalerts", count: 1).count == 1)
    }

    /// A partial match open in each of two tasks (task p: an `a` of key kp at 1 s), in `first`.
    static func openMatchesInBothTasks(_ first: Harness) throws {
        for p: Int32 in [0, 1] {
            try first.produce("da", partition: p, key: "k\(p)", at: 1_000)
            try first.produce("db", partition: p, key: "other", at: 1_500)
        }
        try first.wait(for: "the four events in the first member") { $0.events == 4 }
    }

    /// The events that complete the matches `openMatchesInBothTasks` opened (and move both tasks' watermarks past
    /// them), produced through `harness`'s cluster; the two alerts, one per task, come out.
    static func completeBothMatches(_ harness: Harness) throws {
        for p: Int32 in [0, 1] {
            try harness.produce("db", partition: p, key: "k\(p)", at: 2_000)
            try harness.produce("da", partition: p, key: "z", at: 30_000)
            try harness.produce("db", partition: p, key: "z", at: 30_000)
        }
        let alerts = try harness.read("dalerts", count: 2)
        #expect(alerts.map { String($0.prefix(8)) }.sorted() == [#"{"k":"k0"#, #"{"k":"k1"#])
    }

    /// Failpoints that hold a member's first restore (inside the rebalance) until `hold` is let go, and note the
    /// tasks of every restore.
    final class HeldRestores: Sendable {
        let hold = Hold()
        let restores = Mutex<[[TaskID]]>([])
        var failpoints: Failpoints {
            var failpoints = Failpoints.none
            failpoints.beforeCatchUp = { [self] tasks in
                let first = restores.withLock {
                    $0.append(tasks)
                    return $0.count == 1
                }
                if first { hold.hold() }
            }
            return failpoints
        }
    }

    /// Once `second` restored both tasks: the matches `openMatchesInBothTasks` opened complete, each exactly once,
    /// and the member stops cleanly.
    static func completeMatchesInBothTasks(_ second: Harness, restores: HeldRestores) throws {
        try second.until("the second member to restore both tasks") {
            Set(restores.restores.withLock { $0 }.joined()) == [TaskID(0), TaskID(1)]
        }
        try second.waitUntilReady()
        try completeBothMatches(second)
        try second.wait(for: "the six events after the restore") { $0.events == 6 }
        #expect(try second.stop() == .requested)
        #expect(throws: Failure.self) { try second.read("dalerts", count: 3, waitingSeconds: 5) }
    }

    /// A rebalance while a task is being restored: the second member is held inside its first restore (in the
    /// rebalance, before it reads the changelog) while the first member stops and leaves the group. Let go, it
    /// restores that task, takes the other one over from the leaver's last checkpoint, and each task's match —
    /// opened before all of it, completed after — comes out exactly once; the offsets it commits are after every
    /// message.
    @Test func aRebalanceDuringARestore() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster, partitions: 2)
        try cluster.createTopic(Changelog.topicName(group: "held", patternPaths: []), partitions: 2)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-held-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Harness(
            group: "held", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("a").path, cluster: cluster)
        try Self.openMatchesInBothTasks(first)
        let restores = HeldRestores()
        let second = try Harness(
            group: "held", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("b").path, cluster: cluster,
            failpoints: restores.failpoints)
        try second.until("the second member to be held in its first restore") { restores.hold.isHeld }
        #expect(try first.stop() == .requested)
        restores.hold.release()
        try Self.completeMatchesInBothTasks(second, restores: restores)
        for p: Int32 in [0, 1] {
            #expect(try second.committed(group: "held", partition: p) == ["da": 2, "db": 3], "partition \(p)")
        }
    }

    /// A reload asked for during a rebalance — while the member is held inside it, restoring its first task —
    /// takes effect once the rebalance is through: the answer says the unchanged pattern kept its state and the new
    /// one started, the tasks restored before and after the reload (one from a member that ran without the new
    /// pattern) complete their matches exactly once, and the offsets committed are after every message.
    @Test func aReloadDuringARebalance() throws {
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster, partitions: 2)
        try cluster.createTopic("dbig", partitions: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-both-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("patterns.cep")
        try Self.source.write(to: file, atomically: true, encoding: .utf8)
        // Both members run the same file (the changelog is named after it); the first reads it before it changes.
        try cluster.createTopic(Changelog.topicName(group: "both", patternPaths: [file.path]), partitions: 2)
        let first = try Harness(
            group: "both", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("a").path, cluster: cluster,
            patternFile: file.path)
        try Self.openMatchesInBothTasks(first)
        let restores = HeldRestores()
        let second = try Harness(
            group: "both", idleTimeoutMs: 60_000, stateDir: root.appendingPathComponent("b").path, cluster: cluster,
            patternFile: file.path, failpoints: restores.failpoints)
        try second.until("the second member to be held in its first restore") { restores.hold.isHeld }
        let added = #"pattern big { match p: a where p.k == "z" emit to "dbig" { k: p.k } }"#
        try (Self.source + "\n" + added + "\n").write(to: file, atomically: true, encoding: .utf8)
        let reload = second.reload()
        #expect(try first.stop() == .requested)
        restores.hold.release()
        let answer = try reload.answer()
        #expect(answer.status == 200, "\(answer)")
        #expect(answer.body == #"{"kept":["pair"],"started":["big"],"dropped":[]}"#, "\(answer)")
        try Self.completeMatchesInBothTasks(second, restores: restores)
        for p: Int32 in [0, 1] {
            #expect(try second.committed(group: "both", partition: p) == ["da": 2, "db": 3], "partition \(p)")
        }
    }

    struct Interrupted: Error {}

    /// A checkpoint interrupted at each of its steps (outputs delivered; the first task's changes in the
    /// changelog; all of it in the changelog; the state directory written, the offsets not committed): the daemon
    /// stops as a failed checkpoint stops it (status 5, nothing committed), and the restart on the same state
    /// directory — catching up with whatever the changelog got — goes on to exactly the alerts of an uninterrupted
    /// run, once each, and commits the offsets after every message.
    @Test(arguments: Failpoints.CheckpointStep.allCases)
    func aCheckpointInterruptedAtEachStep(_ step: Failpoints.CheckpointStep) throws {
        let group = "cut-\(step)"
        let cluster = try KafkaMockCluster()
        try Self.topics(cluster)
        try cluster.createTopic(Changelog.topicName(group: group, patternPaths: []), partitions: 1)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-\(group)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        var failpoints = Failpoints.none
        // Checkpoint 1 records the task as it starts; checkpoint 2, after the alert, is the one interrupted.
        failpoints.atCheckpointStep = { at, number in if at == step && number == 2 { throw Interrupted() } }
        let first = try Harness(
            group: group, idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster, failpoints: failpoints)
        try first.produce("da", key: "u", at: 1_000)
        try first.produce("db", key: "u", at: 2_000)
        try first.produce("da", key: "x", at: 20_000)
        try first.produce("db", key: "y", at: 20_000)
        try first.wait(for: "the four events and the alert") { $0.events == 4 && $0.alerts == 1 }
        first.clock.advance(milliseconds: 1_000)  // the checkpoint interval: checkpoint 2, interrupted
        #expect(try first.exit(after: "the checkpoint interrupted at \(step)") == .stateFailed)
        #expect(try first.committed(group: group) == ["da": nil, "db": nil], "committed before the checkpoint")

        let second = try Harness(group: group, idleTimeoutMs: 60_000, stateDir: state.path, cluster: cluster)
        try second.produce("da", key: "w", at: 21_000)
        try second.produce("db", key: "w", at: 22_000)
        try second.produce("da", key: "z", at: 40_000)
        try second.produce("db", key: "z", at: 40_000)
        let alerts = try second.read("dalerts", count: 2)
        #expect(alerts.map { String($0.prefix(8)) } == [#"{"k":"u""#, #"{"k":"w""#], "\(alerts)")
        try second.wait(for: "the alert of w after the restart") { $0.alerts >= 1 }
        try second.settle()
        #expect(try second.stop() == .requested)
        #expect(throws: Failure.self) { try second.read("dalerts", count: 3, waitingSeconds: 5) }
        #expect(try second.committed(group: group) == ["da": 4, "db": 4])
    }
}
