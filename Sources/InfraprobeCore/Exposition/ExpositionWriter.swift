/// The two exposition formats a scraper can ask for.
public enum ExpositionFormat: Sendable, Equatable {
    case text004
    case openMetrics100

    public var contentType: String {
        switch self {
        case .text004: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics100: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// OpenMetrics when the Accept header names it, else the classic text format (as client_golang does).
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .text004 }
        for part in accept.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingWhitespace() }
            guard fields.first == "application/openmetrics-text" else { continue }
            let quality = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if quality > 0 { return .openMetrics100 }
        }
        return .text004
    }
}

/// Writes metric families: sorted by name, series sorted by labels, HELP/TYPE once per family,
/// label values escaped, `+Inf`/`-Inf`/`NaN` spelled canonically. Duplicate families are merged
/// and duplicate label names rejected, so one bad series cannot spoil a scrape.
public enum ExpositionWriter {
    public static func write(_ families: [MetricFamily], format: ExpositionFormat) -> String {
        String(decoding: writeBytes(families, format: format), as: UTF8.self)
    }

    /// The exposition as UTF-8 bytes, written into one preallocated buffer: appending to a
    /// String piece by piece was most of the CPU time of rendering a probe's metrics.
    public static func writeBytes(_ families: [MetricFamily], format: ExpositionFormat) -> [UInt8] {
        var merged: [String: MetricFamily] = [:]
        var order: [String] = []
        for family in families {
            if var existing = merged[family.name] {
                for sample in family.samples { existing.append(sample) }
                merged[family.name] = existing
            } else {
                merged[family.name] = family
                order.append(family.name)
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(families.reduce(0) { $0 + $1.samples.count } * 128 + 256)
        for name in order.sorted() {
            guard let family = merged[name], !family.samples.isEmpty else { continue }
            writeFamily(family, format: format, into: &out)
        }
        if format == .openMetrics100 { out.append(contentsOf: "# EOF\n".utf8) }
        return out
    }

    static func writeFamily(_ family: MetricFamily, format: ExpositionFormat, into out: inout [UInt8]) {
        writeHeader(name: family.name, help: family.help, kind: family.kind, unit: family.unit, format: format, into: &out)
        // Keys are computed once per sample, not once per comparison; samples usually arrive in order.
        var keyed = family.samples.map { (key: sortKey($0), sample: $0) }
        if !isSorted(keyed) { keyed.sort { $0.key < $1.key } }
        var previous: SeriesKey?
        for (key, sample) in keyed {
            guard !hasDuplicateLabelNames(sample.labels), key != previous else { continue }
            previous = key
            out.append(contentsOf: family.name.utf8)
            out.append(contentsOf: sample.suffix.utf8)
            if !sample.labels.isEmpty { writeLabelSet(sample.labels, into: &out) }
            out.append(UInt8(ascii: " "))
            appendValue(sample.value, into: &out)
            if format == .openMetrics100, let exemplar = sample.exemplar { writeExemplar(exemplar, into: &out) }
            out.append(UInt8(ascii: "\n"))
        }
    }

    /// `# HELP`, `# TYPE` and, in OpenMetrics, `# UNIT` of one family.
    static func writeHeader(name: String, help: String, kind: MetricFamily.Kind, unit: String?, format: ExpositionFormat,
                            into out: inout [UInt8]) {
        // The classic text format names a counter family after its `_total` samples; OpenMetrics does not.
        let totalSuffix = format == .text004 && kind == .counter
        out.append(contentsOf: "# HELP ".utf8)
        out.append(contentsOf: name.utf8)
        if totalSuffix { out.append(contentsOf: "_total".utf8) }
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: escapeHelp(help, format: format).utf8)
        out.append(contentsOf: "\n# TYPE ".utf8)
        out.append(contentsOf: name.utf8)
        if totalSuffix { out.append(contentsOf: "_total".utf8) }
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: kind.rawValue.utf8)
        out.append(UInt8(ascii: "\n"))
        if format == .openMetrics100, let unit {
            out.append(contentsOf: "# UNIT ".utf8)
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: unit.utf8)
            out.append(UInt8(ascii: "\n"))
        }
    }

    private static func isSorted(_ keyed: [(key: SeriesKey, sample: MetricFamily.Sample)]) -> Bool {
        for index in keyed.indices.dropFirst() where keyed[index].key < keyed[index - 1].key { return false }
        return true
    }

    /// `{name="value",…}` with values escaped: a sample's labels and an exemplar's alike.
    private static func writeLabelSet(_ labels: [MetricFamily.Label], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, label) in labels.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: label.name.utf8)
            out.append(contentsOf: "=\"".utf8)
            out.append(contentsOf: escapeLabelValue(label.value).utf8)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// ` # {trace_id="…"} 0.0123 1700000000.123`; OpenMetrics caps the label set at 128 characters.
    private static func writeExemplar(_ exemplar: MetricFamily.Exemplar, into out: inout [UInt8]) {
        let length = exemplar.labels.reduce(0) { $0 + $1.name.count + $1.value.count }
        guard length <= 128, !hasDuplicateLabelNames(exemplar.labels) else { return }
        out.append(contentsOf: " # ".utf8)
        writeLabelSet(exemplar.labels, into: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: formatValue(exemplar.value).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: formatTimestamp(exemplar.timestamp).utf8)
    }

    /// Seconds with millisecond precision, as client_golang writes exemplar timestamps.
    static func formatTimestamp(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "0" }
        let millis = Int64((seconds * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    private static func hasDuplicateLabelNames(_ labels: [MetricFamily.Label]) -> Bool {
        for i in labels.indices {
            for j in labels.indices where j > i && labels[i].name == labels[j].name { return true }
        }
        return false
    }

    /// Series of one family sort by their labels; a histogram's samples stay grouped:
    /// buckets by ascending `le`, then `_count`, then `_sum` (the OpenMetrics order).
    private struct SeriesKey: Comparable, Equatable {
        let base: String
        let rank: Int
        let bound: Double

        static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
            if lhs.base != rhs.base { return lhs.base < rhs.base }
            if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
            return lhs.bound < rhs.bound
        }
    }

    private static func sortKey(_ sample: MetricFamily.Sample) -> SeriesKey {
        var base = ""
        base.reserveCapacity(sample.labels.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 })
        var bound = 0.0
        for label in sample.labels {
            if label.name == "le" {
                bound = label.value == "+Inf" ? .infinity : (Double(label.value) ?? 0)
            } else {
                base += label.name
                base += "="
                base += label.value
                base += "\u{1}"
            }
        }
        let rank = switch sample.suffix {
        case "_count": 1
        case "_sum": 2
        default: 0
        }
        return SeriesKey(base: base, rank: rank, bound: bound)
    }

    public static func escapeLabelValue(_ value: String) -> String {
        escape(value, quotes: true)
    }

    /// HELP escapes quotes only in OpenMetrics; the classic format leaves them as they are.
    static func escapeHelp(_ help: String, format: ExpositionFormat) -> String {
        escape(help, quotes: format == .openMetrics100)
    }

    /// Backslash and newline always, double quotes when asked; the common case returns at once.
    private static func escape(_ text: String, quotes: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || (quotes && $0 == UInt8(ascii: "\"")) }) else {
            return text
        }
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.append(character)
            }
        }
        return out
    }

    /// `formatValue`'s spelling, written into `out`; whole numbers without an intermediate String.
    static func appendValue(_ value: Double, into out: inout [UInt8]) {
        if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value), into: &out)
        } else {
            out.append(contentsOf: formatValue(value).utf8)
        }
    }

    /// Decimal digits of `value`, as `String(value)` spells them.
    static func appendInteger(_ value: Int64, into out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        guard magnitude >= 10 else {
            out.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        let start = out.count
        while magnitude > 0 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        out[start...].reverse()
    }

    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

import FoundationEssentials
import Glibc
