/// Parses Prometheus-style durations: `10s`, `500ms`, `1m30s`, `1.5s`, `2h`.
public enum DurationParser {
    /// The longest duration a config may state; checked before any conversion, which would trap
    /// on a value such as `1e30h`.
    public static let maximum: Duration = .seconds(10 * 365 * 86_400)

    public enum Failure: Error, Sendable, Equatable {
        case malformed
        case outOfRange
    }

    public static func parse(_ text: String) -> Duration? {
        try? parseChecked(text).get()
    }

    public static func parseChecked(_ text: String) -> Result<Duration, Failure> {
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty else { return .failure(.malformed) }
        let limitMilliseconds = Double(maximum.milliseconds)
        var totalMilliseconds = 0.0
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        while !rest.isEmpty {
            let number = rest.prefix { ("0"..."9").contains($0) || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return .failure(.malformed) }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(rest.hasPrefix("ms") && $0.0 == "m") }) else {
                return .failure(.malformed)
            }
            rest = rest.dropFirst(unit.0.count)
            totalMilliseconds += value * unit.1 * 1000
        }
        // Doubles of any size compare safely; only an in-range total is converted.
        guard totalMilliseconds.isFinite, totalMilliseconds <= limitMilliseconds else { return .failure(.outOfRange) }
        return .success(.milliseconds(Int64(totalMilliseconds.rounded())))
    }

    public static func format(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
