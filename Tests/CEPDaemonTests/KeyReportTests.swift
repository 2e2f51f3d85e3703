import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation
import Testing

@testable import CEPDaemon

/// `GET /keys/KEY` and `cepd inspect --key` answer "why no alert?" for suppression too: the spans in which the
/// key's alerts are kept back, by value of `by`.
@Suite struct KeyReportTests {
    @Test func aKeysReportShowsWhereItsAlertsAreSuppressed() throws {
        let source = """
            stream a from "a" { key k time ts fields { k: string, x: int, ts: time } }
            pattern p { match s: a where s.x > 0 within 1s suppress 10s by s.x emit to "o" { k: s.k } }
            """
        let automaton = try #require(Compiler.compile(text: source).automaton)
        var engine = TaskEngines(automaton: automaton)
        let a = engine.source(topic: "a", partition: 0)
        var outputs: [MatchOutput] = []
        for (i, (k, x, ts)) in [
            ("k1", 2, 1_000), ("k1", 1, 2_000), ("k2", 1, 3_000), ("k1", 1, 4_000), ("k1", 0, 5_000),
        ]
        .enumerated() {
            let event = Event(
                stream: 0, timestamp: Int64(ts), fields: [.string(k), .int(Int64(x)), .time(Int64(ts))],
                origin: EventOrigin(topic: "a", partition: 0, offset: Int64(i)), sourceRank: engine[a].rank)
            engine.process(event, source: a, into: &outputs)
        }
        #expect(outputs.count == 3, "k1/2 at 1000, k1/1 at 2000, k2/1 at 3000; k1/1 at 4000 suppressed")
        let text = KeyReport.json(key: "k1", engine: engine)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        let pattern = try #require((document["patterns"] as? [[String: Any]])?.first)
        let suppressed = try #require(pattern["suppressed"] as? [[String: Any]])
        #expect(suppressed.map { ($0["by"] as? NSNumber)?.intValue } == [2, 1], "soonest end first: \(text)")
        #expect(suppressed.map { ($0["until"] as? NSNumber)?.intValue } == [11_000, 12_000])
        #expect(suppressed.map { ($0["last_alert_ts"] as? NSNumber)?.intValue } == [1_000, 2_000])
        let rendered = InspectCommand.render(document)
        #expect(rendered.contains("alerts for 1 suppressed until 1970-01-01T00:00:12.000Z"), "\(rendered)")
        #expect(rendered.contains("(the last one's last event at 1970-01-01T00:00:02.000Z)"), "\(rendered)")
        // A key without suppressed alerts lists none.
        let other = KeyReport.json(key: "k9", engine: engine)
        #expect(other.contains("\"suppressed\":[]"), "\(other)")
    }
}
