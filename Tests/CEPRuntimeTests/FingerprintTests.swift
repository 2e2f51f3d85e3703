import CEPCompiler
import CEPCore
import Foundation
import Testing

@testable import CEPRuntime

/// Pattern fingerprints decide whether a checkpoint's state is restored: they must change with what the state
/// depends on, and with nothing else — not with where a pattern is written, nor with the names of Swift types and
/// properties (the canonical encoding, `CanonicalWriter`).
@Suite struct FingerprintTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let source = """
        stream a from "a" { key k time ts lateness 0s fields { k: string, x: int, ts: time } }
        stream b from "b" { key k time ts lateness 0s fields { k: string, x: int, ts: time } }
        pattern pair { match p: a -> q: b where q.x > p.x within 10s emit to "o" { k: p.k, d: q.x - p.x } }
        """

    static func fingerprints(_ text: String) throws -> [String] {
        let automaton = try #require(Compiler.compile(text: text).automaton)
        let engine = Engine(automaton: automaton)
        return automaton.patterns.indices.map { engine.fingerprint(ofPattern: PatternID($0)) }
    }

    /// The shipped patterns' fingerprints, pinned: a change of the encoding (or of the compiler's output for these
    /// files) would make every user's state of them start empty at the upgrade. If that is intended, bump
    /// `CanonicalWriter.version`, say so in docs/operations.md ("Upgrading"), and update these.
    @Test func theShippedPatternsKeepTheirFingerprints() throws {
        let path = Self.root.appendingPathComponent("patterns/fraud.cep").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let automaton = try #require(Compiler.compile(path: path, text: text).automaton)
        let engine = Engine(automaton: automaton)
        let pinned = automaton.patterns.indices.map {
            "\(automaton.patterns[$0].name) \(engine.fingerprint(ofPattern: PatternID($0)))"
        }
        #expect(pinned == Self.pinnedFraud, "\(pinned)")
    }

    /// Recorded when the canonical encoding was introduced (a compatibility contract, like a wire format's golden
    /// bytes: the property under test is that they do not move). `impossible_travel` moved once, on purpose, when
    /// the example gained `suppress 1h` (a changed pattern; its fingerprint without it was
    /// 1334293ab4ba65b4f7e0d91cfddca966, and `changingSuppressChangesTheFingerprint` shows the difference is that).
    static let pinnedFraud = [
        "account_takeover 4be04dc446720ccc23375ed3e6b6b474", "card_testing f6a0602473a84637cabbeb512e0b2baf",
        "impossible_travel 1498c6e79adffbd900aa54f674ae6945",
        "unconfirmed_large_payment 7dffd2b0ef30526ccce070a1d8ff596c",
    ]

    /// Where a pattern is written does not count; what it matches, and what its streams are, does.
    @Test func onlyWhatTheStateDependsOnCounts() throws {
        let base = try Self.fingerprints(Self.source)
        #expect(try Self.fingerprints("# moved down\n\n" + Self.source) == base)
        #expect(try Self.fingerprints(Self.source.replacingOccurrences(of: "q.x > p.x", with: "q.x >= p.x")) != base)
        #expect(try Self.fingerprints(Self.source.replacingOccurrences(of: "within 10s", with: "within 11s")) != base)
        #expect(try Self.fingerprints(Self.source.replacingOccurrences(of: "lateness 0s", with: "lateness 1s")) != base)
        #expect(
            try Self.fingerprints(Self.source.replacingOccurrences(of: "d: q.x - p.x", with: "d: q.x + p.x")) != base)
    }

    /// A checkpoint written before fingerprints version 2 carries the old fingerprints: its state is restored (once;
    /// the next checkpoint writes the canonical ones), and a fingerprint that is neither still starts the pattern
    /// empty.
    @Test func checkpointsWithTheOldFingerprintsRestore() throws {
        var harness = try EngineHarness(Self.source)
        harness.send("a", ["k": .string("u"), "x": .int(1), "ts": .time(1_000)])
        var store = MemoryEngineState()
        harness.engine.writeCheckpoint(into: &store)
        let recordKey = [UInt8(ascii: "e")]
        let record = try #require(try store.get(recordKey))
        let canonical = Array(harness.engine.fingerprint(ofPattern: PatternID(0)).utf8)
        let legacy = Array(harness.engine.legacyFingerprint(ofPattern: 0).utf8)
        #expect(canonical != legacy && canonical.count == legacy.count)

        /// Restores from the checkpoint with `fingerprint` in place of the canonical one, then completes the match
        /// the state holds (a `b` event after the `a` one); what the restore said, and the matches.
        func restored(withFingerprint fingerprint: [UInt8]) throws -> (Engine.RestoreReport, [String]) {
            var old = store
            let at = try #require(record.firstRange(of: canonical), "the engine record holds the fingerprint")
            var bytes = record
            bytes.replaceSubrange(at, with: fingerprint)
            old.put(recordKey, bytes)
            var after = harness
            after.engine = Engine(automaton: harness.automaton)
            let report = try #require(try after.engine.restore(from: old))
            after.send("b", ["k": .string("u"), "x": .int(5), "ts": .time(2_000)])
            return (report, after.finish().matches)
        }
        let (upgraded, kept) = try restored(withFingerprint: legacy)
        #expect(upgraded.restored == ["pair"] && upgraded.changed.isEmpty)
        #expect(kept == ["pair: p=a:0 q=b:0"])
        let (other, lost) = try restored(withFingerprint: Array(repeating: UInt8(ascii: "0"), count: canonical.count))
        #expect(other.restored.isEmpty && other.changed == ["pair"])
        #expect(lost.isEmpty)
    }
}
