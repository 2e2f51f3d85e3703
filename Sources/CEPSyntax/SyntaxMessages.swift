/// The lexer's and parser's diagnostics. Please keep them in alphabetical order.
extension DiagnosticMessage {
    /// A clause given twice in one block.
    public static func duplicateClause(_ clause: String, in block: String) -> Self {
        .init(id: "duplicate-clause", "'\(clause)' may appear only once in \(block)")
    }
    /// A duration literal with a bad unit or out of range.
    public static func durationTooLarge(_ text: String) -> Self {
        .init(
            id: "invalid-duration",
            "'\(text)' is too large: a duration is at most 2^63 - 1 ms (about 106,751,991,167 days)")
    }
    public static func invalidDuration(_ text: String) -> Self {
        .init(id: "invalid-duration", "'\(text)' is not a duration; use a number with a unit: ms, s, m, h or d")
    }
    /// A byte sequence that is not a token.
    public static func invalidCharacter(_ text: String) -> Self {
        .init(id: "invalid-character", "unexpected character \(text)")
    }
    /// A string escape the language does not define.
    public static func invalidEscape(_ text: String) -> Self {
        .init(id: "invalid-escape", "'\\\(text)' is not a valid escape in a string")
    }
    /// A number literal that does not fit.
    public static func invalidNumber(_ text: String) -> Self {
        .init(id: "invalid-number", "'\(text)' is not a valid number")
    }
    /// A quantifier whose bounds are malformed.
    public static func invalidQuantifier(_ reason: String) -> Self {
        .init(id: "invalid-quantifier", reason)
    }
    /// Expression nesting past the parser's depth limit.
    public static func nestingTooDeep(_ limit: Int) -> Self {
        .init(id: "nesting-too-deep", "expression is nested more than \(limit) levels deep")
    }
    /// A token the grammar does not allow here.
    public static func unexpectedToken(expected: String, found: String) -> Self {
        .init(id: "expected-token", "expected \(expected), found \(found)")
    }
    /// A word at the top of a file that starts no declaration.
    public static func unknownDeclaration(_ word: String) -> Self {
        .init(id: "unknown-declaration", "expected 'stream', 'table' or 'pattern', found \(word)")
    }
    /// A word inside a block that starts none of its clauses.
    public static func unknownClause(_ word: String, in block: String, allowed: String) -> Self {
        .init(id: "unknown-clause", "\(word) is not a clause of \(block); expected \(allowed)")
    }
    /// A string literal without its closing quote.
    public static var unterminatedString: Self {
        .init(id: "unterminated-string", "string literal is missing its closing '\"'")
    }
}
