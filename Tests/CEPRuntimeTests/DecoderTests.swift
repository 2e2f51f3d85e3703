import CEPCompiler
import CEPCore
import CEPRuntime
import Foundation
import TestSupport
import Testing

/// JSON messages to events: only the declared fields, types checked, every malformed message explained.
@Suite struct DecoderTests {
    static let source = """
        stream s from "t" {
          key user
          time ts
          fields { user: string, n: int?, amount: float, ok: bool?, device.id: string?, ts: time }
        }
        pattern p { match a: s -> b: s emit to "o" { u: a.user, n: a.n, x: a.amount, d: a.device.id, ok: a.ok } }
        """

    func decode(_ json: String, source: String = Self.source, topic: String = "t") throws -> EventDecoder.Outcome {
        let automaton = try #require(Compiler.compile(text: source).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: topic)
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBufferPointer {
            decoder.decode(
                UnsafeBufferPointer($0), origin: EventOrigin(topic: topic, partition: 0, offset: 7), sourceRank: 0)
        }
    }

    func fields(_ json: String) throws -> [Value] {
        guard let event = try decode(json).decoded?.first else {
            Issue.record("no event from \(json)")
            return []
        }
        return event.fields
    }

    func reason(_ json: String) throws -> String? {
        if case .failure(let failure) = try decode(json) { return failure.reason }
        return nil
    }

    @Test func decodesDeclaredFieldsAndSkipsTheRest() throws {
        let f = try fields(
            #"{"extra":[1,{"a":"b"},null,true],"user":"u\"1\u00e9","n":42,"amount":3,"ok":false,"device":{"id":"d7","x":1.5e3},"ts":"2026-01-01T00:00:01.5+01:00"}"#
        )
        #expect(f[0] == .string("u\"1é"))
        #expect(f[1] == .int(42))
        #expect(f[2] == .float(3))
        #expect(f[3] == .bool(false))
        #expect(f[4] == .string("d7"))
        #expect(f[5] == .time(1_767_222_001_500))
    }

