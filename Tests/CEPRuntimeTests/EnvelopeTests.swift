import CEPCompiler
import CEPCore
import CEPRuntime
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
        #expect(event.fields == [.int(3), .int(2), .int(9), .string("acme"), .null, .string("alice"), .time(1_700_000_000_123)])
        #expect(event.timestamp == 1_700_000_000_123)
    }

    @Test func whatTheMessageLacksIsAbsentOrADeadLetter() throws {
        let bare = MessageEnvelope(timestamp: 5, partition: 0, offset: 1)
        #expect(try reason(#"{"n":1}"#, bare) == "field '@key': missing")
        #expect(try reason(#"{"n":1}"#, nil) == "field '@partition': missing")  // no envelope at all
        let keyed = MessageEnvelope(key: Array("k".utf8), partition: 0, offset: 1)
        #expect(try reason(#"{"n":1}"#, keyed) == "field '@timestamp': missing")
        // Optional headers may be absent.
        let event = try #require(try decode(#"{"n":1}"#, MessageEnvelope(key: [0x6B], timestamp: 1, partition: 0, offset: 1)).decoded?.first)
        #expect(event.fields[3] == .null && event.fields[4] == .null)
    }

    @Test func invalidUTF8InTheKeyOrAHeaderIsADeadLetter() throws {
        #expect(try reason(#"{"n":1}"#, MessageEnvelope(key: [0x75, 0xFF], timestamp: 1, partition: 0, offset: 1))
            == "field '@key': invalid UTF-8 in the message key")
        #expect(try reason(#"{"n":1}"#, MessageEnvelope(key: [0x75], timestamp: 1, partition: 0, offset: 1, headers: ["tenant": [0xC3]]))
            == "field '@header.tenant': invalid UTF-8 in the header")
    }

    @Test func theCheckerKnowsTheEnvelope() {
        func ids(_ fields: String, key: String = "@key") -> [String] {
            let text = "stream s from \"t\" { key \(key) time @timestamp fields { \(fields) } }\n"
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
        #expect(Compiler.compile(text: "stream s from \"t\" { key n time @timestamp fields { n: string } }\n"
            + "pattern p { match a: s -> b: s within 1m emit to \"o\" { o: a.@offset } }\n").diagnostics.map(\.id) == ["unknown-field"])
    }
}
