import ArgumentParser
import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation
import KafkaClient
import Logging

/// `cepd serve` (the default command): consume the patterns' input topics from Kafka, match in event time, and
/// produce alerts, late events and dead letters to topics.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the patterns against Kafka (the default command).",
        discussion: """
            Consumes every topic the patterns read, in consumer group --group, and produces each alert to its \
            pattern's `emit to` topic (message key: the pattern's key value; headers cepd-pattern and \
            cepd-match-id). Late events go to --late-topic and malformed messages to --dead-letter-topic, with \
            the original key and value and the reason, source topic, partition, offset and timestamp in headers.

            Offsets are committed to the group after the alerts of the events before them have been delivered. \
            Stop with SIGINT or SIGTERM: cepd delivers what it has, checkpoints, commits, and leaves the group \
            (within --shutdown-timeout). SIGHUP reloads the pattern files (a file with errors is refused; the \
            running patterns go on). --metrics-port serves /metrics, /healthz, /readyz, /keys/KEY and POST /reload.

            Exit status: 0 after a clean stop, 1 pattern errors, 2 bad options or configuration, 3 Kafka \
            unreachable or an input topic missing at start, 4 Kafka failed while running (an alert could not be \
            delivered, a fatal client error), 5 a checkpoint could not be written; 1 also when a stop takes longer \
            than --shutdown-timeout.
            """)

    @Option(name: .customLong("pattern"), help: "A .cep file (repeat for several).")
    var patterns: [String]

    @Option(
        help: ArgumentHelp(
            "Kafka bootstrap servers (host:port,...).", discussion: "Default: $CEPD_BROKERS, else localhost:9092."))
    var brokers: String?

    @Option(help: "Consumer group id.")
    var group: String = "cepd"

    @Option(
        help: ArgumentHelp(
            "Where a new group starts: earliest, latest or an RFC 3339 time (a backfill from that time).",
            valueName: "earliest|latest|time"))
    var from: String = "latest"

    @Option(
        name: .customShort("X"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "A librdkafka setting KEY=VALUE for both consumer and producer (security, tuning); repeatable.",
            valueName: "key=value"))
    var settings: [String] = []

    @Option(help: "A file of librdkafka settings, one KEY=VALUE per line (# comments); -X overrides it.")
    var config: String?

    @Option(
        name: .customLong("idle-timeout"), parsing: .unconditional,
        help: "A partition read to its end and quiet for this long stops holding back the watermark (0s: at once).")
    var idleTimeout: String = "30s"

    @Flag(
        name: .customLong("idle-wall-clock"),
        help:
            "While every partition of a pattern is idle, let its watermark follow the wall clock (so absences fire when traffic stops)."
    )
    var idleWallClock = false

    @Option(name: .customLong("late-topic"), help: "Topic for late events.")
    var lateTopic: String = "cepd-late"

    @Option(name: .customLong("dead-letter-topic"), help: "Topic for malformed messages.")
    var deadLetterTopic: String = "cepd-dead-letters"

    @Option(
        name: .customLong("connect-timeout"), parsing: .unconditional,
        help: "Give up (exit 3) when no broker answers for this long at start.")
    var connectTimeout: String = "30s"

    @Flag(name: .customLong("wait-for-topics"), help: "Wait for missing input topics instead of exiting.")
    var waitForTopics = false

    @Option(
        name: .customLong("commit-interval"), parsing: .unconditional,
        help: "With --state-dir none: how often to deliver pending alerts and commit offsets.")
    var commitInterval: String = "5s"

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Where checkpoints go (RocksDB); 'none' for no checkpoints. Default: cepd-state/GROUP in the working directory.",
            valueName: "dir"))
    var stateDir: String?

    @Option(
        name: .customLong("checkpoint-interval"), parsing: .unconditional,
        help: "How often to checkpoint (deliver pending alerts, write state and offsets, then commit offsets).")
    var checkpointInterval: String = "10s"

    @Option(
        name: .customLong("metrics-port"), parsing: .unconditional,
        help: "Serve /metrics (Prometheus), /healthz and /readyz on this port (0: a free port, logged). Default: off.")
    var metricsPort: Int?

    @Option(
        name: .customLong("metrics-host"),
        help:
            "The address the admin port listens on; beyond loopback (0.0.0.0: all interfaces) only with --admin-insecure."
    )
    var metricsHost: String = "127.0.0.1"

    @Flag(
        name: .customLong("admin-insecure"),
        help: "Allow --metrics-host to be an address other than loopback although the admin port has no authentication."
    )
    var adminInsecure = false

    @Option(
        name: .customLong("shutdown-timeout"), parsing: .unconditional,
        help:
            "On SIGTERM/SIGINT: how long delivering, checkpointing and committing may take before cepd exits anyway (exit 1)."
    )
    var shutdownTimeout: String = "30s"

    @OptionGroup var limitOptions: LimitOptions

    @OptionGroup var registryOptions: RegistryOptions

    @Option(name: .customLong("log-format"), help: "text (one line per record) or json (one JSON object per line).")
    var logFormat: LogFormat = .text

    func run() throws {
        Log.configure(format: logFormat)
        let compilation = try PatternFiles.compile(patterns)
        guard let automaton = compilation.automaton else {
            PatternFiles.writeError(DiagnosticRendering.render(compilation))
            throw ExitCode(1)
        }
        let tables = automaton.tables.map { automaton.streams[$0].name }
        if let table = tables.first {
            // Said rather than run wrong: the daemon does not checkpoint table rows, nor read a table's every
            // partition in each process, yet.
            PatternFiles.writeError(
                "cepd: error: table '\(table)' is looked up, and 'cepd serve' does not read tables yet; "
                    + "'cepd run' and 'cepd test' do (see docs/language.md, \"Tables\")\n")
            throw ExitCode(2)
        }
        var options: KafkaDaemon.Options
        do {
            options = try makeOptions()
            // A stop stuck in a flush or a checkpoint cannot return: exiting is the only way out, and it is this
            // layer's.
            options.onShutdownTimeout = { reason in
                Foundation.exit(reason == .requested ? StopReason.shutdownTimeout.exitStatus : reason.exitStatus)
            }
            // Checked now (a missing --schema-registry is a usage error); the daemon makes its own client.
            _ = try registryOptions.client(for: automaton) { true }
        } catch {
            PatternFiles.writeError("cepd: error: \(error.message)\n")
            throw ExitCode(2)
        }
        var daemon = KafkaDaemon(automaton: automaton, options: options)
        let signals = Self.installSignalHandlers(daemon.stop, requests: daemon.requests)
        defer { for signal in signals { signal.cancel() } }
        let status = daemon.run().exitStatus
        if status != 0 { throw ExitCode(status) }
    }

    private func makeOptions() throws(UsageError) -> KafkaDaemon.Options {
        if group.trimmingCharacters(in: .whitespaces).isEmpty {
            throw UsageError(message: "--group cannot be empty: name the consumer group, e.g. --group fraud")
        }
        for (option, topic) in [("--late-topic", lateTopic), ("--dead-letter-topic", deadLetterTopic)] {
            if let problem = TopicName.problem(topic) { throw UsageError(message: "\(option) '\(topic)': \(problem)") }
        }
        if metricsPort != nil && !adminInsecure && !Self.isLoopback(metricsHost) {
            throw UsageError(
                message: "--metrics-host \(metricsHost) would open the admin port beyond this machine, and it has no "
                    + "authentication (/keys shows users' events, POST /reload changes what runs): keep 127.0.0.1 and "
                    + "put a proxy with authentication in front, or add --admin-insecure if the network is private")
        }
        var properties: [(key: String, value: String)] = []
        let servers = brokers ?? ProcessInfo.processInfo.environment["CEPD_BROKERS"] ?? "localhost:9092"
        properties.append(("bootstrap.servers", servers))
        if let config { properties += try Self.readConfig(config) }
        for setting in settings { properties.append(try Self.keyValue(setting, what: "-X")) }
        let start: KafkaConsumer.Start
        switch from {
        case "earliest": start = .earliest
        case "latest": start = .latest
        default:
            guard let ms = RFC3339.parse(from) else {
                throw UsageError(
                    message:
                        "--from '\(from)': expected earliest, latest or an RFC 3339 time such as 2026-11-25T08:00:00Z")
            }
            start = .time(ms)
        }
        return KafkaDaemon.Options(
            properties: properties, brokers: servers, group: group, start: start,
            idleTimeout: try Self.duration(idleTimeout, "--idle-timeout"), idleWallClock: idleWallClock,
            lateTopic: lateTopic, deadLetterTopic: deadLetterTopic,
            connectTimeout: try Self.duration(connectTimeout, "--connect-timeout"), waitForTopics: waitForTopics,
            commitInterval: try Self.duration(commitInterval, "--commit-interval"),
            stateDir: stateDir == "none" ? nil : stateDir ?? "cepd-state/\(group)",
            checkpointInterval: try Self.duration(checkpointInterval, "--checkpoint-interval"),
            metricsAddress: try metricsPort.map { port throws(UsageError) in
                guard (0...65535).contains(port) else {
                    throw UsageError(message: "--metrics-port \(port): expected a port number from 0 to 65535")
                }
                return (metricsHost, port)
            },
            shutdownTimeout: try Self.duration(shutdownTimeout, "--shutdown-timeout"), fromDescription: from,
            limits: try limitOptions.limits(), patternPaths: patterns, registry: registryOptions)
    }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1 or localhost): reachable from this machine only.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// `KEY=VALUE` with a non-empty key.
    static func keyValue(_ text: String, what: String) throws(UsageError) -> (key: String, value: String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw UsageError(message: "\(what) '\(text)' must be KEY=VALUE, e.g. -X security.protocol=SSL")
        }
        return (
            text[..<equals].trimmingCharacters(in: .whitespaces),
            text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        )
    }

    /// A `--config` file: KEY=VALUE lines, blank lines and `#` comments.
    static func readConfig(_ path: String) throws(UsageError) -> [(key: String, value: String)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError(message: "--config '\(path)': cannot read the file")
        }
        var result: [(key: String, value: String)] = []
        for (number, raw) in String(decoding: data, as: UTF8.self).split(
            separator: "\n", omittingEmptySubsequences: false
        ).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            result.append(try keyValue(line, what: "\(path):\(number + 1):"))
        }
        return result
    }

    /// A duration flag in milliseconds, in the language's syntax (`DurationFormat`: `500ms`, `30s`, `1h30m`, `1d`),
    /// so that what a pattern file accepts a flag accepts too.
    static func duration(_ text: String, _ option: String) throws(UsageError) -> Int64 {
        switch DurationFormat.read(text[...]) {
        case .milliseconds(let ms): return ms
        case .tooLarge: throw UsageError(message: "\(option) '\(text)': too large a duration")
        case .invalid:
            throw UsageError(message: "\(option) '\(text)': expected a duration such as 500ms, 30s, 2m, 1h30m or 1d")
        }
    }

    /// SIGINT and SIGTERM ask the daemon for a clean stop (which the daemon's `ShutdownWatchdog` bounds by
    /// --shutdown-timeout); a second one exits at once. SIGHUP asks for a reload of the pattern files. Here, in the
    /// command layer: the only place below `main` that exits the process.
    private static func installSignalHandlers(_ stop: StopFlag, requests: EngineRequests) -> [any DispatchSourceSignal]
    {
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { requests.addReload(nil) }
        hangup.resume()
        return [hangup]
            + [SIGINT, SIGTERM].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if stop.isSet {
                        Log.info("second signal: exiting without delivering or committing")
                        Foundation.exit(StopReason.secondSignal.exitStatus)
                    }
                    Log.info(
                        "stopping (signal \(number)): delivering pending alerts and committing offsets",
                        ["stop": "signal"])
                    stop.set(.requested)
                }
                source.resume()
                return source
            }
    }
}
