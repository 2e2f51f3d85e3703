/// Parsing and printing of duration literals such as `250ms`, `5s`, `10m`, `2h`, `1d` and `1h30m`.
public enum DurationFormat {
    /// Milliseconds per unit, longest unit names first so that `ms` wins over `m`.
    public static let units: [(name: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// What a literal is: a duration in milliseconds, well formed but beyond 64-bit milliseconds, or not one.
    public enum Reading: Sendable, Hashable {
        case milliseconds(Int64)
        case tooLarge
        case invalid
    }

    /// Parses a literal made of one or more `<digits><unit>` parts; `nil` when it is not one, or overflows.
    public static func parse(_ text: Substring) -> Int64? {
        if case .milliseconds(let ms) = read(text) { return ms }
        return nil
    }

    /// Reads a literal made of one or more `<digits><unit>` parts, telling a malformed one from one too large.
    public static func read(_ text: Substring) -> Reading {
        var total: Int64 = 0
        var overflow = false
        var rest = text[...]
        guard !rest.isEmpty else { return .invalid }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == "_") })
            let figures = digits.filter { $0 != "_" }
            guard !figures.isEmpty else { return .invalid }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix(while: { $0.isASCII && $0.isLetter })
            guard let unit = units.first(where: { $0.name == unitText }) else { return .invalid }
            rest = rest.dropFirst(unitText.count)
            guard let amount = Int64(figures) else {
                overflow = true
                continue
            }
            let (product, overflow1) = amount.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            overflow = overflow || overflow1 || overflow2
            total = sum
        }
        return overflow ? .tooLarge : .milliseconds(total)
    }

    /// Prints milliseconds in the largest units that divide it exactly: 600000 → `10m`, 90000 → `1m30s`.
    public static func format(milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0ms" }
        var rest = milliseconds.magnitude
        var text = milliseconds < 0 ? "-" : ""
        for unit in units.sorted(by: { $0.milliseconds > $1.milliseconds }) {
            let size = UInt64(unit.milliseconds)
            if rest >= size {
                text += "\(rest / size)\(unit.name)"
                rest %= size
            }
        }
        return text
    }
}
