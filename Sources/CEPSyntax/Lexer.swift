import CEPCore

/// Turns a `.cep` file's bytes into tokens. Never fails: bad input becomes `.invalid` tokens plus diagnostics.
///
/// Comments run from `#` to the end of the line. Whitespace is insignificant. Identifiers are ASCII letters,
/// digits and `_`; most keywords are contextual (a field may be called `time` or `key`), only `and or not in
/// true false` are reserved.
public struct Lexer {
    private let bytes: [UInt8]
    private let file: Int
    private var position = 0
    private var sawNewline = true
    /// Problems found while lexing.
    public private(set) var diagnostics = DiagnosticBag()

    /// Creates a lexer over one file of a source manager.
    public init(_ source: SourceFile, file: Int) {
        self.bytes = source.bytes
        self.file = file
    }

    /// Lexes the whole file; the last token is `.endOfFile`.
    public static func tokenize(_ source: SourceFile, file: Int) -> (tokens: [Token], diagnostics: DiagnosticBag) {
        var lexer = Lexer(source, file: file)
        var tokens: [Token] = []
        while true {
            let token = lexer.next()
            tokens.append(token)
            if token.kind == .endOfFile { break }
        }
        return (tokens, lexer.diagnostics)
    }

    private func peek(_ ahead: Int = 0) -> UInt8 {
        position + ahead < bytes.count ? bytes[position + ahead] : 0
    }

    private static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private static func isIdentifierContinue(_ b: UInt8) -> Bool { isIdentifierStart(b) || isDigit(b) }

