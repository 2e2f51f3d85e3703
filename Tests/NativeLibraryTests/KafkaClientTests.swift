import Foundation
import KafkaClient
import Testing

/// The Kafka wrapper against librdkafka's in-process mock cluster: real clients, real protocol, no broker process.
@Suite(.serialized) struct KafkaClientTests {
    /// Settings that make the mock cluster's group joins quick.
    static let fast: [(key: String, value: String)] = [
        ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500"),
        ("topic.metadata.refresh.interval.ms", "1000"),
    ]

    func settings(_ cluster: KafkaMockCluster) -> [(key: String, value: String)] {
        [("bootstrap.servers", cluster.bootstrapServers)] + Self.fast
    }

    /// Polls until `count` messages arrived or `seconds` passed; returns them and the assignment seen.
    func read(_ consumer: KafkaConsumer, count: Int, seconds: Double) -> (
        messages: [KafkaMessage], assigned: Set<TopicPartition>
    ) {
        var messages: [KafkaMessage] = []
        var assigned: Set<TopicPartition> = []
        let deadline = Date().addingTimeInterval(seconds)
        while messages.count < count && Date() < deadline {
            switch consumer.poll(timeoutMs: 100) {
            case .message(let m): messages.append(m)
            case .assigned(let p): assigned.formUnion(p)
            case .revoked(let p): assigned.subtract(p)
            case .error, .endOfPartition, nil: continue
            }
        }
        return (messages, assigned)
    }

    @Test func producedMessagesComeBackWithKeysHeadersAndCommittedPositions() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("in", partitions: 3)
        let producer = try KafkaProducer(properties: settings(cluster))
        for i in 0..<300 {
            try producer.send(
                topic: "in", key: Array("k\(i % 17)".utf8), value: Array("{\"n\":\(i)}".utf8),
                headers: [("source", Array("test".utf8)), ("empty", nil)], timestamp: 1_000 + Int64(i))
        }
        try producer.flush(timeoutMs: 10_000)
        #expect(producer.inFlight == 0)
        #expect(try producer.partitionCounts(of: ["in", "nope"], timeoutMs: 5_000) == ["in": 3])

