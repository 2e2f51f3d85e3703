import CEPCompiler
import CEPSyntax
import Foundation
import Testing

/// Random mutations of the shipped patterns: the compiler must answer with diagnostics (or a clean automaton),
/// never a crash or a hang. Deterministic seeds, so a failure reproduces.
@Suite struct MutationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: ["fraud.cep", "operations.cep"])
    func mutatedPatternsNeverCrash(_ name: String) throws {
        let original = Array(
            try String(contentsOf: Self.root.appendingPathComponent("patterns/\(name)"), encoding: .utf8).utf8)
        var state: UInt64 = 0x5EED
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let alphabet = Array("{}()[],:.?+-*/%<>=!\"#->> not and or in within where emit skip 1 2.5 5s x".utf8)
        var sawErrors = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + next() % 4) {
                let at = next() % bytes.count
                switch next() % 3 {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(alphabet[next() % alphabet.count], at: at)
                default: bytes[at] = alphabet[next() % alphabet.count]
                }
            }
            let compilation = Compiler.compile([.init(path: name, bytes: bytes)])
            if compilation.hasErrors {
                sawErrors += 1
                #expect(!compilation.diagnostics.isEmpty || !compilation.truncatedFiles.isEmpty)
            }
        }
        #expect(sawErrors > 100)
    }
}
