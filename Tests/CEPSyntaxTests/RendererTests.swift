import CEPSyntax
import Testing

/// The renderer's output, carets included, compared as exact text.
@Suite struct RendererTests {
    @Test func errorWithCaretAndHelp() {
        var sources = SourceManager()
        let text = "pattern p {\n  match l: logins -> p: payment\n}\n"
        let file = sources.add(SourceFile(path: "rules/fraud.cep", text: text))
        let range = SourceRange(file: file, start: 36, end: 43)
        let diagnostic = Diagnostic(
            DiagnosticMessage(id: "unknown-stream", "no stream named 'payment'"), at: range,
            help: "did you mean 'payments'?")
        let rendered = DiagnosticRenderer(sources: sources).render(diagnostic)
        #expect(
            rendered == """
                rules/fraud.cep:2:25: error: no stream named 'payment' [unknown-stream]
                2 |   match l: logins -> p: payment
                  |                         ^~~~~~~
                   = help: did you mean 'payments'?

                """)
    }

    @Test func parserErrorAtEndOfFile() {
        var sources = SourceManager()
        let file = sources.add(SourceFile(path: "x.cep", text: "stream s from"))
        let (_, bag) = Parser.parse(sources[file], file: file)
        let rendered = DiagnosticRenderer(sources: sources).render(bag.diagnostics, truncatedFiles: [])
        #expect(
            rendered == """
                x.cep:1:14: error: expected a topic name in double quotes, found end of file [expected-token]
                1 | stream s from
                  |              ^

                """)
    }

    @Test func warningWithNote() {
        var sources = SourceManager()
        let file = sources.add(SourceFile(path: "a.cep", text: "stream a\nstream a\n"))
        let diagnostic = Diagnostic(
            DiagnosticMessage(id: "duplicate-stream", "stream 'a' is declared twice", severity: .warning),
            at: SourceRange(file: file, start: 16, end: 17),
            notes: [DiagnosticNote("first declared here", at: SourceRange(file: file, start: 7, end: 8))])
        #expect(
            DiagnosticRenderer(sources: sources).render(diagnostic) == """
                a.cep:2:8: warning: stream 'a' is declared twice [duplicate-stream]
                2 | stream a
                  |        ^
                a.cep:1:8: note: first declared here
                1 | stream a
                  |        ^

                """)
    }

    @Test func jsonFormat() {
        var sources = SourceManager()
        let file = sources.add(SourceFile(path: "a.cep", text: "x\n"))
        let d = Diagnostic(
            DiagnosticMessage(id: "i", "m \"q\""), at: SourceRange(file: file, start: 0, end: 1), help: "h")
        #expect(
            DiagnosticRenderer(sources: sources).json([d])
                == #"[{"file":"a.cep","line":1,"column":1,"endLine":1,"endColumn":2,"severity":"error","id":"i","message":"m \"q\"","help":"h","notes":[]}]"#
        )
    }
}
