public import CEPRuntime
public import CEPSyntax

/// The result of compiling a set of `.cep` files.
public struct Compilation: Sendable {
    /// The files, for rendering diagnostics.
    public let sources: SourceManager
    /// Each file's syntax tree.
    public let syntax: [FileSyntax]
    /// Every diagnostic, sorted by file and position.
    public let diagnostics: [Diagnostic]
    /// Files whose errors went past the per-file limit.
    public let truncatedFiles: Set<Int>
    /// The automaton; `nil` when there are errors.
    public let automaton: Automaton?

    /// Whether any error was found.
    public var hasErrors: Bool { automaton == nil }
}

/// Compiles `.cep` files: parse, check, lower to an `Automaton`.
public enum Compiler {
    /// Compiles files that are already loaded. Streams and patterns of all files share one namespace, so a
    /// pattern may read streams declared in another file.
    /// `schemaFiles` reads the schema files that `format` clauses name.
    public static func compile(_ files: [SourceFile], schemaFiles: SchemaFiles = .disk) -> Compilation {
        var sources = SourceManager()
        var syntax: [FileSyntax] = []
        var bag = DiagnosticBag()
        for file in files {
            let index = sources.add(file)
            let (tree, parsed) = Parser.parse(file, file: index)
            syntax.append(tree)
            bag.append(contentsOf: parsed)
        }
        var checker = Checker(sources: sources, schemaFiles: schemaFiles)
        checker.declareStreams(syntax)
        let patterns = checker.checkPatterns(syntax)
        bag.append(contentsOf: checker.diagnostics)
        let sorted = bag.diagnostics.enumerated().sorted { a, b in
            let (x, y) = (a.element.range, b.element.range)
            return (x.file, x.start, a.offset) < (y.file, y.start, b.offset)
        }.map(\.element)
        var automaton: Automaton?
        if !bag.hasErrors {
            let lowered = patterns.map { pattern -> PatternAutomaton in
                let (states, start) = NFABuilder.build(pattern)
                var lowered = PatternAutomaton(
                    name: pattern.decl.name.name, location: checker.location(pattern.decl.name.range),
                    bindings: pattern.bindings, keys: pattern.keys, states: states, start: start,
                    predicates: pattern.predicates, predicateSteps: pattern.predicateSteps, window: pattern.window,
                    skip: pattern.skip, emit: pattern.emit,
                    timeoutEmit: pattern.timeoutEmit,
                    bound: BoundAnalysis.bound(of: pattern, states: states, start: start), suppress: pattern.suppress)
                lowered.tables = pattern.tables
                lowered.rowSites = pattern.rowSites
                return lowered
            }
            automaton = Automaton(streams: checker.streamSpecs(), patterns: lowered)
        }
        return Compilation(
            sources: sources, syntax: syntax, diagnostics: sorted, truncatedFiles: bag.truncatedFiles,
            automaton: automaton)
    }

    /// Compiles one file given as text (tests and tools).
    public static func compile(path: String = "input.cep", text: String, schemaFiles: SchemaFiles = .disk)
        -> Compilation
    {
        compile([SourceFile(path: path, text: text)], schemaFiles: schemaFiles)
    }
}
