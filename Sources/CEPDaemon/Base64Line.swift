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

    /// Decodes `line` into `output` (replacing what it held); the reason when it is not base64. Trailing spaces and
    /// a carriage return are ignored.
    static func decode(_ line: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> String? {
        var end = line.count
        while end > 0, line[end - 1] == 0x20 || line[end - 1] == 0x0D || line[end - 1] == 0x09 { end -= 1 }
        var padding = 0
        while end > 0, line[end - 1] == UInt8(ascii: "="), padding < 2 {
            end -= 1
            padding += 1
        }
        guard end % 4 != 1 else {
            output.removeAll(keepingCapacity: true)
            return "not base64: \(end) characters cannot be whole bytes"
        }
        // Four characters at a time into the buffer sized up front (its capacity kept from line to line): no
        // allocation and no capacity check per byte.
        let count = end / 4 * 3 + max(0, end % 4 - 1)
        // (Resized, not refilled: lines of one topic have similar lengths, so this is mostly free.)
        if output.count < count {
            output.append(contentsOf: repeatElement(0, count: count - output.count))
        } else {
            output.removeLast(output.count - count)
        }
        let bad = output.withUnsafeMutableBufferPointer { out -> Int in
            table.withUnsafeBufferPointer { table -> Int in
                var o = 0
                var i = 0
                while i + 4 <= end {
                    let a = table[Int(line[i])]
                    let b = table[Int(line[i + 1])]
                    let c = table[Int(line[i + 2])]
                    let d = table[Int(line[i + 3])]
                    guard (a | b | c | d) & 0xC0 == 0 else { return i }
                    let word = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[o] = UInt8(truncatingIfNeeded: word >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: word >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: word)
                    o += 3
                    i += 4
                }
                var word: UInt32 = 0
                for k in i..<end {
                    let v = table[Int(line[k])]
                    guard v & 0xC0 == 0 else { return i }
                    word = word << 6 | UInt32(v)
                }
                switch end - i {
                case 2: out[o] = UInt8(truncatingIfNeeded: word >> 4)
                case 3:
                    out[o] = UInt8(truncatingIfNeeded: word >> 10)
                    out[o + 1] = UInt8(truncatingIfNeeded: word >> 2)
                default: break
                }
                return -1
            }
        }
        if bad >= 0 {
            output.removeAll(keepingCapacity: true)
            // The first character of the group that failed that is not in the alphabet.
            var i = bad
            while i < end, table[Int(line[i])] != 0xFF { i += 1 }
            let byte = line[i]
            let shown =
                byte >= 0x20 && byte < 0x7F ? "'\(Character(UnicodeScalar(byte)))'" : "0x\(String(byte, radix: 16))"
            return
                "not base64: byte \(i) (\(shown)) is not in its alphabet (binary formats are replayed one base64 message per line)"
        }
        return nil
    }
}
