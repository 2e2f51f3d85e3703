import ArgumentParser
import CEPCore
import CEPRuntime
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Drives the engine from files: one file per partition, merged by event time, alerts and side outputs to files.
struct FileReplay {
    private struct Input {
        let topic: String
        let path: String
        let reader: LineReader
        let decoder: EventDecoder
        let source: Int
        let partition: Int32
        var offset: Int64 = 0
        /// The decoded events of the next line (all with the same origin), and the line itself.
        var head: [Event] = []
        var finished = false
    }

    private var engine: Engine
    private var inputs: [Input] = []
    private let formatter: AlertFormatter
    private let alerts: LineWriter
    private let lateWriter: LineWriter
    private let deadWriter: LineWriter
    private var outputs: [MatchOutput] = []
    /// Topics some pattern reads that no --input gives (replayed as empty).
    private var missingTopics: [String] = []

    init(
        automaton: Automaton, inputs specs: [(topic: String, path: String)], output: String?, late: String,
        deadLetters: String
    ) throws {
        engine = Engine(automaton: automaton)
        formatter = AlertFormatter(automaton: automaton)
        alerts = LineWriter(path: output)
        lateWriter = LineWriter(path: late)
        deadWriter = LineWriter(path: deadLetters)
        var partitions: [String: Int32] = [:]
        do {
            for spec in specs {
                let partition = partitions[spec.topic, default: 0]
                partitions[spec.topic] = partition + 1
                let source = engine.source(topic: spec.topic, partition: partition)
                inputs.append(
                    Input(
                        topic: spec.topic, path: spec.path, reader: try LineReader(path: spec.path),
                        decoder: EventDecoder(automaton: automaton, topic: spec.topic), source: source,
                        partition: partition))
            }
            // A topic with no file is an empty input: it ends at once, so that it does not hold back the watermark
            // of the patterns that read it until the end of the replay.
            let given = Set(specs.map(\.topic))
            var ignore: [MatchOutput] = []
            for topic in engine.inputTopics where !given.contains(topic) {
                missingTopics.append(topic)
                engine.finish(engine.source(topic: topic, partition: 0), into: &ignore)
            }
            try alerts.open()
        } catch {
            PatternFiles.writeError("cepd: error: \(error.message)\n")
            throw ExitCode(2)
        }
    }

    /// Replays everything; returns the summary for stderr.
    mutating func run(progress: Bool) -> String {
        let start = DispatchTime.now()
        for index in inputs.indices { advanceHead(index) }
        var lines = 0
        while let next = nextInput() {
            for event in inputs[next].head {
                let late = engine.process(event, source: inputs[next].source, into: &outputs)
                // The head's line is still in the reader's buffer: it is only replaced by the next read.
                if !late.isEmpty { writeLate(event, line: inputs[next].reader.current, patterns: late) }
            }
            flushOutputs()
            advanceHead(next)
            lines += 1
            if progress && lines % 1_000_000 == 0 { PatternFiles.writeError("\r\(lines / 1_000_000)M events…") }
        }
        engine.finishAll(into: &outputs)
        flushOutputs()
        alerts.close()
        lateWriter.close()
        deadWriter.close()
        if progress && lines >= 1_000_000 { PatternFiles.writeError("\r") }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return summary(seconds: seconds)
    }

    /// The input whose next event is earliest; ties go to the input given first.
    private func nextInput() -> Int? {
        var best: Int?
        for index in inputs.indices where !inputs[index].finished {
            guard let candidate = inputs[index].head.first else { continue }
            if let current = best, inputs[current].head[0].timestamp <= candidate.timestamp { continue }
            best = index
        }
        return best
    }

    /// Reads lines of one input until one decodes to events (malformed lines go to the dead letters).
    private mutating func advanceHead(_ index: Int) {
        inputs[index].head.removeAll(keepingCapacity: true)
        while inputs[index].head.isEmpty {
            let offset = inputs[index].offset
            let origin = EventOrigin(topic: inputs[index].topic, partition: inputs[index].partition, offset: offset)
            let rank = engine.sources[inputs[index].source].rank
            var outcome: EventDecoder.Outcome = .events([])
            let decoder = inputs[index].decoder
            let more = inputs[index].reader.next { bytes in
                outcome = decoder.decode(bytes, origin: origin, sourceRank: rank)
            }
            guard more else {
                inputs[index].finished = true
                engine.finish(inputs[index].source, into: &outputs)
                flushOutputs()
                return
            }
            inputs[index].offset += 1
            switch outcome {
            case .event(let event):
                // Reuses the head array's storage: one event per line costs no array allocation.
                inputs[index].head.removeAll(keepingCapacity: true)
                inputs[index].head.append(event)
            case .events(let events):
                inputs[index].head = events
            case .failure(let failure):
                writeDeadLetter(origin: origin, line: inputs[index].reader.current, reason: failure.reason)
            }
        }
    }

    private mutating func flushOutputs() {
        for output in outputs {
            if let line = formatter.format(output) { alerts.write(line) }
        }
        outputs.removeAll(keepingCapacity: true)
    }

    private func lineValue(_ line: UnsafeBufferPointer<UInt8>) -> String {
        JSONWriter.quoted(String(decoding: line, as: UTF8.self))
    }

    private func writeLate(_ event: Event, line: UnsafeBufferPointer<UInt8>, patterns: [Int]) {
        var json = JSONWriter()
        json.beginObject()
        json.string("reason", "late")
        json.string("topic", event.origin.topic)
        json.raw("partition", String(event.origin.partition))
        json.raw("offset", String(event.origin.offset))
        json.raw("ts", String(event.timestamp))
        json.beginArray("patterns")
        for p in patterns {
            json.beginObject()
            json.string("pattern", engine.automaton.patterns[p].name)
            json.raw("watermark", String(engine.watermark(ofPattern: p)))
            json.endObject()
        }
        json.endArray()
        json.raw("value", lineValue(line))
        json.endObject()
        lateWriter.write(json.text)
    }

    private func writeDeadLetter(origin: EventOrigin, line: UnsafeBufferPointer<UInt8>, reason: String) {
        var json = JSONWriter()
        json.beginObject()
        json.string("reason", reason)
        json.string("topic", origin.topic)
        json.raw("partition", String(origin.partition))
        json.raw("offset", String(origin.offset))
        json.raw("value", lineValue(line))
        json.endObject()
        deadWriter.write(json.text)
    }

    private func summary(seconds: Double) -> String {
        let stats = engine.stats
        var text = "cepd run: \(stats.events) events in \(String(format: "%.2f", seconds)) s"
        if seconds > 0 { text += " (\(Int(Double(stats.events) / seconds)) events/s)" }
        text += "\n"
        for (p, pattern) in engine.automaton.patterns.enumerated() {
            text += "  \(pattern.name): \(stats.matches[p]) match\(stats.matches[p] == 1 ? "" : "es")"
            if pattern.timeoutEmit != nil { text += ", \(stats.timeouts[p]) timed out" }
            text += "\n"
        }
        text += "  alerts: \(alerts.lines) → \(alerts.path ?? "stdout")\n"
        text += "  late events: \(stats.lateEvents)" + (lateWriter.lines > 0 ? " → \(lateWriter.path ?? "")" : "") + "\n"
        let dead = deadWriter.lines
        text += "  dead letters: \(dead)" + (dead > 0 ? " → \(deadWriter.path ?? "")" : "") + "\n"
        if !missingTopics.isEmpty {
            text += "  note: no input for \(missingTopics.joined(separator: ", ")) (replayed as empty)\n"
        }
        return text
    }
}
