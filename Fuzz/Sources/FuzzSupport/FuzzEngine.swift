public import CEPCompiler
public import CEPRuntime
import CFuzzer
import Foundation

/// What the fuzz targets run events through: patterns that between them hold every kind of state (windows,
/// loops with `until`, a negation, `any` branching, timeouts, aggregates, optional and nested fields), and a
/// driver that feeds JSON messages to an engine the way the daemon does.
public enum FuzzEngine {
    /// The streams and patterns.
    public static let source = """
        stream a from "a" {
          key k  time ts  lateness 1s
          fields { k: string, v: int, f: float?, s: string?, ok: bool?, d.e: int?, ts: time }
        }
        stream b from "b" where v != 13 { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
        stream c from "c" {
          key @key  time @timestamp  lateness 1s
          fields { v: int?, @header.h: string?, @header."x-y": string?, @partition: int, @offset: int }
        }
        pattern rise {
          match x: a -> y: a where y.v > x.v and (y.s ?? "") != "stop"
          within 10s
          emit to "o" { k: x.k, d: y.v - x.v, s: y.s, f: y.f, e: y.d.e }
        }
        pattern loop {
          match xs: a{2,} greedy where xs.v >= 0 until xs.ok == true -> y: b
          within 5s
          emit to "o" { k: y.k, n: count(xs), total: sum(xs.v), first: first(xs.s), top: max(xs.f) }
        }
        pattern absent {
          match x: a where x.s in ["open", "start"] -> not z: b where z.v == x.v
          within 3s
          emit to "o" { k: x.k, v: x.v }
          on timeout emit to "t" { k: x.k }
        }
        pattern branch {
          match x: b ->> ys: a+ where ys.v > x.v ->> z: b where z.v < avg(ys.v)
          within 2s
          skip none
          emit to "o" { k: z.k, n: count(ys), last: last(ys.s), at: z.ts - x.ts }
        }
        pattern envelope {
          match x: c -> y: c where (y.v ?? 0) >= (x.v ?? 0) and y.@header.h != x.@header."x-y"
          within 1s
          emit to "o" { k: x.@key, h: y.@header.h, p: y.@partition, o: y.@offset, at: y.@timestamp }
        }
        """

    /// The compiled patterns; the source above must compile.
    public static let automaton: Automaton = {
        let compilation = Compiler.compile(path: "fuzz.cep", text: source)
        guard let automaton = compilation.automaton else {
            fatalError("the fuzz patterns do not compile: \(compilation.diagnostics.map(\.message.text))")
        }
        return automaton
    }()

    /// Feeds messages to `engine`, alternating between its topics, with offsets in arrival order; writes every
    /// output as an alert and checks that each alert is a JSON object. Returns how many outputs there were.
    public static func run(_ engine: inout Engine, messages: [ArraySlice<UInt8>], schemas: (any RegistrySchemas)? = nil) -> Int {
        let topics = engine.inputTopics
        guard !topics.isEmpty else { return 0 }  // streams without patterns read nothing
        let decoders = topics.map { EventDecoder(automaton: engine.automaton, topic: $0, schemas: schemas) }
        let sources = topics.map { engine.source(topic: $0, partition: 0) }
        let formatter = AlertFormatter(automaton: engine.automaton)
        var outputs: [MatchOutput] = []
        var count = 0
        func drain() {
            for output in outputs {
                count += 1
                guard let alert = formatter.format(output) else { continue }
                checkJSON(alert, object: true)
            }
            outputs.removeAll(keepingCapacity: true)
        }
        for (offset, message) in messages.enumerated() {
            let input = offset % topics.count
            let origin = EventOrigin(topic: topics[input], partition: 0, offset: Int64(offset))
            // An envelope made of the message's own bytes: keys and headers that are not UTF-8 come up too.
            let envelope = MessageEnvelope(
                key: Array(message.prefix(6)), timestamp: Int64(offset) * 250, partition: 0, offset: Int64(offset),
                headers: ["h": Array(message.suffix(3)), "x-y": message.count % 3 == 0 ? nil : Array(message.prefix(2))])
            let outcome = message.withUnsafeBufferPointer {
                _ = decoders[input].prepare($0)
                return decoders[input].decode(
                    $0, origin: origin, sourceRank: engine.sources[sources[input]].rank, envelope: envelope)
            }
            switch outcome {
            case .event(let event): _ = engine.process(event, source: sources[input], into: &outputs)
            case .events(let events): for event in events { _ = engine.process(event, source: sources[input], into: &outputs) }
            case .failure(let failure): precondition(!failure.reason.isEmpty, "a dead letter without a reason")
            }
            drain()
        }
        engine.finishAll(into: &outputs)
        drain()
        return count
    }

    /// Stops the fuzzer (a crash it reports) when `text` is not JSON (or, with `object`, not one JSON object).
    public static func checkJSON(_ text: String, object: Bool = false) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed),
            !object || value is [String: Any]
        else {
            fatalError("not \(object ? "a JSON object" : "JSON"): \(text)")
        }
    }

    /// Splits fuzzer input into messages at line breaks, as a replay file is read.
    public static func lines(_ bytes: UnsafeRawBufferPointer) -> [ArraySlice<UInt8>] {
        Array(bytes).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    }
}

/// Runs libFuzzer's driver on `test` with the program's arguments: each target's main.
public func runFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
    _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments, test)
}
