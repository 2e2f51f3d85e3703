import CEPRuntime
import Foundation

/// A `.cases` file: test cases for patterns, each a list of events and expected alerts.
///
/// ```
/// # comment
/// case "a login, a foreign location signal, a large payment"
///   logins   {"user":"u1","ip":"10.0.0.1","country":"DE","ts":"2026-01-01T10:00:00Z"}
///   geo      {"user":"u1","country":"BR","lat":-23.5,"lon":-46.6,"ts":"2026-01-01T10:02:00Z"}
///   payments {"user":"u1","id":"p1","amount":1500.0,"currency":"EUR","ts":"2026-01-01T10:05:00Z"}
///   expect account_takeover {"user":"u1","seen_in":"BR"}
/// ```
///
/// Lines inside a case:
/// - `TOPIC JSON` or `TOPIC/PARTITION JSON`: an event, in arrival order (offsets count from 0 per partition); on a
///   table's topic a row, and `TOPIC key=K timestamp=T null` a tombstone that deletes K's row;
/// - `idle TOPIC[/PARTITION]`: the partition goes idle (it stops holding back the watermark);
/// - `watermark TIME`: every pattern's watermark moves to TIME (epoch ms or RFC 3339);
/// - `expect PATTERN JSON`: an alert of PATTERN whose fields include those given (numbers compare by value);
///   `expect timeout PATTERN JSON` for an `on timeout` alert;
/// - `expect late N`, `expect dead-letters N`: how many events are late and malformed (0 when not given);
/// - `expect suppressed PATTERN N`: how many of PATTERN's matches `suppress` kept back (0 when not given).
/// Every alert must be expected: one that no `expect` line claims fails the case. At the end of a case the
/// watermark goes to +∞, as at the end of a replay.
struct PatternCases {
    struct Case {
        var name: String
        var line: Int
        var steps: [Step] = []
        var expectations: [Expectation] = []
        var expectedLate = 0
        var expectedDeadLetters = 0
        /// By pattern name; a pattern not listed expects none.
        var expectedSuppressed: [String: Int] = [:]
    }

    enum Step {
        case event(topic: String, partition: Int32, json: String, line: Int, message: MessageParts = MessageParts())
        case idle(topic: String, partition: Int32)
        case watermark(Int64)
    }

    /// What an event line gives of its Kafka message besides the value: `key=`, `timestamp=`, `header.NAME=`.
    struct MessageParts {
        var key: String?
        var timestamp: Int64?
        var headers: [String: [UInt8]?] = [:]
    }

    struct Expectation {
        var pattern: String
        var timeout: Bool
        var fields: [String: Any]
        var text: String
        var line: Int
    }

    var path: String
    var cases: [Case] = []

    /// Parses a cases file; errors carry `path:line:`.
    static func parse(path: String, text: String) throws(UsageError) -> PatternCases {
        var result = PatternCases(path: path)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ message: String) -> UsageError { UsageError(message: "\(path):\(number): \(message)") }
            let (word, rest) = split(line)
            if word == "case" {
                guard rest.count >= 2, rest.hasPrefix("\""), rest.hasSuffix("\"") else {
                    throw fail("expected a quoted case name: case \"what it shows\"")
                }
                result.cases.append(Case(name: String(rest.dropFirst().dropLast()), line: number))
                continue
            }
            guard !result.cases.isEmpty else { throw fail("expected 'case \"name\"' before the first event") }
            var current = result.cases.removeLast()
            defer { result.cases.append(current) }
            switch word {
            case "idle":
                let (topic, partition) = try topicPartition(rest, fail)
                current.steps.append(.idle(topic: topic, partition: partition))
            case "watermark":
                guard let time = parseTime(rest) else { throw fail("'watermark' needs a time: epoch ms or RFC 3339") }
                current.steps.append(.watermark(time))
            case "expect":
                let (what, tail) = split(rest)
                switch what {
                case "late", "dead-letters":
                    guard let n = Int(tail), n >= 0 else { throw fail("'expect \(what)' needs a count") }
                    if what == "late" { current.expectedLate = n } else { current.expectedDeadLetters = n }
                case "suppressed":
                    let (pattern, count) = split(tail)
                    guard !pattern.isEmpty, let n = Int(count), n >= 0 else {
                        throw fail("'expect suppressed' needs a pattern name and a count")
                    }
                    current.expectedSuppressed[pattern] = n
                default:
                    var pattern = what
                    var json = tail
                    let timeout = what == "timeout"
                    if timeout { (pattern, json) = split(tail) }
                    guard !pattern.isEmpty else { throw fail("'expect' needs a pattern name") }
                    let fields = json.isEmpty ? [:] : try object(json, fail)
                    current.expectations.append(
                        Expectation(pattern: pattern, timeout: timeout, fields: fields, text: json, line: number))
                }
            default:
                let (topic, partition) = try topicPartition(word, fail)
                let (message, json) = try messageParts(rest, fail)
                guard !json.isEmpty else { throw fail("expected an event: TOPIC {json}") }
                current.steps.append(
                    .event(topic: topic, partition: partition, json: json, line: number, message: message))
            }
        }
        return result
    }

    /// The `key=K timestamp=T header.NAME=V` words before an event's JSON (a value in double quotes may hold
    /// spaces; no escapes), and the JSON.
    private static func messageParts(_ text: String, _ fail: (String) -> UsageError) throws(UsageError) -> (
        MessageParts, String
    ) {
        var parts = MessageParts()
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "="), !rest.hasPrefix("{"), !rest.hasPrefix("["),
            !rest[..<equals].contains(where: { $0 == " " || $0 == "\t" })
        {
            let name = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            let value: String
            if rest.hasPrefix("\"") {
                guard let close = rest.dropFirst().firstIndex(of: "\"") else {
                    throw fail("unterminated quote after '\(name)='")
                }
                value = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            switch name {
            case "key": parts.key = value
            case "timestamp":
                guard let time = parseTime(value) else {
                    throw fail("'timestamp=' needs epoch ms or RFC 3339: '\(value)'")
                }
                parts.timestamp = time
            case let header where header.hasPrefix("header.") && header.count > "header.".count:
                parts.headers[String(header.dropFirst("header.".count))] = Array(value.utf8)
            default:
                throw fail("'\(name)=' is not a part of a message; the parts are key=, timestamp= and header.NAME=")
            }
        }
        return (parts, String(rest))
    }

    private static func split(_ text: String) -> (String, String) {
        guard let space = text.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (text, "") }
        return (String(text[..<space]), text[space...].trimmingCharacters(in: .whitespaces))
    }

    private static func topicPartition(_ text: String, _ fail: (String) -> UsageError) throws(UsageError) -> (
        String, Int32
    ) {
        let parts = text.split(separator: "/")
        guard parts.count == 1 || parts.count == 2, !parts[0].isEmpty else {
            throw fail("expected TOPIC or TOPIC/PARTITION")
        }
        guard parts.count == 2 else { return (String(parts[0]), 0) }
        guard let p = Int32(parts[1]), p >= 0 else { throw fail("partition must be a number: '\(text)'") }
        return (String(parts[0]), p)
    }

    private static func object(_ json: String, _ fail: (String) -> UsageError) throws(UsageError) -> [String: Any] {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
            let object = parsed as? [String: Any]
        else { throw fail("expected a JSON object: \(json)") }
        return object
    }

    static func parseTime(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        return RFC3339.parse(text)
    }
}
