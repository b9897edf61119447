extension StringProtocol {
    /// The text with C0 and C1 control characters and DEL written as escapes (`\n`, `\r`, `\t`,
    /// `\e`, `\u{85}`), so what a service sent cannot forge log lines or drive a terminal.
    public var escapingControlCharacters: String {
        // Most messages are printable ASCII: one pass over the bytes, no scalar decoding.
        if utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(self) }
        guard unicodeScalars.contains(where: \.isControlCharacter) else { return String(self) }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard scalar.isControlCharacter else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{1B}": out += "\\e"
            default: out += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return out
    }
}

extension Unicode.Scalar {
    var isControlCharacter: Bool { value < 0x20 || (0x7F...0x9F).contains(value) }
}
