import AdminHTTP
import ArgumentParser
import Foundation

/// `cepd inspect --key K`: asks a running daemon's admin port what every pattern holds for a key.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a running cepd's open partial matches for a key: why hasn't an alert fired?",
        discussion: """
            Asks the admin port of a cepd started with --metrics-port (GET /keys/KEY) and prints, per pattern, \
            each open partial match of the key: the events bound to its steps, what it waits for, what would \
            discard it, and when its window ends in event time — against the pattern's watermark, which is what \
            ends windows. Exit status: 0 answered, 1 the daemon could not be asked, 2 bad options.
            """)

    @Option(parsing: .unconditional, help: "The key value (as the key field holds it; a number for an int key).")
    var key: String

    @Option(name: .customLong("admin-port"), parsing: .unconditional, help: "The daemon's --metrics-port.")
    var adminPort: Int

    @Option(name: .customLong("admin-host"), help: "The daemon's --metrics-host (an IPv4 address).")
    var adminHost: String = "127.0.0.1"

    @Flag(help: "Print the daemon's JSON as it is.")
    var json = false

    func run() throws {
        guard (1...65535).contains(adminPort) else {
            PatternFiles.writeError("cepd: error: --admin-port \(adminPort): expected a port number from 1 to 65535\n")
            throw ExitCode(2)
        }
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        let path = "/keys/" + (key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)
        let answer: (status: Int, body: [UInt8])
        do {
            answer = try AdminClient.get(host: adminHost, port: adminPort, path: path)
        } catch {
            PatternFiles.writeError("cepd: error: \(error)\n")
            throw ExitCode(1)
        }
        let body = String(decoding: answer.body, as: UTF8.self)
        guard answer.status == 200 else {
            PatternFiles.writeError("cepd: error: the daemon answered \(answer.status): \(body)")
            throw ExitCode(1)
        }
        if json {
            PatternFiles.writeOutput(body)
            return
        }
        guard let document = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any] else {
            PatternFiles.writeError("cepd: error: the daemon's answer is not JSON: \(body)")
            throw ExitCode(1)
        }
        PatternFiles.writeOutput(Self.render(document))
    }

    /// The report for people.
    static func render(_ document: [String: Any]) -> String {
        let key = document["key"] as? String ?? "?"
        var text = "key \(key)\n"
        for pattern in document["patterns"] as? [[String: Any]] ?? [] {
            let name = pattern["pattern"] as? String ?? "?"
            let watermark = (pattern["watermark"] as? NSNumber)?.int64Value
            let partial = pattern["partial_matches"] as? [[String: Any]] ?? []
            let held = (pattern["held_matches"] as? NSNumber)?.intValue ?? 0
            let buffered = (pattern["buffered_events"] as? NSNumber)?.intValue ?? 0
            text += "\n\(name): watermark \(watermark.map(time) ?? "none yet"); \(partial.count) open partial match"
            text +=
                "\(partial.count == 1 ? "" : "es"), \(held) held back, \(buffered) event\(buffered == 1 ? "" : "s") waiting for the watermark\n"
            for entry in pattern["suppressed"] as? [[String: Any]] ?? [] {
                let last = (entry["last_alert_ts"] as? NSNumber)?.int64Value ?? 0
                let until = (entry["until"] as? NSNumber)?.int64Value ?? 0
                let by = entry["by"].map { " for \(json($0))" } ?? ""
                text += "  alerts\(by) suppressed until \(time(until)) (the last one's last event at \(time(last)))\n"
            }
            for (i, match) in partial.enumerated() {
                let state = match["state"] as? String ?? "?"
                let waits = (match["waits_for"] as? [String] ?? []).joined(separator: " or ")
                text += "  #\(i + 1) in state \(state), waits for \(waits.isEmpty ? "nothing" : waits)"
                if let dies = match["dies_on"] as? [String], !dies.isEmpty {
                    text += "; discarded by \(dies.joined(separator: " or "))"
                }
                text += "\n"
                for bound in match["bound"] as? [[String: Any]] ?? [] {
                    let ts = (bound["ts"] as? NSNumber)?.int64Value ?? 0
                    text += "     \(bound["step"] as? String ?? "?") = \(bound["topic"] as? String ?? "?")"
                    text +=
                        "/\(bound["partition"] as? NSNumber ?? 0)@\(bound["offset"] as? NSNumber ?? 0) at \(time(ts))\n"
                }
                for row in match["rows"] as? [[String: Any]] ?? [] {
                    let asOf = (row["as_of"] as? NSNumber)?.int64Value ?? 0
                    let found = (row["row"] as? [String: Any]).map { json($0) } ?? "no row"
                    text += "     \(row["step"] as? String ?? "?") read \(row["table"] as? String ?? "?")"
                    text += "[\(json(row["key"] ?? NSNull()))] as of \(time(asOf)): \(found)\n"
                }
                if let end = (match["window_end"] as? NSNumber)?.int64Value {
                    let what =
                        match["completes_at_window_end"] as? Bool == true ? "completes (nothing came)" : "times out"
                    text += "     \(what) when the watermark passes \(time(end))"
                    if let beyond = (match["window_end_beyond_watermark_ms"] as? NSNumber)?.int64Value {
                        text += beyond > 0 ? ", \(beyond) ms of event time from now" : ", at the next event or timer"
                    }
                    text += "\n"
                }
            }
        }
        return text
    }

    /// A JSON value as text (`"c1"`, `42`, `null`).
    private static func json(_ value: Any) -> String {
        let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
        return data.flatMap { String(data: $0, encoding: .utf8) } ?? "?"
    }

    private static func time(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
