import CEPCompiler
import CEPCore
import CEPRuntime
import TestSupport
import Testing

/// The scanner's fast decimal path gives exactly what the standard library's parser gives.
@Suite struct NumberParsingTests {
    @Test func decimalsMatchTheStandardParser() throws {
        let automaton = try #require(
            Compiler.compile(
                text:
                    "stream s from \"t\" { key k time ts fields { k: string, v: float, ts: time } }\npattern p { match a: s emit to \"o\" { v: a.v } }"
            ).automaton)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        var rng = SplitMix(seed: 77)
        var samples = [
            "0.1", "1523.75", "-0.000001", "9007199254740.993", "123456789012345.6", "0.30000000000000004",
            "1e3", "2.5E-3", "-7", "1234567890123456789.5", "0.12345678901234567890123",
        ]
        for _ in 0..<20_000 {
            let whole = UInt64.random(in: 0...10_000_000, using: &rng)
            let digits = Int.random(in: 1...12, using: &rng)
            let frac = String(UInt64.random(in: 0...UInt64(1e12), using: &rng)).prefix(digits)
            samples.append((Bool.random(using: &rng) ? "-" : "") + "\(whole).\(frac)")
        }
        for text in samples {
            var bytes = Array("{\"k\":\"x\",\"ts\":1,\"v\":\(text)}".utf8)
            let outcome = bytes.withUnsafeMutableBufferPointer {
                decoder.decode(
                    UnsafeBufferPointer($0), origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0)
            }
            guard case .float(let v) = outcome.decoded?.first?.fields[1] else {
                Issue.record("\(text) did not decode")
                continue
            }
            #expect(v == Double(text)!, "\(text)")
        }
    }
}
