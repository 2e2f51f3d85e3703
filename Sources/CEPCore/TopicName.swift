/// Kafka's rules for topic names, checked where cepd takes a topic name (a `.cep` file, a command-line option)
/// rather than at the first produce, where a broker's refusal would stop cepd on every restart.
public enum TopicName {
    /// Kafka's limit on a topic name's length.
    public static let maxLength = 249

    /// Why `name` cannot be a Kafka topic, or nil if it can: 1 to 249 characters of `a-z A-Z 0-9 . _ -`, and
    /// not `.` or `..`.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "a topic name cannot be empty" }
        if name == "." || name == ".." { return "'\(name)' is not a topic name" }
        if name.utf8.count > maxLength {
            return "a topic name has at most \(maxLength) characters (this one has \(name.utf8.count))"
        }
        if let bad = name.unicodeScalars.first(where: { !isAllowed($0) }) {
            let hex = String(bad.value, radix: 16, uppercase: true)
            let shown =
                bad.value < 0x20 || bad.value == 0x7F
                ? "the control character U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex : "'\(bad)'"
            return "a topic name may hold only letters, digits, '.', '_' and '-' (not \(shown))"
        }
        return nil
    }

    private static func isAllowed(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
        default: return false
        }
    }
}
