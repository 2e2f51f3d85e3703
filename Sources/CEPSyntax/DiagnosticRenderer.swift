import CEPCore

/// Prints diagnostics the way swiftc and rustc do:
///
/// ```
/// patterns/fraud.cep:12:26: error: no stream named 'payment' [unknown-stream]
/// 12 |       -> p: payment where p.amount > 1000
///    |             ^~~~~~~
///    = help: did you mean 'payments'?
/// ```
public struct DiagnosticRenderer: Sendable {
    /// The files the diagnostics refer to.
    public let sources: SourceManager
    /// Whether to colour severities with ANSI escapes (only on a terminal).
    public var colors: Bool

    /// Creates a renderer.
    public init(sources: SourceManager, colors: Bool = false) {
        self.sources = sources
        self.colors = colors
    }

    private func paint(_ text: String, _ code: String) -> String {
        colors ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    private func label(_ severity: Severity) -> String {
        switch severity {
        case .error: return paint("error", "1;31")
        case .warning: return paint("warning", "1;33")
        case .note: return paint("note", "1;36")
        }
    }

    /// One diagnostic with its source line, caret, notes and help.
    public func render(_ diagnostic: Diagnostic) -> String {
        var out = "\(sources.describe(diagnostic.range)): \(label(diagnostic.severity)): "
        out += "\(diagnostic.message.text) [\(diagnostic.id)]\n"
        out += snippet(diagnostic.range)
        for note in diagnostic.notes {
            if let range = note.range {
                out += "\(sources.describe(range)): \(label(.note)): \(note.message)\n"
                out += snippet(range)
            } else {
                out += "   = note: \(note.message)\n"
            }
        }
        if let help = diagnostic.help { out += "   = help: \(help)\n" }
        return out
    }

    /// The source line of a range's start with a caret line under the range (clipped to that line).
    public func snippet(_ range: SourceRange) -> String {
        let file = sources[range.file]
        let start = file.location(of: range.start)
        let text = file.lineText(start.line).replacingTabs()
        let number = String(start.line)
        let gutter = String(repeating: " ", count: number.count)
        let lineLength = text.utf8.count
        let column = min(start.column - 1, lineLength)
        let endOnLine = min(range.end - range.start, max(1, lineLength - column))
        let width = max(1, endOnLine)
        // Columns are UTF-8 bytes; pad with spaces per display character before the caret.
        let prefix = String(decoding: Array(text.utf8.prefix(column)), as: UTF8.self)
        let pad = String(repeating: " ", count: prefix.count)
        let marker = "^" + String(repeating: "~", count: width - 1)
        return "\(number) | \(text)\n\(gutter) | \(pad)\(paint(marker, "1;32"))\n"
    }

    /// All diagnostics, then a summary line such as `2 errors, 1 warning`.
    public func render(_ diagnostics: [Diagnostic], truncatedFiles: Set<Int> = []) -> String {
        var out = diagnostics.map(render).joined()
        for file in truncatedFiles.sorted() {
            out += "\(sources[file].path): \(label(.note)): stopped after \(DiagnosticBag.errorLimit) errors\n"
        }
        return out
    }

    /// The diagnostics as a JSON array, for editors and CI tools.
    public func json(_ diagnostics: [Diagnostic]) -> String {
        var w = JSONWriter()
        w.beginArray()
        for d in diagnostics {
            w.beginObject()
            writeLocation(&w, d.range)
            w.string("severity", d.severity.rawValue)
            w.string("id", d.id)
            w.string("message", d.message.text)
            if let help = d.help { w.string("help", help) }
            w.beginArray("notes")
            for note in d.notes {
                w.beginObject()
                w.string("message", note.message)
                if let range = note.range { writeLocation(&w, range) }
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        return w.text
    }

    private func writeLocation(_ w: inout JSONWriter, _ range: SourceRange) {
        let file = sources[range.file]
        let start = file.location(of: range.start)
        let end = file.location(of: range.end)
        w.string("file", file.path)
        w.int("line", start.line)
        w.int("column", start.column)
        w.int("endLine", end.line)
        w.int("endColumn", end.column)
    }
}

extension String {
    fileprivate func replacingTabs() -> String {
        String(self.map { $0 == "\t" ? " " : $0 })
    }
}
