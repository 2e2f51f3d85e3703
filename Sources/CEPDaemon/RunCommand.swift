import ArgumentParser
import CEPCompiler
import CEPCore
import CEPRuntime
import CEPSyntax
import Foundation

/// `cepd run`: replay JSON-lines files as topics through the engine, in event time, and write the alerts.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Replay event files as topics and write the alerts (backtests, demos).",
        discussion: """
            Each --input TOPIC=FILE is one partition of TOPIC (give a topic several files for several partitions); \
            a file's line order is its arrival order and line N (from 0) is offset N. Files are read merged by \
            event time: the next event comes from the input whose next event is earliest (ties: the order of the \
            --input options), as Kafka Streams picks among partitions. A file that ends stops holding back the \
            watermark, and a topic that no --input gives is replayed as empty; at the end of all input the \
            watermark goes to +infinity, which fires every pending window.

            Alerts go to stdout (or --output), one JSON object per line. Late events go to --late (default \
            late.jsonl) and malformed lines to --dead-letters (default dead-letters.jsonl); those files are created \
            only when there is something to write (one an earlier run left is removed). No output may be an input \
            or a pattern file. A summary goes to stderr; if an output cannot be written (its directory is missing, \
            the disk is full, stdout is closed) cepd stops with status 5 and says what was written.

            With --state-dir (and --output), the replay checkpoints as it goes and can be interrupted at any \
            moment (Ctrl-C, kill -9): the same command resumes from the last checkpoint, and the output files end \
            up as an uninterrupted replay writes them.
            """)

    @Option(name: .customLong("pattern"), help: "A .cep file (repeat for several).")
    var patterns: [String]

    @Option(name: .customLong("input"), help: "TOPIC=FILE.jsonl: replay FILE as a partition of TOPIC (repeatable).")
    var inputs: [String]

    @Option(
        name: .customLong("input-format"),
        help:
            "json: each line is a message value; kcat: each line is a message as 'kcat -C -J' writes it (key, timestamp, headers, value)."
    )
    var inputFormat: InputFormat = .json

    @Option(help: "Write alerts here instead of stdout ('-': stdout).")
    var output: String?

    @Option(help: "Write late events here.")
    var late: String = "late.jsonl"

    @Option(name: .customLong("dead-letters"), help: "Write malformed lines here, with the reason.")
    var deadLetters: String = "dead-letters.jsonl"

    @Option(
        name: .customLong("max-line-bytes"), parsing: .unconditional,
        help: "A longer input line is a dead letter (\"line longer than N bytes\"), skipped without being held.")
    var maxLineBytes: Int = LineReader.defaultMaxLineBytes

    @Flag(help: "Print no summary on stderr.")
    var quiet = false

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Checkpoint here, and resume from here if a checkpoint of the same replay exists.", valueName: "dir"))
    var stateDir: String?

    @Option(
        name: .customLong("checkpoint-interval"), parsing: .unconditional,
        help: "With --state-dir: how often to checkpoint.")
    var checkpointInterval: String = "10s"

    @OptionGroup var limitOptions: LimitOptions

    @OptionGroup var registryOptions: RegistryOptions

    func run() throws {
        let compilation = try PatternFiles.compile(patterns)
        guard let automaton = compilation.automaton else {
            PatternFiles.writeError(DiagnosticRendering.render(compilation))
            throw ExitCode(1)
        }
        // `--output -` is stdout, as in most command-line tools, not a file named '-'.
        let output = self.output == "-" ? nil : self.output
        let inputs: [(topic: String, path: String)]
        let interval: Int64
        let limits: PartialMatchLimits
        let registry: SchemaRegistryClient?
        do throws(UsageError) {
            inputs = try parseInputs(automaton)
            // A replay waits up to 30 s for a registry that does not answer, then stops (status 5).
            registry = try registryOptions.client(for: automaton, registeringAlerts: false, giveUpAfterMs: 30_000) {
                false
            }
            limits = try limitOptions.limits()
            interval = try ServeCommand.duration(checkpointInterval, "--checkpoint-interval")
            if maxLineBytes < 1 {
                throw UsageError(message: "--max-line-bytes \(maxLineBytes): expected a positive number")
            }
            if stateDir != nil && output == nil {
                throw UsageError(
                    message: "--state-dir needs --output: alerts written to stdout cannot be taken back on resume")
            }
            let written =
                (output.map { [OutputPaths.Named(option: "--output", path: $0)] } ?? [])
                + [.init(option: "--late", path: late), .init(option: "--dead-letters", path: deadLetters)]
            let read =
                inputs.map { OutputPaths.Named(option: "--input", path: $0.path) }
                + patterns.map { OutputPaths.Named(option: "--pattern", path: $0) }
            try OutputPaths.check(outputs: written, reads: read)
        } catch {
            PatternFiles.writeError("cepd: error: \(error.message)\n")
            throw ExitCode(2)
        }
        var replay = try FileReplay(
            automaton: automaton, inputs: inputs, output: output, late: late, deadLetters: deadLetters,
            stateDir: stateDir,
            checkpointInterval: interval, limits: limits, maxLineBytes: maxLineBytes, inputFormat: inputFormat,
            schemas: registry)
        do {
            let summary = try replay.run(progress: !quiet && PatternFiles.stderrIsTerminal)
            if !quiet { PatternFiles.writeError(summary) }
        } catch {
            PatternFiles.writeError("cepd: error: \(error.message)\n")
            throw ExitCode(error.status)
        }
    }

    private func parseInputs(_ automaton: Automaton) throws(UsageError) -> [(topic: String, path: String)] {
        let known = Set(automaton.streams.map(\.topic))
        var result: [(String, String)] = []
        for input in inputs {
            guard let equals = input.firstIndex(of: "="), equals != input.startIndex,
                input.index(after: equals) != input.endIndex
            else {
                throw UsageError(message: "--input '\(input)' must be TOPIC=FILE, e.g. --input logins=logins.jsonl")
            }
            let topic = String(input[..<equals])
            guard known.contains(topic) else {
                let list =
                    known.isEmpty
                    ? "the pattern files declare no pattern" : "topics: " + known.sorted().joined(separator: ", ")
                throw UsageError(message: "--input '\(input)': no stream reads topic '\(topic)' (\(list))")
            }
            result.append((topic, String(input[input.index(after: equals)...])))
        }
        return result
    }
}

/// Renders a failed compilation's diagnostics as `cepd check` does.
enum DiagnosticRendering {
    static func render(_ compilation: Compilation, colors: Bool = PatternFiles.stderrIsTerminal) -> String {
        let renderer = DiagnosticRenderer(sources: compilation.sources, colors: colors)
        return renderer.render(compilation.diagnostics, truncatedFiles: compilation.truncatedFiles)
            + PatternFiles.summary(compilation.diagnostics) + "\n"
    }
}
