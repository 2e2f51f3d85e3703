import Foundation
import Synchronization

/// Collapses a flood of one message into one line per window. While a broker is down librdkafka reports the same
/// failure every few tens of milliseconds, and through up to three paths (the consumer's error callback, the
/// producer's error log, the broker thread's `FAIL` log): 44 lines a second, each error twice, buried everything
/// else in the log. A message is written the first time; repeats within `window` are counted, not written; the
/// next one after the window is written with how many were left out.
///
/// Messages are compared by their gist: without librdkafka's thread and client prefixes (`[thrd:...]: `,
/// `rdkafka#producer-1: `), without the path's prefix (`librdkafka error FAIL: `, `Kafka: `), and with every
/// number as `#` (`after 0ms`, `after 1ms`).
final class LogRepeats: Sendable {
    /// How long repeats of a message are held back, in nanoseconds.
    let window: UInt64
    private let seen = Mutex<[String: (since: UInt64, leftOut: Int)]>([:])
    /// The most messages remembered at once.
    static let maxMessages = 1024

    /// Where `admit` reads the time when it is not given.
    private let clock: any DaemonClock

    /// A filter that writes each message at most once per `window` nanoseconds of `clock`.
    init(window: UInt64 = 30_000_000_000, clock: any DaemonClock = SystemClock()) {
        self.window = window
        self.clock = clock
    }

    /// The line to write for `line` now, or nil while it repeats within the window. Only Kafka's failures are
    /// collapsed (`collapses`): rebalances, fatal errors, librdkafka's info lines and the debug lines `-X debug`
    /// asks for are always written.
    func admit(_ line: String, now: UInt64? = nil) -> String? {
        guard Self.collapses(line) else { return line }
        let now = now ?? clock.uptimeNanos
        let key = Self.gist(line)
        return seen.withLock { messages in
            if let seen = messages[key], now &- seen.since < window {
                messages[key]!.leftOut += 1
                return nil
            }
            let leftOut = messages[key]?.leftOut ?? 0
            if messages.count >= Self.maxMessages {
                messages = messages.filter { now &- $0.value.since < window }
                // As many distinct messages within one window: a flood of its own kind; start over rather than grow.
                if messages.count >= Self.maxMessages { messages.removeAll() }
            }
            messages[key] = (now, 0)
            guard leftOut > 0 else { return line }
            return line + " (and \(leftOut) more like it in the last \(window / 1_000_000_000) s)"
        }
    }

    /// How many messages the filter remembers (bounded: the ones older than the window are forgotten first).
    var trackedMessages: Int { seen.withLock { $0.count } }

    /// Whether `line` is a retried failure: the consumer's error events (`Kafka: `), librdkafka's error and warning
    /// lines, and the schema registry client's retries.
    static func collapses(_ line: String) -> Bool {
        line.hasPrefix("Kafka: ") || line.hasPrefix("librdkafka error ") || line.hasPrefix("librdkafka warning ")
            || line.hasPrefix("no answer from the schema registry") || line.hasPrefix("the schema registry at ")
    }

    /// What two lines must share to count as one message.
    static func gist(_ line: String) -> String {
        var text = Substring(line)
        if text.hasPrefix("Kafka: ") { text = text.dropFirst("Kafka: ".count) }
        if text.hasPrefix("librdkafka "), let colon = text.range(of: ": ") {
            text = text[colon.upperBound...]
        }
        if text.hasPrefix("[thrd:"), let end = text.range(of: "]: ") { text = text[end.upperBound...] }
        if text.hasPrefix("rdkafka#"), let end = text.range(of: ": ") { text = text[end.upperBound...] }
        var gist = ""
        var inNumber = false
        for character in text {
            if character.isASCII && character.isNumber {
                if !inNumber { gist.append("#") }
                inNumber = true
            } else {
                gist.append(character)
                inNumber = false
            }
        }
        return gist
    }
}
