/// One sample of a Prometheus text exposition: enough to read a value by name and labels.
public struct PrometheusSample: Sendable, Equatable {
    public let name: String
    public let labels: [String: String]
    public let value: Double

    public init(name: String, labels: [String: String], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}

/// Prometheus text exposition (0.0.4 and OpenMetrics text, as services serve it), parsed just
/// far enough to read sample values. A line it cannot read is skipped, never the whole body:
/// one odd family from a newer service version must not hide the samples a check needs.
/// Tokens are separated by spaces or tabs; a trailing exemplar (`# {…} v`) and timestamp are
/// ignored; `# EOF` ends the exposition; Prometheus 3's quoted UTF-8 names are read
/// (`{"metric.name", "label.name"="v"}` and `metric{"label.name"="v"}`).
public enum PrometheusText {
    public static func parse(_ text: String) -> [PrometheusSample] {
        let bytes = Array(text.utf8)
        var samples: [PrometheusSample] = []
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var scanner = LineScanner(bytes: bytes, index: start, end: end)
            scanner.skipBlanks()
            if scanner.peek == UInt8(ascii: "#") {
                if scanner.isEOFMarker { break }
            } else if !scanner.atEnd, let sample = scanner.sample() {
                samples.append(sample)
            }
            start = end + 1
        }
        return samples
    }

    /// One line; nil when it is a comment, blank or unreadable.
    public static func parseLine(_ line: String) -> PrometheusSample? {
        let bytes = Array(line.utf8)
        var scanner = LineScanner(bytes: bytes, index: 0, end: bytes.count)
        scanner.skipBlanks()
        return scanner.peek == UInt8(ascii: "#") ? nil : scanner.sample()
    }

    /// Reads one line of UTF-8 bytes, `index..<end` of the body, without copying it.
    private struct LineScanner {
        let bytes: [UInt8]
        var index: Int
        var end: Int

        init(bytes: [UInt8], index: Int, end: Int) {
            self.bytes = bytes
            self.index = index
            // CRLF line ends.
            self.end = end > index && bytes[end - 1] == UInt8(ascii: "\r") ? end - 1 : end
        }

        var atEnd: Bool { index >= end }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        var isEOFMarker: Bool {
            var rest = self
            rest.index += 1
            rest.skipBlanks()
            guard rest.end - rest.index >= 3, Array(bytes[rest.index..<rest.index + 3]) == Array("EOF".utf8) else { return false }
            rest.index += 3
            rest.skipBlanks()
            return rest.atEnd
        }

        mutating func skipBlanks() {
            while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
        }

        mutating func sample() -> PrometheusSample? {
            var name: String?
            if peek == UInt8(ascii: "\"") {
                name = quoted()
                guard name != nil else { return nil }
            } else if peek != UInt8(ascii: "{") {
                name = bareName(allowColon: true)
            }
            var labels: [String: String] = [:]
            skipBlanks()
            if peek == UInt8(ascii: "{") {
                index += 1
                guard labelSet(name: &name, labels: &labels) else { return nil }
            }
            guard let name, !name.isEmpty else { return nil }
            guard let value = number(), let valueParsed = Self.value(value) else { return nil }
            // Optional timestamp, then an optional exemplar; nothing else.
            skipBlanks()
            if let byte = peek, byte != UInt8(ascii: "#") {
                guard let timestamp = number(), Double(timestamp) != nil else { return nil }
                skipBlanks()
            }
            guard atEnd || peek == UInt8(ascii: "#") else { return nil }
            return PrometheusSample(name: name, labels: labels, value: valueParsed)
        }

        /// After `{`: `label="v", "quoted.label"="v"`, plus at most one bare quoted string, the
        /// metric name, when none came before the brace. Duplicate labels make the line unreadable.
        private mutating func labelSet(name: inout String?, labels: inout [String: String]) -> Bool {
            while true {
                skipBlanks()
                guard let byte = peek else { return false }
                if byte == UInt8(ascii: "}") { index += 1; return true }
                let key: String?
                if byte == UInt8(ascii: "\"") { key = quoted() } else { key = bareName(allowColon: false) }
                guard let key, !key.isEmpty else { return false }
                skipBlanks()
                if peek == UInt8(ascii: "=") {
                    index += 1
                    skipBlanks()
                    guard peek == UInt8(ascii: "\""), let value = quoted(), labels[key] == nil else { return false }
                    labels[key] = value
                } else {
                    guard byte == UInt8(ascii: "\""), name == nil else { return false }
                    name = key
                }
                skipBlanks()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                guard peek == UInt8(ascii: "}") else { return false }
            }
        }

        private mutating func bareName(allowColon: Bool) -> String? {
            let start = index
            while let byte = peek {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"): index += 1
                case UInt8(ascii: ":") where allowColon: index += 1
                case UInt8(ascii: "0")...UInt8(ascii: "9") where index > start: index += 1
                default: return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
                }
            }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        /// A double-quoted string with the exposition's escapes (`\\`, `\"`, `\n`); other
        /// escaped bytes stand for themselves.
        private mutating func quoted() -> String? {
            index += 1
            var out: [UInt8] = []
            while let byte = peek {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = peek else { return nil }
                    index += 1
                    out.append(escaped == UInt8(ascii: "n") ? UInt8(ascii: "\n") : escaped)
                default:
                    out.append(byte)
                }
            }
            return nil
        }

        /// The next blank-delimited token.
        private mutating func number() -> String? {
            skipBlanks()
            let start = index
            while let byte = peek, byte != UInt8(ascii: " "), byte != UInt8(ascii: "\t") { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        static func value(_ token: String) -> Double? {
            switch token {
            case "+Inf", "Inf", "+inf", "inf": return .infinity
            case "-Inf", "-inf": return -.infinity
            case "NaN", "nan": return .nan
            default:
                // Go's ParseFloat spellings; Swift's Double(String) also takes "infinity", hex and nan(…).
                guard let first = token.utf8.first,
                      first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
                return Double(token)
            }
        }
    }
}

extension Array where Element == PrometheusSample {
    /// Sum of all samples of a family, accepting an optional `_total` suffix (OTel collector naming drift).
    public func sum(_ name: String) -> Double? {
        let matching = filter { $0.name == name || $0.name == name + "_total" }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}
