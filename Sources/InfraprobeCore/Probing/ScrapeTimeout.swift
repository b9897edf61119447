/// Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`, range-checked before it becomes a
/// `Duration` (whose construction traps on values such as `1e21`).
public enum ScrapeTimeout {
    /// Nothing a real scrape config sends comes near this; anything above is a bad request.
    public static let maximumSeconds: Double = 365 * 86_400

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let value: String
        public var description: String {
            "invalid X-Prometheus-Scrape-Timeout-Seconds \"\(String(value.prefix(40)).escapingControlCharacters)\": "
                + "expected seconds, a number above 0 and at most \(Int(ScrapeTimeout.maximumSeconds))"
        }
    }

    /// nil when the header is absent; throws when it is present but not a usable timeout.
    public static func parse(header: String?) throws(Invalid) -> Duration? {
        guard let header else { return nil }
        let text = header.trimmingWhitespace()
        // Decimal only: Double("0x10") would read hex.
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || "+-.eE".utf8.contains($0) }),
              let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= maximumSeconds else {
            throw Invalid(value: header)
        }
        return .seconds(seconds)
    }
}

import FoundationEssentials
import Glibc
