import ArgumentParser
import CEPCompiler
import CEPRuntime
import CEPSyntax
import Foundation

/// Output formats of `cepd check`.
enum DiagnosticFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `cepd check FILE...`: report every mistake in the pattern files.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check .cep files and report every error and warning with file:line:col.",
        discussion: "Exit status: 0 when the files are clean or have warnings only, 1 on errors, 2 on usage errors.")

    @Argument(help: "The .cep files to check. Streams declared in one are visible in all.")
    var files: [String]

    @Option(help: "Output format: text (for people) or json (for tools).")
    var format: DiagnosticFormat = .text

    func run() throws {
        let compilation = try PatternFiles.compile(files)
        let renderer = DiagnosticRenderer(
            sources: compilation.sources, colors: format == .text && PatternFiles.stderrIsTerminal)
        switch format {
        case .json:
            PatternFiles.writeOutput(renderer.json(compilation.diagnostics) + "\n")
        case .text:
            PatternFiles.writeError(
                renderer.render(compilation.diagnostics, truncatedFiles: compilation.truncatedFiles))
            let summary = PatternFiles.summary(compilation.diagnostics)
            if let automaton = compilation.automaton {
                let n = automaton.patterns.count
                let t = automaton.streams.filter(\.isTable).count
                let s = automaton.streams.count - t
                PatternFiles.writeError(
                    "ok: \(n) pattern\(n == 1 ? "" : "s"), \(s) stream\(s == 1 ? "" : "s")"
                        + (t == 0 ? "" : ", \(t) table\(t == 1 ? "" : "s")")
                        + (summary.isEmpty ? "" : " (\(summary))") + "\n")
            } else {
                PatternFiles.writeError("\(summary)\n")
            }
        }
        if compilation.hasErrors { throw ExitCode(1) }
    }
}
