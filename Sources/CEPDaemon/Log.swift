import ArgumentParser
import CEPCore
import Foundation
import Logging

/// How the daemon writes its log records (`--log-format`).
enum LogFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// One line per record for people: `2026-11-25T17:40:00.123Z cepd: message key=value`.
    case text
    /// One JSON object per line for log pipelines: `{"time":...,"level":"info","message":...,"key":"value"}`.
    case json
}

/// The daemon's log, on stderr, through swift-log. Call sites use `Log.info`/`warning`/`error` with a message and
/// optional metadata; `configure` picks the format once at start.
enum Log {
    // nonisolated(unsafe): written once by `configure` on the main thread before any other thread starts; read
    // (a value copy) from any thread after that.
    nonisolated(unsafe) private static var logger = Logger(label: "cepd") { _ in CepdLogHandler(format: .text) }

    /// Sets the format (and the lowest level written) for the rest of the process.
    static func configure(format: LogFormat, level: Logger.Level = .info) {
        var logger = Logger(label: "cepd") { _ in CepdLogHandler(format: format) }
        logger.logLevel = level
        self.logger = logger
    }

    static func info(_ text: String, _ metadata: Logger.Metadata? = nil) {
        logger.info("\(text)", metadata: metadata)
    }

    static func warning(_ text: String, _ metadata: Logger.Metadata? = nil) {
        logger.warning("\(text)", metadata: metadata)
    }

    static func error(_ text: String, _ metadata: Logger.Metadata? = nil) {
        logger.error("\(text)", metadata: metadata)
    }
}

/// Writes swift-log records to stderr as text or JSON lines, one `write` per record (so lines from several
/// threads never interleave).
struct CepdLogHandler: LogHandler {
    let format: LogFormat
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .text:
            let prefix: String
            switch event.level {
            case .error, .critical: prefix = "cepd: error: "
            case .warning: prefix = "cepd: warning: "
            default: prefix = "cepd: "
            }
            let fields = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            line = time + " " + prefix + event.message.description + fields
        case .json:
            var writer = JSONWriter()
            writer.beginObject()
            writer.string("time", time)
            writer.string("level", event.level.rawValue)
            writer.string("message", event.message.description)
            for (key, value) in all.sorted(by: { $0.key < $1.key }) { writer.string(key, value.description) }
            writer.endObject()
            line = writer.text
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Now, as RFC 3339 UTC with milliseconds.
    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
