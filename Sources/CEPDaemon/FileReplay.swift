import ArgumentParser
import CEPCore
import CEPRuntime
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Drives the engine from files: one file per partition, merged by event time, alerts and side outputs to files.
///
/// Two threads: a `ReplayReader` reads, decodes and merges the files on its own thread, and this type matches and
/// writes on the calling one; batches of lines pass between them through a bounded `BatchChannel`.
struct FileReplay {
    private var engine: Engine
    /// The engine source, topic and partition of each input.
    private var sources: [(source: Int, topic: String, partition: Int32, rank: Int32)] = []
    private var reader: ReplayReader?
    private let channel = BatchChannel<InputBatch>(capacity: 4) { InputBatch() }
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
        var inputs: [ReplayReader.Input] = []
        do {
            for spec in specs {
                let partition = partitions[spec.topic, default: 0]
                partitions[spec.topic] = partition + 1
                let source = engine.source(topic: spec.topic, partition: partition)
                sources.append((source, spec.topic, partition, engine.sources[source].rank))
                inputs.append(
                    ReplayReader.Input(
                        reader: try LineReader(path: spec.path),
                        decoder: EventDecoder(automaton: automaton, topic: spec.topic)))
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
        reader = ReplayReader(inputs: inputs, channel: channel)
    }

    /// Replays everything; returns the summary for stderr.
    mutating func run(progress: Bool) -> String {
        let start = DispatchTime.now()
        guard let reader else { return "" }
        self.reader = nil
        let thread = Thread { reader.run() }
        thread.stackSize = 1 << 20
        thread.start()
        var lines = 0
        while let batch = channel.receive() {
            var cursor = DecodedEvents.Cursor()
            for item in batch.items {
                switch item {
                case .events(let record, let count):
                    let (source, topic, partition, rank) = sources[record.input]
                    let origin = EventOrigin(topic: topic, partition: partition, offset: record.offset)
                    for _ in 0..<count {
                        let event = batch.decoded.next(&cursor, origin: origin, sourceRank: rank)
                        let late = engine.process(event, source: source, into: &outputs)
                        if !late.isEmpty { batch.withBytes(record.value) { writeLate(event, line: $0, patterns: late) } }
                    }
                    lines += 1
                    if progress && lines % 1_000_000 == 0 { PatternFiles.writeError("\r\(lines / 1_000_000)M events…") }
                case .deadLetter(let record, let reason):
                    let (_, topic, partition, _) = sources[record.input]
                    let origin = EventOrigin(topic: topic, partition: partition, offset: record.offset)
                    batch.withBytes(record.value) { writeDeadLetter(origin: origin, line: $0, reason: reason) }
                case .finished(let input):
                    engine.finish(sources[input].source, into: &outputs)
                case .opened, .closed, .caughtUp, .notice:
                    break  // a replay's inputs are fixed and its files report nothing
                }
            }
            flushOutputs()
            batch.removeAll()
            channel.recycle(batch)
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