    private mutating func skipTrivia() {
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\n") {
                sawNewline = true
                position += 1
            } else if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
                position += 1
            } else if b == UInt8(ascii: "#") {
                while position < bytes.count, bytes[position] != UInt8(ascii: "\n") { position += 1 }
            } else {
                return
            }
        }
    }

    private func make(_ kind: Token.Kind, from start: Int, text: String? = nil, startsLine: Bool) -> Token {
        let range = SourceRange(file: file, start: start, end: position)
        let spelling = text ?? String(decoding: bytes[start..<position], as: UTF8.self)
        return Token(kind: kind, text: spelling, range: range, startsLine: startsLine)
    }

    /// Returns the next token.
    public mutating func next() -> Token {
        skipTrivia()
        let startsLine = sawNewline
        sawNewline = false
        let start = position
        guard position < bytes.count else { return make(.endOfFile, from: start, text: "", startsLine: startsLine) }
        let b = bytes[position]

        // `@key`, `@header`, ...: the Kafka envelope's fields, one identifier with its '@' (the checker knows them).
        if Self.isIdentifierStart(b) || (b == UInt8(ascii: "@") && Self.isIdentifierStart(peek(1))) {
            if b == UInt8(ascii: "@") { position += 1 }
            while Self.isIdentifierContinue(peek()) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            return make(Token.reservedWords[text] ?? .identifier, from: start, text: text, startsLine: startsLine)
        }
        if Self.isDigit(b) { return lexNumber(start: start, startsLine: startsLine) }
        if b == UInt8(ascii: "\"") { return lexString(start: start, startsLine: startsLine) }

        position += 1
        let kind: Token.Kind
        switch b {
        case UInt8(ascii: "{"): kind = .leftBrace
        case UInt8(ascii: "}"): kind = .rightBrace
        case UInt8(ascii: "("): kind = .leftParen
        case UInt8(ascii: ")"): kind = .rightParen
        case UInt8(ascii: "["): kind = .leftBracket
        case UInt8(ascii: "]"): kind = .rightBracket
        case UInt8(ascii: ","): kind = .comma
        case UInt8(ascii: ":"): kind = .colon
        case UInt8(ascii: "."): kind = .dot
        case UInt8(ascii: "+"): kind = .plus
        case UInt8(ascii: "*"): kind = .star
        case UInt8(ascii: "/"): kind = .slash
        case UInt8(ascii: "%"): kind = .percent
        case UInt8(ascii: "?"):
            if peek() == UInt8(ascii: "?") {
                position += 1
                kind = .coalesce
            } else {
                kind = .question
            }
        case UInt8(ascii: "-"):
            if peek() == UInt8(ascii: ">") {
                position += 1
                if peek() == UInt8(ascii: ">") {
                    position += 1
                    kind = .doubleArrow
                } else {
                    kind = .arrow
                }
            } else {
                kind = .minus
            }
        case UInt8(ascii: "="):
            if peek() == UInt8(ascii: "=") {
                position += 1
                kind = .equal
            } else {
                kind = .invalid
                diagnostics.report(
                    .invalidCharacter("'='"), at: SourceRange(file: file, start: start, end: position),
                    help: "use '==' to compare; fields in 'emit' are written 'name: value'")
            }
        case UInt8(ascii: "!"):
            if peek() == UInt8(ascii: "=") {
                position += 1
                kind = .notEqual
            } else {
                kind = .invalid
                diagnostics.report(
                    .invalidCharacter("'!'"), at: SourceRange(file: file, start: start, end: position),
                    help: "use 'not' for negation")
            }
        case UInt8(ascii: "<"):
            if peek() == UInt8(ascii: "=") {
                position += 1
                kind = .lessEqual
            } else {
                kind = .less
            }
        case UInt8(ascii: ">"):
            if peek() == UInt8(ascii: "=") {
                position += 1
                kind = .greaterEqual
            } else {
                kind = .greater
            }
        default:
            return lexInvalid(start: start, startsLine: startsLine)
        }
        return make(kind, from: start, startsLine: startsLine)
    }

    /// Consumes a run of bytes that start no token (a whole UTF-8 sequence or garbage) as one `.invalid` token.
    private mutating func lexInvalid(start: Int, startsLine: Bool) -> Token {
        // Take the rest of a multi-byte UTF-8 sequence so the message shows the whole character.
        while position < bytes.count, bytes[position] & 0xC0 == 0x80 { position += 1 }
        let slice = bytes[start..<position]
        let shown: String
        if let text = String(validating: slice, as: UTF8.self), !text.isEmpty {
            shown = "'\(text)'"
        } else {
            shown = slice.map { "0x" + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
        }
        diagnostics.report(.invalidCharacter(shown), at: SourceRange(file: file, start: start, end: position))
        return make(.invalid, from: start, startsLine: startsLine)
    }

    private mutating func lexNumber(start: Int, startsLine: Bool) -> Token {
        while Self.isDigit(peek()) || peek() == UInt8(ascii: "_") { position += 1 }
        // A letter right after the digits makes a duration: 5s, 250ms, 1h30m.
        if Self.isIdentifierStart(peek()) {
            while Self.isIdentifierContinue(peek()) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            let isExponent = text.dropFirst(text.prefix(while: { $0.isNumber || $0 == "_" }).count).first == "e"
            if !isExponent {
                let reading = DurationFormat.read(text[...])
                if reading == .tooLarge || reading == .invalid {
                    diagnostics.report(
                        reading == .tooLarge ? .durationTooLarge(text) : .invalidDuration(text),
                        at: SourceRange(file: file, start: start, end: position))
                    return make(.invalid, from: start, startsLine: startsLine)
                }
                return make(.duration, from: start, startsLine: startsLine)
            }
            position = start
            while Self.isDigit(peek()) || peek() == UInt8(ascii: "_") { position += 1 }
        }
        var isFloat = false
        if peek() == UInt8(ascii: "."), Self.isDigit(peek(1)) {
            isFloat = true
            position += 1
            while Self.isDigit(peek()) || peek() == UInt8(ascii: "_") { position += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            let sign = peek(1) == UInt8(ascii: "+") || peek(1) == UInt8(ascii: "-") ? 1 : 0
            if Self.isDigit(peek(1 + sign)) {
                isFloat = true
                position += 1 + sign
                while Self.isDigit(peek()) { position += 1 }
            }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        let digits = text.filter { $0 != "_" }
        let valid = isFloat ? Double(digits).map { $0.isFinite } ?? false : Int64(digits) != nil
        if !valid {
            diagnostics.report(.invalidNumber(text), at: SourceRange(file: file, start: start, end: position))
            return make(.invalid, from: start, startsLine: startsLine)
        }
        return make(isFloat ? .float : .int, from: start, startsLine: startsLine)
    }

    private mutating func lexString(start: Int, startsLine: Bool) -> Token {
        position += 1
        var value: [UInt8] = []
        while true {
            guard position < bytes.count, bytes[position] != UInt8(ascii: "\n") else {
                diagnostics.report(
                    .unterminatedString, at: SourceRange(file: file, start: start, end: position))
                return make(.string, from: start, text: String(decoding: value, as: UTF8.self), startsLine: startsLine)
            }
            let b = bytes[position]
            position += 1
            if b == UInt8(ascii: "\"") { break }
            guard b == UInt8(ascii: "\\") else {
                value.append(b)
                continue
            }
            let escapeStart = position - 1
            let e = peek()
            position += 1
            switch e {
            case UInt8(ascii: "\""): value.append(e)
            case UInt8(ascii: "\\"): value.append(e)
            case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "r"): value.append(UInt8(ascii: "\r"))
            default:
                if e == UInt8(ascii: "\n") || e == 0 { position -= 1 }
                let shown = e >= 0x20 && e < 0x7F ? String(UnicodeScalar(e)) : ""
                diagnostics.report(
                    .invalidEscape(shown), at: SourceRange(file: file, start: escapeStart, end: position),
                    help: "strings support \\\" \\\\ \\n \\t and \\r")
            }
        }
        return make(.string, from: start, text: String(decoding: value, as: UTF8.self), startsLine: startsLine)
    }
}
