/// Binary messages in replay files: one message per line, in base64 (RFC 4648, with or without padding, the
/// standard or the URL-safe alphabet), so that files stay lines and `cepd run` reads them as it reads JSON.
enum Base64Line {
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = UInt8(i)
        }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// Decodes `line` into `output` (emptied first); the reason when it is not base64. Trailing spaces and a
    /// carriage return are ignored.
    static func decode(_ line: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> String? {
        output.removeAll(keepingCapacity: true)
        var end = line.count
        while end > 0, line[end - 1] == 0x20 || line[end - 1] == 0x0D || line[end - 1] == 0x09 { end -= 1 }
        var padding = 0
        while end > 0, line[end - 1] == UInt8(ascii: "=") , padding < 2 {
            end -= 1
            padding += 1
        }
        guard end % 4 != 1 else { return "not base64: \(end) characters cannot be whole bytes" }
        var accumulator: UInt32 = 0
        var bits = 0
        for i in 0..<end {
            let value = table[Int(line[i])]
            guard value != 0xFF else {
                return "not base64: byte \(i) (\(line[i] >= 0x20 && line[i] < 0x7F ? "'\(Character(UnicodeScalar(line[i])))'" : "0x\(String(line[i], radix: 16))")) is not in its alphabet (binary formats are replayed one base64 message per line)"
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return nil
    }
}
