/// How serious a diagnostic is.
public enum Severity: String, Sendable, Hashable, Comparable {
    case error
    case warning
    case note

    private var rank: Int {
        switch self {
        case .error: return 0
        case .warning: return 1
        case .note: return 2
        }
    }

    /// Errors sort before warnings, warnings before notes.
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// The text and identity of a diagnostic, independent of where it is reported.
///
/// Messages follow swiftc's rules: one lowercase phrase, no final period, names in single quotes, phrased as the
/// rule that was broken. The `id` is stable kebab-case, so tools and tests can match on it.
public struct DiagnosticMessage: Sendable, Hashable {
    /// Stable identifier, e.g. `unknown-stream`.
    public let id: String
    /// The message text.
    public let text: String
    /// Error or warning.
    public let severity: Severity

    /// Creates a message.
    public init(id: String, _ text: String, severity: Severity = .error) {
        self.id = id
        self.text = text
        self.severity = severity
    }
}

/// A secondary location that explains a diagnostic, such as "stream 'payments' declared here".
public struct DiagnosticNote: Sendable, Hashable {
    /// The note's text.
    public let message: String
    /// Where it points, if anywhere.
    public let range: SourceRange?

    /// Creates a note.
    public init(_ message: String, at range: SourceRange?) {
        self.message = message
        self.range = range
    }
}

/// A problem found in a `.cep` file, at a source range.
public struct Diagnostic: Sendable, Hashable {
    /// What was found.
    public let message: DiagnosticMessage
    /// Where: the caret goes under this range.
    public let range: SourceRange
    /// Related locations.
    public var notes: [DiagnosticNote]
    /// A suggestion for the fix, printed as `= help: ...`.
    public var help: String?

    /// Creates a diagnostic.
    public init(_ message: DiagnosticMessage, at range: SourceRange, notes: [DiagnosticNote] = [], help: String? = nil)
    {
        self.message = message
        self.range = range
        self.notes = notes
        self.help = help
    }

    /// The severity of its message.
    public var severity: Severity { message.severity }
    /// The id of its message.
    public var id: String { message.id }
}

/// Collects diagnostics, capping their number so that a garbage file cannot flood the output.
public struct DiagnosticBag: Sendable {
    /// Most errors reported from one file before the rest are summarised in one note.
    public static let errorLimit = 50

    /// The diagnostics in the order they were reported.
    public private(set) var diagnostics: [Diagnostic] = []
    private var errorsPerFile: [Int: Int] = [:]
    /// Files whose errors went past `errorLimit`.
    public private(set) var truncatedFiles: Set<Int> = []

    /// Creates an empty bag.
    public init() {}

    /// Adds a diagnostic, unless its file already has `errorLimit` errors.
    public mutating func report(_ diagnostic: Diagnostic) {
        if diagnostic.severity == .error {
            let count = errorsPerFile[diagnostic.range.file, default: 0]
            if count >= Self.errorLimit {
                truncatedFiles.insert(diagnostic.range.file)
                return
            }
            errorsPerFile[diagnostic.range.file] = count + 1
        }
        diagnostics.append(diagnostic)
    }

    /// Adds a diagnostic built from its parts.
    public mutating func report(
        _ message: DiagnosticMessage, at range: SourceRange, notes: [DiagnosticNote] = [], help: String? = nil
    ) {
        report(Diagnostic(message, at: range, notes: notes, help: help))
    }

    /// Adds every diagnostic of another bag.
    public mutating func append(contentsOf other: DiagnosticBag) {
        for d in other.diagnostics { report(d) }
        truncatedFiles.formUnion(other.truncatedFiles)
    }

    /// Whether any error was reported.
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } || !truncatedFiles.isEmpty }
}