    @Test func optionalFieldsMayBeMissingOrNull() throws {
        let f = try fields(#"{"user":"u","amount":1.25,"ts":5,"n":null}"#)
        #expect(f[1] == .null && f[3] == .null && f[4] == .null)
        #expect(f[5] == .time(5))
    }

    @Test func malformedMessagesSayWhy() throws {
        #expect(try reason("") == "invalid JSON at byte 0: empty line")
        #expect(try reason("[1]") == "invalid JSON at byte 0: an event must be a JSON object")
        #expect(try reason(#"{"user":"u","amount":1,"ts":5"#)?.hasPrefix("invalid JSON at byte 29") == true)
        #expect(
            try reason(#"{"user":"u","amount":1,"ts":5} x"#)
                == "invalid JSON at byte 31: unexpected text after the JSON object")
        #expect(try reason(#"{"user":"u","amount":"1","ts":5}"#) == "field 'amount': expected float, got string")
        #expect(
            try reason(#"{"user":"u","amount":1,"ts":"yesterday"}"#)
                == "field 'ts': 'yesterday' is not an RFC 3339 time")
        #expect(try reason(#"{"amount":1,"ts":5}"#) == "field 'user': missing")
        #expect(try reason(#"{"user":null,"amount":1,"ts":5}"#) == "field 'user': null, but the field is not optional")
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"n":1.5}"#) == "field 'n': expected int, got float")
        #expect(
            try reason(#"{"user":"u","amount":1,"ts":5,"device":{"id":3}}"#)
                == "field 'device.id': expected string, got int")
        #expect(try reason(#"{"user":"u","amount":01,"ts":5}"#) != nil)
        #expect(try reason(#"{"user":"u\x","amount":1,"ts":5}"#)?.contains("invalid escape") == true)
        // Members nobody reads are skipped without being built, but still checked.
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":"a\x"}"#)?.contains("invalid escape") == true)
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":1.}"#)?.contains("invalid number") == true)
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":-}"#)?.contains("invalid number") == true)
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":1e}"#)?.contains("invalid number") == true)
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":"\u12"}"#)?.contains("\\u escape") == true)
        #expect(try reason(#"{"user":"u","amount":1,"ts":5,"junk":[1,"x",{"y":-0.5e+3}]}"#) == nil)
        // A control character in a member name, wanted or not, with or without an escape after it.
        #expect(
            try reason("{\"us\u{1}er\":\"u\",\"amount\":1,\"ts\":5}")
                == "invalid JSON at byte 4: control character in a string")
        #expect(
            try reason("{\"user\":\"u\",\"amount\":1,\"ts\":5,\"j\u{1f}\":1}")?.contains("control character") == true)
        #expect(
            try reason("{\"user\":\"u\",\"amount\":1,\"ts\":5,\"j\u{1}\\n\":1}")?.contains("control character") == true)
        #expect(try reason(String(repeating: "[", count: 10_000)) != nil)
        #expect(try reason("{" + String(repeating: #""a":{"#, count: 200) + "}") != nil)
    }

    @Test func sharedTopicsRouteByFilterAndIgnoreWhatNoStreamTakes() throws {
        let source = """
            stream a from "t" where kind == "a" { key k time ts fields { kind: string, k: string, x: int, ts: time } }
            stream b from "t" where kind == "b" { key k time ts fields { kind: string, k: string, y: string, ts: time } }
            pattern p { match x: a -> y: b where y.y != "" emit to "o" { k: x.k } }
            """
        guard let aEvents = try decode(#"{"kind":"a","k":"1","x":5,"ts":1}"#, source: source).decoded else {
            Issue.record("no outcome")
            return
        }
        #expect(aEvents.map(\.stream) == [0])
        // A "b" event lacks "x": not an error for stream a, whose filter does not take it.
        guard let bEvents = try decode(#"{"kind":"b","k":"1","y":"z","ts":1}"#, source: source).decoded else {
            Issue.record("no outcome")
            return
        }
        #expect(bEvents.map(\.stream) == [1])
        guard let none = try decode(#"{"kind":"c","ts":1}"#, source: source).decoded else {
            Issue.record("no outcome")
            return
        }
        #expect(none.isEmpty)
        // A field no one reads is not decoded, so its absence is no error; a read one is.
        guard try decode(#"{"kind":"a","k":"1","ts":1}"#, source: source).decoded != nil else {
            Issue.record("a missing unread field was an error")
            return
        }
        if case .failure(let failure) = try decode(#"{"kind":"b","k":"1","ts":1}"#, source: source) {
            #expect(failure.reason == "stream 'b': field 'y': missing")
        } else {
            Issue.record("a b event without y was accepted")
        }
    }

    @Test func rfc3339() {
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.parse("2026-11-25T14:36:11.250Z") == 1_795_617_371_250)
        #expect(RFC3339.parse("2026-11-25T15:36:11.250+01:00") == 1_795_617_371_250)
        #expect(RFC3339.parse("1969-12-31T23:59:59.999Z") == -1)
        #expect(RFC3339.parse("2026-13-01T00:00:00Z") == nil)
        #expect(RFC3339.parse("2026-01-01T00:00:00") == nil)
        #expect(RFC3339.parse("2026-01-01") == nil)
    }

    @Test func randomBytesNeverCrashTheDecoder() throws {
        let automaton = try #require(Compiler.compile(text: Self.source).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        var rng = SplitMix(seed: 9)
        let alphabet = Array(#"{}[]":,\ "0123456789.eE+-tfnulrsaxyz"#.utf8) + [0, 0x80, 0xFF, 0x0A]
        let valid = Array(#"{"user":"u","amount":1.5,"ts":5,"device":{"id":"x"}}"#.utf8)
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = alphabet.randomElement(using: &rng)!
                case 1: bytes.remove(at: i)
                default: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
                }
                if bytes.isEmpty { break }
            }
            _ = bytes.withUnsafeBufferPointer {
                decoder.decode($0, origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0)
            }
        }
    }

    /// Strings and member names against Foundation's parser: random values and names of every length around the
    /// scanner's eight-byte steps, with escapes, multi-byte characters, control characters and stray quotes and
    /// backslashes at any position. The decoder accepts exactly the lines Foundation accepts, reads the same
    /// `user` and `merchant_category`, and takes no other member for them (names sharing their first bytes, or
    /// longer or shorter).
    @Test func stringsAndNamesAgreeWithFoundation() throws {
        let source = """
            stream s from "t" { key user time ts fields { user: string, merchant_category: string?, amount: float, ts: time } }
            pattern p { match a: s emit to "o" { u: a.user, m: a.merchant_category } }
            """
        let automaton = try #require(Compiler.compile(text: source).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        var rng = SplitMix(seed: 21)
        let pieces = [
            "a", "b", "z", "0", " ", "é", "😀", "\\\"", "\\\\", "\\n", "\\t", "\\u0041", "\\u00e9", "\\/", "\u{01}",
            "\u{1f}",
            "\"", "\\", "user", "us", "u",
        ]
        func text(_ count: Int) -> String {
            (0..<count).map { _ in pieces.randomElement(using: &rng)! }.joined()
        }
        var accepted = 0
        var refused = 0
        for _ in 0..<20_000 {
            // Mostly well formed (plain pieces only), sometimes not.
            let strict = Bool.random(using: &rng)
            func piece(_ n: Int) -> String {
                strict
                    ? String((0..<n).map { _ in "abcdefghijklmnopqrstuvwxyzé".randomElement(using: &rng)! }) : text(n)
            }
            let user = piece(Int.random(in: 0...20, using: &rng))
            var otherName = "user"
            // Not a declared field: a second `user` would be a duplicate, `n` an int (questions of their own).
            while ["user", "amount", "ts", "merchant_category"].contains(otherName) {
                otherName = [
                    "user" + piece(Int.random(in: 1...12, using: &rng)), "use",
                    piece(Int.random(in: 0...17, using: &rng)),
                    "merchant_category" + piece(Int.random(in: 1...3, using: &rng)), "merchant",
                    "merchant_" + piece(Int.random(in: 0...9, using: &rng)),
                ].randomElement(using: &rng)!
            }
            let category =
                Bool.random(using: &rng)
                ? #","merchant_category":"\#(piece(Int.random(in: 0...12, using: &rng)))""# : ""
            let other = piece(Int.random(in: 0...20, using: &rng))
            let line = #"{"\#(otherName)":"\#(other)","user":"\#(user)"\#(category),"amount":1.5,"ts":5}"#
            let bytes = Array(line.utf8)
            let ours = bytes.withUnsafeBufferPointer {
                decoder.decode($0, origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0)
            }
            let theirs = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
            let theirUser = theirs?["user"] as? String
            switch ours {
            case .failure:
                #expect(theirs == nil, "refused what Foundation accepts: \(line)")
                refused += 1
            default:
                let fields = ours.decoded?.first?.fields ?? []
                #expect(theirUser != nil, "accepted what Foundation refuses: \(line)")
                #expect(fields.first == theirUser.map(Value.string), "\(line)")
                let theirCategory = (theirs?["merchant_category"] as? String).map(Value.string) ?? .null
                #expect(fields.count > 1 && fields[1] == theirCategory, "\(line)")
                accepted += 1
            }
        }
        #expect(accepted > 5_000 && refused > 1_000, "accepted \(accepted), refused \(refused)")
    }
}
