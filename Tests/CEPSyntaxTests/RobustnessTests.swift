import CEPSyntax
import TestSupport
import Testing

/// Hostile input: the parser must answer with diagnostics, never crash, hang or overflow the stack.
@Suite struct RobustnessTests {
    @Test func emptyFileHasNoDiagnostics() {
        let (file, bag) = Parser.parse(SourceFile(path: "e.cep", bytes: []), file: 0)
        #expect(file.declarations.isEmpty)
        #expect(bag.diagnostics.isEmpty)
    }

    @Test func binaryGarbageGivesCappedDiagnostics() {
        var generator = SplitMix(seed: 42)
        let bytes = (0..<200_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let (_, bag) = Parser.parse(SourceFile(path: "g.bin", bytes: bytes), file: 0)
        #expect(bag.hasErrors)
        #expect(bag.diagnostics.count <= DiagnosticBag.errorLimit)
    }

    @Test func deepNestingIsRefusedWithADiagnostic() {
        for opener in ["(", "not ", "-", "f("] {
            let depth = 10_000
            let closer = opener == "(" || opener == "f(" ? ")" : ""
            let expr = String(repeating: opener, count: depth) + "a.x" + String(repeating: closer, count: depth)
            let text = "pattern p { match a: s where \(expr) > 0\n emit to \"o\" { x: 1 } }"
            let (_, bag) = Parser.parse(SourceFile(path: "deep.cep", text: text), file: 0)
            #expect(bag.diagnostics.contains { $0.id == "nesting-too-deep" }, "opener \(opener)")
            #expect(bag.diagnostics.count <= 2, "opener \(opener): \(bag.diagnostics.map(\.id))")
        }
    }

    @Test func longArithmeticChainsAreRefusedWithADiagnostic() {
        for op in [" + ", " ?? ", " * "] {
            let chain = Array(repeating: "a.x", count: 20_000).joined(separator: op)
            let text = "pattern p { match a: s where \(chain)\n emit to \"o\" { x: 1 } }"
            let (_, bag) = Parser.parse(SourceFile(path: "chain.cep", text: text), file: 0)
            #expect(bag.diagnostics.contains { $0.id == "nesting-too-deep" }, "operator \(op)")
        }
    }

    /// Generated rules chain hundreds of conditions: `and` and `or` chains are stored as balanced trees, so any
    /// length parses (issue 18: 128 flat `and` terms were "nested too deep"), with the operands in their order.
    @Test func longAndOrChainsParseAsShallowTreesInOrder() {
        for (op, word) in [(BinaryOperator.and, " and "), (.or, " or ")] {
            let chain = (0..<20_000).map { "a.x\($0)" }.joined(separator: word)
            let text = "pattern p { match a: s where \(chain)\n emit to \"o\" { x: 1 } }"
            let (file, bag) = Parser.parse(SourceFile(path: "chain.cep", text: text), file: 0)
            #expect(bag.diagnostics.isEmpty, "operator \(op)")
            guard case .pattern(let pattern) = file.declarations.first, let condition = pattern.steps.first?.condition
            else {
                Issue.record("no condition parsed for \(op)")
                continue
            }
            var leaves: [String] = []
            var height = 0
            var stack = [(condition, 1)]
            while let (expr, depth) = stack.popLast() {
                height = max(height, depth)
                if case .binary(let found, let lhs, let rhs) = expr.kind {
                    #expect(found == op)
                    stack.append((rhs, depth + 1))
                    stack.append((lhs, depth + 1))
                } else if case .member(_, let name) = expr.kind {
                    leaves.append(name.name)
                }
            }
            #expect(leaves == (0..<20_000).map { "x\($0)" }, "operator \(op)")
            #expect(height <= 16, "operator \(op): height \(height)")
        }
    }

    @Test func tenMegabyteFileParses() {
        let unit = """
            stream s%d from "t" { key k time ts lateness 5s fields { k: string, ts: time, v: float } }
            pattern p%d { match a: s%d -> b: s%d where b.v > a.v within 1m emit to "o" { v: b.v } }

            """
        var text = ""
        var i = 0
        while text.utf8.count < 10_000_000 {
            text += unit.replacingOccurrences("%d", with: String(i))
            i += 1
        }
        let (file, bag) = Parser.parse(SourceFile(path: "big.cep", text: text), file: 0)
        #expect(bag.diagnostics.isEmpty)
        #expect(file.declarations.count == 2 * i)
    }
}
