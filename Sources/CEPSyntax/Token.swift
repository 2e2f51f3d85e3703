/// A lexical token of the `.cep` language.
public struct Token: Sendable, Hashable {
    /// What kind of token this is.
    public enum Kind: Sendable, Hashable {
        case identifier
        /// An integer literal such as `42` or `10_000`.
        case int
        /// A float literal such as `1.5` or `2e3`.
        case float
        /// A string literal; `Token.text` holds its decoded value.
        case string
        /// A duration literal such as `5s` or `1h30m`.
        case duration
        case keywordAnd, keywordOr, keywordNot, keywordIn, keywordTrue, keywordFalse
        case leftBrace, rightBrace, leftParen, rightParen, leftBracket, rightBracket
        case comma, colon, dot, question
        case plus, minus, star, slash, percent
        /// `->`: relaxed contiguity (Flink's followedBy).
        case arrow
        /// `->>`: non-deterministic relaxed contiguity (Flink's followedByAny).
        case doubleArrow
        case equal, notEqual, less, lessEqual, greater, greaterEqual
        /// `??`: the value on the left, or the one on the right when the left is null.
        case coalesce
        /// Bytes that form no token; the lexer has reported them.
        case invalid
        case endOfFile
    }

    /// The token's kind.
    public let kind: Kind
    /// The token's spelling; for a string literal, its decoded value.
    public let text: String
    /// Where it is.
    public let range: SourceRange
    /// Whether a line break precedes it (used only for recovery hints).
    public let startsLine: Bool

    /// Creates a token.
    public init(kind: Kind, text: String, range: SourceRange, startsLine: Bool) {
        self.kind = kind
        self.text = text
        self.range = range
        self.startsLine = startsLine
    }

    /// Words that can never name a stream, binding or field in an expression.
    public static let reservedWords: [String: Kind] = [
        "and": .keywordAnd, "or": .keywordOr, "not": .keywordNot, "in": .keywordIn,
        "true": .keywordTrue, "false": .keywordFalse,
    ]

    /// Whether this token is the identifier `word` (the language's other keywords are contextual).
    public func isWord(_ word: String) -> Bool { kind == .identifier && text == word }

    /// Whether this token is a word that begins a top-level declaration (`stream`, `table`, `pattern`).
    public var isDeclarationWord: Bool { isWord("stream") || isWord("table") || isWord("pattern") }
}

extension Token.Kind {
    /// How the kind is written, for "expected X" messages.
    public var spelling: String {
        switch self {
        case .identifier: return "identifier"
        case .int: return "integer"
        case .float: return "number"
        case .string: return "string"
        case .duration: return "duration"
        case .keywordAnd: return "'and'"
        case .keywordOr: return "'or'"
        case .keywordNot: return "'not'"
        case .keywordIn: return "'in'"
        case .keywordTrue: return "'true'"
        case .keywordFalse: return "'false'"
        case .leftBrace: return "'{'"
        case .rightBrace: return "'}'"
        case .leftParen: return "'('"
        case .rightParen: return "')'"
        case .leftBracket: return "'['"
        case .rightBracket: return "']'"
        case .comma: return "','"
        case .colon: return "':'"
        case .dot: return "'.'"
        case .question: return "'?'"
        case .plus: return "'+'"
        case .minus: return "'-'"
        case .star: return "'*'"
        case .slash: return "'/'"
        case .percent: return "'%'"
        case .arrow: return "'->'"
        case .doubleArrow: return "'->>'"
        case .equal: return "'=='"
        case .notEqual: return "'!='"
        case .less: return "'<'"
        case .lessEqual: return "'<='"
        case .greater: return "'>'"
        case .greaterEqual: return "'>='"
        case .coalesce: return "'??'"
        case .invalid: return "invalid input"
        case .endOfFile: return "end of file"
        }
    }
}