        let consumer = try KafkaConsumer(properties: settings(cluster), group: "g", topics: ["in"])
        let (messages, assigned) = read(consumer, count: 300, seconds: 30)
        #expect(messages.count == 300)
        #expect(assigned == Set((0..<3).map { TopicPartition(topic: "in", partition: $0) }))
        #expect(
            Set(messages.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<300).map { "{\"n\":\($0)}" }))
        // One key, one partition; offsets dense from 0 in each partition.
        var partitionOfKey: [String: Int32] = [:]
        var offsets: [Int32: [Int64]] = [:]
        for m in messages {
            let key = String(decoding: m.key ?? [], as: UTF8.self)
            #expect(partitionOfKey[key, default: m.partition.partition] == m.partition.partition)
            partitionOfKey[key] = m.partition.partition
            offsets[m.partition.partition, default: []].append(m.offset)
            #expect(m.header("source") == Array("test".utf8))
            #expect(m.headers.contains { $0.name == "empty" && $0.value == nil })
            #expect(m.timestamp.map { $0 >= 1_000 && $0 < 1_300 } == true)
        }
        for (_, list) in offsets { #expect(list == Array(0..<Int64(list.count))) }

        // Commit the positions, leave; a new member of the group starts there and sees only new messages.
        let positions = offsets.map {
            PartitionOffset(TopicPartition(topic: "in", partition: $0.key), offset: Int64($0.value.count))
        }
        try consumer.commit(positions)
        let committed = try consumer.committed(positions.map(\.partition))
        for p in positions { #expect(committed[p.partition] == p.offset) }
        consumer.close()
        for i in 300..<310 { try producer.send(topic: "in", key: Array("k\(i)".utf8), value: Array("\(i)".utf8)) }
        try producer.flush(timeoutMs: 10_000)
        let again = try KafkaConsumer(properties: settings(cluster), group: "g", topics: ["in"])
        let next = read(again, count: 10, seconds: 30).messages
        #expect(Set(next.map { String(decoding: $0.value, as: UTF8.self) }) == Set((300..<310).map { "\($0)" }))
        again.close()
    }

    @Test func aBadSettingIsRejectedWithLibrdkafkasReason() {
        #expect {
            _ = try KafkaProducer(properties: [("no.such.setting", "1")])
        } throws: { error in
            (error as? KafkaError)?.message.contains("no.such.setting") == true
        }
    }

    @Test func aPermanentProduceErrorIsReportedNotDropped() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("out", partitions: 1)
        let producer = try KafkaProducer(properties: settings(cluster) + [("message.send.max.retries", "2")])
        cluster.inject(Array(repeating: .topicAuthorizationFailed, count: 5), into: .produce)
        try producer.send(topic: "out", key: nil, value: Array("x".utf8))
        #expect(throws: KafkaError.self) { try producer.flush(timeoutMs: 10_000) }
        #expect(producer.failure?.message.contains("out") == true)
        #expect(
            producer.failure?.message.contains("TOPIC_AUTHORIZATION_FAILED") == true,
            "\(String(describing: producer.failure))")
    }

    @Test func deliveriesSurviveABrokerOutage() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("out", partitions: 2)
        let producer = try KafkaProducer(properties: settings(cluster))
        for i in 0..<50 { try producer.send(topic: "out", key: Array("\(i)".utf8), value: Array("\(i)".utf8)) }
        try producer.flush(timeoutMs: 10_000)
        cluster.setBroker(1, up: false)
        for i in 50..<100 { try producer.send(topic: "out", key: Array("\(i)".utf8), value: Array("\(i)".utf8)) }
        producer.poll(timeoutMs: 1_000)
        cluster.setBroker(1, up: true)
        try producer.flush(timeoutMs: 20_000)
        #expect(producer.failure == nil)

        let consumer = try KafkaConsumer(properties: settings(cluster), group: "outage", topics: ["out"])
        let values = read(consumer, count: 100, seconds: 30).messages.map { String(decoding: $0.value, as: UTF8.self) }
        // Idempotence: every message exactly once, whatever the retries.
        #expect(values.count == 100)
        #expect(Set(values) == Set((0..<100).map { "\($0)" }))
        consumer.close()
    }

    /// The daemon's reader relies on this: with partition queues, `poll(timeoutMs:)` gives group events only, and each
    /// partition's messages come from its own queue in offset order, whichever partition is read first — one can be
    /// read to its end while the other's backlog waits at librdkafka's per-partition limit (queued.min.messages
    /// 100 here) — and `waitForMessages` wakes up when a message arrives later.
    @Test func partitionQueuesHandOutEachPartitionInOrderWhicheverIsReadFirst() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("in", partitions: 2)
        let producer = try KafkaProducer(properties: settings(cluster))
        for i in 0..<2_000 {
            try producer.send(topic: "in", partition: Int32(i % 2), key: nil, value: Array("\(i)".utf8))
        }
        try producer.flush(timeoutMs: 10_000)
        let consumer = try KafkaConsumer(
            properties: settings(cluster) + [("queued.min.messages", "100")], group: "queues", topics: ["in"],
            partitionQueues: true)
        let p0 = TopicPartition(topic: "in", partition: 0)
        let p1 = TopicPartition(topic: "in", partition: 1)
        var assigned: Set<TopicPartition> = []
        let deadline = Date().addingTimeInterval(30)
        while assigned.count < 2 && Date() < deadline {
            switch consumer.poll(timeoutMs: 100) {
            case .assigned(let p): assigned.formUnion(p)
            case .message(let m): Issue.record("a message came through the consumer queue: \(m.partition)")
            default: continue
            }
        }
        try #require(assigned == [p0, p1])

        /// Reads `partition` until its end (or 30 s); the offsets in the order they came.
        func readToEnd(_ partition: TopicPartition) -> [Int64] {
            var offsets: [Int64] = []
            var atEnd = false
            let deadline = Date().addingTimeInterval(30)
            while !atEnd && Date() < deadline {
                _ = consumer.poll(timeoutMs: 0)
                let taken = consumer.poll(partition, max: 64) { event in
                    switch event {
                    case .message(let m):
                        #expect(m.partition == partition)
                        offsets.append(m.offset)
                    case .endOfPartition(let p, _): atEnd = atEnd || (p == partition && offsets.count == 1_000)
                    default: break
                    }
                }
                if taken == 0 { consumer.waitForMessages(timeoutMs: 100) }
            }
            return offsets
        }
        #expect(readToEnd(p1) == Array(0..<1_000))
        #expect(readToEnd(p0) == Array(0..<1_000))

        try producer.send(topic: "in", partition: 0, key: nil, value: Array("late".utf8))
        try producer.flush(timeoutMs: 10_000)
        var late: [String] = []
        let lateDeadline = Date().addingTimeInterval(30)
        while late.isEmpty && Date() < lateDeadline {
            #expect(consumer.waitForMessages(timeoutMs: 30_000), "no wake-up for a message in partition 0")
            consumer.poll(p0, max: 64) {
                if case .message(let m) = $0 { late.append(String(decoding: m.value, as: UTF8.self)) }
            }
        }
        #expect(late == ["late"])
        consumer.close()
        #expect(consumer.poll(p0, max: 64) { _ in } == 0, "a partition no longer assigned still had a queue")
    }

    /// With the cooperative protocol, a second member joining takes partitions one by one: the first member is
    /// told only which partitions it loses (not all of them), and keeps consuming the rest.
    @Test func aCooperativeRebalanceRevokesOnlyThePartitionsThatMove() throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("in", partitions: 4)
        let cooperative = settings(cluster) + [("partition.assignment.strategy", "cooperative-sticky")]
        let a = try KafkaConsumer(properties: cooperative, group: "coop", topics: ["in"])
        var ownedByA: Set<TopicPartition> = []
        // A bound on a failure, not a guess of time: the group's first join took over 30 s once on a loaded machine.
        var deadline = Date().addingTimeInterval(120)
        while ownedByA.count < 4 && Date() < deadline {
            if case .assigned(let p) = a.poll(timeoutMs: 100) { ownedByA.formUnion(p) }
        }
        try #require(ownedByA.count == 4, "the first member got \(ownedByA.count) partitions")
        let b = try KafkaConsumer(properties: cooperative, group: "coop", topics: ["in"])
        var ownedByB: Set<TopicPartition> = []
        var revokedFromA: [[TopicPartition]] = []
        deadline = Date().addingTimeInterval(40)
        while ownedByB.count < 2 && Date() < deadline {
            switch a.poll(timeoutMs: 50) {
            case .assigned(let p): ownedByA.formUnion(p)
            case .revoked(let p):
                revokedFromA.append(p)
                ownedByA.subtract(p)
            default: break
            }
            if case .assigned(let p) = b.poll(timeoutMs: 50) { ownedByB.formUnion(p) }
        }
        #expect(
            ownedByB.count == 2 && ownedByA.count == 2 && ownedByA.isDisjoint(with: ownedByB),
            "after the join: first member \(ownedByA.count), second \(ownedByB.count)")
        #expect(revokedFromA.allSatisfy { $0.count < 4 } && !revokedFromA.isEmpty, "revocations: \(revokedFromA)")
        a.close()
        b.close()
    }
}
