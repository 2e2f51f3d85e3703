import CEPCompiler
import CEPCore
import CEPRuntime
import CEPSyntax
import Foundation
import Testing

/// The Kafka message around an event as fields (issue 19): `@key`, `@timestamp`, `@partition`, `@offset` and
/// `@header.NAME`, declared and type-checked like value fields, filled from the envelope the reader passes.
@Suite struct EnvelopeTests {
    static let source = """
        stream s from "t" {
          key @key
          time @timestamp
          fields { n: int, @partition: int, @offset: int, @header.tenant: string?, @header."x-trace": string? }
        }
        pattern p { match a: s -> b: s emit to "o" {
          k: a.@key, n: a.n, p: a.@partition, o: a.@offset, t: b.@header.tenant, x: b.@header."x-trace" } }
        """

    func decode(_ json: String, _ envelope: MessageEnvelope?) throws -> EventDecoder.Outcome {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        #expect(decoder.readsKey && Set(decoder.readsHeaders) == ["tenant", "x-trace"])
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBufferPointer {
            decoder.decode(
                UnsafeBufferPointer($0), origin: EventOrigin(topic: "t", partition: 2, offset: 9), sourceRank: 0,
                envelope: envelope)
        }
    }

    func reason(_ json: String, _ envelope: MessageEnvelope?) throws -> String? {
        if case .failure(let failure) = try decode(json, envelope) { return failure.reason }
        return nil
    }

