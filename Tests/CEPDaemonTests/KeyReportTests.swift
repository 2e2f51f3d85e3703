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

    /// A partial match shows the table rows its steps' conditions read, as of each step's event: here a card's row
    /// (a table keyed by something other than the pattern's key) that changed after the step read it, and a
    /// user's row that did not exist.
    @Test func aKeysReportShowsTheRowsAPartialMatchRead() throws {
        let source = """
            stream a from "a" { key k time ts fields { k: string, card: string, ts: time } }
            stream b from "b" { key k time ts fields { k: string, ts: time } }
            table cards from "cards" { key card time ts fields { card: string, risk: int, ts: time } }
            table users from "users" { key k time ts fields { k: string, home: string, ts: time } }
            pattern p {
              match s: a where (lookup(cards, s.card).risk ?? 0) > 1 and (lookup(users, s.k).home ?? "") != "x"
                 -> t: b
              within 1m
              emit to "o" { k: s.k }
            }
            """
        let automaton = try #require(Compiler.compile(text: source).automaton)
        var engine = TaskEngines(automaton: automaton)
        let sources = ["a", "b", "cards", "users"].map { engine.source(topic: $0, partition: 0) }
        var outputs: [MatchOutput] = []
        func send(_ stream: Int, _ fields: [Value], _ ts: Int64, offset: Int64) {
            let event = Event(
                stream: stream, timestamp: ts, fields: fields,
                origin: EventOrigin(topic: automaton.streams[stream].topic, partition: 0, offset: offset),
                sourceRank: engine[sources[stream]].rank)
            engine.process(event, source: sources[stream], into: &outputs)
        }
        send(2, [.string("c1"), .int(5), .time(0)], 0, offset: 0)
        send(0, [.string("k1"), .string("c1"), .time(1_000)], 1_000, offset: 0)
        send(2, [.string("c1"), .int(0), .time(2_000)], 2_000, offset: 1)  // the card's risk drops later
        // Event time moves on in every input, so that the step's event is matched.
        send(0, [.string("k9"), .string("-"), .time(5_000)], 5_000, offset: 1)
        send(1, [.string("k9"), .time(5_000)], 5_000, offset: 0)
        send(3, [.string("k9"), .string("-"), .time(5_000)], 5_000, offset: 0)
        let text = KeyReport.json(key: "k1", engine: engine)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        let pattern = try #require((document["patterns"] as? [[String: Any]])?.first)
        let partial = try #require((pattern["partial_matches"] as? [[String: Any]])?.first, "\(text)")
        let rows = try #require(partial["rows"] as? [[String: Any]], "\(text)")
        #expect(rows.count == 2, "\(text)")
        let card = try #require(rows.first { $0["table"] as? String == "cards" })
        #expect(card["as_of"] as? NSNumber == 1_000 && card["key"] as? String == "c1")
        #expect((card["row"] as? [String: Any])?["risk"] as? NSNumber == 5, "the row as of the step, not now: \(text)")
        let user = try #require(rows.first { $0["table"] as? String == "users" })
        #expect(user["row"] is NSNull, "\(text)")
        let rendered = InspectCommand.render(document)
        #expect(rendered.contains(#"s read cards["c1"] as of 1970-01-01T00:00:01.000Z: {"#), "\(rendered)")
        #expect(rendered.contains(#"s read users["k1"] as of 1970-01-01T00:00:01.000Z: no row"#), "\(rendered)")
    }
}
