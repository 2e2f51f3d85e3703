import CEPCompiler
import CEPRuntime
import CEPSyntax
import FuzzSupport

/// Fuzzes `.cep` files: any bytes go through the lexer, parser, checker and compiler; the diagnostics are rendered
/// as text and as JSON (which must parse), a pattern set that compiles is explained and run on a few events.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPatterns(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let file = SourceFile(path: "fuzz.cep", bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    let compilation = Compiler.compile([file])
    let renderer = DiagnosticRenderer(sources: compilation.sources)
    _ = renderer.render(compilation.diagnostics, truncatedFiles: compilation.truncatedFiles)
    FuzzEngine.checkJSON(renderer.json(compilation.diagnostics))
    guard let automaton = compilation.automaton else {
        precondition(compilation.diagnostics.contains { $0.severity == .error }, "no automaton and no error")
        return 0
    }
    let explainer = AutomatonRenderer(automaton: automaton)
    for pattern in automaton.patterns { _ = explainer.text(pattern) }
    _ = explainer.dot(automaton.patterns)
    var engine = Engine(automaton: automaton)
    let events = Array((#"{"k":"u1","v":1,"ts":1000}"# + "\n" + #"{"k":"u1","v":5,"ts":2000,"s":"x"}"#).utf8)
    _ = FuzzEngine.run(&engine, messages: events.split(separator: UInt8(ascii: "\n")))
    return 0
}

@_cdecl("FuzzPatterns_main")
public func fuzzPatternsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzPatterns)
}
