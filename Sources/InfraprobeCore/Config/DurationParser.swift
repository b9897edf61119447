/// Parses Prometheus-style durations: `10s`, `500ms`, `1m30s`, `1.5s`, `2h`.
public enum DurationParser {
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        var total = Duration.zero
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(rest.hasPrefix("ms") && $0.0 == "m") }) else {
                return nil
            }
            rest = rest.dropFirst(unit.0.count)
            // Past ~300 years the Int64 conversion below would trap; no setting needs that.
            let milliseconds = (value * unit.1 * 1000).rounded()
            guard milliseconds < 1e16 else { return nil }
            total += .milliseconds(Int64(milliseconds))
        }
        return total
    }

    public static func format(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

import Foundation
