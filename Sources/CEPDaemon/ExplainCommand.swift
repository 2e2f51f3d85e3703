import ArgumentParser
import CEPCompiler
import CEPRuntime
import CEPSyntax
import Foundation

/// Output formats of `cepd explain`.
enum ExplainFormat: String, ExpressibleByArgument, CaseIterable {
    case text, dot
}

/// `cepd explain FILE...`: show the compiled automaton of each pattern.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the compiled automaton: states, edges and conditions, window, skip strategy and state bound.",
        discussion: "Render a picture with: cepd explain FILE --format dot | dot -Tpng -o pattern.png")

    @Argument(help: "The .cep files.")
    var files: [String]

    @Option(help: "Explain only this pattern.")
    var name: String?

    @Option(help: "Output format: text or dot (Graphviz).")
    var format: ExplainFormat = .text

    func run() throws {
        let compilation = try PatternFiles.compile(files)
        let renderer = DiagnosticRenderer(sources: compilation.sources, colors: PatternFiles.stderrIsTerminal)
        PatternFiles.writeError(renderer.render(compilation.diagnostics, truncatedFiles: compilation.truncatedFiles))
        guard let automaton = compilation.automaton else {
            PatternFiles.writeError("\(PatternFiles.summary(compilation.diagnostics)); nothing to explain\n")
            throw ExitCode(1)
        }
        var patterns = automaton.patterns
        if let name {
            patterns = patterns.filter { $0.name == name }
            if patterns.isEmpty {
                let known = automaton.patterns.map(\.name).joined(separator: ", ")
                PatternFiles.writeError("cepd: error: no pattern named '\(name)'; the files declare: \(known)\n")
                throw ExitCode(2)
            }
        }
        let explainer = AutomatonRenderer(automaton: automaton)
        switch format {
        case .text: PatternFiles.writeOutput(patterns.map(explainer.text).joined(separator: "\n"))
        case .dot: PatternFiles.writeOutput(explainer.dot(patterns))
        }
    }
}
