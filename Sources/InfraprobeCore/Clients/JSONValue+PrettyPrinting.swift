extension JSONValue {
    /// Indented JSON text with sorted keys, laid out byte for byte as Foundation's
    /// JSONSerialization writes it with `[.prettyPrinted, .sortedKeys]` (`"key" : value`,
    /// two-space indent, `/` escaped), which `infraprobe check --format json` printed before.
    public var prettyPrinted: String {
        var out = ""
        writePretty(to: &out, level: 0)
        return out
    }

    private func writePretty(to out: inout String, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let bool): out += bool ? "true" : "false"
        case .number(let number):
            var text = number.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            out += text
        case .string(let string): Self.writePrettyString(string, to: &out)
        case .array(let array):
            out += "[\n"
            if array.isEmpty { out += "\n" }
            for (index, item) in array.enumerated() {
                out += String(repeating: "  ", count: level + 1)
                item.writePretty(to: &out, level: level + 1)
                out += index == array.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: level) + "]"
        case .object(let object):
            out += "{\n"
            if object.isEmpty { out += "\n" }
            let keys = object.keys.sorted()
            for (index, key) in keys.enumerated() {
                out += String(repeating: "  ", count: level + 1)
                Self.writePrettyString(key, to: &out)
                out += " : "
                object[key]!.writePretty(to: &out, level: level + 1)
                out += index == keys.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: level) + "}"
        }
    }

    private static func writePrettyString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/": out += "\\/"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
