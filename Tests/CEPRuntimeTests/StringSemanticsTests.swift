import CEPCore
import CEPRuntime
import Testing

/// Strings compare as Java's do (Flink's conditions and `keyBy`): equal when their scalars are, ordered by UTF-16
/// code units, searched by code units — not by Swift's canonical equivalence and grapheme clusters, which made
/// "é" precomposed equal to "e" + combining accent in a condition while they were different keys (issue 18).
@Suite struct StringSemanticsTests {
    static let streams = """
        stream a from "a" { key k time ts lateness 1s fields { k: string, s: string, ts: time } }

        """
    static let precomposed = "\u{E9}"
    static let decomposed = "e\u{301}"

    /// Whether `condition` (over x and y) holds for x.s = `first`, y.s = `second`.
    func holds(_ condition: String, _ first: String, _ second: String) throws -> Bool {
        var harness = try EngineHarness(
            Self.streams + "pattern p { match x: a -> y: a where \(condition) within 1m emit to \"o\" { k: x.k } }")
        harness.send("a", ["k": .string("u"), "s": .string(first), "ts": .time(1)])
        harness.send("a", ["k": .string("u"), "s": .string(second), "ts": .time(2)])
        return !harness.finish().matches.isEmpty
    }

    @Test func canonicallyEquivalentStringsAreNotEqual() throws {
        #expect(try !holds("y.s == x.s", Self.precomposed, Self.decomposed))
        #expect(try holds("y.s != x.s", Self.precomposed, Self.decomposed))
        #expect(try holds("y.s == x.s", Self.decomposed, Self.decomposed))
        #expect(try !holds("y.s in [\"\(Self.precomposed)\"]", "x", Self.decomposed))
        #expect(Value.string(Self.precomposed) != Value.string(Self.decomposed))
        #expect(Set([Value.string(Self.precomposed), .string(Self.decomposed)]).count == 2)
    }

    @Test func orderIsJavasUTF16Order() throws {
        // U+FFFD is one code unit 0xFFFD; U+1F600 starts with the surrogate 0xD83D: Java sorts the emoji first,
        // code point order the other way round.
        #expect(try holds("y.s < x.s", "\u{FFFD}", "\u{1F600}"))
        #expect(try !holds("y.s > x.s", "\u{FFFD}", "\u{1F600}"))
        #expect(try holds("y.s < x.s", Self.precomposed, Self.decomposed))  // 'e' (0x65) before 0xE9
        #expect(try holds("y.s > x.s", "ab", "abc"))
    }

    @Test func searchesCompareCodeUnits() throws {
        #expect(try holds("contains(y.s, \"e\")", "x", Self.decomposed))
        #expect(try holds("starts_with(y.s, \"e\")", "x", Self.decomposed))
        #expect(try !holds("ends_with(y.s, \"e\")", "x", Self.decomposed))
        #expect(try holds("contains(y.s, \"\")", "x", "abc"))
        #expect(try !holds("contains(y.s, \"abcd\")", "x", "abc"))
    }

    @Test func keysThatAreCanonicallyEquivalentStayApart() throws {
        var harness = try EngineHarness(
            Self.streams + "pattern p { match x: a -> y: a within 1m emit to \"o\" { k: x.k } }")
        harness.send("a", ["k": .string(Self.precomposed), "s": .string(""), "ts": .time(1)])
        harness.send("a", ["k": .string(Self.decomposed), "s": .string(""), "ts": .time(2)])
        #expect(harness.finish().matches.isEmpty)
    }
}
