import Testing

@testable import CEPDaemon

/// The log's flood control (issue 18: 44 lines a second while the broker was down, each error twice), on lines
/// as librdkafka and the consumer wrote them in that test.
@Suite struct LogRepeatsTests {
    static let second: UInt64 = 1_000_000_000
    static let broker = "127.0.0.1:32889/bootstrap: Connect to ipv4#127.0.0.1:32889 failed: Connection refused"

    @Test func oneFailureThroughThreePathsIsOneMessage() {
        let lines = [
            "Kafka: \(Self.broker) (after 0ms in state CONNECT)",
            "librdkafka error ERROR: [thrd:app]: rdkafka#producer-1: \(Self.broker) (after 0ms in state CONNECT)",
            "librdkafka error FAIL: [thrd:127.0.0.1:32889/bootstrap]: \(Self.broker) (after 1ms in state CONNECT)",
        ]
        #expect(Set(lines.map(LogRepeats.gist)).count == 1)
        #expect(LogRepeats.gist("librdkafka error ERROR: [thrd:x]: 1/1 brokers are down") != LogRepeats.gist(lines[0]))
    }

    @Test func repeatsWithinTheWindowAreCountedThenReported() {
        let repeats = LogRepeats(window: 30 * Self.second)
        let line = "Kafka: \(Self.broker) (after 0ms in state CONNECT)"
        #expect(repeats.admit(line, now: 0) == line)
        for i in 1...100 { #expect(repeats.admit(line, now: UInt64(i) * Self.second / 10) == nil) }
        // Another message is not held back by the first.
        #expect(repeats.admit("Kafka: 1/1 brokers are down", now: 11 * Self.second) == "Kafka: 1/1 brokers are down")
        #expect(repeats.admit(line, now: 30 * Self.second) == line + " (and 100 more like it in the last 30 s)")
        #expect(repeats.admit(line, now: 31 * Self.second) == nil)
        // After a quiet window the message is written again, with nothing left out to report... but one was.
        #expect(repeats.admit(line, now: 100 * Self.second) == line + " (and 1 more like it in the last 30 s)")
        #expect(repeats.admit(line, now: 200 * Self.second) == line)
    }

    /// Only retried failures are collapsed: rebalances, fatal errors and asked-for debug lines are all written.
    @Test func otherLinesAreNeverHeldBack() {
        let repeats = LogRepeats(window: 30 * Self.second)
        for line in [
            "assigned 3 partitions: a[0], a[1], a[2]", "fatal Kafka error: fenced", "librdkafka debug MSG: sent 1",
            "librdkafka info FAIL: Disconnected",
        ] {
            for i in 0..<5 { #expect(repeats.admit(line, now: UInt64(i)) == line) }
        }
        #expect(
            repeats.admit("librdkafka warning X: y", now: 0) != nil
                && repeats.admit("librdkafka warning X: y", now: 1) == nil)
    }

    /// The schema registry client's retries (issue 19): the backoff's growing delay does not make them new messages.
    @Test func registryRetriesAreOneMessage() {
        let repeats = LogRepeats(window: 30 * Self.second)
        let line = { (delay: String) in
            "no answer from the schema registry at http://r:8081 for schema id 7: Couldn't connect to server; asking again in \(delay) s (its messages wait)"
        }
        #expect(repeats.admit(line("0.1"), now: 0) == line("0.1"))
        #expect(repeats.admit(line("0.2"), now: Self.second) == nil)
        #expect(
            repeats.admit(line("10.0"), now: 31 * Self.second) == line("10.0")
                + " (and 1 more like it in the last 30 s)")
    }

    @Test func manyDistinctMessagesStayBounded() {
        let repeats = LogRepeats(window: Self.second)
        for i in 0..<10_000 {
            // Numbers are not what tells messages apart; words are.
            let word = String(i, radix: 26).map {
                Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(String($0), radix: 26)!))
            }
            #expect(repeats.admit("Kafka: topic \(String(word)) failed", now: UInt64(i) * Self.second / 100) != nil)
        }
        #expect(repeats.trackedMessages <= LogRepeats.maxMessages)
        // All within one window.
        let burst = LogRepeats(window: 1000 * Self.second)
        for i in 0..<5000 {
            _ = burst.admit("Kafka: \(String(repeating: "x", count: i % 3000)) failed", now: UInt64(i))
        }
        #expect(burst.trackedMessages <= LogRepeats.maxMessages)
    }
}
