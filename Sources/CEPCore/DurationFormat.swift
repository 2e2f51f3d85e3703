/// Parsing and printing of duration literals such as `250ms`, `5s`, `10m`, `2h`, `1d` and `1h30m`.
public enum DurationFormat {
    /// Milliseconds per unit, longest unit names first so that `ms` wins over `m`.
    public static let units: [(name: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses a literal made of one or more `<digits><unit>` parts; `nil` when it is not one, or overflows.
    public static func parse(_ text: Substring) -> Int64? {
        var total: Int64 = 0
        var rest = text[...]
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == "_") })
            guard !digits.isEmpty, let amount = Int64(digits.filter { $0 != "_" }) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix(while: { $0.isASCII && $0.isLetter })
            guard let unit = units.first(where: { $0.name == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            let (product, overflow1) = amount.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            if overflow1 || overflow2 { return nil }
            total = sum
        }
        return total
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