    @Test func envelopeFieldsComeFromTheMessage() throws {
        let envelope = MessageEnvelope(
            key: Array("alice".utf8), timestamp: 1_700_000_000_123, partition: 2, offset: 9,
            headers: ["tenant": Array("acme".utf8), "x-trace": nil])
        // A member of the value named like an envelope field is not read for it.
        let event = try #require(try decode(#"{"n":3,"@key":"mallory","@partition":7}"#, envelope).decoded?.first)
        #expect(
            event.fields == [
                .int(3), .int(2), .int(9), .string("acme"), .null, .string("alice"), .time(1_700_000_000_123),
            ])
        #expect(event.timestamp == 1_700_000_000_123)
    }

    @Test func whatTheMessageLacksIsAbsentOrADeadLetter() throws {
        let bare = MessageEnvelope(timestamp: 5, partition: 0, offset: 1)
        #expect(try reason(#"{"n":1}"#, bare) == "field '@key': missing")
        #expect(try reason(#"{"n":1}"#, nil) == "field '@partition': missing")  // no envelope at all
        let keyed = MessageEnvelope(key: Array("k".utf8), partition: 0, offset: 1)
        #expect(try reason(#"{"n":1}"#, keyed) == "field '@timestamp': missing")
        // Optional headers may be absent.
        let event = try #require(
            try decode(#"{"n":1}"#, MessageEnvelope(key: [0x6B], timestamp: 1, partition: 0, offset: 1)).decoded?.first)
        #expect(event.fields[3] == .null && event.fields[4] == .null)
    }

    @Test func invalidUTF8InTheKeyOrAHeaderIsADeadLetter() throws {
        #expect(
            try reason(#"{"n":1}"#, MessageEnvelope(key: [0x75, 0xFF], timestamp: 1, partition: 0, offset: 1))
                == "field '@key': invalid UTF-8 in the message key")
        #expect(
            try reason(
                #"{"n":1}"#,
                MessageEnvelope(key: [0x75], timestamp: 1, partition: 0, offset: 1, headers: ["tenant": [0xC3]]))
                == "field '@header.tenant': invalid UTF-8 in the header")
    }

    /// Alerts as Kafka records (issue 19): `@key` and `@header.NAME` of an emit go to the record, not the JSON;
    /// the last matched event's `traceparent` goes on unless the emit sets one.
    @Test func emitSetsTheRecordsKeyAndHeadersAndCarriesTheTraceOn() throws {
        let source = """
            stream s from "t" {
              key u  time ts
              fields { u: string, n: int, ts: time, @header.traceparent: string? }
            }
            pattern keyed { match a: s -> b: s where b.n > a.n
              emit to "o" { @key: "k-" + a.u, @header.tenant: "acme", @header."x-n": b.n, @header.none: a.@header.traceparent, n: b.n } }
            pattern traced { match a: s -> b: s where b.n > a.n
              emit to "p" { n: b.n } }
            pattern own { match a: s -> b: s where b.n > a.n
              emit to "q" { @header.traceparent: "00-own-01", n: b.n } }
            """
        let automaton = try #require(Compiler.compile(text: source).automaton)
        var engine = Engine(automaton: automaton)
        let partition = engine.source(topic: "t", partition: 0)
        var outputs: [MatchOutput] = []
        for (offset, (n, trace)) in [(1, Value.string("00-first-01")), (5, .string("00-second-01"))].enumerated() {
            let event = Event(
                stream: 0, timestamp: Int64(offset + 1),
                fields: [.string("u1"), .int(Int64(n)), .time(Int64(offset + 1)), trace],
                origin: EventOrigin(topic: "t", partition: 0, offset: Int64(offset)),
                sourceRank: engine.sources[partition].rank)
            _ = engine.process(event, source: partition, into: &outputs)
        }
        engine.finishAll(into: &outputs)
        let formatter = AlertFormatter(automaton: automaton)
        let alerts = Dictionary(
            uniqueKeysWithValues: outputs.compactMap { formatter.alert($0) }.map { ($0.pattern, $0) })
        let keyed = try #require(alerts["keyed"])
        #expect(keyed.key == "k-u1")
        #expect(
            keyed.headers.map { "\($0.name)=\($0.value)" } == [
                "tenant=acme", "x-n=5", "none=00-first-01", "traceparent=00-second-01",
            ])
        #expect(keyed.json.hasPrefix(#"{"n":5,"_match""#))
        #expect(try #require(alerts["traced"]).key == "u1")
        #expect(try #require(alerts["traced"]).headers.map(\.value) == ["00-second-01"])
        #expect(try #require(alerts["own"]).headers.map(\.value) == ["00-own-01"])
        #expect(
            Compiler.compile(text: source.replacingOccurrences(of: "@header.tenant", with: "@tenant")).diagnostics
                .filter { $0.severity == .error }.map(\.id) == ["unknown-envelope-field"])
    }

    /// A message key that is a JSON object (Kafka Connect, Debezium): its members as `@key.PATH` fields.
    @Test func membersOfAJSONKey() throws {
        let source = """
            stream s from "t" {
              key @key.user
              fields { n: int, @key.user: string, @key.account.id: int? }
            }
            pattern p { match a: s -> b: s emit to "o" { u: a.@key.user, id: a.@key.account.id, n: b.n } }
            """
        let automaton = try #require(Compiler.compile(text: source).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        #expect(decoder.readsKey)
        func decode(_ key: String?) -> EventDecoder.Outcome {
            var bytes = Array(#"{"n":1}"#.utf8)
            return bytes.withUnsafeMutableBufferPointer {
                decoder.decode(
                    UnsafeBufferPointer($0), origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0,
                    messageTimestamp: 5,
                    envelope: MessageEnvelope(key: key.map { Array($0.utf8) }, timestamp: 5, partition: 0, offset: 0))
            }
        }
        let event = try #require(decode(#"{"account":{"id":42,"x":[1]},"user":"u1","other":null}"#).decoded?.first)
        #expect(event.fields == [.int(1), .string("u1"), .int(42)])
        guard case .failure(let notJSON) = decode("u1"), case .failure(let missing) = decode(nil),
            case .failure(let noUser) = decode(#"{"account":{"id":1}}"#)
        else {
            Issue.record("a key that is not a JSON object with 'user' decoded")
            return
        }
        #expect(notJSON.reason.hasPrefix("the message key: invalid JSON at byte 0"))
        #expect(missing.reason == "field '@key.user': missing")
        #expect(noUser.reason == "field '@key.user': missing")
        let both =
            "stream s from \"t\" { key @key fields { @key.user: string } }\npattern p { match a: s -> b: s within 1m emit to \"o\" { } }\n"
        // The key's text and its members may both be read: they do not overlap as value fields would.
        #expect(Compiler.compile(text: both).diagnostics.isEmpty)
        #expect(
            Compiler.compile(text: both.replacingOccurrences(of: "{ @key.user", with: "{ @key: string, @key.user"))
                .diagnostics.isEmpty)
    }

    @Test func theCheckerKnowsTheEnvelope() {
        func ids(_ fields: String, key: String = "@key") -> [String] {
            let text =
                "stream s from \"t\" { key \(key) time @timestamp fields { \(fields) } }\n"
                + "pattern p { match a: s -> b: s within 1m emit to \"o\" { k: a.@key } }\n"
            return Compiler.compile(text: text).diagnostics.map(\.id)
        }
        #expect(ids("n: int") == [])
        #expect(ids("n: int, @keys: string") == ["unknown-envelope-field"])
        #expect(ids("n: int, @header: string") == ["unknown-envelope-field"])
        #expect(ids("n: int, @partition: string") == ["invalid-envelope-type"])
        #expect(ids("n: int, @header.h: int?") == ["invalid-envelope-type"])
        #expect(ids("n: int, @key: string") == [])
        // Read without being declared (only `key @key` and `time @timestamp` declare themselves).
        #expect(
            Compiler.compile(
                text: "stream s from \"t\" { key n time @timestamp fields { n: string } }\n"
                    + "pattern p { match a: s -> b: s within 1m emit to \"o\" { o: a.@offset } }\n"
            ).diagnostics.map(\.id) == ["unknown-field"])
    }
}
