import ArgumentParser
import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation

/// `cepd test FILE.cep...`: run pattern test cases in virtual event time.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run pattern test cases: events in, expected alerts out, in virtual event time.",
        discussion: """
            For each FILE.cep the cases in FILE.cases next to it are run (or give --cases). The case format is \
            documented in docs/testing.md. Exit status: 0 when every case passes, 1 when one fails, 2 on usage \
            errors.
            """)

    @Argument(help: "The .cep files (compiled together).")
    var files: [String]

    @Option(help: "Cases files to run instead of FILE.cases next to each pattern file (repeatable).")
    var cases: [String] = []

    @Option(help: "Run only the cases whose name contains this text.")
    var filter: String?

    func run() throws {
        let compilation = try PatternFiles.compile(files)
        guard let automaton = compilation.automaton else {
            PatternFiles.writeError(DiagnosticRendering.render(compilation))
            throw ExitCode(1)
        }
        let paths =
            cases.isEmpty ? files.map { ($0.hasSuffix(".cep") ? String($0.dropLast(4)) : $0) + ".cases" } : cases
        var total = 0
        var failed = 0
        let useColor = isatty(STDOUT_FILENO) != 0
        let pass = useColor ? "\u{1B}[32m✔\u{1B}[0m" : "✔"
        let fail = useColor ? "\u{1B}[31m✘\u{1B}[0m" : "✘"
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                PatternFiles.writeError(
                    "cepd: error: cannot read '\(path)': no such file (write cases there or give --cases)\n")
                throw ExitCode(2)
            }
            let file: PatternCases
            do {
                file = try PatternCases.parse(path: path, text: String(decoding: data, as: UTF8.self))
            } catch {
                PatternFiles.writeError("cepd: error: \(error.message)\n")
                throw ExitCode(2)
            }
            PatternFiles.writeOutput("\(path)\n")
            for testCase in file.cases where filter.map({ testCase.name.contains($0) }) ?? true {
                total += 1
                let problems = CaseRunner(automaton: automaton).run(testCase)
                if problems.isEmpty {
                    PatternFiles.writeOutput("  \(pass) \(testCase.name)\n")
                } else {
                    failed += 1
                    PatternFiles.writeOutput("  \(fail) \(testCase.name)  (\(path):\(testCase.line))\n")
                    for problem in problems { PatternFiles.writeOutput("      \(problem)\n") }
                }
            }
        }
        PatternFiles.writeOutput("\(total) case\(total == 1 ? "" : "s"), \(failed) failed\n")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// Runs one case through a fresh engine and compares what it emits with what the case expects.
struct CaseRunner {
    let automaton: Automaton

