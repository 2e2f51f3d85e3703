import CEPCompiler
import CEPSyntax
import Foundation
import Testing

/// Golden fixtures: each `Fixtures/*.cep` file states the diagnostics it must produce, in comments of the form
/// `# expected-error@+1:26 [unknown-stream]` (severity, line relative to the comment, column, id). The test
/// demands exactly that set: a missing diagnostic and an unexpected one both fail.
@Suite struct DiagnosticFixtureTests {
    struct Expectation: Hashable, CustomStringConvertible {
        var severity: String
        var id: String
        var line: Int
        var column: Int
        var description: String { "\(line):\(column) \(severity) [\(id)]" }
    }

    static let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let fixtureNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixturesDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".cep") }.sorted()
    }()

    static func expectations(in text: String) -> [Expectation] {
        var result: [Expectation] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let range = line.range(of: "# expected-") else { continue }
            // expected-error@+1:26 [id]
            let rest = line[range.upperBound...]
            let parts = rest.split(separator: " ")
            let head = parts[0].split(separator: "@")
            let severity = String(head[0])
            let position = head[1].split(separator: ":")
            let offset = Int(position[0].replacingOccurrences(of: "+", with: ""))!
            let column = Int(position[1])!
            let id = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            result.append(Expectation(severity: severity, id: id, line: index + 1 + offset, column: column))
        }
        return result
    }

    @Test func thereAreAtLeastThirtyFixtures() {
        #expect(Self.fixtureNames.count >= 30)
    }

    @Test(arguments: fixtureNames)
    func fixtureProducesExactlyItsExpectedDiagnostics(_ name: String) throws {
        let url = Self.fixturesDirectory.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let expected = Self.expectations(in: text)
        #expect(!expected.isEmpty, "fixture \(name) states no expectation")
        let compilation = Compiler.compile(path: name, text: text)
        let actual = compilation.diagnostics.map { d -> Expectation in
            let location = compilation.sources[d.range.file].location(of: d.range.start)
            return Expectation(severity: d.severity.rawValue, id: d.id, line: location.line, column: location.column)
        }
        #expect(Set(actual) == Set(expected), "\(name): got \(actual), expected \(expected)")
        if expected.contains(where: { $0.severity == "error" }) {
            #expect(compilation.automaton == nil)
        } else {
            #expect(compilation.automaton != nil)
        }
    }
}
