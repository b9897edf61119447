import Glibc

/// `2026-12-01T21:10:06Z`: UTC, whole seconds, as Foundation's default ISO8601DateFormatter
/// writes it, without a formatter object or ICU.
enum ISO8601Timestamp {
    static func string(fromUnixSeconds seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "" }
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "" }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