    /// Problems, one line each; empty when the case passes.
    func run(_ testCase: PatternCases.Case) -> [String] {
        // Tasks as in `cepd run` and Kafka mode: partition P of every topic is task P, with its own watermark.
        var engine = TaskEngines(automaton: automaton)
        var outputs: [MatchOutput] = []
        var problems: [String] = []
        var offsets: [String: Int64] = [:]
        var late = 0
        var deadLetters: [String] = []
        var decoders: [String: EventDecoder] = [:]
        let topics = Set(automaton.streams.map(\.topic))
        // Register the partitions the case uses, in order of appearance, before the first event.
        for step in testCase.steps {
            switch step {
            case .event(let topic, let partition, _, _, _), .idle(let topic, let partition):
                if topics.contains(topic) { _ = engine.source(topic: topic, partition: partition) }
            case .watermark: break
            }
        }
        for step in testCase.steps {
            switch step {
            case .event(let topic, let partition, let json, let line, let message):
                guard topics.contains(topic) else {
                    problems.append("line \(line): no stream reads topic '\(topic)'")
                    continue
                }
                let source = engine.source(topic: topic, partition: partition)
                let key = "\(topic)/\(partition)"
                let offset = offsets[key, default: 0]
                offsets[key] = offset + 1
                // Events are written as JSON in a case whatever the stream's format: a case is about the patterns.
                let decoder = decoders[topic] ?? EventDecoder(automaton: automaton, topic: topic, asJSON: true)
                decoders[topic] = decoder
                let origin = EventOrigin(topic: topic, partition: partition, offset: offset)
                var bytes = Array(json.utf8)
                // `null`: a tombstone (a null message value), which deletes a table's row.
                let outcome: EventDecoder.Outcome
                if json.trimmingCharacters(in: .whitespaces) == "null" {
                    var decoded = DecodedEvents()
                    if let failure = decoder.decodeDeletion(
                        key: message.key.map { Array($0.utf8) }, messageTimestamp: message.timestamp, into: &decoded)
                    {
                        outcome = .failure(failure)
                    } else {
                        var cursor = DecodedEvents.Cursor()
                        outcome = .event(decoded.next(&cursor, origin: origin, sourceRank: engine[source].rank))
                    }
                } else {
                    outcome = bytes.withUnsafeMutableBufferPointer {
                        decoder.decode(
                            UnsafeBufferPointer($0), origin: origin, sourceRank: engine[source].rank,
                            messageTimestamp: message.timestamp,
                            envelope: MessageEnvelope(
                                key: message.key.map { Array($0.utf8) }, timestamp: message.timestamp,
                                partition: partition,
                                offset: offset, headers: message.headers))
                    }
                }
                if case .failure(let failure) = outcome { deadLetters.append("line \(line): \(failure.reason)") }
                for event in outcome.decoded ?? [] where !engine.process(event, source: source, into: &outputs).isEmpty
                {
                    late += 1
                }
            case .idle(let topic, let partition):
                engine.setIdle(engine.source(topic: topic, partition: partition), true, into: &outputs)
            case .watermark(let time):
                for p in automaton.patterns.indices { engine.advance(pattern: PatternID(p), to: time, into: &outputs) }
            }
        }
        engine.finishAll(into: &outputs)

        let formatter = AlertFormatter(automaton: automaton, encoding: false)
        var actual: [(pattern: String, timeout: Bool, json: String, fields: [String: Any])] = outputs.compactMap {
            output in
            guard let line = formatter.format(output),
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { return nil }
            let isTimeout: Bool
            if case .timeout = output.kind { isTimeout = true } else { isTimeout = false }
            return (automaton.patterns[output.pattern].name, isTimeout, line, object)
        }
        for expectation in testCase.expectations {
            if !automaton.patterns.contains(where: { $0.name == expectation.pattern }) {
                problems.append("line \(expectation.line): no pattern named '\(expectation.pattern)'")
                continue
            }
            let found = actual.firstIndex { candidate in
                candidate.pattern == expectation.pattern && candidate.timeout == expectation.timeout
                    && expectation.fields.allSatisfy { key, value in Self.same(candidate.fields[key], value) }
            }
            if let found {
                actual.remove(at: found)
            } else {
                let kind = expectation.timeout ? "timeout " : ""
                problems.append("missing:    \(kind)\(expectation.pattern) \(expectation.text)")
            }
        }
        for extra in actual {
            var shown = extra.json
            if let range = shown.range(of: ",\"_match\"") { shown = String(shown[..<range.lowerBound]) + "}" }
            problems.append("unexpected: \(extra.timeout ? "timeout " : "")\(extra.pattern) \(shown)")
        }
        if late != testCase.expectedLate {
            problems.append("late events: \(late), expected \(testCase.expectedLate)")
        }
        for (pattern, expected) in testCase.expectedSuppressed.sorted(by: { $0.key < $1.key })
        where !automaton.patterns.contains(where: { $0.name == pattern }) {
            problems.append("'expect suppressed \(pattern) \(expected)': no pattern named '\(pattern)'")
        }
        for (p, pattern) in automaton.patterns.enumerated() {
            let suppressed = engine.matchers(ofPattern: PatternID(p)).reduce(0) { $0 + $1.suppressedAlerts }
            let expected = testCase.expectedSuppressed[pattern.name] ?? 0
            if suppressed != expected {
                problems.append("suppressed alerts of \(pattern.name): \(suppressed), expected \(expected)")
            }
        }
        if deadLetters.count != testCase.expectedDeadLetters {
            problems.append("dead letters: \(deadLetters.count), expected \(testCase.expectedDeadLetters)")
            problems.append(contentsOf: deadLetters.map { "  " + $0 })
        }
        return problems
    }

    /// JSON equality with numbers compared by value (1500 equals 1500.0).
    static func same(_ actual: Any?, _ expected: Any) -> Bool {
        switch (actual, expected) {
        case (let a as NSNumber, let e as NSNumber): return a.doubleValue == e.doubleValue
        case (let a as String, let e as String): return a == e
        case (is NSNull, is NSNull): return true
        case (let a as [String: Any], let e as [String: Any]): return e.allSatisfy { same(a[$0.key], $0.value) }
        default: return false
        }
    }
}
